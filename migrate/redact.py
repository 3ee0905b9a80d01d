"""Keeping passwords out of everything exim2smtpd prints or writes for people to read.

exim configurations carry secrets in a few well-known places: options marked
``hide``, options that are passwords by nature (``client_send``,
``mysql_servers``...), ``servers=``/``pass=`` options inside lookups, and
macros whose values end up in any of those. Reports, JSON, SARIF, terminal
views, diagnostics and smtpd.conf comments all go through these functions;
only the secrets table and SQL backend files (written 0600) hold the values.
"""

from __future__ import annotations

import re

HIDDEN = "<hidden>"
# Options whose values are passwords or keys even without exim's "hide".
SECRET_OPTIONS = frozenset(
    (
        "server_condition",
        "client_send",
        "server_secret",
        "client_secret",
        "client_password",
        "server_password",
        "ldap_default_servers",
        "mysql_servers",
        "pgsql_servers",
        "redis_servers",
        "ibase_servers",
        "oracle_servers",
        "dkim_private_key",  # may be the key itself, not a file name
    )
)
# servers=host/db/user/password and ldap's user="..." pass=... inside a lookup.
_INLINE = re.compile(r"""\b(servers|pass|password|user)=("[^"]*"|[^;,\s]*)""", re.IGNORECASE)
_OPTION_LINE = re.compile(r"\s*(hide\s+)?(?:no_|not_)?([a-z][a-z0-9_]*)(?:\s*=)?", re.IGNORECASE)


def is_secret(name: str, hidden: bool = False) -> bool:
    """Whether an option's value must never be shown."""
    return hidden or name in SECRET_OPTIONS


def redact_text(text: str) -> str:
    """Any text that may quote a lookup: credentials inside it are hidden."""
    if "=" not in text:  # nothing to hide, and most texts: no regular expression run
        return text
    return _INLINE.sub(lambda m: f"{m.group(1)}={HIDDEN}", text)


def redact_line(line: str, secret_macros: frozenset[str] = frozenset()) -> str:
    """One line of the user's file: a secret option's or macro's value is hidden."""
    match = _OPTION_LINE.match(line)
    if match and (match.group(1) or match.group(2) in SECRET_OPTIONS or match.group(2) in secret_macros):
        return line[: match.end()].rstrip() + " " + HIDDEN  # malformed lines too: no "=" needed
    return redact_text(line)


def redact_source(source: str, secret_macros: frozenset[str] = frozenset()) -> str:
    """A statement's text as the user wrote it, over one or more lines."""
    lines = source.split("\n")
    first = redact_line(lines[0], secret_macros)
    if first != redact_text(lines[0]):  # a secret value: its continuation lines are part of it
        return first
    return "\n".join([first, *(redact_text(line) for line in lines[1:])])
