"""exim lists (spec ch. 10): splitting and recognising items.

A list is split exactly as ``string_nextinlist`` does it: ``:`` by default, a
leading ``<`` followed by punctuation changes the separator, a doubled separator
is a literal one (``::::1`` is ``::1``), blanks around items are dropped.  An
expansion ``${...}`` is kept whole even when it contains the separator, because
exim expands before it splits.

Item kinds are the forms the spec lists for domain, host, address and local
part lists; a later stage decides what each means for OpenSMTPD.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_LOOKUP = re.compile(
    r"(?P<partial>partial(?:\d+)?-)?(?P<net>net\d*-)?(?P<type>[a-z][a-z0-9_]*)(?P<affix>\*@?)?"
    r"(?:,\w+(?:=[^;]*)?)*;(?P<arg>.*)",
    re.ASCII | re.DOTALL,
)
LOOKUP_TYPES = frozenset(
    "lsearch wildlsearch nwildlsearch iplsearch cdb dbm dbmjz dbmnz dnsdb dsearch json "
    "ldap ldapdn ldapm mysql nis nis0 passwd pgsql redis sqlite testdb whoson lmdb oracle ibase".split()
)
SPECIAL_HOST_ITEMS = frozenset(("+include_unknown", "+ignore_unknown", "+include_defer", "+ignore_defer", "+caseful"))


@dataclass(frozen=True, slots=True)
class RawItem:
    """One list item's text and where it starts in the list's string."""

    text: str
    offset: int


@dataclass(frozen=True, slots=True)
class ListItem:
    """A classified list item; ``value`` is the item without ``!`` and decoration."""

    text: str
    offset: int
    negated: bool
    kind: str
    value: str
    lookup_type: str = ""


def split_list(value: str) -> tuple[str, list[RawItem]]:
    """Split an exim list; return the separator and the items with their offsets."""
    pos = 0
    while pos < len(value) and value[pos] in " \t":
        pos += 1
    sep = ":"
    if value[pos : pos + 1] == "<" and pos + 1 < len(value) and _is_separator(value[pos + 1]):
        sep = value[pos + 1]
        pos += 2
    items: list[RawItem] = []
    n = len(value)
    read = _read_item if "${" in value else _read_plain_item
    while True:
        while pos < n and value[pos] in " \t\n":
            pos += 1
        if pos >= n:  # string_nextinlist: nothing left, so a trailing ":" adds no item
            break
        start = pos
        item, pos = read(value, pos, sep)
        items.append(RawItem(item, start))
        pos += 1
    return sep, items


def _read_plain_item(value: str, pos: int, sep: str) -> tuple[str, int]:
    """``_read_item`` for lists without expansions: jump from separator to separator."""
    end = value.find(sep, pos)
    while end >= 0 and value[end + 1 : end + 2] == sep:  # a doubled separator is part of the item
        end = value.find(sep, end + 2)
    end = len(value) if end < 0 else end
    return value[pos:end].replace(sep + sep, sep).rstrip(" \t\n"), end


def _read_item(value: str, pos: int, sep: str) -> tuple[str, int]:
    """Read up to an undoubled separator, keeping ``${...}`` whole."""
    chars: list[str] = []
    depth = 0
    n = len(value)
    while pos < n:
        ch = value[pos]
        if ch == "$" and value.startswith("${", pos):
            depth += 1
            chars.append("${")
            pos += 2
            continue
        if depth:
            if ch == "\\" and pos + 1 < n:
                chars.append(value[pos : pos + 2])
                pos += 2
                continue
            depth += {"{": 1, "}": -1}.get(ch, 0)
        elif ch == sep:
            if value[pos + 1 : pos + 2] != sep:
                break
            pos += 1
        chars.append(ch)
        pos += 1
    return "".join(chars).rstrip(" \t\n"), pos


def _is_separator(ch: str) -> bool:
    return ch.isascii() and not ch.isalnum() and not ch.isspace() and ch not in "\\"


def classify(raw: RawItem, list_kind: str) -> ListItem:
    """Recognise one item of a domain, host, address or localpart list."""
    text = raw.text
    body = text
    negated = False
    while body.startswith("!"):
        negated = not negated
        body = body[1:].lstrip(" \t")
    kind, value, lookup_type = _kind(body, list_kind)
    return ListItem(text, raw.offset, negated, kind, value, lookup_type)


def _kind(body: str, list_kind: str) -> tuple[str, str, str]:
    if body == "":
        return ("empty", "", "")
    if body.startswith("^") or body.startswith("\\N^"):
        return ("regex", body, "")
    if "$" in body:
        return ("expansion", body, "")
    if body.startswith("+"):
        if body in SPECIAL_HOST_ITEMS:
            return ("option", body, "")
        return ("named", body[1:].strip(), "")
    if body == "*":
        return ("any", body, "")
    if body.startswith("/"):
        return ("file", body, "")
    lookup = _LOOKUP.fullmatch(body)
    if lookup and lookup.group("type") in LOOKUP_TYPES:
        return ("lookup", lookup.group("arg").strip(), body[: body.index(";")].strip())
    if body.startswith("@@") and list_kind == "address":
        rest = _LOOKUP.fullmatch(body[2:])
        if rest and rest.group("type") in LOOKUP_TYPES:
            return ("lookup", rest.group("arg").strip(), "@@" + body[2 : body.index(";")].strip())
    if body in ("@", "@[]") or body.startswith("@mx_"):
        return ("local", body, "")
    if list_kind == "host":
        network = _network(body)
        if network:
            return network
    if body.startswith("*"):
        return ("wildcard", body, "")
    return ("literal", body, "")


def _network(body: str) -> tuple[str, str, str] | None:
    candidate = body[1:-1] if body.startswith("[") and body.endswith("]") else body
    try:
        if "/" in candidate:
            ipaddress.ip_network(candidate, strict=False)
            return ("network", candidate, "")
        ipaddress.ip_address(candidate)
        return ("address", candidate, "")
    except ValueError:
        return None


# Short lists read before, by text and kind: the mapping asks about the same
# conditions (``hosts = +relay_from_hosts``) for every class. Items are frozen.
_PARSED: dict[tuple[str, str], tuple[str, tuple[ListItem, ...]]] = {}
_MOST_PARSED, _LONGEST_KEPT = 4096, 1024


def parse_list(value: str, list_kind: str) -> tuple[str, tuple[ListItem, ...]]:
    """Split and classify a whole list; return its separator and items."""
    key = (value, list_kind)
    found = _PARSED.get(key)
    if found is None:
        sep, items = split_list(value)
        found = sep, tuple(classify(item, list_kind) for item in items)
        if len(value) <= _LONGEST_KEPT:
            if len(_PARSED) >= _MOST_PARSED:
                _PARSED.clear()
            _PARSED[key] = found
    return found
