"""The mapping stage: an exim parse tree in, a mail-policy model out.

``build_policy`` never widens who may send where: every client class is
given exactly the recipient classes exim accepts for it (see ``acl`` for how
undecidable conditions are resolved), and every statement it reads ends up
mapped, approximated, ignored on purpose, or reported as unmapped.

The work is done by small step modules sharing one ``Context`` (the tree, the
options, the lookup store, the ledger); this module only runs them in order.
The mapping reads no file itself: lookup files come from the store passed in.
"""

from __future__ import annotations

from dataclasses import replace

from migrate.errors import Span
from migrate.lookups import FileStore, LookupStore
from migrate.mapping import (
    accounting,
    auth,
    clients,
    decisions,
    delivery,
    domain_files,
    filters,
    identity,
    limits,
    local_parts,
    matches,
)
from migrate.mapping import logins as logins_step
from migrate.mapping import services as services_step
from migrate.mapping import tables as tables_step
from migrate.mapping.acl import AclEvaluator
from migrate.mapping.classes import ClassUniverse
from migrate.mapping.context import Context
from migrate.mapping.listeners import certificates, listeners
from migrate.mapping.listeners import ports as listening_ports
from migrate.mapping.routing import Delivery, Router
from migrate.model import (
    ANY_DOMAIN,
    AUTHENTICATED,
    HOSTED_DOMAINS,
    LOCAL_DOMAINS,
    RECIPIENT_CLASSES,
    Action,
    ClientClass,
    Decision,
    Identity,
    Listener,
    MatchRule,
    Policy,
    Table,
)
from migrate.options import GREYLIST_CHOICES
from migrate.platforms import PLATFORMS as PLATFORM_PACKS
from migrate.reader.tree import Driver, EximConfig, NamedList, Option
from migrate.rules import LIST_SQL

PLATFORMS = tuple(PLATFORM_PACKS)


def build_policy(
    config: EximConfig,
    platform: str = "openbsd",
    greylist: str = "off",
    store: LookupStore | None = None,
) -> Policy:
    """Map a parsed exim configuration to the mail-policy model; lookup files come from ``store``."""
    if platform not in PLATFORMS:
        raise ValueError(f"unknown platform {platform!r}")
    if greylist not in GREYLIST_CHOICES:
        raise ValueError(f"unknown greylist choice {greylist!r}")
    return _build(Context(config, platform, greylist, store if store is not None else FileStore()))


def _denied_local_parts(
    ctx: Context,
    universe: ClassUniverse,
    tables: list[Table],
    rules: list[MatchRule],
    who: Identity,
    evaluator: AclEvaluator,
    classes: list[ClientClass],
) -> tuple[list[Table], list[MatchRule]]:
    """Reject rules for the local parts exim's RCPT ACL denied, ahead of every other rule."""
    class_tables = {}
    for recipient in RECIPIENT_CLASSES:
        destinations = matches.destinations(ctx, recipient, tables, who)
        if len(destinations) == 1 and destinations[0][0] == "domain" and destinations[0][1]:
            class_tables[recipient] = destinations[0][1]
    rejects = []
    for denied in local_parts.find(ctx, universe, class_tables, evaluator, classes):
        regexes = local_parts.table(denied)
        if regexes.name not in {t.name for t in tables}:  # one ACL chosen for two tags: one table
            tables.append(regexes)
        rejects.append(local_parts.reject_rule(ctx, denied, regexes))
    return tables, [*rejects, *rules]


