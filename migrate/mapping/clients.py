"""Who connects: the local socket, trusted networks (named or inline), authenticated users, anyone.

Each host list an ``accept hosts =`` trusts becomes a client class of its own;
``deny hosts = <addresses>`` at connect..RCPT becomes one reject rule ahead of
all others (exact, or stricter where an earlier accept let some through).
"""

from __future__ import annotations

import ipaddress
import re

from migrate import rules
from migrate.mapping.classes import ClassUniverse
from migrate.mapping.context import Blocklist, Context
from migrate.mapping.tables import network_entries
from migrate.model import ANYONE, AUTHENTICATED, LOCAL_CLIENT, ClientClass, MatchRule, Table
from migrate.reader.lists import ListItem, parse_list
from migrate.reader.tree import AclCondition, AclStatement, NamedList

PRE_RCPT_ACLS = ("acl_smtp_connect", "acl_smtp_helo", "acl_smtp_mail", "acl_smtp_predata", "acl_smtp_data")


# The lookups of a host list whose files exim2smtpd reads (as mapping.tables does): a file of items,
# and the net-/netNN- lookups that key on the client's address.
_READ_HOST_LOOKUP = re.compile(r"net\d*-(lsearch|iplsearch)")


def unread_files(ctx: Context, items: tuple[ListItem, ...], depth: int = 0) -> tuple[list[str], list[NamedList]]:
    """The files a host list names (its named lists followed) that cannot be read, each as
    ``ITEM (PATH: REASON)``, and the named lists that name them themselves.

    Who is in such a file is unknown: a statement testing it can be neither
    carried over nor taken as never matching.
    """
    found: list[str] = []
    lists: list[NamedList] = []
    for item in items:
        if item.kind == "named":
            named = ctx.config.named_lists.get(item.value)
            if named is None or named.kind != "host" or depth > 8:
                continue
            if _own_unread(ctx, named.items):
                lists = _with(lists, [named])
            below, below_lists = unread_files(ctx, named.items, depth + 1)
            found += [f for f in below if f not in found]
            lists = _with(lists, below_lists)
        else:
            found += [f for f in _own_unread(ctx, (item,)) if f not in found]
    return found, lists


def _with(lists: list[NamedList], more: list[NamedList]) -> list[NamedList]:
    """``lists`` and those of ``more`` not in it yet (the same statement, not an equal one)."""
    return lists + [n for n in more if all(n is not m for m in lists)]


def _own_unread(ctx: Context, items: tuple[ListItem, ...]) -> list[str]:
    """The files these items name themselves that cannot be read (``ITEM (PATH: REASON)``, as tables says it)."""
    found = []
    for item in items:
        if item.kind == "file" or (item.kind == "lookup" and _READ_HOST_LOOKUP.fullmatch(item.lookup_type)):
            try:
                ctx.store.read(item.value)  # read once: the store keeps the text, or the error
            except OSError as exc:
                found.append(f"{item.text} ({ctx.store.shown(item.value)}: {exc.strerror or exc})")
    return found


def _host_conditions(ctx: Context, acl_names: set[str] | None = None) -> list[tuple[AclStatement, AclCondition]]:
    """Every ``hosts =`` condition (not an expansion) of the ACLs (of those named, when given)."""
    found = []
    for acl in ctx.config.acls:
        if acl_names is not None and acl.name not in acl_names:
            continue
        for statement in acl.statements:
            for cond in statement.conditions:
                if cond.name == "hosts" and cond.value is not None and cond.value.expansion is None:
                    found.append((statement, cond))
    return found


def unread_conditions(ctx: Context) -> dict[int, tuple[str, ...]]:
    """For each ``hosts =`` condition naming a file that cannot be read (itself or through a named list),
    by ``id``: those files, each as ``ITEM (PATH: REASON)``."""
    found: dict[int, tuple[str, ...]] = {}
    for _, cond in _host_conditions(ctx):
        assert cond.value is not None
        files, _ = unread_files(ctx, parse_list(cond.value.text, "host")[1])
        if files:
            found[id(cond)] = tuple(files)
    return found


def unread_lists(ctx: Context, statement: AclStatement) -> list[NamedList]:
    """The named host lists a statement's ``hosts =`` conditions reach that name a file that cannot be read."""
    found: list[NamedList] = []
    for cond in statement.conditions:
        if cond.name == "hosts" and cond.value is not None and cond.value.expansion is None:
            found = _with(found, unread_files(ctx, parse_list(cond.value.text, "host")[1])[1])
    return found


def book_unread_lists(ctx: Context, trusted: tuple[str, ...]) -> None:
    """A host list an ACL exim runs tests, naming a file that cannot be read: unmapped at the list, with the
    file and why, never "not used". A trusted list (a client class) is booked with its table (tables)."""
    users: dict[str, list[AclStatement]] = {}
    named: dict[str, NamedList] = {}
    for statement, cond in _host_conditions(ctx, ctx.used_acls):
        assert cond.value is not None
        for found in unread_files(ctx, parse_list(cond.value.text, "host")[1])[1]:
            named[found.name] = found
            if all(statement is not s for s in users.setdefault(found.name, [])):
                users[found.name].append(statement)
    for name, found in named.items():
        if name in trusted:
            continue
        where = ", ".join(f"{s.span.file}:{s.span.line}" for s in users[name])
        ctx.ledger.mark(
            found,
            "unmapped",
            rules.LIST_UNREADABLE,
            f"{found.kind}list {name}: {', '.join(_own_unread(ctx, found.items))} cannot be read, so the hosts it "
            f"lists are unknown and no table of the output holds them; what the output does instead is said "
            f"at {where}",
        )


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
