"""Hosted (virtual) domains: mailboxes and aliases without system accounts → one smtpd virtual table.

exim's idiom is a domain list of its own (``domainlist virtual_domains``), an
alias router and a mailbox router limited to it, each looking the local part
up in a file per domain (or the whole address in one file), and a transport
that runs as one fixed user. smtpd does the same with a ``virtual`` table
(``user@domain`` → the account that delivers, or → an alias's addresses) and
a ``userbase`` giving that account's uid, gid and home where it has no system
user. A recipient no key matches is refused at RCPT, as exim's
``verify = recipient`` refused it once its routers declined.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from migrate.lookups import lsearch_entries, sql_keyed
from migrate.reader.tree import Driver

_LP = r"(?:\$local_part(?:_data)?|\$\{local_part(?:_data)?\})"
_DOM = r"(?:\$domain(?:_data)?|\$\{domain(?:_data)?\})"
_TYPE = r"(lsearch\*?@?)(?:,ret=key)?"
_PATH = r"(/[^{}$\s]+?)"
_YES_NO = r"\{(?:yes|true|1)\}\{(?:no|false|0)\}"
# ${lookup{$local_part}lsearch{DIR/$domain}}, ${lookup{$local_part@$domain}lsearch{FILE}},
# ${lookup{$local_part}lsearch{FILE}}
_DATA = (
    (re.compile(rf"\$\{{lookup\{{{_LP}\}}{_TYPE}\{{{_PATH}/{_DOM}\}}\}}"), True, False),
    (re.compile(rf"\$\{{lookup\{{{_LP}@{_DOM}\}}{_TYPE}\{{{_PATH}\}}\}}"), False, True),
    (re.compile(rf"\$\{{lookup\{{{_LP}\}}{_TYPE}\{{{_PATH}\}}\}}"), False, False),
)
# local_parts = lsearch;DIR/$domain or lsearch;FILE
_LOCAL_PARTS = (
    (re.compile(rf"{_TYPE};\s*{_PATH}/{_DOM}"), True),
    (re.compile(rf"{_TYPE};\s*{_PATH}"), False),
)
# condition = ${lookup{$local_part@$domain}lsearch{FILE}{yes}{no}} (or the per-domain file form)
_CONDITION = (
    (re.compile(rf"\$\{{lookup\{{{_LP}\}}{_TYPE}\{{{_PATH}/{_DOM}\}}{_YES_NO}\}}"), True, False),
    (re.compile(rf"\$\{{lookup\{{{_LP}@{_DOM}\}}{_TYPE}\{{{_PATH}\}}{_YES_NO}\}}"), False, True),
)
# ${lookup mysql{QUERY}} as a redirect's data; ${lookup mysql{QUERY}{yes}{no}} as a mailbox condition
_SQL_DATA = re.compile(r"\$\{lookup\s*(mysql|pgsql|sqlite)\s*\{(.*)\}\s*\}", re.DOTALL)
_SQL_CONDITION = re.compile(rf"\$\{{lookup\s*(mysql|pgsql|sqlite)\s*\{{(.*)\}}\s*{_YES_NO}\s*\}}", re.DOTALL)
# The exim variables a hosted delivery uses, as smtpd format specifiers (exim lowercases both while routing).
VARIABLES = {
    "local_part": "%{dest.user:lowercase}",
    "local_part_data": "%{dest.user:lowercase}",
    "domain": "%{dest.domain:lowercase}",
    "domain_data": "%{dest.domain:lowercase}",
    "sender_address": "%{sender}",
    "original_local_part": "%{rcpt.user:lowercase}",
    "original_domain": "%{rcpt.domain:lowercase}",
}


@dataclass(frozen=True)
class HostedSource:
    """Where one router finds the local parts of hosted domains."""

    router: Driver
    role: str  # "aliases" | "mailboxes"
    path: str  # a file, or a directory of per-domain files; "" for mailboxes: every local part
    per_domain: bool  # ``path`` holds one file per domain, keyed by local part
    by_address: bool  # keys are ``local_part@domain``
    lookup_type: str = "lsearch"  # lsearch* and lsearch*@ give a "*" key that catches the rest
    sql: str = ""  # mysql | pgsql | sqlite: ``query`` reads smtpd's key (lookups.KEY) instead of files
    query: str = ""
    catch_all: bool = False  # an SQL alias keyed on the domain alone: smtpd's "@domain" key


def alias_source(router: Driver) -> HostedSource | None:
    """A redirect router's ``data`` as a lookup of hosted addresses (nothing around it)."""
    data = router.option("data")
    text = data.value.text.strip() if data is not None and data.value is not None else ""
    for pattern, per_domain, by_address in _DATA:
        found = pattern.fullmatch(text)
        if found:
            return HostedSource(router, "aliases", found.group(2), per_domain, by_address, found.group(1))
    return _sql_source(router, "aliases", _SQL_DATA.fullmatch(text))


def mailbox_source(router: Driver) -> HostedSource | None:
    """An accept router's mailbox list: ``local_parts`` or a lookup ``condition``; every local part without one."""
    local_parts, condition = router.option("local_parts"), router.option("condition")
    if local_parts is not None and condition is not None:
        return None
    if local_parts is None and condition is None:
        return HostedSource(router, "mailboxes", "", False, False)
    option = local_parts or condition
    text = option.value.text.strip() if option is not None and option.value is not None else ""
    if local_parts is not None:
        for pattern, per_domain in _LOCAL_PARTS:
            found = pattern.fullmatch(text)
            if found and not (found.group(1) != "lsearch" and per_domain):
                return HostedSource(router, "mailboxes", found.group(2), per_domain, False, found.group(1))
        return None
    for pattern, per_domain, by_address in _CONDITION:
        found = pattern.fullmatch(text)
        if found:
            return HostedSource(router, "mailboxes", found.group(2), per_domain, by_address, found.group(1))
    source = _sql_source(router, "mailboxes", _SQL_CONDITION.fullmatch(text))
    return source if source is not None and not source.catch_all else None


def _sql_source(router: Driver, role: str, found: re.Match[str] | None) -> HostedSource | None:
    """``${lookup mysql{QUERY}}`` reading the recipient: a source smtpd's SQL backend asks with its key."""
    if found is None:
        return None
    keyed = sql_keyed(found.group(1), found.group(2))
    if isinstance(keyed, str):
        return None
    return HostedSource(
        router, role, "", False, True, found.group(1), found.group(1), keyed.query, not keyed.uses_local_part
    )


@dataclass(frozen=True)
class Keys:
    """What one source says about one domain: its keys and values, and a catch-all."""

    mapping: tuple[tuple[str, str], ...]  # local part → data
    catch_all: str | None


def domain_keys(source: HostedSource, domain: str, read: Callable[[str], str]) -> Keys:
    """The keys of ``source`` that belong to ``domain`` (raises OSError when its file cannot be read)."""
    if source.role == "mailboxes" and not source.path:
        return Keys((), "")
    path = f"{source.path}/{domain}" if source.per_domain else source.path
    entries = lsearch_entries(read(path))
    mapping: list[tuple[str, str]] = []
    catch_all = None
    seen: set[str] = set()
    for key, data in entries:
        lowered = key.lower()
        if source.by_address:
            local, _, key_domain = lowered.rpartition("@")
            if key_domain != domain or not local:
                continue
            lowered = local
        if lowered in seen:
            continue  # exim takes the first line for a key
        seen.add(lowered)
        if lowered == "*" and source.lookup_type != "lsearch":
            catch_all = data
            continue
        if lowered != "*":
            mapping.append((lowered, data))
    return Keys(tuple(mapping), catch_all)
