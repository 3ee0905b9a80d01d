"""exim's ACLs → one decision per client class and recipient class (see ``acl`` for the evaluation).

The socket is exim's non-SMTP path (``acl_not_smtp``); every other class runs
the connect..DATA ACLs and then the RCPT ACL. Each ACL note is booked once per
statement, after every class has been evaluated.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from migrate import rules
from migrate.errors import Span
from migrate.mapping import ports
from migrate.mapping.acl import ACCEPT, AclEvaluator
from migrate.mapping.classes import ClassUniverse
from migrate.mapping.clients import PRE_RCPT_ACLS, book_unread_lists, unread_conditions
from migrate.mapping.context import Context
from migrate.mapping.ledger import Claim
from migrate.mapping.routing import Delivery
from migrate.model import (
    ANY_DOMAIN,
    ANYONE,
    AUTHENTICATED,
    HOSTED_DOMAINS,
    LOCAL_CLIENT,
    LOCAL_DOMAINS,
    RECIPIENT_CLASSES,
    RELAY_DOMAINS,
    ClientClass,
    Decision,
)
from migrate.reader.expansion import Expansion
from migrate.reader.tree import Acl, AclStatement
from migrate.rules import Rule

ACTION_NAMES = {
    LOCAL_DOMAINS: "local",
    HOSTED_DOMAINS: "hosted",
    RELAY_DOMAINS: "relay_domains",
    ANY_DOMAIN: "outbound",
}


def _acl_names(ctx: Context, option_name: str) -> list[str] | None:
    """The ACL(s) an ``acl_smtp_*`` option selects; None when we cannot tell."""
    option = ctx.config.options.get(option_name)
    if option is None or option.value is None:
        return []
    value = option.value
    if value.expansion is None:
        name = value.text.strip()
        if name in ctx.acls:
            ctx.ledger.mark(option, "mapped")
            return [name]
        ctx.ledger.mark(
            option,
            "unmapped",
            rules.ACL_INLINE,
            f"{option_name} is not the name of an ACL in this file (inline or file ACL)",
            "move the ACL into the acl section and name it",
        )
        return None
    branches = [g.literal() for item in value.expansion.items("if") for g in item.groups()[-2:]]
    if branches and all(b in ctx.acls for b in branches):
        ctx.ledger.mark(
            option,
            "approximated",
            rules.ACL_PER_PORT,
            f"{option_name} picks an ACL per connection; every class gets only what all of them allow",
            "use listener tags ('listen ... tag NAME', 'match tag NAME ...') to restore per-port rules",
        )
        return [b for b in branches if b]
    ctx.ledger.mark(
        option,
        "unmapped",
        rules.ACL_EXPANDED,
        f"{option_name} is chosen by an expansion",
        "name one ACL; until then only the local socket may send mail",
    )
    return None


@dataclass(frozen=True)
class ChosenAcls:
    """The ACLs the acl_smtp_* options select (None where we cannot tell which)."""

    rcpt: list[str] | None
    pre: dict[str, list[str] | None]
    not_smtp: list[str] | None
    rcpt_by_port: Expansion | None = None  # acl_smtp_rcpt = ${if eq{$received_port}{587}{A}{B}}

    def rcpt_for(self, port: int | None) -> list[str] | None:
        """The RCPT ACL exim runs for a client on ``port`` (every one of them when the port is not known)."""
        if port is None or self.rcpt_by_port is None:
            return self.rcpt
        name = ports.chosen_name(self.rcpt_by_port, port)
        return [name] if name is not None and self.rcpt is not None and name in self.rcpt else self.rcpt


def chosen_acls(ctx: Context) -> ChosenAcls:
    """Which ACLs exim runs, booking the acl_smtp_* options; decided once per run."""
    if ctx.chosen is not None:
        return ctx.chosen
    rcpt = _acl_names(ctx, "acl_smtp_rcpt")
    if rcpt == [] and ctx.config.options.get("acl_smtp_rcpt") is None:
        ctx.ledger.note_span(
            Span(ctx.config.path, 0, 0, 0, 0),
            "approximated",
            rules.ACL_RCPT_UNSET,
            "acl_smtp_rcpt is not set, so exim refuses every SMTP recipient; only local submissions are migrated",
        )
    option = ctx.config.options.get("acl_smtp_rcpt")
    by_port = option.value.expansion if option is not None and option.value is not None else None
    ctx.chosen = ChosenAcls(
        rcpt,
        {name: _acl_names(ctx, name) for name in PRE_RCPT_ACLS},
        _acl_names(ctx, "acl_not_smtp"),
        by_port if ports.mentions_port(by_port) and rcpt else None,
    )
    return ctx.chosen


def depends_on_port(ctx: Context) -> bool:
    """Whether exim's answer may differ by the port a client connected to: tags then keep it per listener."""
    if ctx.port_dependent is None:  # asked for every class: the tree does not change, so the answer does not
        ctx.port_dependent = _depends_on_port(ctx)
    return ctx.port_dependent


