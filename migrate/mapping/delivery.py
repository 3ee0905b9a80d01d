"""Deliveries → smtpd actions: local delivery (with the aliases file), relays, per-domain alias files.

An action exists only where a decision accepts mail for it. The per-domain
alias files idiom becomes one virtual table whose fall-through keys reproduce
exim's next routers (the aliases file, the users of /etc/passwd).
"""

from __future__ import annotations

import re

from migrate import rules
from migrate.lookups import (
    KEY,
    SQL_BACKENDS,
    dsearch_keys,
    lsearch_entries,
    lsearch_keys,
    sql_aggregate,
    sql_alias_query,
    sql_connection,
)
from migrate.mapping import hosted
from migrate.mapping.context import Context
from migrate.mapping.routing import Delivery, VirtualFiles
from migrate.model import ANY_DOMAIN, HOSTED_DOMAINS, LOCAL_DOMAINS, RELAY_DOMAINS, Action, Decision, Identity, Table
from migrate.reader.lists import split_list
from migrate.reader.tree import Driver
from migrate.rules import Rule

_FALLTHROUGH_LOST = (
    "local parts missing from a domain's file went on to exim's next routers (aliases, local users); "
    "smtpd's virtual table refuses those it does not list"
)
_FALLTHROUGH_FIX = "give --root a copy of the server's /etc, or add those local parts to the domain's file"


def address_transports(ctx: Context, deliveries: dict[str, Delivery]) -> list[Driver]:
    """exim's address_pipe/file/reply transports: smtpd's local action delivers what aliases and .forward name."""
    local = deliveries[LOCAL_DOMAINS]
    if not (local.alias_files or any(d.forward for d in deliveries.values())):
        return []
    return [
        t
        for t in ctx.config.transports
        if t.driver in ("pipe", "appendfile", "autoreply") and t.name.startswith("address_") and t not in local.drivers
    ]


def actions(ctx: Context, deliveries: dict[str, Delivery], decisions: list[Decision]) -> list[Action]:
    """One action per recipient class a decision accepts."""
    actions: list[Action] = []
    needed = {d.action for d in decisions if d.accept}
    local = deliveries[LOCAL_DOMAINS]
    if "local" in needed:
        virtual_router = local.virtual.router if local.virtual else None
        origin = tuple(d.span for d in local.drivers if d is not virtual_router)
        origin += tuple(t.span for t in address_transports(ctx, deliveries))
        final = next((d for d in reversed(local.drivers) if d.kind == "router"), None)
        if final is not None:
            ctx.ledger.mark(
                final,
                "approximated",
                rules.UNKNOWN_LOCAL_USER,
                "smtpd refuses unknown local users at RCPT; exim accepted them from clients "
                "it trusted before 'verify = recipient' and bounced the mail later",
                "nothing to do: senders now get the refusal at once",
            )
        actions.append(
            Action(
                "local",
                local.method,
                local.path,
                alias_table="aliases" if local.alias_files else None,
                origin=origin,
                routers=_router_names(local),
            )
        )
    relay = deliveries[RELAY_DOMAINS]
    if "relay_domains" in needed:
        actions.append(
            Action(
                "relay_domains",
                "relay",
                relay_domain_table="relay_routes" if relay.routes else None,
                relay_host=relay.relay_host,
                origin=tuple(d.span for d in relay.drivers),
                routers=_router_names(relay),
            )
        )
    other = deliveries[ANY_DOMAIN]
    if "outbound" in needed:
        actions.append(
            Action(
                "outbound",
                "relay",
                relay_host=other.relay_host,
                origin=tuple(d.span for d in other.drivers),
                routers=_router_names(other),
            )
        )
    return actions


