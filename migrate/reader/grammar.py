"""pyparsing grammars for one exim statement at a time (spec ch. 6, 44, 32, 31).

The pre-lexer hands over a logical line and the section it belongs to; the
grammar for that kind of statement parses it with ``parse_all=True``.  Built
once at import, never changed at run time; ``parse_with_tabs`` keeps columns
true on tab-indented configs.  The BNF is in ``docs/grammar.md``.
"""

from __future__ import annotations

import re

import pyparsing as pp

NAME = pp.Regex(r"[A-Za-z][A-Za-z0-9_]*").set_name("name")
LIST_NAME = pp.Regex(r"[A-Za-z0-9_]+").set_name("list name")
EQUALS = pp.Literal("=").set_name('"="')
VALUE_AT = pp.Empty().set_parse_action(lambda s, loc, toks: [loc]).set_name("value")
REST = pp.Regex(r".+", flags=re.DOTALL).set_name("value")
HIDE = pp.Keyword("hide").set_name('"hide"')

# ``[hide] name [= value]``; no_/not_ prefixes are resolved against exim's tables.
OPTION = (
    pp.Opt(HIDE)("hide")
    + NAME("name")
    + pp.Opt(EQUALS("equals") + VALUE_AT("value_at") + pp.Opt(REST, default="")("value"))
).set_name("option setting")

LIST_KEYWORD = pp.Regex(r"(domain|host|address|localpart)list(_cache)?(?=[ \t])").set_name("list keyword")
NAMED_LIST = (
    pp.Opt(HIDE)("hide")
    + LIST_KEYWORD("keyword")
    - LIST_NAME("name")
    + EQUALS
    + VALUE_AT("value_at")
    + pp.Opt(REST, default="")("value")
).set_name("named list")

MAIN_STATEMENT = (NAMED_LIST | OPTION).set_name("main option or named list")

VERB = pp.one_of("accept defer deny discard drop require warn", as_keyword=True).set_name("ACL verb")
SET_VARIABLE = pp.Regex(r"acl_[cm][0-9_][A-Za-z0-9_]*|dkim_verify_(?:status|reason)").set_name(
    "ACL variable (acl_c..., acl_m...)"
)
CONDITION = (
    pp.Opt(pp.Literal("!"))("negated")
    + (
        pp.Keyword("set")("name")
        - SET_VARIABLE("variable")
        + EQUALS
        + VALUE_AT("value_at")
        + pp.Opt(REST, default="")("value")
        | pp.Keyword("endpass")("name")
        | NAME("name") + EQUALS + VALUE_AT("value_at") + pp.Opt(REST, default="")("value")
    )
).set_name("ACL condition or modifier")
ACL_LINE = ((VERB("verb") + pp.Opt(pp.Group(CONDITION)("condition"))) | pp.Group(CONDITION)("condition")).set_name(
    "ACL statement"
)

BLOCK_HEADER = re.compile(r"([A-Za-z][A-Za-z0-9_]*)[ \t]*:")

WORD = (pp.QuotedString('"', esc_char="\\", unquote_results=False) | pp.Regex(r'[^\s"]\S*')).set_name("word")
RETRY_STEP = pp.Regex(r"[A-Za-z][ \t]*,[ \t]*[^,;\s]+(?:[ \t]*,[ \t]*[^,;\s]+)*").set_name(
    "retry step such as F,2h,15m"
)
RETRY_RULE = (
    WORD("pattern")
    + pp.Regex(r"\S+")("error").set_name("retry error type")
    + pp.Opt(pp.Keyword("senders") + EQUALS + WORD("senders"))
    + pp.Opt(pp.DelimitedList(RETRY_STEP, ";", allow_trailing_delim=True))("steps")
).set_name("retry rule")
REWRITE_RULE = (
    WORD("pattern")
    + VALUE_AT("value_at")
    + WORD("replacement")
    + pp.Opt(pp.Regex(r"[EFTQRSbcfhqrstw \t]+"), default="")("flags")
).set_name("rewrite rule")

for _element in (MAIN_STATEMENT, OPTION, ACL_LINE, RETRY_RULE, REWRITE_RULE):
    _element.parse_with_tabs()


def dequote(text: str) -> str:
    """exim's ``string_dequote`` for a quoted string (escapes as in spec 6.16)."""
    body = text[1:-1] if len(text) >= 2 and text.endswith('"') else text[1:]
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
    i = 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i + 1
        i += 1
    return len(text)