def _depends_on_port(ctx: Context) -> bool:
    options = [o for n, o in ctx.config.options.items() if n.startswith("acl_smtp_") and o.value is not None]
    if any(ports.mentions_port(o.value.expansion) for o in options if o.value is not None):
        return True
    return any(
        c.name == "condition" and c.value is not None and ports.mentions_port(c.value.expansion)
        for acl in ctx.config.acls
        for st in acl.statements
        for c in st.conditions
    )


def port_groups(
    ctx: Context, decide: Callable[[int | None], list[Decision]]
) -> list[tuple[tuple[int, ...], list[Decision]]]:
    """The listeners' ports grouped by exim's decisions on each; one group (no port) when nothing differs."""
    if not ctx.ports or not depends_on_port(ctx):
        return [((), decide(None))]
    groups: dict[tuple[tuple[str, str, bool, str | None], ...], tuple[list[int], list[Decision]]] = {}
    for port in sorted(set(ctx.ports)):
        found = decide(port)
        key = tuple((d.client, d.recipient, d.accept, d.action) for d in found)
        groups.setdefault(key, ([], found))[0].append(port)
    return [(tuple(found_ports), found) for found_ports, found in groups.values()]


def tag_name(group: tuple[int, ...]) -> str:
    """The listener tag of a group of ports: port25, port465_587."""
    return "port" + "_".join(str(p) for p in group)


def acl_evaluator(
    ctx: Context, universe: ClassUniverse, deliveries: dict[str, Delivery], port: int | None = None
) -> AclEvaluator:
    """exim's ACLs as exim runs them here: a class verifies where it has a route."""
    routable = {r: d.routable for r, d in deliveries.items()}
    here = frozenset(
        r
        for r, d in deliveries.items()
        if d.kind == "local" and d.method != "forward-only" and not any(t.driver == "smtp" for t in d.drivers)
    )
    return AclEvaluator(
        universe, ctx.acls, routable, ctx.blocked, here, port=port, greylist=ctx.greylist, unread=unread_conditions(ctx)
    )


def decisions(
    ctx: Context, universe: ClassUniverse, clients: list[ClientClass], deliveries: dict[str, Delivery]
) -> list[Decision]:
    """exim's answer for each client class and recipient class, where smtpd can route it.

    Where the answer differs by port, each group of ports gets its decisions
    with the group's tag (the socket's are the same everywhere, untagged).
    """
    notes: list[tuple[Claim, str, str, bool]] = []
    groups = port_groups(ctx, lambda port: _decisions_on(ctx, universe, clients, deliveries, port, notes))
    _book_notes(ctx, notes)
    _book_acl_statements(ctx)
    book_unread_lists(ctx, universe.client_tables)
    if len(groups) == 1:
        return groups[0][1]
    option = ctx.config.options.get("acl_smtp_rcpt")
    if option is not None and ctx.chosen is not None and ctx.chosen.rcpt_by_port is not None:
        ctx.ledger.settle_mapped(option)  # each branch holds for its own listeners, by tag
    found = [d for d in groups[0][1] if d.client == LOCAL_CLIENT]
    for group, decided in groups:
        found += [replace(d, tag=tag_name(group)) for d in decided if d.client != LOCAL_CLIENT]
        ctx.port_tags.update(dict.fromkeys(group, tag_name(group)))
    return found


def _decisions_on(
    ctx: Context,
    universe: ClassUniverse,
    clients: list[ClientClass],
    deliveries: dict[str, Delivery],
    port: int | None,
    verdict_notes: list[tuple[Claim, str, str, bool]],
) -> list[Decision]:
    evaluator = acl_evaluator(ctx, universe, deliveries, port)
    chosen = chosen_acls(ctx)
    found: list[Decision] = []
    present = {
        LOCAL_DOMAINS: universe.local_domains is not None,
        HOSTED_DOMAINS: universe.hosted_domains is not None,
        RELAY_DOMAINS: universe.relay_domains is not None,
        ANY_DOMAIN: True,
    }
    for client in clients:
        for recipient in RECIPIENT_CLASSES:
            if not present[recipient]:
                found.append(Decision(client.name, recipient, False, None))
                continue
            accepted, origin, notes = _decide(ctx, evaluator, client.name, recipient, chosen, evaluator.routable)
            delivery = deliveries[recipient]
            action = ACTION_NAMES[recipient] if accepted else None
            if accepted and not delivery.routable:
                accepted, action = False, None
            found.append(Decision(client.name, recipient, accepted, action, origin))
            verdict_notes += [(n, client.name, recipient, accepted) for n in notes]
    return found


