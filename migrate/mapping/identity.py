"""Who the server says it is: primary_hostname, qualify_domain, and the name its certificate goes by."""

from __future__ import annotations

import re

from migrate import rules
from migrate.mapping.context import Context
from migrate.model import Identity

HOST_NAME = re.compile(
    r"(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
)


def identity(ctx: Context) -> Identity:
    """The host name and qualify domain, as exim has them."""
    options = ctx.config.options
    hostname = options.get("primary_hostname")
    qualify = options.get("qualify_domain")
    origin = tuple(o.span for o in (hostname, qualify) if o is not None)
    name = hostname.value.text.strip() if hostname and hostname.value else None
    qualify_value = qualify.value.text.strip() if qualify and qualify.value else None
    if qualify is not None:
        ctx.ledger.mark(
            qualify,
            "approximated",
            rules.QUALIFY_DOMAIN,
            "smtpd qualifies bare local addresses with the server name, not qualify_domain",
            rules.QUALIFY_DOMAIN.advice,
        )
    return Identity(name, qualify_value, origin, own_name=None if name else _own_name(ctx))


def _own_name(ctx: Context) -> str | None:
    """exim's primary_hostname by default: this host's name (uname), here read from its /etc/hostname."""
    try:
        first = ctx.store.read("/etc/hostname").split("\n", 1)[0].strip()
    except OSError:
        return None
    return first.lower() if first and HOST_NAME.fullmatch(first) else None


def pki_name(ctx: Context, found: Identity) -> str:
    """smtpd names a certificate after the host, and only a valid host name will do."""
    name = found.hostname or "localhost"
    if HOST_NAME.fullmatch(name):
        return name
    option = ctx.config.options.get("primary_hostname")
    if option is not None:
        ctx.ledger.mark(
            option,
            "approximated",
            rules.HOSTNAME_INVALID,
            f"primary_hostname {name!r} is not a valid host name; the certificate is named 'localhost' in smtpd.conf",
            rules.HOSTNAME_INVALID.advice,
        )
    return "localhost"
