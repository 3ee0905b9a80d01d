"""What exim provided its users, read from exim's configuration alone.

Each service is decided as exim would: its ACLs are evaluated for each class
with every recipient class taken as routable (exim routes what its routers
handle, whether or not we could map those routers). Whether the output keeps a
service is not decided here: the report reads the written files for that.
"""

from __future__ import annotations

from dataclasses import replace

from migrate import rules
from migrate.errors import Span
from migrate.mapping.acl import AclEvaluator
from migrate.mapping.classes import ClassUniverse
from migrate.mapping.clients import unread_conditions, unread_lists
from migrate.mapping.content import CONTENT_CONDITIONS
from migrate.mapping.context import Context
from migrate.mapping.decisions import exim_accepts, refused_unread
from migrate.mapping.logins import is_server
from migrate.mapping.routing import virtual_files
from migrate.model import (
    ANY_DOMAIN,
    ANYONE,
    AUTHENTICATED,
    HOSTED_DOMAINS,
    LOCAL_CLIENT,
    LOCAL_DOMAINS,
    RECIPIENT_CLASSES,
    Decision,
    Service,
)
from migrate.reader.tree import Driver, EximConfig, Option

TITLES = {
    "inbound": "inbound delivery for local domains from the internet",
    "relay": "relay for trusted network {table}",
    "submission": "authenticated submission (SMTP AUTH)",
    "outbound": "outbound delivery (MX or smarthost)",
    "sendmail": "local submission (sendmail)",
    "forwarding": "forwarding of aliases to outside addresses",
    "hosted": "mail for hosted domains (virtual domains: their mailboxes and aliases)",
    "content": "content filtering (spam, virus, DNSBL checks)",
    "dkim": "DKIM signing of outgoing mail",
}


Verdicts = dict[tuple[str, str], tuple[bool, tuple[Span, ...]]]


def services(
    ctx: Context, universe: ClassUniverse, listening: bool
) -> tuple[list[Service], tuple[Span, ...], Verdicts]:
    """The services exim provided, each with the statements that provided it, and every accept that accepted.

    exim's ACLs are evaluated with exim's own routing assumed to work: what it
    accepted for a class is what it would deliver.
    """
    config = ctx.config
    outbound = [r for r in config.routers if _routes_out(r)]
    # exim routes a class some router may take (whatever we made of that router), others only by DNS or a smarthost
    routable = {r: _some_router(config, universe, r) for r in RECIPIENT_CLASSES} | {ANY_DOMAIN: bool(outbound)}
    # A deny on hosts in a file (the blocklists, and those whose file cannot be read here) refused the
    # hosts listed, not the class: exim provided the class what the statements after it allow.
    evaluator = AclEvaluator(
        universe,
        ctx.acls,
        routable,
        ctx.blocked,
        greylist=ctx.greylist,
        unread=unread_conditions(ctx),
        unread_refuses=False,
    )
    servers = [a for a in config.authenticators if is_server(a)]
    verdicts = {  # nobody authenticates to an exim without a server authenticator
        (client, recipient): exim_accepts(ctx, evaluator, client, recipient)
        for client in (LOCAL_CLIENT, *universe.client_tables, *([AUTHENTICATED] if servers else []), ANYONE)
        for recipient in RECIPIENT_CLASSES
    }

    def accepts(client: str, recipient: str) -> bool:
        return verdicts.get((client, recipient), (False, ()))[0]

    def unread(client: str, recipient: str) -> tuple[Span, ...]:
        """The statements (and their lists) that refuse the class in the output only for a file it cannot read."""
        return _unread_origin(ctx, evaluator, client, recipient) if accepts(client, recipient) else ()

    local_list = config.named_lists.get("local_domains")
    found = [
        _service(
            "inbound",
            listening and universe.local_domains is not None and accepts(ANYONE, LOCAL_DOMAINS),
            origin=((local_list.span,) if local_list else ()) + unread(ANYONE, LOCAL_DOMAINS),
        )
    ]
    for table in universe.client_tables:
        named = ctx.named_list(table)
        provided = listening and bool(outbound) and accepts(table, ANY_DOMAIN)
        found.append(_service("relay", provided, table=table, origin=(named.span, *unread(table, ANY_DOMAIN))))
    found.append(
        _service(
            "submission",
            listening and bool(servers) and bool(outbound) and accepts(AUTHENTICATED, ANY_DOMAIN),
            origin=tuple(a.span for a in servers) + (unread(AUTHENTICATED, ANY_DOMAIN) if servers else ()),
        )
    )
    requiring = [o for t in _transports(config, outbound) for o in t.options if _requires_auth(o)]
    found.append(
        replace(
            _service(
                "outbound", bool(outbound), origin=tuple(r.span for r in outbound) + tuple(o.span for o in requiring)
            ),
            needs_auth=bool(requiring),
        )
    )
    delivered = tuple(r for r in (LOCAL_DOMAINS, ANY_DOMAIN) if accepts(LOCAL_CLIENT, r))
    found.append(_service("sendmail", bool(delivered), recipients=delivered))
    aliases = [r for r in config.routers if r.driver == "redirect"]
    found.append(_service("forwarding", bool(aliases) and bool(outbound), origin=tuple(r.span for r in aliases)))
    hosted: list[Span] = [r.span for r in config.routers if virtual_files(r) is not None and not _hosted(universe, r)]
    if universe.hosted_domains is not None and accepts(ANYONE, HOSTED_DOMAINS):
        hosted.insert(0, ctx.named_list(universe.hosted_domains).span)
        hosted += unread(ANYONE, HOSTED_DOMAINS)
    left_out = tuple(  # the hosting routers (mailboxes, aliases) for those domains that the output leaves out
        r.name
        for r in config.routers
        if r.driver in ("accept", "redirect") and _hosted(universe, r) and ctx.ledger.bucket(r) == "unmapped"
    )
    found.append(replace(_service("hosted", listening and bool(hosted), origin=tuple(hosted)), left_out=left_out))
    scanning = _content_statements(ctx)
    found.append(_service("content", bool(scanning), origin=tuple(scanning)))
    signing = [o for t in config.transports if t.driver == "smtp" for o in t.options if o.name == "dkim_private_key"]
    found.append(_service("dkim", bool(signing), origin=tuple(o.span for o in signing)))
    accepting = tuple(dict.fromkeys(span for _, origin in verdicts.values() for span in origin))
    return found, accepting, verdicts