def _flagged_domains(
    ctx: Context,
    universe: ClassUniverse,
    tables: list[Table],
    rules: list[MatchRule],
    hosted_names: tuple[str, ...],
    evaluator: AclEvaluator,
    classes: list[ClientClass],
) -> tuple[list[Table], list[MatchRule]]:
    """Reject rules for the domains a deny refuses while a file per domain exists (a panel's suspension)."""
    local = next((t for t in tables if t.name == "local_domains"), None)
    names = {HOSTED_DOMAINS: hosted_names} if hosted_names else {}
    if local is not None and not local.backend:
        names[LOCAL_DOMAINS] = tuple(d for d in local.entries if "*" not in d)
    rejects = []
    for denied in domain_files.find(ctx, universe, names, evaluator, classes):
        domain_files.book(ctx, denied)
        if denied.domains:
            refused = domain_files.table(denied)
            tables.append(refused)
            rejects.append(domain_files.reject_rule(denied, refused))
    return tables, [*rejects, *rules]


def _unused_sql(ctx: Context, used: set[str | None]) -> None:
    """A domain list's SQL table no rule or action names (its class was not migrated) carries nothing over."""
    for name, statements in ctx.sql_sources.items():
        if name in used:
            continue
        for statement in statements:
            label = f"{statement.kind}list {statement.name}" if isinstance(statement, NamedList) else ""
            label = label or (statement.name if isinstance(statement, Option) else "")
            ctx.ledger.resolve(
                statement,
                "unmapped",
                LIST_SQL,
                f"{label}: its SQL table ({name}) is left out: no migrated rule or action uses it",
                "see the lost services for the class of mail these domains are",
            )