def virtual_tables(
    ctx: Context, virtual: VirtualFiles, tables: list[Table], identity: Identity, alias_files: list[str]
) -> list[Table]:
    """The per-domain alias files as one smtpd virtual table (``user@domain value``) and its domains."""
    router = virtual.router
    local = next((t for t in tables if t.name == "local_domains"), None)
    try:
        domains = [d.lower() for d in dsearch_keys(ctx.store.listdir(virtual.directory))]
    except OSError as exc:
        _virtual_note(ctx, router, "unmapped", rules.VIRTUAL_DIR, f"{virtual.directory}: {exc.strerror or exc}")
        return []
    outside = [d for d in domains if local is None or not _domain_in(d, local.entries)]
    if outside:
        _virtual_note(
            ctx,
            router,
            "unmapped",
            rules.VIRTUAL_NOT_LOCAL,
            f"router {router.name}: {', '.join(outside)} in {virtual.directory} are not local domains; "
            "exim's RCPT ACL decided them as other domains, so they are left out",
        )
        domains = [d for d in domains if d not in outside]
    preserve = router.option("qualify_preserve_domain") is not None
    qualify = identity.qualify_domain or identity.hostname
    fallback = _fallthrough_keys(ctx, virtual, qualify, alias_files)
    mapping: list[tuple[str, str]] = [(key, f"{key}@{qualify}") for key in fallback]
    skipped: list[str] = []
    for domain in domains:
        try:
            entries = lsearch_entries(ctx.store.read(f"{virtual.directory}/{domain}"))
        except OSError as exc:
            skipped.append(f"{domain} ({exc.strerror or exc})")
            continue
        catch_all = None
        written: set[str] = set()
        for key, data in entries:
            local_part = key.lower()
            if local_part in written:
                continue  # exim takes the first line for a key
            written.add(local_part)
            converted = _virtual_value(data, domain if preserve else qualify)
            if key == "*" and virtual.lookup_type != "lsearch":
                catch_all = converted
                continue
            if converted is None:
                skipped.append(f"{key}@{domain} ({data or 'no data'})")
                # refused here: a bare fall-through key must not deliver it
                converted = f"error:550 {key}@{domain} is not accepted here" if fallback else None
            if converted is not None and key != "*":
                mapping.append((f"{local_part}@{domain}", converted))
        if catch_all is not None:
            # exim's "*" catches every local part missing from the file, before any fall-through
            mapping += [(f"{k}@{domain}", catch_all) for k in fallback if k not in written]
            mapping.append((f"@{domain}", catch_all))
    if skipped:
        _virtual_note(
            ctx,
            router,
            "approximated",
            rules.VIRTUAL_ENTRIES,
            f"router {router.name}: entries smtpd's virtual table cannot hold, left out "
            f"(smtpd refuses those addresses): {', '.join(skipped)}",
            "deliver them through an aliases entry or an mda action by hand",
        )
    if not domains:
        return []
    origin = (router.span,)
    sources = (virtual.directory,)
    return [
        Table(
            "virtual_domains", "domains", tuple(domains), (), ctx.table_file("virtual_domains"), origin, True, sources
        ),
        # "virtual" is a keyword of smtpd.conf: a table may not be called that.
        Table(
            "virtual_aliases", "virtual", (), tuple(mapping), ctx.table_file("virtual_aliases"), origin, True, sources
        ),
    ]


def _fallthrough_keys(ctx: Context, virtual: VirtualFiles, qualify: str | None, alias_files: list[str]) -> list[str]:
    """Local parts exim's later routers knew: the aliases file's keys and the users in /etc/passwd.

    A local part missing from a domain's file went on to those routers; smtpd's
    virtual table tries a bare ``user`` key after ``user@domain``, so each one
    becomes ``user -> user@host`` and is delivered as exim delivered it.
    """
    if not virtual.falls_through:
        return []
    router = virtual.router
    if qualify is None:
        _virtual_note(ctx, router, "approximated", rules.VIRTUAL_FALLTHROUGH, _FALLTHROUGH_LOST, _FALLTHROUGH_FIX)
        return []
    keys: list[str] = []
    passwd = ctx.store.shown("/etc/passwd")
    try:
        text = ctx.store.read("/etc/passwd")
        keys += [line.split(":", 1)[0] for line in text.splitlines() if ":" in line]
    except OSError:
        _virtual_note(
            ctx,
            router,
            "approximated",
            rules.VIRTUAL_FALLTHROUGH,
            f"{_FALLTHROUGH_LOST} ({passwd} could not be read to list the local users)",
            _FALLTHROUGH_FIX,
        )
    for path in alias_files:
        try:
            keys += lsearch_keys(ctx.store.read(path))
        except OSError:
            continue
    return list(dict.fromkeys(k.lower() for k in keys if k and not k.startswith("*")))


def _virtual_note(ctx: Context, router: Driver, severity: str, rule: Rule, message: str, advice: str = "") -> None:
    ctx.ledger.note_span(router.span, severity, rule, message, router.source, advice)
    if severity == "unmapped":
        ctx.ledger.mark_driver(router, severity, rule, message, advice)


