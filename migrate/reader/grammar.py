"""Grammars for one exim statement at a time (spec ch. 6, 44, 32, 31).

The pre-lexer hands over a logical line and the section it belongs to; the
grammar for that kind of statement reads it whole (``parse_all``) into its
named parts. The grammar is written twice. A regular expression per kind of
statement (``quick_fields``) reads every well-formed statement, fast and
without loading a parser library. The pyparsing grammar (``pyparsing_fields``),
built on first use, reads any line the expression does not take, and words
the syntax error when the line is wrong. The expressions follow pyparsing's
rules token for token (its whitespace, keyword boundaries, and ordered choices
that never back up, as atomic groups), so the two give the same parts for
every line the expression takes; tests/cli/test_startup.py holds them
together. Columns stay true on tab-indented configs (``parse_with_tabs``).
The BNF is in ``docs/grammar.md``.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyparsing as pp

Fields = dict[str, Any]  # the named parts, as pyparsing's ``ParseResults.as_dict()`` gives them

KINDS = ("main", "option", "acl", "retry", "rewrite")

BLOCK_HEADER = re.compile(r"([A-Za-z][A-Za-z0-9_]*)[ \t]*:")

# -- the regular expressions ------------------------------------------------
# pyparsing skips these (and only these) before every token; a keyword may not
# touch a keyword character (letters, digits, "_", "$") on either side.
_WS = r"[ \t\n\r]*+"
_KW_START = r"(?<![A-Za-z0-9_$])"
_KW_END = r"(?![A-Za-z0-9_$])"
_HIDE = rf"(?P<hide>{_KW_START}hide{_KW_END})?+{_WS}"
_NAME = r"[A-Za-z][A-Za-z0-9_]*+"
_REST = r"(?s:.*)"  # the value: the rest of the line, from its first non-blank
_LIST_KEYWORD = r"(?>(?:domain|host|address|localpart)list(?:_cache)?(?=[ \t]))"
_WORD = r'(?>"(?:(?:\\.)|(?:[^"\n\r\\]))*"|[^\s"]\S*)'  # QuotedString('"', esc_char="\\") | [^\s"]\S*
_STEP = r"(?>[A-Za-z][ \t]*,[ \t]*[^,;\s]+(?:[ \t]*,[ \t]*[^,;\s]+)*)"

_LIST_START = re.compile(rf"(?:{_KW_START}hide{_KW_END})?+{_WS}{_LIST_KEYWORD}")
_NAMED_LIST = re.compile(
    rf"{_HIDE}(?P<keyword>{_LIST_KEYWORD}){_WS}(?P<name>[A-Za-z0-9_]++){_WS}={_WS}(?P<value>{_REST})"
)
_OPTION = re.compile(rf"{_HIDE}(?P<name>{_NAME})(?:{_WS}(?P<equals>=){_WS}(?P<value>{_REST}))?+{_WS}\Z")
_VERB = re.compile(r"\b(?:accept|defer|deny|discard|drop|require|warn)\b")
_CONDITION = re.compile(
    rf"(?P<negated>!)?+{_WS}(?>"
    rf"(?P<set>{_KW_START}set{_KW_END}){_WS}"
    rf"(?P<variable>(?>acl_[cm][0-9_][A-Za-z0-9_]*|dkim_verify_(?:status|reason))){_WS}={_WS}(?P<set_value>{_REST})"
    rf"|(?P<endpass>{_KW_START}endpass{_KW_END})"
    rf"|(?!{_KW_START}set{_KW_END})(?P<name>{_NAME}){_WS}={_WS}(?P<value>{_REST})"
    rf"){_WS}\Z"
)
_RETRY = re.compile(
    rf"(?P<pattern>{_WORD}){_WS}(?P<error>(?>\S+))"
    rf"(?:{_WS}{_KW_START}senders{_KW_END}{_WS}={_WS}(?P<senders>{_WORD}))?+"
    rf"(?:{_WS}(?P<steps>{_STEP}(?:{_WS};{_WS}{_STEP})*+(?:{_WS};)?+))?+{_WS}\Z"
)
_REWRITE = re.compile(
    rf"(?P<pattern>{_WORD}){_WS}(?P<replacement>{_WORD})"
    rf"(?:{_WS}(?P<flags>(?>[EFTQRSbcfhqrstw \t]+)))?+{_WS}\Z"
)


def _main(text: str) -> Fields | None:
    found = _NAMED_LIST.match(text)
    if found is not None:
        fields = {"keyword": found["keyword"], "name": found["name"]}
        fields.update(value_at=found.start("value"), value=found["value"])
    elif _LIST_START.match(text):  # a list keyword that goes wrong after it: pyparsing words the error
        return None
    else:
        return _option(text)
    if found["hide"]:
        fields["hide"] = "hide"
    return fields


def _option(text: str) -> Fields | None:
    found = _OPTION.match(text)
    if found is None:
        return None
    fields: Fields = {"name": found["name"]}
    if found["hide"]:
        fields["hide"] = "hide"
    if found["equals"]:
        fields.update(equals="=", value_at=found.start("value"), value=found["value"])
    return fields


def _condition(text: str, start: int) -> Fields | None:
    found = _CONDITION.match(text, start)
    if found is None:
        return None
    fields: Fields = {"negated": "!"} if found["negated"] else {}
    if found["set"]:
        fields.update(name="set", variable=found["variable"], value_at=found.start("set_value"))
        fields["value"] = found["set_value"]
    elif found["endpass"]:
        fields["name"] = "endpass"
    else:
        fields.update(name=found["name"], value_at=found.start("value"), value=found["value"])
    return fields


def _acl(text: str) -> Fields | None:
    verb = _VERB.match(text)
    if verb is None:
        condition = _condition(text, 0)
        return None if condition is None else {"condition": condition}
    start = verb.end()
    while start < len(text) and text[start] in " \t\n\r":
        start += 1
    if start == len(text):
        return {"verb": verb.group()}
    condition = _condition(text, start)
    return None if condition is None else {"verb": verb.group(), "condition": condition}


def _retry(text: str) -> Fields | None:
    found = _RETRY.match(text)
    if found is None:
        return None
    fields: Fields = {"pattern": found["pattern"], "error": found["error"]}
    if found["senders"] is not None:
        fields["senders"] = found["senders"]
    if found["steps"] is not None:
        steps = [step.strip(" \t\n\r") for step in found["steps"].split(";")]
        fields["steps"] = steps[:-1] if not steps[-1] else steps
    return fields


def _rewrite(text: str) -> Fields | None:
    found = _REWRITE.match(text)
    if found is None:
        return None
    return {
        "pattern": found["pattern"],
        "value_at": found.start("replacement"),
        "replacement": found["replacement"],
        "flags": found["flags"] or "",
    }


_FAST = {"main": _main, "option": _option, "acl": _acl, "retry": _retry, "rewrite": _rewrite}


def quick_fields(kind: str, text: str) -> Fields | None:
    """The statement's parts by the regular expressions; None for a line they leave to pyparsing."""
    return _FAST[kind](text)