def _build(ctx: Context) -> Policy:
    config = ctx.config
    who = identity.identity(ctx)
    client_tables = tuple(clients.client_tables(ctx))
    ctx.blocklists = clients.find_blocklists(ctx, client_tables)
    hosted_domains, hosted_inline = tables_step.hosted_list(ctx)
    ctx.hosted_list = hosted_domains
    universe = ClassUniverse(
        config,
        *tables_step.domain_lists(ctx),
        client_tables,
        dict(ctx.inline_lists),
        hosted_domains=hosted_domains,
        hosted_inline=hosted_inline,
    )
    hosted_names = tuple(sorted(tables_step.literal_keys(ctx, hosted_domains))) if hosted_domains else ()
    router = Router(
        config, universe, ctx.store, _relay_names(ctx, universe, who), hosted_names=hosted_names, hostname=who.hostname
    )
    deliveries = router.deliveries()
    server_auth = logins_step.server_auth(ctx, _login_domains(ctx, universe, hosted_names))
    classes = clients.clients(ctx, universe, server_auth is not None)
    ctx.ports = listening_ports(config, ctx.ledger)  # a bad port is one finding: the ledger keeps it once
    decided = decisions.decisions(ctx, universe, classes, deliveries)
    if tables_step.relays_everywhere(ctx):
        decided = _relaying_everywhere(ctx, decided)
    tables = tables_step.tables(ctx, universe, deliveries, classes, who)
    actions = delivery.actions(ctx, deliveries, decided)
    rules = matches.match_rules(ctx, classes, decided, tables, who)
    if ctx.blocklists:
        table = clients.blocklist_table(ctx)
        tables.append(table)
        rules = [clients.blocklist_rule(ctx, table), *rules]
    evaluator = decisions.acl_evaluator(ctx, universe, deliveries)
    tables, rules = _denied_local_parts(ctx, universe, tables, rules, who, evaluator, classes)
    tables, rules = _flagged_domains(ctx, universe, tables, rules, hosted_names, evaluator, classes)
    virtual = deliveries[LOCAL_DOMAINS].virtual
    if virtual is not None and any(a.name == "local" for a in actions):
        alias_files = [path for path, _ in deliveries[LOCAL_DOMAINS].alias_files]
        virtual_tables = delivery.virtual_tables(ctx, virtual, tables, who, alias_files)
        if virtual_tables:
            tables += virtual_tables
            actions.append(delivery.virtual_action(virtual, actions))
            rules = matches.with_virtual_rules(rules, virtual)
    elif virtual is not None:
        delivery.no_virtual_action(ctx, virtual)
    actions, tables, rules = _hosted(ctx, deliveries, actions, tables, rules, who)
    actions, secrets = auth.smarthost_credentials(ctx, actions, deliveries)
    used = {r.source_table for r in rules} | {r.destination_table for r in rules} | {r.rcpt_regex_table for r in rules}
    used |= {a.alias_table for a in actions} | {a.relay_domain_table for a in actions}
    used |= {a.virtual_table for a in actions} | {a.auth_table for a in actions} | {a.userbase_table for a in actions}
    if secrets is not None:
        tables.append(secrets)
    tables = [t for t in tables if t.name in used]
    _unused_sql(ctx, used)
    name = identity.pki_name(ctx, who)
    found_pki = certificates(config, name, ctx.ledger, ctx.store, ctx.platform)
    pki = found_pki[0] if found_pki else None
    offers_auth = server_auth is not None and any(d.client == AUTHENTICATED and d.accept for d in decided)
    logins = server_auth.table if server_auth is not None and offers_auth else None
    listen = listeners(
        config,
        ctx.platform,
        pki,
        offers_auth,
        ctx.ledger,
        logins.name if logins else None,
        ctx.port_tags,
        tuple(c.name for c in found_pki[1:]),
    )
    if offers_auth and not any(li.auth != "none" for li in listen):
        logins_step.no_tls(ctx)
        offers_auth, logins = False, None
    if logins is not None:
        tables.append(logins)
    tables = [tables_step.in_file_when_large(ctx, t) for t in tables]
    listen = [_login_first(li, decided) for li in listen]
    if who.hostname and name == who.hostname:  # exim greets and says HELO with primary_hostname
        listen = [replace(li, hostname=name) for li in listen]
        actions = [replace(a, helo=name) if a.method == "relay" else a for a in actions]
    size_and_queue = limits.limits(ctx)
    content = filters.content(ctx, deliveries)
    content, attached, listen, socket_filters = filters.filters(
        ctx, content, listen, _trusted(classes, decided, tables)
    )
    _book_route_notes(ctx, router, deliveries)
    accounting.account_drivers(ctx, deliveries)
    provided, accepting, verdicts = services_step.services(ctx, universe, listening=bool(listen))
    services_step.book_partly_lost(ctx, verdicts, decided, {a.name for a in actions})
    accounting.account_rest(ctx)
    accounting.account_overridden(ctx)
    accounting.account_opaque(ctx)
    accounting.account_sql_injection(ctx)
    ctx.ledger.absorb_notes(config.statements())
    return Policy(
        source=config.path,
        platform=ctx.platform,
        identity=who,
        tables=tuple(tables),
        certificates=found_pki,
        listeners=tuple(listen),
        actions=tuple(actions),
        clients=tuple(classes),
        decisions=tuple(decided),
        rules=tuple(rules),
        limits=size_and_queue,
        content=content,
        filters=tuple(attached),
        socket_filters=tuple(socket_filters),
        findings=tuple(sorted(ctx.ledger.findings, key=lambda f: (f.span.file, f.span.line, f.span.col, f.rule.id))),
        accounting=tuple((node.span, ctx.ledger.status[id(node)][1]) for node in config.statements()),
        services=tuple(provided),
        auth_origin=server_auth.origin if server_auth is not None and offers_auth else (),
        exim_accepting=accepting,
        policy_origin=_policy_origin(ctx, universe),
    )


def _hosted(
    ctx: Context,
    deliveries: dict[str, Delivery],
    actions: list[Action],
    tables: list[Table],
    rules: list[MatchRule],
    who: Identity,
) -> tuple[list[Action], list[Table], list[MatchRule]]:
    """The hosted domains' action and tables; without a table to deliver from, their rules go too."""
    if not any(r.action == "hosted" for r in rules):
        return actions, tables, rules
    built = delivery.hosted_action(ctx, deliveries, tables, who)
    if built is None:
        return (
            actions,
            tables,
            [r for r in rules if r.destination_table not in ("hosted_domains", "hosted_domains_sql")],
        )
    action, hosted_tables = built
    return [*actions, action], tables + hosted_tables, rules