def _domain_in(domain: str, entries: tuple[str, ...]) -> bool:
    """Whether a local_domains table (literal names and ``*.`` wildcards) holds the domain."""
    return domain in entries or any(e.startswith("*.") and domain.endswith(e[1:]) for e in entries)


def _virtual_value(data: str, qualify: str | None) -> str | None:
    """An exim redirect list as a virtual-table value; None when smtpd's virtual table cannot hold it.

    Unqualified local parts get the domain exim would have added, so that smtpd
    re-expands them through the same rules.
    """
    if not data or data.startswith(":") or "$" in data:
        return None  # :fail:, :blackhole:, :defer:, :include:, expansions
    out = []
    for item in split_list(data.replace(",", ":") if ":" not in data else data)[1]:
        address = item.text.strip().strip('"')
        if not address or address[0] in "|/":
            return None
        if "@" not in address:
            if qualify is None:
                return None
            address = f"{address}@{qualify}"
        out.append(address)
    return ", ".join(out) if out else None


def virtual_action(virtual: VirtualFiles, actions: list[Action]) -> Action:
    local = next(a for a in actions if a.name == "local")
    return Action(
        "virtual",
        local.method,
        local.path,
        virtual_table="virtual_aliases",
        origin=(virtual.router.span, *local.origin),
        routers=(virtual.router.name,),
    )


def _router_names(delivery: Delivery) -> tuple[str, ...]:
    return tuple(d.name for d in delivery.drivers if d.kind == "router")


def no_virtual_action(ctx: Context, virtual: VirtualFiles) -> None:
    """Per-domain alias files, but no local delivery: smtpd's virtual table needs an action to sit on."""
    router = virtual.router
    message = (
        f"router {router.name}: per-domain alias files in {virtual.directory}, but exim delivers nothing locally "
        "here, so there is no local action for smtpd's virtual table; those domains' mail is refused"
    )
    ctx.ledger.mark_driver(router, "unmapped", rules.VIRTUAL_NO_ACTION, message, rules.VIRTUAL_NO_ACTION.advice)


def hosted_action(
    ctx: Context, deliveries: dict[str, Delivery], tables: list[Table], identity: Identity
) -> tuple[Action, list[Table]] | None:
    """The ``hosted`` action with its virtual table (and userbase); None when nothing can be built."""
    delivery = deliveries[HOSTED_DOMAINS]
    by_name = {t.name: t for t in tables}
    domains = by_name.get("hosted_domains_sql") or by_name.get("hosted_domains")
    if domains is None or not delivery.hosted:
        return None
    mailboxes = any(s.role == "mailboxes" for s in delivery.hosted)
    owned = mailboxes and delivery.owners is not None
    account, userbase = _hosted_account(ctx, delivery) if mailboxes and not owned else ("", None)
    if domains.backend or any(s.sql for s in delivery.hosted):
        if owned:
            _hosted_note(
                ctx, delivery, "unmapped", rules.HOSTED_SQL, "hosted users in SQL delivered as per-domain owners"
            )
            return None
        users = hosted_sql_table(ctx, delivery, domains, account)
        return None if users is None else _hosted_result(ctx, delivery, [users], userbase)
    owners = _domain_owners(ctx, delivery, domains.entries) if owned else {}
    mapping: list[tuple[str, str]] = []
    skipped: list[str] = []
    for domain in domains.entries:
        if "*" in domain:
            _hosted_note(
                ctx,
                delivery,
                "unmapped",
                rules.HOSTED_WILDCARD,
                f"hosted domain {domain} is a pattern: "
                "its mailbox and alias files cannot be listed, so its mail is refused",
            )
            continue
        owner = owners.get(domain) if owned else account
        mapping += _hosted_domain(ctx, delivery, domain, owner, identity, skipped)
    if skipped:
        _hosted_note(
            ctx,
            delivery,
            "approximated",
            rules.HOSTED_ENTRIES,
            "entries smtpd's virtual table cannot hold, left out (smtpd refuses those addresses): "
            + ", ".join(skipped[:10])
            + (" ..." if len(skipped) > 10 else ""),
        )
    if not mapping:
        return None
    mapping = _without_failing_targets(ctx, delivery, mapping, domains.entries)
    listing = next((s.router for s in reversed(delivery.hosted) if s.role == "mailboxes" and s.path), None)
    if listing is not None:
        ctx.ledger.mark(
            listing,
            "approximated",
            rules.UNKNOWN_LOCAL_USER,
            "smtpd refuses addresses of the hosted domains its virtual table does not list, at RCPT; exim "
            "accepted them from clients it trusted before 'verify = recipient' and bounced the mail later",
            "nothing to do: senders now get the refusal at once",
        )
    origin = tuple(s.router.span for s in delivery.hosted)
    sources = tuple(dict.fromkeys(s.path for s in delivery.hosted if s.path))
    users = Table("hosted_users", "hosted", (), tuple(mapping), ctx.table_file("hosted_users"), origin, True, sources)
    return _hosted_result(ctx, delivery, [users], userbase)


