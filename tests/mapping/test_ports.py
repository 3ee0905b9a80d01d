"""Conditions on the port a client connected to, decided per port (the listener tags' policy)."""

from __future__ import annotations

import pytest

from migrate.mapping import ports
from migrate.reader.expansion import parse_expansion


@pytest.mark.parametrize(
    ("text", "on_25", "on_587"),
    [
        ("${if eq{$received_port}{587}}", False, True),
        ("${if ={$received_port}{587}{yes}{no}}", False, True),
        ("${if eq{$interface_port}{587}{no}{yes}}", True, False),
        ("${if !eq{$received_port}{25}}", False, True),
        ("${if or{{eq{$received_port}{465}}{eq{$received_port}{587}}}}", False, True),
        ("${if inlist{$received_port}{465:587}{yes}{no}}", False, True),
        ("${if match{$received_port}{^(465|587)\\$}}", False, True),
    ],
)
def test_port_tests_are_decided_per_port(text: str, on_25: bool, on_587: bool) -> None:
    expansion = parse_expansion(text)
    assert (ports.holds(expansion, 25), ports.holds(expansion, 587)) == (on_25, on_587)


@pytest.mark.parametrize(
    "text",
    [
        "${if eq{$sender_host_address}{192.0.2.1}}",  # not the port
        "${if and{{eq{$received_port}{587}}{def:authenticated_id}}}",  # the port and something else
        "${if eq{$received_port}{587}{$acl_m0}{no}}",  # an answer that is not literal
    ],
)
def test_anything_else_stays_unknown(text: str) -> None:
    assert ports.holds(parse_expansion(text), 587) is None


def test_an_acl_chosen_by_port() -> None:
    chooser = parse_expansion("${if eq{$received_port}{587}{acl_submit}{acl_rcpt}}")
    assert [ports.chosen_name(chooser, p) for p in (25, 465, 587)] == ["acl_rcpt", "acl_rcpt", "acl_submit"]
    assert ports.mentions_port(chooser)
