"""Named domain and host lists → smtpd tables, with lookup files read through the store.

exim's own matching rules decide what is copied (see ``migrate.lookups``);
whatever smtpd tables cannot hold is reported with the list, never widened.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import replace

from migrate import rules
from migrate.lookups import domain_keys, dsearch_keys, lsearch_keys, sql_domain_table
from migrate.mapping import aliases
from migrate.mapping.classes import ClassUniverse
from migrate.mapping.context import Context
from migrate.mapping.routing import Delivery
from migrate.model import LOCAL_DOMAINS, RELAY_DOMAINS, ClientClass, Identity, Table
from migrate.reader.lists import ListItem, parse_list
from migrate.reader.tree import NamedList, Option, Statement


def domain_lists(ctx: Context) -> tuple[str | None, str | None]:
    """exim's conventional names; an empty list makes an empty (absent) class."""
    lists = ctx.config.named_lists
    local = "local_domains" if "local_domains" in lists and lists["local_domains"].items else None
    if ctx.local_hosted:
        local = None  # its domains are the hosted class (hosted_list)
    relay = "relay_to_domains" if "relay_to_domains" in lists and lists["relay_to_domains"].items else None
    if relay is not None and relays_everywhere(ctx):
        relay = None  # every domain: no class of its own, "+relay_to_domains" then matches every recipient
    return local, relay


HOSTED_INLINE = "hosted_inline"  # the name given to a hosted-domain list written inline in the routers


def hosted_list(ctx: Context) -> tuple[str | None, str | None]:
    """The other domain list accept and redirect routers are limited to: hosted (virtual) domains.

    ``domainlist virtual_domains = dsearch;/etc/exim/vdomains`` with routers
    ``domains = +virtual_domains`` is how exim hosts mailboxes without system
    accounts; some configurations write the lookup itself in each router and
    ACL statement instead. Returns the list's name and, for an inline one, the
    item that stands for it. Two candidates, or domains that are local domains
    too, stay unmapped: the classes must not overlap.

    A control panel's configuration makes the local domains themselves the
    hosted ones (``domainlist local_domains = lsearch;/etc/virtual/domains``,
    the routers ``domains = lsearch;/etc/virtual/domains``): then local_domains
    is the hosted list and there is no other local class. (Without a mailbox
    router for them they stay local domains with per-domain alias files.)
    """
    name, inline = _named_hosted(ctx), None
    if name is None:
        name, inline = _inline_hosted(ctx)
    if name is None:
        return None, None
    local = domain_lists(ctx)[0]
    if local is not None and inline is not None and _sole_item(ctx, local) == inline and _mailboxes_in(ctx, inline):
        ctx.inline_lists.pop(HOSTED_INLINE, None)
        ctx.local_hosted = True
        return local, inline
    if local is not None and literal_keys(ctx, name) & literal_keys(ctx, local):
        ctx.inline_lists.pop(HOSTED_INLINE, None)
        return None, None
    return name, inline


def _mailboxes_in(ctx: Context, lookup: str) -> bool:
    """Some accept router delivers the domains of the inline list ``lookup``."""
    for router in ctx.config.routers:
        domains = router.option("domains")
        value = domains.value if domains is not None else None
        if router.driver == "accept" and value is not None and value.text.strip() == lookup:
            return True
    return False


def _sole_item(ctx: Context, name: str) -> str | None:
    """The one item of a named list (its text), if it has exactly one."""
    items = ctx.config.named_lists[name].items
    return items[0].text.strip() if len(items) == 1 and not items[0].negated else None


def _named_hosted(ctx: Context) -> str | None:
    lists = ctx.config.named_lists
    found: set[str] = set()
    for _, _, items in _router_domains(ctx):
        if len(items) != 1 or items[0].kind != "named" or items[0].negated:
            continue
        name = items[0].value
        named = lists.get(name)
        other = name not in ("local_domains", "relay_to_domains")
        if other and named is not None and named.kind == "domain" and named.items:
            found.add(name)
    return found.pop() if len(found) == 1 else None