def _login_first(listener: Listener, decided: list[Decision]) -> Listener:
    """A port where exim takes no recipient before a login: smtpd's listener requires TLS and AUTH there."""
    group = [d for d in decided if d.tag is not None and d.tag == listener.tag]
    if not group or listener.auth == "none" or any(d.accept for d in group if d.client != AUTHENTICATED):
        return listener
    return replace(listener, auth="required", tls="require" if listener.tls == "starttls" else listener.tls)


def _login_domains(ctx: Context, universe: ClassUniverse, hosted_names: tuple[str, ...]) -> list[str]:
    """The domains whose password file (one per domain, as control panels keep them) holds logins."""
    local = sorted(tables_step.literal_keys(ctx, universe.local_domains)) if universe.local_domains else []
    return [d for d in dict.fromkeys([*local, *hosted_names]) if "*" not in d]


def _relaying_everywhere(ctx: Context, decided: list[Decision]) -> list[Decision]:
    """relay_to_domains = *: the rules that relay anywhere carry that list out."""
    named = ctx.config.named_lists["relay_to_domains"]
    ctx.ledger.mark(named, "mapped")
    return [
        replace(d, origin=(*d.origin, named.span)) if d.recipient == ANY_DOMAIN and d.accept else d for d in decided
    ]


def _trusted(classes: list[ClientClass], decided: list[Decision], tables: list[Table]) -> list[Table]:
    """The network tables exim relayed for: their mail went out through exim's (signing) smtp transport."""
    relaying = {d.client for d in decided if d.recipient == ANY_DOMAIN and d.accept}
    names = {c.table for c in classes if c.table and c.name in relaying}
    return [t for t in tables if t.name in names]


def _relay_names(ctx: Context, universe: ClassUniverse, who: Identity) -> list[str]:
    """Every relay domain, lookup files included: routing needs them before the tables are built."""
    names = (
        list(tables_step.domain_table(ctx, "relay_domains", universe.relay_domains, who).entries)
        if universe.relay_domains
        else []
    )
    if "relay_domains_sql" in ctx.sql_tables:
        names.append("(the domains of its SQL lookup)")  # no route can be listed for those
    return names


def _book_route_notes(ctx: Context, router: Router, deliveries: dict[str, Delivery]) -> None:
    """Why a driver was not migrated is its bucket; a detail of a migrated one makes it approximated."""
    owner = {id(o): d for d in (*ctx.config.routers, *ctx.config.transports) for o in d.options}
    used = {id(d) for found in deliveries.values() for d in found.drivers}
    for node, note in router.notes:
        driver = node if isinstance(node, Driver) else owner.get(id(node))
        if driver is not None and id(driver) not in used:
            ctx.ledger.mark_driver(driver, note.severity, note.rule, note.message, note.advice)
        else:
            ctx.ledger.mark(node, note.severity, note.rule, note.message, note.advice)


def _policy_origin(ctx: Context, universe: ClassUniverse) -> tuple[Span, ...]:
    """The ACL statements, acl_smtp_* options and class lists whose effect is the set of match rules as a whole."""
    spans: list[Span] = []
    for name in (universe.local_domains, universe.relay_domains, *universe.client_tables):
        if name and (name in ctx.config.named_lists or name in ctx.inline_lists):
            spans.append(
                ctx.named_list(name).span if name in universe.client_tables else ctx.config.named_lists[name].span
            )
    for acl in ctx.config.acls:
        if acl.name in ctx.used_acls:
            spans.append(acl.span)
            spans += [s.span for s in acl.statements]
    for name, option in ctx.config.options.items():
        if name.startswith("acl_smtp_") or name == "acl_not_smtp":
            spans.append(option.span)
    return tuple(spans)


__all__ = ["PLATFORMS", "build_policy"]