def exim_accepts(ctx: Context, evaluator: AclEvaluator, client: str, recipient: str) -> tuple[bool, tuple[Span, ...]]:
    """Whether exim accepts (or may accept) a class's recipients, whatever we made of its routers, and why."""
    absent = {
        LOCAL_DOMAINS: evaluator.universe.local_domains is None,
        HOSTED_DOMAINS: evaluator.universe.hosted_domains is None,
        RELAY_DOMAINS: not evaluator.universe.relay_domains,
    }
    if absent.get(recipient):  # an empty list: nobody's mail is for that class
        return False, ()
    if evaluator.port is None and ctx.ports and depends_on_port(ctx):  # exim accepts what it accepts on some port
        answers = [exim_accepts(ctx, replace(evaluator, port=p), client, recipient) for p in sorted(set(ctx.ports))]
        accepted_somewhere = [a for a in answers if a[0]]
        return (True, accepted_somewhere[0][1]) if accepted_somewhere else (False, ())
    accepted, origin, notes = _decide(ctx, evaluator, client, recipient, chosen_acls(ctx), evaluator.routable)
    maybe = any(note.rule is rules.ACL_CONDITIONAL_ACCEPT for _, note in notes)  # reported on its own
    return accepted or maybe, origin if accepted else ()


def refused_unread(ctx: Context, evaluator: AclEvaluator, client: str, recipient: str) -> list[AclStatement]:
    """The statements that refuse a class in the output only because a file their hosts name cannot be read."""
    _, _, notes = _decide(
        ctx, replace(evaluator, unread_refuses=True), client, recipient, chosen_acls(ctx), evaluator.routable
    )
    found: list[AclStatement] = []
    for node, note in notes:
        if note.rule is not rules.ACL_DENY_UNREADABLE or not isinstance(node, AclStatement):
            continue
        if all(node is not f for f in found):
            found.append(node)
    return found


def _decide(
    ctx: Context,
    evaluator: AclEvaluator,
    client: str,
    recipient: str,
    chosen: ChosenAcls,
    routable: dict[str, bool],
) -> tuple[bool, tuple[Span, ...], list[Claim]]:
    notes: list[Claim] = []
    if client == LOCAL_CLIENT:
        # smtpd's socket is sendmail(8): exim's non-SMTP path, acl_not_smtp (default accept).
        accepted, origin = _pass_all(ctx, evaluator, chosen.not_smtp, client, None, notes)
        return accepted and routable[recipient], origin, notes
    for names in chosen.pre.values():
        accepted, origin = _pass_all(ctx, evaluator, names or [], client, None, notes)
        if not accepted:
            return False, origin, notes
    rcpt = chosen.rcpt_for(evaluator.port)
    if not rcpt:
        return False, (), notes
    accepted, origin = _pass_all(ctx, evaluator, rcpt, client, recipient, notes)
    return accepted, origin, notes


def _pass_all(
    ctx: Context,
    evaluator: AclEvaluator,
    names: list[str] | None,
    client: str,
    recipient: str | None,
    notes: list[Claim],
) -> tuple[bool, tuple[Span, ...]]:
    """Run each ACL in turn; the first that does not accept refuses the class."""
    if names is None:  # an ACL we cannot identify: accept nothing on its word
        return False, ()
    origin: list[Span] = []
    for name in names:
        ctx.used_acls.add(name)
        verdict = evaluator.run(name, client, recipient)
        ctx.used_acls |= evaluator.visited
        notes += verdict.notes
        origin += _origin(verdict.decided_by, ctx.acls[name])
        if verdict.result != ACCEPT:
            return False, tuple(origin)
    return True, tuple(origin)