def _inline_hosted(ctx: Context) -> tuple[str | None, str | None]:
    """``domains = dsearch;DIR`` (one lookup, the same in every router that names one): a hosted list."""
    found: dict[str, tuple[Option, str, tuple[ListItem, ...]]] = {}
    for option, separator, items in _router_domains(ctx):
        if len(items) == 1 and items[0].kind == "lookup" and not items[0].negated:
            found.setdefault(items[0].text.strip(), (option, separator, items))
    if len(found) != 1:
        return None, None
    text, (option, separator, items) = found.popitem()
    assert option.value is not None
    ctx.inline_lists[HOSTED_INLINE] = NamedList(
        option.span, option.source, option.macros, "domain", HOSTED_INLINE, option.value, separator, items
    )
    return HOSTED_INLINE, text


def _router_domains(ctx: Context) -> list[tuple[Option, str, tuple[ListItem, ...]]]:
    """The ``domains`` lists (not expansions) of the accept and redirect routers, parsed."""
    found = []
    for router in ctx.config.routers:
        domains = router.option("domains")
        if router.driver not in ("accept", "redirect") or domains is None or domains.value is None:
            continue
        if domains.value.expansion is None:
            found.append((domains, *parse_list(domains.value.text, "domain")))
    return found


def literal_keys(ctx: Context, name: str) -> set[str]:
    """The domains a list names literally or in files it reads (nothing booked: only to test for overlap)."""
    named = ctx.named_list(name)
    keys: set[str] = set()
    for item in named.items:
        if item.negated:
            continue
        if item.kind == "literal":
            keys.add(item.value.lower())
        elif item.kind == "lookup":
            try:
                found = domain_keys(item.lookup_type, ctx.store, item.value)
            except OSError:
                continue
            keys |= set(found.entries) if found is not None else set()
    return keys


def relays_everywhere(ctx: Context) -> bool:
    """``domainlist relay_to_domains = *`` (a relay image's default): the trusted clients may send anywhere."""
    named = ctx.config.named_lists.get("relay_to_domains")
    return named is not None and len(named.items) == 1 and named.items[0].kind == "any" and not named.items[0].negated


def domain_table(ctx: Context, table_name: str, list_name: str, identity: Identity) -> Table:
    """A domain list as an smtpd table, built once (routing needs the relay domains before the tables)."""
    if table_name not in ctx.domain_tables:
        ctx.domain_tables[table_name] = _build_domain_table(ctx, table_name, list_name, identity)
    return ctx.domain_tables[table_name]


def _build_domain_table(ctx: Context, table_name: str, list_name: str, identity: Identity) -> Table:
    named = ctx.named_list(list_name)
    generated = False
    sources: list[str] = []
    entries: list[str] = []
    problems: list[str] = []
    for item in named.items:
        if item.negated:
            problems.append(f"!{item.value}")
        elif item.kind in ("literal", "wildcard"):
            entries.append(item.value.lower())
        elif item.kind == "local" and item.value == "@":
            _own_name(ctx, named, identity, entries, problems)
        elif item.kind == "local" and item.value == "@[]":
            ctx.ledger.mark(named, "approximated")
            ctx.ledger.note_span(
                named.span,
                "approximated",
                rules.LOCAL_LITERALS,
                f"{named.kind}list {named.name}: @[] (mail to this host's address literals, user@[192.0.2.1]) is "
                "refused: smtpd matches those only with 'for local', which also takes localhost from anyone",
            )
        elif item.kind in ("lookup", "file") and _lookup(ctx, item, entries, problems, sources, "domain"):
            generated = True
        elif item.kind in ("lookup", "file"):
            continue  # _lookup said why
        elif (query := _QUERY_LOOKUP.match(item.value)) is not None:
            if not _sql_table(ctx, table_name, named, item):
                problems.append(f"{item.text} ({_backend_advice(query.group(1))})")
        else:
            problems.append(item.text)
    _book_list(ctx, named, problems, "domains")
    return Table(
        table_name,
        "domains",
        entries=tuple(dict.fromkeys(entries)),
        origin=(named.span,),
        generated=generated,
        file=ctx.table_file(table_name) if generated else "",
        sources=tuple(sources),
    )


