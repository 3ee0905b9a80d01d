"""The honesty rule: a statement is mapped or approximated only if the written files carry its effect.

The mapping books each statement; this check holds the booking against the
source map render returned. A statement with no output lines, or whose lines
lack the effect its kind needs (a certificate needs a ``pki``, an implicit-TLS
port an ``smtps`` listener, a DKIM option a signer on a listener, an
authenticator ``auth`` on a listener, a content check rspamd's module and its
filter on the listeners), is reported unmapped, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from migrate import rules
from migrate.mapping import greylisting
from migrate.mapping.content import CONTENT_CONDITIONS
from migrate.reader.tree import Acl, AclStatement, Driver, Option, RetryRule, Statement
from migrate.render import Target
from migrate.rules import Rule

Effects = frozenset[str]


@dataclass(frozen=True)
class Requirement:
    """What a kind of statement must produce to count as carried over."""

    holds: Callable[[Effects], bool]
    rule: Rule
    missing: str  # what the output lacks, as the end of a sentence


def _has(*wanted: str) -> Callable[[Effects], bool]:
    return lambda effects: any(e in effects for e in wanted)


def _prefix(prefix: str) -> Callable[[Effects], bool]:
    return lambda effects: any(e.startswith(prefix) for e in effects)


def _signs(effects: Effects) -> bool:
    return "rspamd:dkim_signing" in effects and (
        "listen:filter:rspamd" in effects or "listen:filter:rspamd_sign" in effects
    )


def _greylists(effects: Effects) -> bool:
    return "rspamd:greylist" in effects and "listen:filter:rspamd" in effects


def _scans(effects: Effects) -> bool:
    return _prefix("rspamd:")(effects) and "listen:filter:rspamd" in effects


ANY = Requirement(
    lambda effects: bool(effects),
    rules.NO_EFFECT,
    "counted as carried over, but nothing in the written files carries it",
)
MAIN_OPTIONS = {
    "tls_certificate": Requirement(_has("pki"), rules.TLS_NO_CERTIFICATE, "the output has no pki for it"),
    "tls_privatekey": Requirement(_has("pki"), rules.TLS_NO_CERTIFICATE, "the output has no pki for it"),
    "tls_on_connect_ports": Requirement(
        _has("listen:smtps"), rules.TLS_NO_CERTIFICATE, "the output has no smtps listener"
    ),
    "daemon_smtp_ports": Requirement(_prefix("listen"), rules.NO_EFFECT, "the output has no listener for it"),
    "daemon_smtp_port": Requirement(_prefix("listen"), rules.NO_EFFECT, "the output has no listener for it"),
    "local_interfaces": Requirement(_prefix("listen"), rules.NO_EFFECT, "the output has no listener for it"),
    "message_size_limit": Requirement(_has("global"), rules.NO_EFFECT, "the output has no size limit"),
    "av_scanner": Requirement(
        _scans, rules.CONTENT_NO_FILTER, "the output has no rspamd module with filter-rspamd on a listener"
    ),
    "spamd_address": Requirement(
        _scans, rules.CONTENT_NO_FILTER, "the output has no rspamd module with filter-rspamd on a listener"
    ),
}


def requirement(node: Statement, parent: Statement | None, accepting: frozenset) -> Requirement:
    """What ``node`` must have produced; ``accepting`` holds the accept statements that accepted a class."""
    if isinstance(node, Option) and parent is None:
        if node.name.startswith("acl_smtp_") or node.name == "acl_not_smtp":
            return Requirement(_prefix("match"), rules.NO_EFFECT, "no match rule of the output carries it")
        return MAIN_OPTIONS.get(node.name, ANY)
    if isinstance(node, Option) and isinstance(parent, Driver) and node.name.startswith("dkim_"):
        return Requirement(_signs, rules.DKIM_UNMAPPED, "no DKIM signer is attached to any listener")
    if isinstance(node, Driver) and node.kind == "authenticator":
        if any(o.name.startswith("server_") for o in node.options) or node.driver in ("dovecot", "cyrus_sasl"):
            return Requirement(_has("listen:auth"), rules.AUTH_SERVER, "no listener of the output offers AUTH")
        return Requirement(_has("action:auth"), rules.AUTH_CLIENT, "no relay action of the output authenticates")
    if isinstance(node, Driver):
        return Requirement(_prefix("action"), rules.NO_EFFECT, "no action of the output carries it")
    if isinstance(node, AclStatement):
        if isinstance(parent, Acl) and greylisting.is_greylisting(node, parent):
            return Requirement(
                _greylists,
                rules.GREYLIST_LOST,
                "the output has no rspamd greylist module with filter-rspamd on a listener",
            )
        if any(c.name in CONTENT_CONDITIONS for c in node.conditions):
            return Requirement(
                _scans, rules.CONTENT_NO_FILTER, "the output has no rspamd module with filter-rspamd on a listener"
            )
        if node.verb == "accept" and node.span in accepting:
            return Requirement(
                _has("match:accept"),
                rules.ACL_ACCEPT_LOST,
                "exim accepted recipients here that every match rule of the output refuses",
            )
        return Requirement(_prefix("match"), rules.NO_EFFECT, "no match rule of the output carries it")
    if isinstance(node, RetryRule):
        return Requirement(_has("global"), rules.NO_EFFECT, "the output has no queue setting for it")
    return ANY


def effects_of(targets: tuple[Target, ...]) -> Effects:
    """The effects a statement's output lines have."""
    return frozenset(t.effect for t in targets)
