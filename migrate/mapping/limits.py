"""Sizes, retries, delay warnings and subaddresses → smtpd's ``smtp max-message-size``, ``queue ttl``,
``bounce warn-interval`` and ``smtp sub-addr-delim``."""

from __future__ import annotations

from migrate import rules
from migrate.errors import Span
from migrate.mapping.context import Context
from migrate.model import Limits

DEFAULT_SIZE = "50M"  # exim's default message_size_limit


def limits(ctx: Context) -> Limits:
    options = ctx.config.options
    size = options.get("message_size_limit")
    origin: list[Span] = []
    size_value = DEFAULT_SIZE
    if size is not None and size.value is not None:
        origin.append(size.span)
        text = size.value.text.strip()
        if size.value.expansion is not None or not _is_size(text):
            ctx.ledger.mark(
                size,
                "unmapped",
                rules.SIZE_EXPANDED,
                "message_size_limit is not a plain size",
                "set 'smtp max-message-size' by hand",
            )
            size_value = DEFAULT_SIZE
        elif text == "0":
            ctx.ledger.mark(
                size,
                "approximated",
                rules.SIZE_UNLIMITED,
                "exim has no size limit; smtpd always has one (1G here)",
            )
            size_value = "1G"
        else:
            size_value = text
    ttl = None
    for rule in ctx.config.retry:
        if rule.pattern == "*" and rule.error == "*" and rule.steps:
            longest = max((s.cutoff for s in rule.steps), key=_seconds)
            ttl = _smtpd_delay(longest) if _seconds(longest) > 0 else None
            origin.append(rule.span)
            ctx.ledger.mark(
                rule,
                "approximated",
                rules.RETRY,
                f"retry schedule becomes 'queue ttl {ttl}': smtpd retries on its own schedule",
            )
        else:
            ctx.ledger.mark(
                rule,
                "unmapped",
                rules.RETRY_SPECIFIC,
                "per-domain or per-error retry rules have no smtpd equivalent",
            )
    warn = options.get("delay_warning")
    warn_value = "24h"
    if warn is not None and warn.value is not None:
        text = warn.value.text.strip()
        first = text.split(":")[0].strip()
        if _seconds(first) > 0:
            warn_value = _smtpd_delay(first)
        ctx.ledger.mark(
            warn,
            "approximated",
            rules.DELAY_WARNING,
            f"delay warnings become 'bounce warn-interval {warn_value}' (one interval only)",
        )
    return Limits(size_value, ttl, warn_value, tuple(origin), _subaddress_delimiter(ctx))


# Printable, not "@", and never in a local part smtpd accepts (smtpd.h MAILADDR_ALLOWED): no tag is ever found.
NO_SUBADDRESS = ":"


def _subaddress_delimiter(ctx: Context) -> str | None:
    """smtpd delivers ``user+tag`` to ``user`` by default; exim only where a router strips a suffix.

    Without any ``local_part_suffix`` exim refuses (or sends to a catch-all)
    ``root+x@`` for want of a user ``root+x``: smtpd is told to look for a
    delimiter that cannot occur, so it does the same.
    """
    suffixes = [o for r in ctx.config.routers if (o := r.option("local_part_suffix")) is not None]
    for option in suffixes:
        text = option.value.text if option.value is not None else ""
        others = [i.strip() for i in text.split(":") if i.strip() and not i.strip().startswith("+")]
        if others:
            ctx.ledger.note_span(
                option.span,
                "approximated",
                rules.SUFFIX_DELIMITER,
                f"local_part_suffix {' : '.join(others)}: smtpd strips only '+tag', so smtpd refuses "
                "addresses exim took with these suffixes",
                option.source,
            )
    return None if suffixes else NO_SUBADDRESS


def _smtpd_delay(text: str) -> str:
    """exim's time (``1w2h``) in the one unit smtpd reads (s, m, h or d)."""
    seconds = _seconds(text)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _is_size(text: str) -> bool:
    return text.isdigit() or (text[:-1].isdigit() and text[-1:].upper() in "KMG")


def _seconds(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    total, number = 0, ""
    for ch in text:
        if ch.isdigit():
            number += ch
        elif ch in units and number:
            total += int(number) * units[ch]
            number = ""
        else:
            return 0
    return total