def pyparsing_fields(kind: str, text: str) -> Fields:
    """The named parts as the pyparsing grammar reads them; raises its ParseBaseException when the line is wrong."""
    parts: Fields = element(kind).parse_string(text, parse_all=True).as_dict()
    return parts


def element(kind: str) -> pp.ParserElement:
    """The pyparsing grammar for one kind of statement (its name words the syntax errors)."""
    return _pyparsing_grammars()[kind]


@functools.cache
def _pyparsing_grammars() -> dict[str, pp.ParserElement]:
    """Build the pyparsing grammars: once, on the first line the regular expressions leave to them."""
    import pyparsing as pp

    name = pp.Regex(r"[A-Za-z][A-Za-z0-9_]*").set_name("name")
    list_name = pp.Regex(r"[A-Za-z0-9_]+").set_name("list name")
    equals = pp.Literal("=").set_name('"="')
    value_at = pp.Empty().set_parse_action(lambda s, loc, toks: [loc]).set_name("value")
    rest = pp.Regex(r".+", flags=re.DOTALL).set_name("value")
    hide = pp.Keyword("hide").set_name('"hide"')

    # ``[hide] name [= value]``; no_/not_ prefixes are resolved against exim's tables.
    option = (
        pp.Opt(hide)("hide")
        + name("name")
        + pp.Opt(equals("equals") + value_at("value_at") + pp.Opt(rest, default="")("value"))
    ).set_name("option setting")

    list_keyword = pp.Regex(r"(domain|host|address|localpart)list(_cache)?(?=[ \t])").set_name("list keyword")
    named_list = (
        pp.Opt(hide)("hide")
        + list_keyword("keyword")
        - list_name("name")
        + equals
        + value_at("value_at")
        + pp.Opt(rest, default="")("value")
    ).set_name("named list")

    main_statement = (named_list | option).set_name("main option or named list")

    verb = pp.one_of("accept defer deny discard drop require warn", as_keyword=True).set_name("ACL verb")
    set_variable = pp.Regex(r"acl_[cm][0-9_][A-Za-z0-9_]*|dkim_verify_(?:status|reason)").set_name(
        "ACL variable (acl_c..., acl_m...)"
    )
    condition = (
        pp.Opt(pp.Literal("!"))("negated")
        + (
            pp.Keyword("set")("name")
            - set_variable("variable")
            + equals
            + value_at("value_at")
            + pp.Opt(rest, default="")("value")
            | pp.Keyword("endpass")("name")
            | name("name") + equals + value_at("value_at") + pp.Opt(rest, default="")("value")
        )
    ).set_name("ACL condition or modifier")
    acl_line = ((verb("verb") + pp.Opt(pp.Group(condition)("condition"))) | pp.Group(condition)("condition")).set_name(
        "ACL statement"
    )

    word = (pp.QuotedString('"', esc_char="\\", unquote_results=False) | pp.Regex(r'[^\s"]\S*')).set_name("word")
    retry_step = pp.Regex(r"[A-Za-z][ \t]*,[ \t]*[^,;\s]+(?:[ \t]*,[ \t]*[^,;\s]+)*").set_name(
        "retry step such as F,2h,15m"
    )
    retry_rule = (
        word("pattern")
        + pp.Regex(r"\S+")("error").set_name("retry error type")
        + pp.Opt(pp.Keyword("senders") + equals + word("senders"))
        + pp.Opt(pp.DelimitedList(retry_step, ";", allow_trailing_delim=True))("steps")
    ).set_name("retry rule")
    rewrite_rule = (
        word("pattern")
        + value_at("value_at")
        + word("replacement")
        + pp.Opt(pp.Regex(r"[EFTQRSbcfhqrstw \t]+"), default="")("flags")
    ).set_name("rewrite rule")

    grammars = {"main": main_statement, "option": option, "acl": acl_line, "retry": retry_rule, "rewrite": rewrite_rule}
    for element in grammars.values():
        element.parse_with_tabs()
    return grammars


