"""Decisions → smtpd ``match`` lines, in order: first match wins, anything unmatched is refused.

For each recipient class the classes exim accepts get a rule to its action;
a class exim refuses gets an explicit reject only where a later, wider rule
would otherwise catch it. Nothing here widens a decision.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from migrate import rules
from migrate.errors import Span
from migrate.mapping.context import Context
from migrate.mapping.decisions import ACTION_NAMES
from migrate.mapping.routing import VirtualFiles
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
    Identity,
    MatchRule,
    Table,
)

_COMMENTS = {
    LOCAL_DOMAINS: "local domains are delivered here",
    HOSTED_DOMAINS: "hosted domains: their mailboxes and aliases",
    RELAY_DOMAINS: "relay domains go on to their own mail hosts",
    ANY_DOMAIN: "outbound mail",
}


def client_span(clients: list[ClientClass], tables: list[Table]) -> Span:
    """Where the trusted networks were written (for findings about them)."""
    for client in clients:
        for table in tables:
            if table.name == client.table and table.origin:
                return table.origin[0]
    return Span("", 0, 0, 0, 0)


def match_rules(
    ctx: Context, clients: list[ClientClass], decisions: list[Decision], tables: list[Table], identity: Identity
) -> list[MatchRule]:
    """The match lines for every client class and recipient class, in the order smtpd reads them.

    Where exim's policy differs by port, each tag's rules come first (they
    match only sessions on its listeners), then the socket's and loopback's,
    untagged, as exim's port-25 policy has them.
    """
    tags = list(dict.fromkeys(d.tag for d in decisions if d.tag))
    if not tags:
        return _match_rules(ctx, clients, decisions, tables, identity)
    local = [d for d in decisions if d.client == LOCAL_CLIENT]
    found: list[MatchRule] = []
    for tag in tags:
        group = local + [d for d in decisions if d.tag == tag]
        found += [
            replace(r, tag=tag)
            for r in _match_rules(ctx, clients, group, tables, identity)
            if r.source not in ("socket", "local")
        ]
    # loopback on another tag's listeners: that tag's rules above decided it; what they left, exim refused
    found += [
        MatchRule(
            "local",
            None,
            "any",
            None,
            None,
            "loopback on this port: what the rules above left, exim refused",
            tag=tag,
        )
        for tag in tags[1:]
    ]
    first = local + [d for d in decisions if d.tag == tags[0]]
    networks = [c for c in clients if c.name != ANYONE]  # so that the socket's own rules are written out
    # smtpd re-matches alias expansions as local mail, not the socket's: where a tag lets anyone deliver
    # to a class, so does 'from local' (what only local processes, who have sendmail anyway, connect from)
    open_to_anyone = {(r.destination, r.destination_table) for r in found if r.source == "any" and r.action}
    for rule in _match_rules(ctx, networks, first, tables, identity):
        if rule.source == "socket" and rule.action and (rule.destination, rule.destination_table) in open_to_anyone:
            rule = replace(rule, source="local")
        if rule.source in ("socket", "local"):
            found.append(rule)
    return found


def _match_rules(
    ctx: Context, clients: list[ClientClass], decisions: list[Decision], tables: list[Table], identity: Identity
) -> list[MatchRule]:

    def accepted(client: str, recipient: str) -> bool:
        return any(d.accept for d in decisions if d.client == client and d.recipient == recipient)

    def decided(client: str, recipient: str) -> tuple[Span, ...]:
        return tuple(s for d in decisions if d.client == client and d.recipient == recipient for s in d.origin)

    rendered = {t.name for t in tables if t.entries}
    clients = [c for c in clients if c.table is None or c.table in rendered]
    found: list[MatchRule] = []
    local_table = next((t for t in tables if t.name == "local_domains"), None)
    if (
        accepted(ANYONE, LOCAL_DOMAINS)
        and local_table
        and "localhost" in local_table.entries
        and ("local", None) not in destinations(ctx, LOCAL_DOMAINS, tables, identity)
    ):
        found.append(MatchRule("local", None, "local", None, "local", "mail for this host from this host"))
    for recipient in RECIPIENT_CLASSES:
        action = ACTION_NAMES[recipient]
        for destination in destinations(ctx, recipient, tables, identity):
            yes = [
                _local_source(ctx, c, recipient, clients, tables, accepted)
                for c in clients
                if accepted(c.name, recipient)
            ]
            no = [c for c in clients if not accepted(c.name, recipient)]
            if ANYONE in (c.name for c in yes):
                found += [_rule(c, destination, None, "exim refuses these", decided(c.name, recipient)) for c in no]
                covered = tuple(s for c in yes for s in decided(c.name, recipient))  # one rule accepts them all
                found.append(_rule(ClientClass(ANYONE), destination, action, _COMMENTS[recipient], covered))
                continue
            if recipient != ANY_DOMAIN:
                # A later "for any" rule must not catch what exim refuses here.
                found += [
                    _rule(c, destination, None, "exim refuses these", decided(c.name, recipient))
                    for c in no
                    if accepted(c.name, ANY_DOMAIN)
                ]
            found += [_rule(c, destination, action, _COMMENTS[recipient], decided(c.name, recipient)) for c in yes]
    return found


def _local_source(
    ctx: Context,
    client: ClientClass,
    recipient: str,
    clients: list[ClientClass],
    tables: list[Table],
    accepted: Callable[[str, str], bool],
) -> ClientClass:
    """The socket's rule becomes ``from local`` when exim trusts loopback for the same mail.

    smtpd re-matches alias and .forward expansions as local, unauthenticated
    mail: only ``from local`` (socket, loopback and the host's own addresses)
    lets an alias to an outside address through. That is no wider than exim
    when 127.0.0.1 and ::1 are already trusted for these recipients.
    """
    if client.name != LOCAL_CLIENT:
        return client
    trusted: set[str] = set()
    for other in clients:
        table = next((t for t in tables if t.name == other.table), None)
        if table is not None and accepted(other.name, recipient):
            trusted |= {e for e in table.entries if e in ("127.0.0.1", "::1", "127.0.0.0/8", "::1/128")}
    if {"127.0.0.1", "::1"} <= {e.split("/")[0] for e in trusted}:
        if recipient == ANY_DOMAIN:
            ctx.ledger.note_span(
                client_span(clients, tables),
                "approximated",
                rules.FROM_LOCAL,
                "'from local' also covers this host's own addresses, not only the socket and "
                "loopback; it is what lets aliases and .forward reach outside addresses",
            )
        return ClientClass(LOCAL_CLIENT, "loopback", client.origin)
    forwards = any(r.driver == "redirect" for r in ctx.config.routers)
    if recipient == ANY_DOMAIN and forwards and accepted(LOCAL_CLIENT, ANY_DOMAIN):
        # exim routed redirected addresses without an ACL; smtpd re-matches them as local mail
        ctx.ledger.note_span(
            client_span(clients, tables) if client_span(clients, tables).line else Span(ctx.config.path, 0, 0, 0, 0),
            "approximated",
            rules.FROM_LOCAL,
            "'from local' (the socket, loopback and this host's own addresses) may send anywhere, so that aliases "
            "and .forward reach outside addresses, which exim routed without an ACL; only local processes connect "
            "from there, and they could already send anywhere through sendmail",
        )
        return ClientClass(LOCAL_CLIENT, "loopback", client.origin)
    if recipient == ANY_DOMAIN and forwards:
        ctx.ledger.note_span(
            Span(ctx.config.path, 0, 0, 0, 0),
            "approximated",
            rules.ALIAS_OUTSIDE,
            "aliases and .forward files that point outside will fail: smtpd re-matches them as "
            "local mail, and exim did not trust loopback to relay",
            "add 127.0.0.1 and ::1 to the trusted hosts if that is acceptable",
        )
    return client


def destinations(ctx: Context, recipient: str, tables: list[Table], identity: Identity) -> list[tuple[str, str | None]]:
    """The smtpd ``for`` criteria that together cover one recipient class."""
    names = {t.name for t in tables if t.entries or t.backend}
    if recipient == ANY_DOMAIN:
        return [("any", None)]
    if recipient == RELAY_DOMAINS:
        return [("domain", n) for n in ("relay_domains", "relay_domains_sql") if n in names]
    if recipient == HOSTED_DOMAINS:
        return [("domain", n) for n in ("hosted_domains", "hosted_domains_sql") if n in names]
    return [("domain", n) for n in ("local_domains", "local_domains_sql") if n in names]


def with_virtual_rules(found: list[MatchRule], virtual: VirtualFiles) -> list[MatchRule]:
    """Before each rule that delivers local domains, the same rule for the virtual domains."""
    out: list[MatchRule] = []
    for rule in found:
        if rule.action == "local" and rule.destination_table == "local_domains":
            out.append(
                replace(rule, destination_table="virtual_domains", action="virtual", comment="per-domain alias files")
            )
        out.append(rule)
    return out


def _rule(
    client: ClientClass,
    destination: tuple[str, str | None],
    action: str | None,
    comment: str,
    decided: tuple[Span, ...] = (),
) -> MatchRule:
    kind, table = destination
    if client.name == LOCAL_CLIENT:
        source, source_table = ("local" if client.table == "loopback" else "socket"), None
    elif client.name == AUTHENTICATED:
        source, source_table = "auth", None
    elif client.name == ANYONE:
        source, source_table = "any", None
    else:
        source, source_table = "src", client.table
    return MatchRule(source, source_table, kind, table, action, comment, client.origin + decided)
