"""Conditions on the port a client connected to (``$received_port``, ``$interface_port``), decided per port.

exim configurations pick their submission policy by port: an ACL chosen by
``acl_smtp_rcpt = ${if eq{$received_port}{587}{acl_submit}{acl_rcpt}}``, or a
statement with ``condition = ${if eq{$interface_port}{587}}``. smtpd keeps a
policy per listener with tags; these helpers say what such a condition is on
a given port, and None where it depends on anything else.
"""

from __future__ import annotations

import re

from migrate.reader.expansion import Expansion, Group, Item, Variable, Word

PORT_VARIABLES = ("received_port", "interface_port")
_YES = ("yes", "true", "1")
_NO = ("no", "false", "0", "")


def holds(expansion: Expansion, port: int) -> bool | None:
    """A ``condition =`` value on ``port``: True, False, or None when it is not a test of the port alone."""
    found = _branch(expansion, port)
    if found is None:
        return None
    truth, values = found
    if not values:
        return truth
    chosen = values[0] if truth else (values[1] if len(values) > 1 else "")
    if chosen is None:
        return None
    text = chosen.strip().lower()
    return True if text in _YES else False if text in _NO else None


def chosen_name(expansion: Expansion, port: int) -> str | None:
    """The literal an ``${if PORT-TEST {A}{B}}`` yields on ``port`` (an ACL's name), None if it is not one."""
    found = _branch(expansion, port)
    if found is None or len(found[1]) != 2 or None in found[1]:
        return None
    return str(found[1][0 if found[0] else 1]).strip()


def _branch(expansion: Expansion, port: int) -> tuple[bool, list[str | None]] | None:
    """The port test's truth on ``port`` and the literal values of its branches; None if it is not one."""
    check = _only_if(expansion)
    if check is None:
        return None
    test, branches = check
    truth = _condition(test, port)
    return (truth, [b.literal() for b in branches]) if truth is not None else None


def mentions_port(expansion: Expansion | None) -> bool:
    """Whether a string looks at the port the client connected to."""
    return expansion is not None and any(name in PORT_VARIABLES for name in expansion.variables())


def _only_if(expansion: Expansion) -> tuple[tuple[str, list[Expansion] | Expansion], list[Expansion]] | None:
    parts = expansion.significant
    if len(parts) != 1 or not isinstance(parts[0], Item) or parts[0].name != "if":
        return None
    args = parts[0].args
    if not args or not isinstance(args[0], Word):
        return None
    name = args[0].text
    groups = [a.body for a in args[1:] if isinstance(a, Group)]
    count = 1 if name.lstrip("!") in ("and", "or") else 2
    if len(groups) < count:
        return None
    operands: list[Expansion] | Expansion = groups[0] if count == 1 else groups[:2]
    return (name, operands), groups[count:]


def _condition(test: tuple[str, list[Expansion] | Expansion], port: int) -> bool | None:
    name, operands = test
    negated = name.startswith("!")
    name = name.lstrip("!")
    if name in ("and", "or") and isinstance(operands, Expansion):
        values = [_condition((c.name, c.groups()[:2]), port) for c in operands.parts if isinstance(c, Item)]
        if None in values or not values:
            return None
        truth = all(values) if name == "and" else any(values)
    elif isinstance(operands, list) and len(operands) == 2:
        found = _compare(name, operands[0], operands[1], port)
        if found is None:
            return None
        truth = found
    else:
        return None
    return not truth if negated else truth


def _compare(name: str, left: Expansion, right: Expansion, port: int) -> bool | None:
    if not _is_port(left):
        if name in ("eq", "=", "==") and _is_port(right):
            left, right = right, left
        else:
            return None
    value = right.literal()
    if value is None:
        return None
    value = value.strip()
    if name in ("eq", "=", "=="):
        return value.isdigit() and int(value) == port
    if name == "inlist":
        return str(port) in {v.strip() for v in value.split(":")}
    if name == "match":
        try:
            return re.search(value, str(port)) is not None
        except re.error:
            return None
    return None


def _is_port(expansion: Expansion) -> bool:
    parts = expansion.significant
    return len(parts) == 1 and isinstance(parts[0], Variable) and parts[0].name in PORT_VARIABLES