def _book_notes(ctx: Context, notes: list[tuple[Claim, str, str, bool]]) -> None:
    """Report each ACL note once; a conditional accept whose classes are all accepted anyway is harmless."""
    by_statement: dict[int, list[tuple[Claim, str, str, bool]]] = {}
    for entry in notes:
        by_statement.setdefault(id(entry[0][0]), []).append(entry)
    for entries in by_statement.values():
        statement, note = entries[0][0]
        assert isinstance(statement, AclStatement)
        if note.rule is rules.ACL_FILTER and not any(accepted for _, _, _, accepted in entries):
            # It could only refuse mail smtpd refuses anyway: nothing is lost by leaving it out.
            _mark_statement(ctx, statement, "mapped")
            continue
        if note.rule is rules.ACL_DENY_UNREADABLE:
            refused = _and(list(dict.fromkeys(_class_name(client) for _, client, _, _ in entries)))
            to = _and([r.replace("-", " ") for r in RECIPIENT_CLASSES if any(e[2] == r for e in entries)])
            message = note.message.replace("every client this statement may refuse", f"all mail from {refused} to {to}")
            _mark_statement(ctx, statement, note.severity, note.rule, message, note.advice)
            continue
        if note.rule is rules.ACL_CONDITIONAL_ACCEPT and all(accepted for _, _, _, accepted in entries):
            _mark_statement(
                ctx,
                statement,
                "approximated",
                note.rule,
                note.message.replace(
                    "it is left out", "those recipients are accepted by the general rule for their class anyway"
                ),
            )
            continue
        _mark_statement(ctx, statement, note.severity, note.rule, note.message, note.advice)


def _class_name(client: str) -> str:
    """A client class as a finding names it."""
    if client == ANYONE:
        return "any other client"
    if client == AUTHENTICATED:
        return "authenticated users"
    return f"trusted network {client}"


def _and(names: list[str]) -> str:
    return ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else "".join(names)


def _mark_statement(
    ctx: Context, statement: AclStatement, severity: str, rule: Rule | None = None, message: str = "", advice: str = ""
) -> None:
    ctx.ledger.mark(statement, severity, rule, message, advice)
    for cond in statement.conditions:
        ctx.ledger.mark(cond, severity)


def _book_acl_statements(ctx: Context) -> None:
    run = referenced_acls(ctx)
    for acl in ctx.config.acls:
        if acl.name not in ctx.used_acls and acl.name in run:
            message = f"ACL {acl.name}: exim runs it, but it could not be evaluated for any class of clients"
            ctx.ledger.mark(acl, "unmapped", rules.ACL_NOT_EVALUATED, message, rules.ACL_NOT_EVALUATED.advice)
            for statement in acl.statements:
                _mark_statement(ctx, statement, "unmapped")
            continue
        if acl.name not in ctx.used_acls:
            ctx.ledger.mark(acl, "ignored", rules.ACL_UNUSED, f"ACL {acl.name} is never used")
            for statement in acl.statements:
                _mark_statement(ctx, statement, "ignored")
            continue
        ctx.ledger.mark(acl, "mapped")
        for statement in acl.statements:
            if statement.verb == "warn":
                _warn(ctx, statement)
            else:
                _mark_statement(ctx, statement, "mapped")


def referenced_acls(ctx: Context) -> set[str]:
    """Every ACL exim may run: named by an acl_* option (in an expansion too) or by an ``acl =`` condition."""
    names = set(ctx.acls)
    found: set[str] = set()
    for name, option in ctx.config.options.items():
        if (name.startswith("acl_smtp_") or name == "acl_not_smtp") and option.value is not None:
            found |= names & set(re.findall(r"[\w.-]+", option.value.text))
    pending = list(found)
    while pending:
        for statement in ctx.acls[pending.pop()].statements:
            for cond in statement.conditions:
                if cond.name == "acl" and cond.value is not None:
                    for called in names & set(re.findall(r"[\w.-]+", cond.value.text)) - found:
                        found.add(called)
                        pending.append(called)
    return found


def _warn(ctx: Context, statement: AclStatement) -> None:
    effects = [c.name for c in statement.conditions if c.modifier]
    if set(effects) <= {"log_message", "logwrite", "set"}:
        _mark_statement(ctx, statement, "ignored", rules.ACL_WARN_LOG, "warn that only logs: nothing to migrate")
    else:
        _mark_statement(
            ctx,
            statement,
            "unmapped",
            rules.ACL_WARN,
            f"warn with {', '.join(sorted(set(effects)))}: smtpd adds no headers itself",
            "rspamd's milter_headers module adds headers",
        )


def _origin(statement: AclStatement | None, acl: Acl) -> tuple[Span, ...]:
    return (statement.span,) if statement is not None else (acl.span,)