def _without_failing_targets(
    ctx: Context, delivery: Delivery, mapping: list[tuple[str, str]], domains: tuple[str, ...]
) -> list[tuple[str, str]]:
    """An alias's hosted targets that fail (an error: entry, or no key at all) leave the alias.

    exim delivers an alias to the targets that route and bounces the copies
    that fail; smtpd refuses the whole recipient when one expansion fails.
    """
    values = dict(mapping)
    hosted = {d.lower() for d in domains}

    def fails(target: str) -> bool:
        local, _, domain = target.lower().rpartition("@")
        if not local or domain not in hosted:
            return False
        value = values.get(target.lower(), values.get(f"@{domain}"))
        return value is None or value.startswith("error:")

    kept: list[tuple[str, str]] = []
    dropped: list[str] = []
    for key, value in mapping:
        targets = value.split(", ")
        good = [t for t in targets if not fails(t)]
        if good and len(good) < len(targets):
            dropped += [f"{t} (from {key})" for t in targets if t not in good]
            value = ", ".join(good)
        kept.append((key, value))
    if dropped:
        _hosted_note(
            ctx,
            delivery,
            "approximated",
            rules.HOSTED_PARTIAL_ALIAS,
            "alias targets that fail are left out of their aliases (smtpd would refuse the whole alias; exim "
            "delivered the rest and bounced those copies): " + ", ".join(dropped[:10]),
        )
    return kept


def _hosted_result(
    ctx: Context, delivery: Delivery, found: list[Table], userbase: tuple[str, str] | None
) -> tuple[Action, list[Table]]:
    origin = tuple(s.router.span for s in delivery.hosted)
    if userbase is not None:
        found.append(
            Table("hosted_userbase", "userbase", (), (userbase,), ctx.table_file("hosted_userbase"), origin, True)
        )
    action = Action(
        "hosted",
        delivery.method,
        delivery.path,
        virtual_table="hosted_users",
        userbase_table="hosted_userbase" if userbase is not None else None,
        origin=tuple(d.span for d in delivery.drivers),
        routers=_router_names(delivery),
    )
    return action, found


def _hosted_domain(
    ctx: Context, delivery: Delivery, domain: str, account: str | None, identity: Identity, skipped: list[str]
) -> list[tuple[str, str]]:
    """One domain's keys, router by router: the first router that knows a local part decides it.

    exim skips a redirect router for an address it redirected to itself: such a target (a catch-all alias
    pointing at one of the domain's own mailboxes, ``anna: anna@domain``) is decided by the routers after it.
    smtpd's virtual table has no such rule, so that address gets the later routers' answer as its own key.
    """
    read = _hosted_sources(ctx, delivery, domain, identity)
    known = [dict(keys.mapping) for _, keys, _ in read]

    def decide(local_part: str, start: int) -> str | None:
        """What the routers from ``start`` on make of ``local_part``: a virtual value, or None (it fails)."""
        for index in range(start, len(read)):
            source, keys, qualify = read[index]
            data = known[index].get(local_part, keys.catch_all)
            if data is None:
                continue
            if source.role == "mailboxes":
                return account  # None: no owner to deliver as, so it fails
            value = _virtual_value(data, qualify)
            if value is None:
                skipped.append(f"{local_part}@{domain} ({data or 'no data'})")
                return f"error:550 {local_part}@{domain} is not accepted here"
            address = f"{local_part}@{domain}"
            targets = [t for t in value.split(", ") if t != address]
            if len(targets) < len(value.split(", ")):  # redirected to itself: the later routers decide it
                later = decide(local_part, index + 1)
                targets += [later] if later is not None and not later.startswith("error:") else []
            return ", ".join(targets) if targets else None
        return None

    mapping: list[tuple[str, str]] = []
    written: set[str] = set()
    for index, (source, keys, qualify) in enumerate(read):
        for local_part, _ in keys.mapping:
            if local_part not in written:
                written.add(local_part)
                value = decide(local_part, index)
                if value is not None:
                    mapping.append((f"{local_part}@{domain}", value))
        if keys.catch_all is not None:
            # this router takes every other local part: no later router sees the domain, but its own targets here
            value = (account or None) if source.role == "mailboxes" else _virtual_value(keys.catch_all, qualify)
            if value is None:
                skipped.append(f"*@{domain} ({keys.catch_all or 'no data'})")
                break
            for target in value.split(", "):
                local_part, _, target_domain = target.rpartition("@")
                if target_domain == domain and local_part not in written:
                    written.add(local_part)
                    own = decide(local_part, index)
                    if own is not None:
                        mapping.append((target, own))
            mapping.append((f"@{domain}", value))
            break
    if delivery.method == "forward-only" and not any(key.startswith("@") for key, _ in mapping):
        # smtpd only defers an error: entry on a forward-only action; a key it lacks it refuses for good
        mapping = [(key, value) for key, value in mapping if not value.startswith("error:")]
    return mapping


