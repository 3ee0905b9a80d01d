"""``deny local_parts = ^[.] : ^.*[@%!/|]``: refused local parts → a ``rcpt-to regex`` reject rule.

exim's own default configuration and most templates refuse recipients whose
local part starts with a dot or holds ``@ % ! / |`` (source routing, paths,
pipes). smtpd's grammar refuses only some of them; a catch-all alias or a
relaying client would take the rest. smtpd can refuse them too: a ``match``
rule with ``rcpt-to regex <table>`` ahead of the others. Its regular
expressions see the whole address, so each exim pattern is anchored to the
part before the last ``@``. Only patterns that mean the same in exim's PCRE
and smtpd's POSIX ERE and cannot depend on letter case are translated; any
other statement stays unmapped as before.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

from migrate import rules
from migrate.mapping.acl import ACCEPT, AclEvaluator
from migrate.mapping.classes import ClassUniverse
from migrate.mapping.context import Context
from migrate.model import ANY_DOMAIN, LOCAL_CLIENT, RECIPIENT_CLASSES, ClientClass, MatchRule, Table
from migrate.reader.expansion import parse_expansion
from migrate.reader.lists import parse_list
from migrate.reader.tree import AclStatement

if TYPE_CHECKING:
    from migrate.mapping.domain_files import DomainFileDeny

# Characters that stand for themselves in both dialects outside a bracket expression.
_PLAIN = frozenset("@%!/_=-#~&'`,;:<>")
# After a backslash: punctuation PCRE takes literally, written as a bracket for ERE (smtpd keeps backslashes).
_ESCAPED = frozenset("./|@%!-+*?$(){}#~&=_:;,<>'`")


@dataclass(frozen=True)
class DeniedLocalParts:
    """One deny statement smtpd enforces with a reject rule: its patterns and the recipients it covers."""

    statement: AclStatement
    patterns: tuple[str, ...]  # smtpd regular expressions over the whole address
    destination: tuple[str, str | None, bool]  # ("any" | "domain", table, negated)
    source: tuple[str, str | None, bool] = ("any", None, False)  # ("any" | "socket" | "src", table, negated)
    exact: bool = True  # False: the rule also refuses clients an earlier accept let through
    tag: str | None = None  # the listeners whose RCPT ACL holds it, where exim chooses that ACL by port


def find(
    ctx: Context,
    universe: ClassUniverse,
    tables: dict[str, str],
    evaluator: AclEvaluator,
    clients: list[ClientClass],
) -> list[DeniedLocalParts]:
    """The RCPT ACL's ``deny local_parts = <regexes>`` smtpd can enforce, each with the clients it reaches.

    ``tables`` gives the smtpd table of each recipient class that has one. A
    client class an earlier statement accepts never reaches the deny: the
    rule leaves it out where smtpd's one ``from`` can say so.
    """
    found = []
    for name, tag, port in rcpt_acls(ctx):
        on_port = replace(evaluator, port=port)
        for denied in _find(ctx, name, universe, tables):
            exempt = accepted_before(ctx, name, denied.statement, on_port, clients)
            found.append(replace(with_source(denied, exempt), tag=tag))
    return found


def rcpt_acls(ctx: Context) -> list[tuple[str, str | None, int | None]]:
    """The RCPT ACL exim runs, with the listener tag (and a port) of each where the ACL is chosen by port."""
    option = ctx.config.options.get("acl_smtp_rcpt")
    name = option.value.text.strip() if option is not None and option.value is not None else ""
    if name in ctx.acls:
        return [(name, None, None)]
    if ctx.chosen is None or not ctx.port_tags:
        return []
    found: dict[str, tuple[str, str | None, int | None]] = {}
    for port, tag in sorted(ctx.port_tags.items()):
        chosen = ctx.chosen.rcpt_for(port)
        if chosen and len(chosen) == 1 and tag not in found:
            found[tag] = (chosen[0], tag, port)
    return list(found.values())


def accepted_before(
    ctx: Context, name: str, statement: AclStatement, evaluator: AclEvaluator, clients: list[ClientClass]
) -> list[ClientClass]:
    """The client classes that never reach ``statement``: the socket, and those an earlier statement accepts."""
    statements = ctx.acls[name].statements
    position = next(i for i, st in enumerate(statements) if st is statement)
    earlier = {id(st) for st in statements[:position]}
    # smtpd's socket is sendmail(8): exim's non-SMTP path, which never runs the RCPT ACL
    exempt = [c for c in clients if c.name == LOCAL_CLIENT]
    for client in clients:
        if client.name == LOCAL_CLIENT:
            continue
        for recipient in RECIPIENT_CLASSES:
            verdict = evaluator.run(name, client.name, recipient)
            if verdict.result == ACCEPT and id(verdict.decided_by) in earlier:
                exempt.append(client)
                break
    return exempt


_Denied = TypeVar("_Denied", bound="DeniedLocalParts | DomainFileDeny")


def with_source(denied: _Denied, exempt: list[ClientClass]) -> _Denied:
    """The reject rule's ``from``: leaving out the one class that never reaches the deny, else refusing it too."""
    if not exempt:
        return denied
    if len(exempt) == 1 and exempt[0].name == LOCAL_CLIENT and exempt[0].table != "loopback":
        return replace(denied, source=("socket", None, True))
    if len(exempt) == 1 and exempt[0].table and exempt[0].name != LOCAL_CLIENT:
        return replace(denied, source=("src", exempt[0].table, True))
    return replace(denied, exact=False)