def _unread_origin(ctx: Context, evaluator: AclEvaluator, client: str, recipient: str) -> tuple[Span, ...]:
    """Where a class exim accepted is refused for a file that cannot be read: the statement, then its lists."""
    spans: list[Span] = []
    for statement in refused_unread(ctx, evaluator, client, recipient):
        spans += [statement.span, *(n.span for n in unread_lists(ctx, statement))]
    return tuple(dict.fromkeys(spans))


def book_partly_lost(ctx: Context, verdicts: Verdicts, decided: list[Decision], actions: set[str]) -> None:
    """An accept whose recipients the output keeps for some classes and refuses for others is approximated.

    The honesty check catches an accept the output keeps for no class; one that
    accepted local and hosted domains, say, where only the local ones carried
    over, would otherwise read as carried over whole. A client class the output
    does not have (authenticated users, where AUTH is not carried over) is
    judged as anyone: that is what those clients become.
    """
    kept = {(d.client, d.recipient) for d in decided if d.accept and (d.action is None or d.action in actions)}
    known = {d.client for d in decided}
    statements = {s.span: s for acl in ctx.config.acls for s in acl.statements if s.verb == "accept"}
    lost: dict[Span, list[str]] = {}
    carried: set[Span] = {span for d in decided if (d.client, d.recipient) in kept for span in d.origin}
    for (client, recipient), (accepted, origin) in verdicts.items():
        if not accepted:
            continue
        if (client if client in known else ANYONE, recipient) in kept:
            carried.update(origin)
            continue
        for span in origin:
            if span in statements:
                lost.setdefault(span, []).append(f"{recipient} from {client}")
    for span, pairs in lost.items():
        if span in carried:
            ctx.ledger.mark(
                statements[span],
                "approximated",
                rules.ACL_ACCEPT_PARTLY,
                "exim accepted here what the output refuses: " + ", ".join(sorted(pairs)),
            )


def _service(
    name: str,
    provided: bool,
    *,
    table: str | None = None,
    recipients: tuple[str, ...] = (),
    origin: tuple[Span, ...] = (),
) -> Service:
    return Service(name, TITLES[name].format(table=table), provided, table, recipients, origin)


def _hosted(universe: ClassUniverse, router: Driver) -> bool:
    """A router limited to the hosted domains: what exim provided there is its ACL's answer for that class."""
    domains = router.option("domains")
    return (
        domains is not None
        and domains.value is not None
        and bool(universe.domains_match(domains.value.text, HOSTED_DOMAINS))
    )


def _some_router(config: EximConfig, universe: ClassUniverse, recipient: str) -> bool:
    """Whether any router may take the class's addresses (a list we cannot decide counts as may)."""
    for router in config.routers:
        if router.option("verify_only") is not None:
            continue
        domains = router.option("domains")
        if domains is None or domains.value is None or domains.value.expansion is not None:
            return True
        if universe.domains_match(domains.value.text, recipient) is not False:
            return True
    return False


def _transports(config: EximConfig, routers: list[Driver]) -> list[Driver]:
    """The transports these routers hand their addresses to."""
    names = set()
    for router in routers:
        option = router.option("transport")
        if option is not None and option.value is not None:
            names.add(option.value.text.strip())
    return [t for t in config.transports if t.name in names]


def _requires_auth(option: Option) -> bool:
    return option.name == "hosts_require_auth" and option.value is not None and option.value.text.strip() == "*"


def _routes_out(router: Driver) -> bool:
    """A dnslookup or manualroute router for domains other than the local ones."""
    if router.driver not in ("dnslookup", "manualroute"):
        return False
    domains = router.option("domains")
    if domains is None or domains.value is None:
        return True
    text = domains.value.text.strip()
    return text.startswith("!") or "*" in text


def _content_statements(ctx: Context) -> list:
    """The spans of the content checks in the ACLs exim runs, and of the scanner options."""
    spans = []
    for acl in ctx.config.acls:
        if acl.name not in ctx.used_acls:
            continue
        for statement in acl.statements:
            if any(c.name in CONTENT_CONDITIONS for c in statement.conditions):
                spans.append(statement.span)
    for name in ("av_scanner", "spamd_address"):
        option = ctx.config.options.get(name)
        if option is not None and spans:
            spans.append(option.span)
    return spans