def _hosted_sources(
    ctx: Context, delivery: Delivery, domain: str, identity: Identity
) -> list[tuple[hosted.HostedSource, hosted.Keys, str | None]]:
    """Each router's keys for the domain, with the domain its bare targets are qualified with."""
    found = []
    for source in delivery.hosted:
        try:
            keys = hosted.domain_keys(source, domain, ctx.store.read)
        except OSError as exc:
            shown = ctx.store.shown(source.file(domain))
            _hosted_note(
                ctx,
                delivery,
                "approximated",
                rules.HOSTED_FILES,
                f"router {source.router.name}: {shown}: {exc.strerror or exc}; smtpd refuses what it listed",
            )
            continue
        preserve = source.router.option("qualify_preserve_domain") is not None
        found.append((source, keys, domain if preserve else (identity.qualify_domain or identity.hostname)))
    return found


def _domain_owners(ctx: Context, delivery: Delivery, domains: tuple[str, ...]) -> dict[str, str]:
    """Each hosted domain's owner, the system user its mailboxes are delivered as (exim's per-domain ``user``)."""
    assert delivery.owners is not None
    found: dict[str, str] = {}
    missing: list[str] = []
    try:
        for domain in domains:
            owner = hosted.owner_of(delivery.owners, domain, ctx.store.read)
            if owner is not None and re.fullmatch(r"[A-Za-z0-9_.][A-Za-z0-9_.-]*", owner):
                found[domain] = owner
            else:
                missing.append(domain)
    except OSError as exc:
        shown = ctx.store.shown(delivery.owners[1])
        _hosted_note(
            ctx,
            delivery,
            "approximated",
            rules.HOSTED_FILES,
            f"{shown}: {exc.strerror or exc}; no domain's owner is known, so smtpd refuses their mailboxes",
        )
        return {}
    group = delivery.group or "(the owner's own)"
    message = (
        f"hosted mailboxes are delivered as each domain's owner from {delivery.owners[1]} "
        f"({', '.join(sorted(set(found.values()))[:5]) or 'none found'}), as exim did; exim wrote them with group "
        f"{group}, smtpd with the owner's primary group"
    )
    if missing:
        message += f"; no owner for {', '.join(missing[:5])}: exim deferred their mail, smtpd refuses it"
    _hosted_note(ctx, delivery, "approximated", rules.HOSTED_OWNER, message)
    return found


def _hosted_account(ctx: Context, delivery: Delivery) -> tuple[str, tuple[str, str] | None]:
    """The account hosted mail is delivered as, and its userbase line where it is given by number."""
    user, group = delivery.user, delivery.group
    if user is None:
        _hosted_note(
            ctx,
            delivery,
            "approximated",
            rules.HOSTED_ACCOUNT,
            "exim names no user for these deliveries; smtpd delivers them as the system user vmail, "
            "which must exist (and may write where the action delivers)",
        )
        return "vmail", None
    if not user.isdigit():
        return user, None  # a system account exim found in /etc/passwd: smtpd finds it there too
    gid = group if group is not None and group.isdigit() else None
    if gid is None:
        _hosted_note(
            ctx,
            delivery,
            "approximated",
            rules.HOSTED_ACCOUNT,
            f"exim delivered as uid {user} with group {group or '(the default)'}; smtpd's userbase needs a gid, "
            f"so the system account with uid {user} named vmail must exist",
        )
        return "vmail", None
    home = _hosted_home(delivery)
    _hosted_note(
        ctx,
        delivery,
        "approximated",
        rules.HOSTED_ACCOUNT,
        f"exim delivered as uid {user}, gid {gid}; smtpd delivers as the account vmail of the userbase table "
        f"({user}:{gid}, home {home}), which needs no system user",
    )
    return "vmail", ("vmail", f"{user}:{gid}:{home}")