def _sql_table(ctx: Context, table_name: str, named: NamedList, item: ListItem) -> bool:
    """An SQL lookup in a domain list becomes a table of OpenSMTPD's SQL backends; True when it did."""
    name = f"{table_name}_sql"
    if name in ctx.sql_tables:  # smtpd matches one table per rule: a second SQL item is one too many
        return False
    options = {k: o.value.text for k, o in ctx.config.options.items() if o.value is not None}
    found = sql_domain_table(item.value, options)
    if isinstance(found, str):
        ctx.ledger.mark(named, "unmapped", rules.LIST_SQL, f"{named.kind}list {named.name}: {item.text}: {found}")
        return False
    kind = item.value.split(";", 1)[0].strip()
    carried = []
    statements: list[Statement] = [named]
    for used in (f"{kind}_servers", "sqlite_dbfile" if kind == "sqlite" else ""):
        option = ctx.config.options.get(used)
        if option is not None:
            statements.append(option)
            if found.approximation and used == f"{kind}_servers":
                ctx.ledger.mark(option, "approximated", rules.SQL_SOCKET, f"{used}: {found.approximation}")
            else:
                ctx.ledger.mark(option, "mapped")  # carried into the backend's configuration
            carried.append(option.span)
    ctx.sql_sources[name] = tuple(statements)
    ctx.sql_tables[name] = Table(
        name,
        "domains",
        file=f"{ctx.table_file(name)}.conf",
        origin=(named.span, *carried),
        generated=True,
        sources=(found.source,) if found.source else (),
        backend=found.backend,
        backend_config=found.config,
        secret=found.secret,
    )
    return True


def _lookup(
    ctx: Context, item: ListItem, entries: list[str], problems: list[str], sources: list[str], kind: str
) -> bool:
    """Keys of a lookup file (or a file of items) read from under --root; True when read."""
    lookup_type = item.lookup_type if item.kind == "lookup" else "file"
    if kind == "domain" and item.kind == "lookup" and not item.negated:
        return _domain_lookup(ctx, item, lookup_type, entries, problems, sources)
    # In a host list only a net-/netNN- lookup keys on the client's address; without
    # it exim looks up the host *name* (spec 10.12), which smtpd cannot do.
    known = (
        lookup_type in ("lsearch", "dsearch")
        if kind == "domain"
        else re.fullmatch(r"net\d*-(lsearch|iplsearch)", lookup_type) is not None
    )
    if item.negated or not (known or lookup_type == "file"):
        problems.append(f"{item.text} (a {lookup_type} lookup: not converted)")
        return False
    try:
        store = ctx.store
        if lookup_type == "dsearch":
            keys = dsearch_keys(store.listdir(item.value))
        elif lookup_type == "file":  # a file of list items, one per line (an IPv6 network keeps its colons)
            keys = [line.split("#", 1)[0].strip() for line in store.read(item.value).splitlines()]
            keys = [key for key in keys if key]
        else:
            keys = lsearch_keys(store.read(item.value))
    except OSError as exc:
        problems.append(f"{item.text} ({ctx.store.shown(item.value)}: {exc.strerror or exc})")
        return False
    sources.append(item.value)
    for key in keys:
        if kind == "domain" and "*" not in key and not key.startswith("^"):
            entries.append(key.lower())
        elif kind == "domain":  # lsearch keys are literal: only wildlsearch would match these
            problems.append(f"{key} in {item.value} (a literal key: exim's lsearch never matched it as a pattern)")
        elif kind == "host" and is_network(key) and _key_can_match(key, lookup_type):
            entries.append(key)
        elif kind == "host" and is_network(key):
            problems.append(f"{key} in {item.value} (never matches: {lookup_type} looks up exact addresses)")
        else:
            problems.append(f"{key} in {item.value} (smtpd tables cannot hold it)")
    return True


