"""Expansion strings become a tree that later stages can recognise; nothing is run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from migrate.reader.expansion import ExpansionSyntaxError, Group, Item, Operator, Text, Variable, Word, parse_expansion
from tests.conftest import Exim


def test_alias_lookup_is_recognised() -> None:
    tree = parse_expansion("${lookup{$local_part}lsearch{/etc/aliases}}")
    (lookup,) = tree.lookups()
    assert lookup.type == "lsearch"
    assert lookup.key is not None and lookup.key.variables() == ["local_part"]
    assert lookup.source.literal() == "/etc/aliases"


def test_query_lookup_with_yes_and_fail() -> None:
    tree = parse_expansion("${lookup mysql{select host from relays where domain='${quote_mysql:$domain}'}{$value}fail}")
    (lookup,) = tree.lookups()
    assert lookup.key is None and lookup.type == "mysql"
    assert lookup.results[1] == "fail"
    assert [o.name for o in tree.walk() if isinstance(o, Operator)] == ["quote_mysql"]


def test_partial_lookup_types_keep_their_affixes() -> None:
    (lookup,) = parse_expansion("${lookup{$domain}partial-lsearch*@{/etc/exim4/hubbed_hosts}}").lookups()
    assert lookup.type == "partial-lsearch*@"


def test_if_conditions_keep_words_and_groups_in_order() -> None:
    tree = parse_expansion("${if ={587}{$received_port}{acl_submit}{acl_check_rcpt}}")
    (item,) = tree.items("if")
    assert isinstance(item.args[0], Word) and item.args[0].text == "="
    assert [g.literal() for g in item.groups()] == ["587", None, "acl_submit", "acl_check_rcpt"]


def test_nested_and_or_conditions_stay_balanced() -> None:
    tree = parse_expansion("${if and {{>{$rcpt_count}{10}}{<{$recipients_count}{${eval:$rcpt_count/2}}} }}")
    assert tree.variables() == ["rcpt_count", "recipients_count", "rcpt_count"]
    assert [o.name for o in tree.walk() if isinstance(o, Operator)] == ["eval"]


def test_and_or_and_saslauthd_take_a_brace_of_arguments() -> None:
    (check,) = parse_expansion("${if and {{eq{$auth2}{user}}{eq{$auth3}{secret}}}}").items("if")
    (conditions,) = check.groups()
    assert [(c.name, [g.literal() for g in c.groups()]) for c in conditions.parts if isinstance(c, Item)] == [
        ("eq", [None, "user"]),
        ("eq", [None, "secret"]),
    ]
    (sasl,) = parse_expansion("${if saslauthd{{$auth2}{$auth3}{smtp}}{yes}{no}}").items("if")
    strings, yes, no = sasl.groups()
    assert [g.body.variables() or g.body.literal() for g in strings.parts if isinstance(g, Group)] == [
        ["auth2"],
        ["auth3"],
        "smtp",
    ]
    assert (yes.literal(), no.literal()) == ("yes", "no")


def test_header_variables_keep_their_colon() -> None:
    tree = parse_expansion("$h_subject: and ${h_X-Spam-Flag:} and $rheader_from:")
    assert tree.variables() == ["h_subject:", "h_X-Spam-Flag:", "rheader_from:"]


def test_dangerous_items_are_nodes_not_actions() -> None:
    tree = parse_expansion("${run{/bin/rm -rf /}{yes}{no}} ${perl{evil}} ${readsocket{inet:127.0.0.1:1}{x}}")
    assert [i.name for i in tree.items()] == ["run", "perl", "readsocket"]


def test_escapes_and_literal_regions() -> None:
    tree = parse_expansion(r"a\$b \N${not expanded}\N c\\d")
    assert tree.is_literal
    assert tree.literal() == r"a$b ${not expanded} c\d"


def test_lone_dollar_is_literal_text() -> None:
    assert parse_expansion("cost: $ 5").literal() == "cost: $ 5"


def test_braced_variable_and_numeric_variable() -> None:
    tree = parse_expansion("${local_part}@$1")
    assert [p for p in tree.parts if isinstance(p, Variable)] == [Variable("local_part", 0), Variable("1", 14)]


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("${lookup{x}lsearch{/f}", 0),
        ("abc ${if eq{a}{b}", 4),
        ("${lookup{$domain}lsearch{/etc/d}", 0),
        ("x ${lc:abc", 2),
        ("${", 0),
    ],
)
def test_unterminated_expansions_point_at_their_opening(text: str, offset: int) -> None:
    with pytest.raises(ExpansionSyntaxError) as caught:
        parse_expansion(text)
    assert caught.value.offset == offset


def test_group_offsets_index_the_original_string() -> None:
    text = "x ${sg{$h_subject:}{a}{b}}"
    (item,) = parse_expansion(text).items("sg")
    assert isinstance(item, Item) and item.offset == 2
    first = item.args[0]
    assert isinstance(first, Group) and text[first.offset] == "{"
    assert isinstance(parse_expansion("plain").parts[0], Text)


def test_hostile_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(ExpansionSyntaxError) as caught:
        parse_expansion("${lc:" * 5000 + "x" + "}" * 5000)
    assert "nested more than" in str(caught.value)
    assert parse_expansion("${lc:" * 50 + "x" + "}" * 50).items() == []


# exim's brace rules, held against exim itself: a "{" that does not open "${" is a plain character, an argument
# ends at the first unescaped "}" outside "${...}", a backslash escapes the next character, \N...\N is verbatim.
BRACES = [
    "[${lc:A{B}C}]",
    "${if eq{a{b}{a{b}{yes}{no}}",
    "${if eq{a\\}b}{a\\}b}{yes}{no}}",
    "${if eq{x}{\\N{x}\\N}{yes}{no}}",
    "[{a}b]",
    "${uc:x\\}y}",
    "${if eq{${lc:AB}}{ab}{yes}{no}}",
    # a control-panel template's HELO check: the "\}" ends nothing, so "{no}" is the pattern and there is no
    # "else": the condition can never refuse anyone, whatever its author meant
    "${if match {${lc:HELO}\\}{host}{no}{yes}}",
    "${if match {nothing}{o}{yes}}",
    # and/or take a brace of conditions (the authenticators' literal user and password, a router's two checks)
    "${if and {{eq{a}{a}}{eq{b}{b}}}{yes}{no}}",
    "${if and{ {eq{a}{a}} {eq{x}{y}} }{yes}{no}}",
    "${if or {{eq{a}{b}}{match{abc}{b}}}{yes}{no}}",
]


def _holds(test: str, args) -> bool:  # type: ignore[no-untyped-def]
    values = [_evaluate(g.body) for g in args if isinstance(g, Group)]
    assert test in ("eq", "match")
    return values[0] == values[1] if test == "eq" else re.search(values[1], values[0]) is not None


def _evaluate(expansion) -> str:  # type: ignore[no-untyped-def]
    """Just enough of exim's expansion for literal corpora: text, lc, uc, if eq / match with literal arguments."""
    out = []
    for part in expansion.parts:
        if isinstance(part, Text):
            out.append(part.text)
        elif isinstance(part, Operator):
            value = _evaluate(part.arg)
            out.append({"lc": value.lower(), "uc": value.upper()}[part.name])
        elif isinstance(part, Item) and part.name == "if":
            test, *groups = part.args
            assert isinstance(test, Word)
            if test.text in ("and", "or"):
                first, *groups = groups
                assert isinstance(first, Group)
                held = [_holds(c.name, c.args) for c in first.body.parts if isinstance(c, Item)]
                holds = all(held) if test.text == "and" else any(held)
            else:
                holds = _holds(test.text, groups[:2])
                groups = groups[2:]
            branches = [_evaluate(g.body) for g in groups if isinstance(g, Group)]
            out.append(branches[0] if holds else (branches[1] if len(branches) > 1 else ""))
        else:
            raise AssertionError(f"not in the corpus evaluator: {part}")
    return "".join(out)


@pytest.mark.exim
@pytest.mark.parametrize("text", BRACES)
def test_braces_are_read_as_exim_reads_them(text: str, exim: Exim, tmp_path: Path) -> None:
    config = tmp_path / "configure"
    config.write_text("keep_environment =\n")
    config.chmod(0o644)
    tmp_path.chmod(0o755)
    said = exim.run(config, "-be", text)
    assert said.returncode == 0, said.stderr
    assert _evaluate(parse_expansion(text)) == said.stdout.rstrip("\n")