def dequote(text: str) -> str:
    """exim's ``string_dequote`` for a quoted string (escapes as in spec 6.16)."""
    body = text[1:-1] if len(text) >= 2 and text.endswith('"') else text[1:]
    if "\\" not in body:
        return body
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\" or i + 1 >= len(body):
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in "01234567":
            digits = re.match(r"[0-7]{1,3}", body[i + 1 :]).group()  # type: ignore[union-attr]
            out.append(chr(int(digits, 8)))
            i += 1 + len(digits)
        elif nxt == "x" and re.match(r"[0-9A-Fa-f]", body[i + 2 : i + 3]):
            digits = re.match(r"[0-9A-Fa-f]{1,2}", body[i + 2 :]).group()  # type: ignore[union-attr]
            out.append(chr(int(digits, 16)))
            i += 2 + len(digits)
        else:
            out.append({"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", "v": "\v"}.get(nxt, nxt))
            i += 2
    return "".join(out)


def quoted_end(text: str) -> int:
    """Index just past the closing quote of a string starting with ``"``."""
    found = _QUOTED_REST.match(text, 1)
    return found.end() if found is not None else len(text)


_QUOTED_REST = re.compile(r'(?:[^"\\]|\\(?s:.))*"')  # up to the closing quote: a backslash escapes anything