def _domain_lookup(
    ctx: Context, item: ListItem, lookup_type: str, entries: list[str], problems: list[str], sources: list[str]
) -> bool:
    try:
        found = domain_keys(lookup_type, ctx.store, item.value)
    except OSError as exc:
        problems.append(f"{item.text} ({ctx.store.shown(item.value)}: {exc.strerror or exc})")
        return False
    if found is None:
        problems.append(f"{item.text} (a {lookup_type} lookup: {_backend_advice(lookup_type)})")
        return False
    entries.extend(found.entries)
    problems.extend(found.problems)
    sources.append(item.value)
    if found.note:
        ctx.lookup_notes.append(found.note)
    return True


def network_table(ctx: Context, list_name: str) -> Table:
    named = ctx.named_list(list_name)
    entries, problems, generated, sources = network_entries(ctx, named)
    _book_list(ctx, named, problems, "networks")
    return Table(
        list_name,
        "networks",
        entries=tuple(entries),
        origin=(named.span,),
        generated=generated,
        file=ctx.table_file(list_name) if generated else "",
        sources=tuple(sources),
    )


def network_entries(ctx: Context, named: NamedList) -> tuple[list[str], list[str], bool, list[str]]:
    """A host list's addresses and networks, its lookup files read: (entries, problems, from files, files)."""
    generated = False
    sources: list[str] = []
    entries: list[str] = []
    problems: list[str] = []
    excluded: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for item in named.items:
        if item.kind == "empty":
            continue  # the local socket: its own client class
        if item.kind == "literal" and item.value.lower() == "localhost" and not item.negated:
            entries += ["127.0.0.1", "::1"]  # what exim's forward lookup of localhost gives
            continue
        if item.kind in ("lookup", "file"):
            generated = _lookup(ctx, item, entries, problems, sources, "host") or generated
            continue
        if item.kind not in ("address", "network"):
            problems.append(item.text)
            continue
        network = ipaddress.ip_network(item.value, strict=False)
        if item.negated:
            excluded.append(network)
            problems.append(f"!{item.value} (the exclusion itself)")
        elif any(network.overlaps(e) for e in excluded):
            problems.append(f"{item.value} (overlaps an earlier exclusion; left out)")
        else:
            entries.append(str(network) if "/" in item.value else item.value)
    return entries, problems, generated, sources


def _own_name(ctx: Context, named: NamedList, identity: Identity, entries: list[str], problems: list[str]) -> None:
    """``@`` is primary_hostname and nothing else (smtpd's 'for local' would add localhost, from anyone)."""
    if identity.hostname:
        entries.append(identity.hostname.lower())
    elif identity.own_name:
        entries.append(identity.own_name)
        ctx.ledger.mark(
            named,
            "approximated",
            rules.LOCAL_HOST_NAME,
            f"{named.kind}list {named.name}: @ is this host's name (primary_hostname is not set, so exim asks the "
            f"system); the table lists {identity.own_name}, from /etc/hostname",
        )
    else:
        problems.append("@ (this host's name: primary_hostname is not set and no /etc/hostname was found)")


def _book_list(ctx: Context, named: NamedList, problems: list[str], what: str) -> None:
    for note in ctx.lookup_notes:
        ctx.ledger.mark(named, "approximated", rules.LOOKUP_TEXT_SOURCE, note, "run exim_dbmbuild again, or compare")
    ctx.lookup_notes.clear()
    if problems:
        ctx.ledger.mark(
            named,
            "unmapped",
            rules.LIST_ITEMS,
            f"{named.kind}list {named.name}: items smtpd tables cannot hold: {', '.join(problems)}",
            f"list those {what} literally, or convert lookup files with a later release",
        )
    else:
        ctx.ledger.mark(named, "mapped")


