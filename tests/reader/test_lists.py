"""exim list splitting and item recognition (spec ch. 10)."""

from __future__ import annotations

import pytest

from migrate.reader.lists import parse_list, split_list


@pytest.mark.parametrize(
    ("value", "items"),
    [
        ("", []),
        (":", [""]),
        (": 127.0.0.1 : ::::1", ["", "127.0.0.1", "::1"]),
        ("a : b :", ["a", "b"]),
        ("a::b : c", ["a:b", "c"]),
        ("<; 192.0.2.0/24;2001:db8::/32 ; ::1", ["192.0.2.0/24", "2001:db8::/32", "::1"]),
        ("<, a, b,, c", ["a", "b, c"]),
        ("${if exists{/a}{/a:/b}{}} : x", ["${if exists{/a}{/a:/b}{}}", "x"]),
        ("  spaced  :\tout\t", ["spaced", "out"]),
    ],
)
def test_split_like_string_nextinlist(value: str, items: list[str]) -> None:
    assert [i.text for i in split_list(value)[1]] == items


def test_separator_is_reported() -> None:
    assert split_list("<; a ; b")[0] == ";"
    assert split_list("a : b")[0] == ":"


def test_host_items() -> None:
    _, items = parse_list(
        ": 127.0.0.1 : 2001::db8::::/32 : ! 198.51.100.7 : *.example.org : @[] : +relay : "
        "net24-lsearch;/etc/nets : +include_unknown : ^relay\\d : /etc/hostfile : mx.example.org : *",
        "host",
    )
    assert [(i.kind, i.value, i.negated) for i in items] == [
        ("empty", "", False),
        ("address", "127.0.0.1", False),
        ("network", "2001:db8::/32", False),
        ("address", "198.51.100.7", True),
        ("wildcard", "*.example.org", False),
        ("local", "@[]", False),
        ("named", "relay", False),
        ("lookup", "/etc/nets", False),
        ("option", "+include_unknown", False),
        ("regex", "^relay\\d", False),
        ("file", "/etc/hostfile", False),
        ("literal", "mx.example.org", False),
        ("any", "*", False),
    ]
    assert items[7].lookup_type == "net24-lsearch"


def test_domain_items() -> None:
    _, items = parse_list(
        "@ : localhost : partial-lsearch;/etc/d : dsearch;/etc/vdomains : @mx_primary : \\N^a$\\N : ! +local",
        "domain",
    )
    assert [(i.kind, i.lookup_type) for i in items] == [
        ("local", ""),
        ("literal", ""),
        ("lookup", "partial-lsearch"),
        ("lookup", "dsearch"),
        ("local", ""),
        ("regex", ""),
        ("named", ""),
    ]
    assert items[-1].negated


def test_address_items() -> None:
    _, items = parse_list("*@spam.example : lsearch*@;/etc/s : @@lsearch;/etc/p : +caseful", "address")
    assert [(i.kind, i.lookup_type) for i in items] == [
        ("wildcard", ""),
        ("lookup", "lsearch*@"),
        ("lookup", "@@lsearch"),
        ("option", ""),
    ]
