"""SMTP AUTH as a client: exim's client authenticators → the credentials smtpd sends its smarthost.

It follows exim: a smarthost whose transport names hosts for AUTH gets the
user and password an authenticator sends it, kept in a 0600 secrets table and
never shown. The server side (who may log in to smtpd) is ``logins``.
"""

from __future__ import annotations

import re
from dataclasses import replace

from migrate import rules
from migrate.lookups import lsearch_entries
from migrate.mapping.context import Context
from migrate.mapping.routing import Delivery
from migrate.model import ANY_DOMAIN, RELAY_DOMAINS, Action, Table
from migrate.reader.lists import split_list
from migrate.reader.tree import Driver

_PASSWD_CLIENT = re.compile(r"nwildlsearch\{([^{}]*passwd\.client)\}")


def smarthost_credentials(
    ctx: Context, actions: list[Action], deliveries: dict[str, Delivery]
) -> tuple[list[Action], Table | None]:
    """exim's client authenticators for a smarthost → smtpd's ``auth <secrets>`` on that relay.

    Only where exim would authenticate: the relay's transport names hosts
    for AUTH and an authenticator yields a user and password for the host,
    literally or from Debian's passwd.client. The password goes into a
    separate table file written 0600; the report says so and never shows it.
    """
    found: list[tuple[str, str]] = []
    out = []
    for action in actions:
        delivery = deliveries[RELAY_DOMAINS if action.name == "relay_domains" else ANY_DOMAIN]
        url = action.relay_host
        router = next((d for d in delivery.drivers if d.kind == "router"), None)
        if action.method != "relay" or not url or router is None or not _transport_authenticates(ctx, router):
            out.append(action)
            continue
        hostport = url.split("://", 1)[1]
        credentials = _credentials_for(ctx, hostport.split(":", 1)[0])
        if credentials is None:
            out.append(action)
            continue
        user, password, authenticator = credentials
        label = f"{action.name}_auth"
        found.append((label, f"{user}:{password}"))
        out.append(replace(action, relay_host=f"smtp+tls://{label}@{hostport}", auth_table="secrets"))
        ctx.ledger.resolve(
            authenticator,
            "approximated",
            rules.AUTH_CLIENT_CREDENTIALS,
            f"authenticator {authenticator.name}: the password for {hostport} is in the secrets table "
            "(written 0600, never shown); smtpd sends it only over TLS (smtp+tls), and uses "
            "AUTH PLAIN or LOGIN, whichever the server offers",
            "install the secrets file 0600, owned by root",
        )
        for option in authenticator.options:
            ctx.ledger.resolve(option, "approximated")
    if not found:
        return actions, None
    return out, Table(
        "secrets", "credentials", mapping=tuple(found), file=ctx.table_file("secrets"), generated=True, secret=True
    )


def _transport_authenticates(ctx: Context, router: Driver) -> bool:
    option = router.option("transport")
    name = option.value.text.strip() if option is not None and option.value is not None else ""
    transport = next((t for t in ctx.config.transports if t.name == name), None)
    return transport is not None and any(
        transport.option(o) is not None and transport.option(o).value is not None  # type: ignore[union-attr]
        for o in ("hosts_try_auth", "hosts_require_auth")
    )


def _credentials_for(ctx: Context, host: str) -> tuple[str, str, Driver] | None:
    """A user and password some client authenticator of exim's sends to ``host``."""
    for auth in ctx.config.authenticators:
        texts = " ".join(o.value.text for o in auth.options if o.value is not None and o.name.startswith("client_"))
        passwd_client = _PASSWD_CLIENT.search(texts)
        if passwd_client is not None:
            credentials = _passwd_client(ctx, passwd_client.group(1), host)
        else:
            credentials = _literal_credentials(auth)
        if credentials is not None:
            return (*credentials, auth)
    return None


def _passwd_client(ctx: Context, path: str, host: str) -> tuple[str, str] | None:
    """Debian's passwd.client: ``host-pattern:user:password``, first match wins (nwildlsearch)."""
    try:
        entries = lsearch_entries(ctx.store.read(path))
    except OSError:
        return None
    for key, value in entries:
        pattern = key.lower()
        if pattern in (host.lower(), "*") or (pattern.startswith("*") and host.lower().endswith(pattern[1:])):
            user, _, password = value.partition(":")
            return (user, password) if user and password else None
    return None


def _literal_credentials(auth: Driver) -> tuple[str, str] | None:
    """``client_send = ^user^password`` (PLAIN), ``: user : password`` (LOGIN), or cram_md5's name and secret."""

    def text(name: str) -> str | None:
        option = auth.option(name)
        if option is None or option.value is None or "$" in option.value.text:
            return None
        return option.value.text

    if auth.driver == "cram_md5":
        name, secret = text("client_name"), text("client_secret")
        return (name, secret) if name and secret else None
    send = text("client_send")
    if auth.driver != "plaintext" or send is None:
        return None
    words = [i.text for i in split_list(send)[1]]
    if len(words) == 1 and words[0].count("^") == 2 and words[0].startswith("^"):
        _, user, password = words[0].split("^")
        return (user, password) if user and password else None
    if len(words) == 3 and words[0] == "":  # LOGIN: no initial response, then the two answers
        user, password = words[1], words[2]
        return (user, password) if user and password else None
    return None