def tables(
    ctx: Context,
    universe: ClassUniverse,
    deliveries: dict[str, Delivery],
    clients: list[ClientClass],
    identity: Identity,
) -> list[Table]:
    """Every table the match rules and actions may name: aliases, domains, routes, networks, SQL."""
    found: list[Table] = []
    local = deliveries[LOCAL_DOMAINS]
    if local.alias_files:
        path, span = local.alias_files[0]
        found.append(aliases.alias_table(ctx, path, span, local))  # exim's file, or a copy smtpd can read
        for extra, extra_span in local.alias_files[1:]:
            ctx.ledger.note_span(
                extra_span,
                "unmapped",
                rules.ALIASES_SECOND,
                f"a second aliases file ({extra}): smtpd's action takes one alias table",
                "merge the files",
            )
    for table_name, list_name in (
        ("local_domains", universe.local_domains),
        ("hosted_domains", universe.hosted_domains),
        ("relay_domains", universe.relay_domains),
    ):
        if list_name:
            table = domain_table(ctx, table_name, list_name, identity)
            if table.entries:
                found.append(table)
    routes = deliveries[RELAY_DOMAINS].routes
    if routes:
        found.append(
            Table(
                "relay_routes",
                "routes",
                mapping=tuple(routes),
                origin=tuple(d.span for d in deliveries[RELAY_DOMAINS].drivers),
                sources=tuple(deliveries[RELAY_DOMAINS].route_files),
            )
        )
    for client in clients:
        if client.table:
            found.append(network_table(ctx, client.table))
    found += ctx.sql_tables.values()
    return found


def _key_can_match(key: str, lookup_type: str) -> bool:
    """Which keys exim can ever find: iplsearch takes networks; net-lsearch looks up the exact
    client address; netNN-lsearch the address masked to NN bits, written with "/NN"."""
    mask = re.fullmatch(r"net(\d*)-lsearch", lookup_type)
    if mask is None:
        return True  # net-iplsearch matches networks; a plain file holds list items
    return key.endswith(f"/{mask.group(1)}") if mask.group(1) else "/" not in key


def is_network(text: str) -> bool:
    """An address or network (brackets allowed), as a network table holds it."""
    try:
        ipaddress.ip_network(text.strip("[]"), strict=False)
    except ValueError:
        return False
    return True


_QUERY_LOOKUP = re.compile(r"(mysql|pgsql|sqlite|ldap|ldapdn|ldapm|redis|oracle|ibase)(?:,[^;]*)?\s*;")
_TABLE_BACKENDS = {
    "mysql": "table-mysql",
    "pgsql": "table-postgres",
    "sqlite": "table-sqlite",
    "ldap": "table-ldap",
    "ldapdn": "table-ldap",
    "ldapm": "table-ldap",
    "redis": "table-redis",
}


def _backend_advice(lookup_type: str) -> str:
    """What to do about a lookup smtpd cannot read as a file: the table backend, if OpenSMTPD has one."""
    backend = _TABLE_BACKENDS.get(lookup_type.split(",")[0].strip("*@"))
    if backend is None:
        return "no OpenSMTPD table backend reads it; export the keys to a file"
    return (
        f"not converted: OpenSMTPD's {backend} (opensmtpd-extras) can serve this list; "
        "write its configuration with the same query, or export the keys to a file"
    )


# Above this many entries a table is written as a file beside smtpd.conf, as
# lookup files already are: a hosting provider's 200,000 domains inline would
# make an smtpd.conf nobody can review.
INLINE_TABLE_LIMIT = 250


def in_file_when_large(ctx: Context, table: Table) -> Table:
    """A large inline table as a table file of the same name (same entries, same rules naming it)."""
    if table.file or table.backend or len(table.entries) + len(table.mapping) <= INLINE_TABLE_LIMIT:
        return table
    return replace(table, generated=True, file=ctx.table_file(table.name))