def _find(ctx: Context, name: str, universe: ClassUniverse, tables: dict[str, str]) -> list[DeniedLocalParts]:
    """``deny local_parts = <regexes>`` with at most a ``domains`` class, in the RCPT ACL ``name``."""
    found = []
    for statement in ctx.acls[name].statements:
        denied = _denied(statement, universe, tables)
        if denied is not None:
            found.append(denied)
    return found


def _denied(st: AclStatement, universe: ClassUniverse, tables: dict[str, str]) -> DeniedLocalParts | None:
    if st.verb not in ("deny", "drop"):
        return None
    conditions = [c for c in st.conditions if not c.modifier]
    by_name = {c.name: c for c in conditions}
    if len(by_name) != len(conditions) or not set(by_name) <= {"local_parts", "domains"}:
        return None
    local_parts = by_name.get("local_parts")
    if local_parts is None or local_parts.negated or local_parts.value is None:
        return None
    patterns = _patterns(local_parts.value.text)
    if not patterns:
        return None
    domains = by_name.get("domains")
    if domains is None:
        destination: tuple[str, str | None, bool] | None = ("any", None, False)
    elif domains.negated or domains.value is None or domains.value.expansion is not None:
        return None
    else:
        destination = _destination(universe, domains.value.text, tables)
    if destination is None:
        return None
    return DeniedLocalParts(st, patterns, destination)


def _destination(universe: ClassUniverse, text: str, tables: dict[str, str]) -> tuple[str, str | None, bool] | None:
    """The smtpd ``for`` criterion for exactly the recipient classes a domain list matches."""
    verdicts = {cls: universe.domains_match(text, cls) for cls in RECIPIENT_CLASSES}
    if None in verdicts.values():
        return None
    matched = [cls for cls, yes in verdicts.items() if yes]
    unmatched = [cls for cls, yes in verdicts.items() if not yes]
    if not unmatched:
        return ("any", None, False)
    if len(matched) == 1 and matched[0] in tables:
        return ("domain", tables[matched[0]], False)
    if len(unmatched) == 1 and unmatched[0] in tables and ANY_DOMAIN in matched:
        return ("domain", tables[unmatched[0]], True)
    return None


def _patterns(text: str) -> tuple[str, ...]:
    """Each item as an smtpd regex over the whole address; () when any item cannot be translated."""
    expanded = parse_expansion(text).literal()  # exim expands the list first: "\\." reaches the regex as "\."
    if expanded is None:
        return ()
    _, items = parse_list(expanded, "localpart")
    found = []
    for item in items:
        translated = _translate(item.value) if item.kind == "regex" and not item.negated else None
        if translated is None:
            return ()
        found.append(translated)
    return tuple(found)


def _translate(pattern: str) -> str | None:
    """``^P`` over a local part → ``^P.*@[^@]*$`` over the address; None outside the shared subset."""
    if not pattern.startswith("^"):
        return None
    body, whole = pattern[1:], False
    if body.endswith("$") and not body.endswith("\\$"):
        body, whole = body[:-1], True
    out: list[str] = []
    pos = 0
    while pos < len(body):
        ch = body[pos]
        if ch == "[":
            end = _bracket_end(body, pos)
            if end is None:
                return None
            out.append(body[pos : end + 1])
            pos = end + 1
        elif ch == "\\" and pos + 1 < len(body) and body[pos + 1] in _ESCAPED:
            out.append(f"[{body[pos + 1]}]")
            pos += 2
        elif ch in "*+?":
            if not out or out[-1] in ("*", "+", "?"):
                return None  # PCRE's lazy and possessive forms have no ERE meaning
            out.append(ch)
            pos += 1
        elif ch == "." or ch in _PLAIN:
            out.append(ch)
            pos += 1
        else:
            return None  # letters (case), digits, groups, alternation, anchors, PCRE escapes
    translated = "".join(out)
    return "^" + translated + ("@[^@]*$" if whole else ".*@[^@]*$")


def _bracket_end(body: str, start: int) -> int | None:
    """The index of the ``]`` closing the bracket at ``start``, when its members are plain punctuation."""
    pos = start + 1
    if body[pos : pos + 1] == "^":
        pos += 1
    if body[pos : pos + 1] == "]":
        pos += 1
    while pos < len(body) and body[pos] != "]":
        ch = body[pos]
        if ch.isalnum() or ch in "\\[":
            return None
        pos += 1
    return pos if pos < len(body) else None


def table(denied: DeniedLocalParts) -> Table:
    return Table(
        f"denied_local_parts_line{denied.statement.span.line}",
        "regexes",
        entries=denied.patterns,
        origin=(denied.statement.span,),
    )


def reject_rule(ctx: Context, denied: DeniedLocalParts, regexes: Table) -> MatchRule:
    """The reject rule, ahead of all others; the statement is booked as enforced."""
    if denied.exact:
        ctx.ledger.resolve(
            denied.statement,
            "mapped",
            rules.ACL_DENY_LOCAL_PARTS,
            "these local parts are refused by a rcpt-to regex reject rule ahead of all others",
        )
    else:
        ctx.ledger.resolve(
            denied.statement,
            "approximated",
            rules.ACL_DENY_LOCAL_PARTS,
            "these local parts are refused by a rcpt-to regex reject rule ahead of all others, also for "
            "clients a statement above this deny let exim accept",
            "nothing to do unless those clients sent mail to such addresses",
        )
    for cond in denied.statement.conditions:
        ctx.ledger.resolve(cond, "mapped" if denied.exact else "approximated")
    source, source_table, negated_source = denied.source
    kind, destination_table, negated = denied.destination
    return MatchRule(
        source,
        source_table,
        kind,
        destination_table,
        None,
        "exim denies these local parts",
        regexes.origin,
        rcpt_regex_table=regexes.name,
        tag=denied.tag,
        negate_source=negated_source,
        negate_destination=negated,
    )