def _hosted_home(delivery: Delivery) -> str:
    """A home for the account: where the maildirs live, else a directory that always exists."""
    if delivery.method == "maildir" and delivery.path.startswith("/"):
        base = delivery.path.split("%{", 1)[0].rstrip("/")
        if base:
            return base
    return "/var/empty" if delivery.method != "lmtp" else "/"


def _hosted_note(ctx: Context, delivery: Delivery, severity: str, rule: Rule, message: str) -> None:
    router = delivery.hosted[0].router if delivery.hosted else None
    if router is not None:
        ctx.ledger.note_span(router.span, severity, rule, message, router.source, rule.advice)


def hosted_sql_table(ctx: Context, delivery: Delivery, domains: Table, account: str) -> Table | None:
    """Hosted users and aliases in SQL: one ``query_alias`` of the domains' backend, the routers in order.

    smtpd asks its virtual table for the address, then for ``@domain``: the
    alias and mailbox routers answer the first (the first that has an answer
    wins, as in exim; an alias that is exactly its own address falls through
    to the mailbox, as exim skips a router for an address it redirected to
    itself), the catch-all routers the second.
    """
    kinds = {s.sql for s in delivery.hosted}
    kind = next(iter(kinds)) if len(kinds) == 1 else ""
    reason = ""
    if "" in kinds or len(kinds) != 1:
        reason = "the hosted routers mix SQL with files or with another database"
    elif domains.backend != SQL_BACKENDS[kind]:
        reason = f"the hosted domains are not listed in the same {kind} database"
    catch_alls = [i for i, s in enumerate(delivery.hosted) if s.catch_all]
    if not reason and catch_alls and min(catch_alls) < len(delivery.hosted) - len(catch_alls):
        reason = "a catch-all router comes before an alias or mailbox router: smtpd asks for the address first"
    by_address: list[str] = []
    by_domain: list[str] = []
    for source in delivery.hosted if not reason else ():
        if source.role == "mailboxes":
            dual = " FROM DUAL" if kind == "mysql" else ""
            by_address.append(f"SELECT '{account}'{dual} WHERE EXISTS ({source.query})")
            continue
        joined = sql_aggregate(kind, source.query)
        if joined is None:
            reason = f"router {source.router.name}: its query does not select exactly one column"
            break
        if source.catch_all:
            by_domain.append(f"NULLIF(({joined}), '')")
        else:
            by_address.append(f"NULLIF(NULLIF(({joined}), ''), {KEY})")
    options = {k: o.value.text for k, o in ctx.config.options.items() if o.value is not None}
    connection = reason or sql_connection(kind, options)
    if isinstance(connection, str):
        _hosted_note(ctx, delivery, "unmapped", rules.HOSTED_SQL, f"hosted users in SQL are not migrated: {connection}")
        return None
    listed = ctx.named_list(ctx.hosted_list) if ctx.hosted_list else None
    ctx.ledger.note_span(  # on the hosted list: the routers' own findings would hide it
        listed.span if listed is not None else delivery.hosted[0].router.span,
        "approximated",
        rules.HOSTED_SQL,
        f"the hosted routers' {kind} queries become one query_alias of table-{SQL_BACKENDS[kind]}, asked for the "
        "address and then for @domain; database values are read as smtpd reads aliases (addresses, |pipes, "
        "/files, error:CODE text): exim's :fail: and :blackhole: values, and an alias listing its own address "
        "among others, do not work as they did",
        listed.source if listed is not None else delivery.hosted[0].router.source,
        "check a few addresses with verify against a copy of the database",
    )
    query = sql_alias_query(kind, by_address, by_domain)
    return Table(
        "hosted_users",
        "hosted",
        file=f"{ctx.table_file('hosted_users')}.conf",
        origin=tuple(s.router.span for s in delivery.hosted),
        generated=True,
        sources=domains.sources,
        backend=SQL_BACKENDS[kind],
        backend_config="\n".join([*connection, f"query_alias {query}"]) + "\n",
        secret=domains.secret,
    )
