"""Content checks and DKIM signing → rspamd settings and the smtpd filters that hand mail to rspamd.

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
from migrate.mapping.tables import is_network
from migrate.model import ANY_DOMAIN, RELAY_DOMAINS, SIGN_ONLY, Content, DkimSigning, Filter, Listener, Table
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
    if found.scans and found.greylist == "off":
        ctx.ledger.note_span(
            Span(ctx.config.path, 0, 0, 0, 0),
            "info",
            rules.GREYLIST_OFF,
            "rspamd's greylisting is switched off (greylist = null): OpenBSD spamd in front "
            "greylists, as in the setup this tool was made for; --greylist rspamd turns it on",
        )
    return found


def filters(
    ctx: Context, content: Content, listen: list[Listener], trusted: list[Table]
) -> tuple[Content, list[Filter], list[Listener], list[str]]:
    """filter-rspamd on every TCP listener (exim's DATA ACL saw them all); signing on every path exim signed.

    exim's smtp transport signed mail from the local socket, the trusted
    networks and authenticated users. rspamd's dkim_signing signs by exactly
    those senders (sign_networks, sign_authenticated), so one signer sits on
    every listener, the socket included, and inbound mail stays unsigned
    whatever port it arrives on. Where exim scanned nothing, the filter asks
    rspamd only to sign.
    """
    found: list[Filter] = []
    socket_filters: list[str] = []
    if content.scans:
        found.append(Filter("rspamd", "filter-rspamd", origin=content.origin))
        listen = [replace(li, filters=(*li.filters, "rspamd")) for li in listen]
    dkim = content.dkim
    if dkim is None:
        return content, found, listen, socket_filters
    dkim = replace(dkim, networks=_sign_networks(ctx, dkim, trusted))
    content = replace(content, dkim=dkim)
    found.append(Filter("rspamd_sign", f"filter-rspamd -settings-id {SIGN_ONLY}", origin=dkim.origin))
    socket_filters.append("rspamd_sign")
    if not content.scans:
        listen = [replace(li, filters=(*li.filters, "rspamd_sign")) for li in listen]
    message = (
        "rspamd's dkim_signing signs mail from the local socket, "
        + (f"from {', '.join(t.name for t in trusted)} " if trusted else "")
        + "and from authenticated users, as exim's smtp transport did, and never inbound mail; it signs "
        "with the key of the From: header's domain"
        + (" (exim signed with its one key whatever the From: said)" if not dkim.per_domain else "")
        + ", and does not sign mail relayed from outside to a relay domain"
    )
    if dkim.canonicalization != "relaxed/relaxed":
        message += f"; rspamd canonicalises relaxed/relaxed, not {dkim.canonicalization}"
    _approximate_dkim(ctx, dkim.origin, rules.DKIM_RSPAMD, message)
    return content, found, listen, socket_filters


def _sign_networks(ctx: Context, dkim: DkimSigning, trusted: list[Table]) -> tuple[str, ...]:
    """rspamd's sign_networks: the trusted networks' addresses, and loopback, where the socket's mail comes from.

    filter-rspamd hands rspamd 127.0.0.1 for the local socket; smtpd counts
    loopback connections as local too.
    """
    found = ["127.0.0.1", "::1"]
    for table in trusted:
        listed = [e for e in table.entries if is_network(e)]
        unlisted = [e for e in table.entries if not is_network(e)]
        if not table.entries or unlisted:
            what = ", ".join(unlisted[:5]) if unlisted else f"the entries of {table.file or table.backend}"
            ctx.ledger.note_span(
                dkim.origin[0],
                "approximated",
                rules.DKIM_NETWORK,
                f"{table.name}: rspamd's sign_networks takes addresses only, so mail from {what} is relayed but "
                "not signed",
            )
        found += [e for e in listed if e not in found]
    return tuple(found)


def _approximate_dkim(ctx: Context, origin: tuple[Span, ...], rule: Rule, message: str, advice: str = "") -> None:
    """The dkim_* options: signed, but not on exactly exim's paths. The first carries the finding."""
    options = [o for t in ctx.config.transports for o in t.options if o.span in origin]
    for index, option in enumerate(options):
        if index == 0:
            ctx.ledger.resolve(option, "approximated", rule, message, advice or rule.advice)
        else:
            ctx.ledger.resolve(option, "approximated")
