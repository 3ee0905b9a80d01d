"""Expansion strings become a tree that later stages can recognise; nothing is run."""

from __future__ import annotations

import pytest

from migrate.reader.expansion import ExpansionSyntaxError, Group, Item, Operator, Text, Variable, Word, parse_expansion


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
