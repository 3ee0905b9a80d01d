"""Content checks → rspamd settings and the smtpd filters that hand mail to rspamd (and filter-dkimsign).

``content`` collects what exim scanned (``ContentMapper``) and books it;
``filters`` attaches the filters to the listeners that carried that mail.
"""

from __future__ import annotations

from dataclasses import replace

from migrate import rules
from migrate.errors import Span
from migrate.mapping.content import ContentMapper
from migrate.mapping.context import Context
from migrate.mapping.routing import Delivery
from migrate.model import ANY_DOMAIN, RELAY_DOMAINS, Content, Filter, Listener
from migrate.rules import Rule


def content(ctx: Context, deliveries: dict[str, Delivery]) -> Content:
    """What exim's used ACLs and outbound transports did to content, as rspamd settings; booked."""
    transports = [d for r in (RELAY_DOMAINS, ANY_DOMAIN) for d in deliveries[r].drivers if d.kind == "transport"]
    mapper = ContentMapper(ctx.config, sorted(ctx.used_acls), transports, ctx.greylist, ctx.blocked)
    found = mapper.build()
    for claimed in mapper.notes:
        statement, note = claimed
        ctx.ledger.book(claimed, final=True)
        for cond in getattr(statement, "conditions", ()):
            ctx.ledger.resolve(cond, note.severity)
    for name in dict.fromkeys(mapper.used_options):
        option = ctx.config.options.get(name)
        if option is not None:
            ctx.ledger.settle_mapped(option)
    for transport in transports:
        for option in transport.options:
            if not option.name.startswith("dkim_"):
                continue
            if found.dkim is not None:
                ctx.ledger.settle_mapped(option)
            else:
                ctx.ledger.resolve(
                    option,
                    "unmapped",
                    rules.DKIM_UNMAPPED,
                    f"transport {transport.name}: {option.name} is chosen by an expansion smtpd's signers cannot "
                    "follow, so nothing in the output signs mail",
                    rules.DKIM_UNMAPPED.advice,
                )
    if found.needs_rspamd and found.greylist == "off":
        ctx.ledger.note_span(
            Span(ctx.config.path, 0, 0, 0, 0),
            "info",
            rules.GREYLIST_OFF,
            "rspamd's greylisting is switched off (greylist = null): OpenBSD spamd in front "
            "greylists, as in the setup this tool was made for; --greylist rspamd turns it on",
        )
    return found


def filters(ctx: Context, content: Content, listen: list[Listener]) -> tuple[list[Filter], list[Listener], list[str]]:
    """filter-rspamd on every TCP listener (exim's DATA ACL saw them all); dkimsign on outbound paths."""
    found: list[Filter] = []
    socket_filters: list[str] = []
    if content.needs_rspamd:
        found.append(Filter("rspamd", "filter-rspamd", origin=content.origin))
        listen = [replace(li, filters=(*li.filters, "rspamd")) for li in listen]
    dkim = content.dkim
    if dkim is not None and not dkim.per_domain:
        command = f"filter-dkimsign -d {dkim.domain} -s {dkim.selector} -k {dkim.key} -c {dkim.canonicalization}"
        found.append(Filter("dkimsign", command, "_dkimsign", "_dkimsign", dkim.origin))
        socket_filters.append("dkimsign")
        listen = [replace(li, filters=(*li.filters, "dkimsign")) if li.submission else li for li in listen]
        _approximate_dkim(
            ctx,
            dkim.origin,
            rules.DKIM_PATHS,
            "exim signed everything its smtp transport sent; filter-dkimsign signs mail from the "
            "local socket and the submission port only, since port 25 also carries incoming mail",
            "have trusted networks submit on 587, or sign with rspamd's dkim_signing instead",
        )
    elif dkim is not None:
        _approximate_dkim(
            ctx,
            dkim.origin,
            rules.DKIM_RSPAMD,
            "per-domain DKIM keys: rspamd signs (dkim_signing.conf) mail from authenticated users and trusted networks",
        )
    return found, listen, socket_filters


def _approximate_dkim(ctx: Context, origin: tuple[Span, ...], rule: Rule, message: str, advice: str = "") -> None:
    """The dkim_* options: signed, but not on exactly exim's paths. The first carries the finding."""
    options = [o for t in ctx.config.transports for o in t.options if o.span in origin]
    for index, option in enumerate(options):
        if index == 0:
            ctx.ledger.resolve(option, "approximated", rule, message, advice or rule.advice)
        else:
            ctx.ledger.resolve(option, "approximated")
