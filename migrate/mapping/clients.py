"""Who connects: the local socket, trusted networks (named or inline), authenticated users, anyone.

Each host list an ``accept hosts =`` trusts becomes a client class of its own;
``deny hosts = <addresses>`` at connect..RCPT becomes one reject rule ahead of
all others (exact, or stricter where an earlier accept let some through).
"""

from __future__ import annotations

import ipaddress

from migrate import rules
from migrate.mapping.classes import ClassUniverse
from migrate.mapping.context import Blocklist, Context
from migrate.mapping.tables import network_entries
from migrate.model import ANYONE, AUTHENTICATED, LOCAL_CLIENT, ClientClass, MatchRule, Table
from migrate.reader.lists import parse_list
from migrate.reader.tree import AclCondition, AclStatement, NamedList

PRE_RCPT_ACLS = ("acl_smtp_connect", "acl_smtp_helo", "acl_smtp_mail", "acl_smtp_predata", "acl_smtp_data")


def client_tables(ctx: Context) -> list[str]:
    """Host lists an accept statement trusts, named or written inline: each becomes a client class."""
    found: list[str] = []
    for acl in ctx.config.acls:
        for statement in acl.statements:
            if statement.verb != "accept":
                continue
            for cond in statement.conditions:
                if cond.name != "hosts" or cond.negated or cond.value is None:
                    continue
                inline = inline_hosts(ctx, cond)
                if inline is not None and inline.name not in found:
                    found.append(inline.name)
                    continue
                for name in _named_refs(cond.value.text):
                    lists = ctx.config.named_lists
                    everyone = name in lists and any(i.kind == "any" for i in lists[name].items)
                    if name in lists and lists[name].kind == "host" and name not in found and not everyone:
                        found.append(name)  # a list holding "*" is everyone, not a trusted network
    return found


def find_blocklists(ctx: Context, trusted: tuple[str, ...] = ()) -> list[Blocklist]:
    """``deny hosts = 192.0.2.0/24 : ...`` (nothing else but messages) in the ACLs up to RCPT.

    smtpd cannot split a client class by them, but it can refuse those hosts
    outright with a reject rule ahead of all others. That is exact, or
    stricter where exim accepted some of them in a statement above the deny.
    The list may be named (``+bad_hosts``, not a trusted class) and read its
    networks from files: ``/etc/exim4/bad_hosts``, ``net-lsearch;``,
    ``net24-lsearch;`` (read as exim matches them; anything else in the
    list, a host name say, leaves the statement as it was).
    """
    names: list[str] = []
    for option in (*PRE_RCPT_ACLS[:3], "acl_smtp_rcpt"):
        value = ctx.config.options.get(option)
        if value is not None and value.value is not None and value.value.text.strip() in ctx.acls:
            names.append(value.value.text.strip())
    found = []
    for name in dict.fromkeys(names):
        for statement in ctx.acls[name].statements:
            conditions = [c for c in statement.conditions if not c.modifier]
            if statement.verb not in ("deny", "drop") or len(conditions) != 1:
                continue
            cond = conditions[0]
            if cond.name != "hosts" or cond.negated or cond.value is None or cond.value.expansion is not None:
                continue
            blocklist = _blocklist(ctx, statement, cond, trusted)
            if blocklist is not None:
                found.append(blocklist)
    return found


def _blocklist(ctx: Context, statement: AclStatement, cond: AclCondition, trusted: tuple[str, ...]) -> Blocklist | None:
    assert cond.value is not None
    inline = inline_hosts(ctx, cond, prefix="denied_hosts")
    if inline is not None:
        return Blocklist(statement, inline, tuple(_network_text(i.value) for i in inline.items))
    separator, items = parse_list(cond.value.text, "host")
    if len(items) == 1 and items[0].kind == "named" and not items[0].negated:
        named = ctx.config.named_lists.get(items[0].value)
        if named is None or named.kind != "host" or named.name in trusted:
            return None
    elif items and all(i.kind in ("address", "network", "lookup", "file") and not i.negated for i in items):
        name = f"denied_hosts_line{cond.span.line}"
        named = NamedList(cond.span, cond.source, cond.macros, "host", name, cond.value, separator, items)
    else:
        return None
    entries, problems, _, sources = network_entries(ctx, named)
    ctx.lookup_notes.clear()
    if problems or not entries:
        return None
    if named.name.startswith("denied_hosts_line"):
        ctx.inline_lists[named.name] = named
    return Blocklist(statement, named, tuple(_network_text(e) for e in entries), tuple(sources))


def _network_text(value: str) -> str:
    return str(ipaddress.ip_network(value, strict=False)) if "/" in value else value


def blocklist_table(ctx: Context) -> Table:
    """Every denied address and network in one table: one reject rule, however many deny statements."""
    entries: list[str] = []
    sources: list[str] = []
    for found in ctx.blocklists:
        entries += found.entries
        sources += found.sources
        ctx.ledger.mark(found.named, "mapped")
    origin = tuple(found.statement.span for found in ctx.blocklists)
    origin += tuple(f.named.span for f in ctx.blocklists if f.named.name in ctx.config.named_lists)
    generated = bool(sources)  # read from the server's files: written beside smtpd.conf, as lookup files are
    return Table(
        "denied_hosts",
        "networks",
        entries=tuple(dict.fromkeys(entries)),
        origin=origin,
        generated=generated,
        file=ctx.table_file("denied_hosts") if generated else "",
        sources=tuple(dict.fromkeys(sources)),
    )


def blocklist_rule(ctx: Context, table: Table) -> MatchRule:
    for found in ctx.blocklists:
        statement = found.statement
        ctx.ledger.resolve(
            statement,
            "approximated",
            rules.ACL_DENY_HOSTS,
            "these hosts are refused by a reject rule ahead of all others, also where a statement "
            "above this deny let exim accept them",
            "nothing to do unless such an earlier accept mattered",
        )
        for cond in statement.conditions:
            ctx.ledger.resolve(cond, "approximated")
    return MatchRule("src", table.name, "any", None, None, "exim denies these hosts", table.origin)


def inline_hosts(ctx: Context, cond: AclCondition, prefix: str = "trusted_hosts") -> NamedList | None:
    """``accept hosts = <; 192.0.2.0/24 ; ...``: the same as a named list, named after its line."""
    assert cond.value is not None
    if cond.value.expansion is not None:
        return None
    separator, items = parse_list(cond.value.text, "host")
    if not items or not all(i.kind in ("address", "network") and not i.negated for i in items):
        return None
    name = f"{prefix}_line{cond.span.line}"
    named = NamedList(cond.span, cond.source, cond.macros, "host", name, cond.value, separator, items)
    ctx.inline_lists[name] = named
    return named


def clients(ctx: Context, universe: ClassUniverse, auth: bool) -> list[ClientClass]:
    clients = [ClientClass(LOCAL_CLIENT)]
    for name in universe.client_tables:
        clients.append(ClientClass(name, name, (ctx.named_list(name).span,)))
    if auth:
        clients.append(ClientClass(AUTHENTICATED))
    clients.append(ClientClass(ANYONE))
    return clients


def _named_refs(value: str) -> list[str]:
    return [i.value for i in parse_list(value, "host")[1] if i.kind == "named" and not i.negated]
