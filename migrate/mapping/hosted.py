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
from dataclasses import dataclass, replace

from migrate.lookups import lsearch_entries, sql_keyed
from migrate.reader.expansion import ExpansionSyntaxError, Group, Item, item_end, parse_expansion
from migrate.reader.tree import Driver


class _Pattern:
    """A regular expression compiled when first used: most configurations host no domains."""

    __slots__ = ("_compiled", "_flags", "_source")

    def __init__(self, source: str, flags: int = 0) -> None:
        self._source, self._flags = source, flags
        self._compiled: re.Pattern[str] | None = None

    def fullmatch(self, text: str) -> re.Match[str] | None:
        """``re.Pattern.fullmatch``."""
        if self._compiled is None:
            self._compiled = re.compile(self._source, self._flags)
        return self._compiled.fullmatch(text)


_LP = r"(?:\$local_part(?:_data)?|\$\{local_part(?:_data)?\})"
_DOM = r"(?:\$domain(?:_data)?|\$\{domain(?:_data)?\})"
_TYPE = r"(?P<type>lsearch\*?@?)(?:,ret=key)?"
_PATH = r"(?P<path>/[^{}$\s]+?)"
_SUFFIX = r"(?P<suffix>(?:/[^{}$\s/]+)*)"  # DIR/$domain/aliases: the file under the domain's directory
_YES_NO = r"\{(?:yes|true|1)\}\{(?:no|false|0)\}"
_NO_YES = r"\{(?:no|false|0)\}\{(?:yes|true|1)\}"
# ${lookup{$local_part}lsearch{DIR/$domain}}, ${lookup{$local_part@$domain}lsearch{FILE}},
# ${lookup{$local_part}lsearch{FILE}}
_DATA = (
    (_Pattern(rf"\$\{{lookup\{{{_LP}\}}{_TYPE}\{{{_PATH}/{_DOM}{_SUFFIX}\}}\}}"), True, False),
    (_Pattern(rf"\$\{{lookup\{{{_LP}@{_DOM}\}}{_TYPE}\{{{_PATH}/{_DOM}{_SUFFIX}\}}\}}"), True, True),
    (_Pattern(rf"\$\{{lookup\{{{_LP}@{_DOM}\}}{_TYPE}\{{{_PATH}\}}\}}"), False, True),
    (_Pattern(rf"\$\{{lookup\{{{_LP}\}}{_TYPE}\{{{_PATH}\}}\}}"), False, False),
)
# ${lookup{*}lsearch{DIR/$domain}}: the file's "*" line alone, a catch-all after the routers that took the rest
_STAR = (
    (_Pattern(rf"\$\{{lookup\{{\*\}}(?P<type>lsearch)\{{{_PATH}/{_DOM}{_SUFFIX}\}}\}}"), True),
    (_Pattern(rf"\$\{{lookup\{{\*\}}(?P<type>lsearch)\{{{_PATH}\}}\}}"), False),
)
STAR = "star"  # HostedSource.lookup_type of such a lookup
# local_parts = lsearch;DIR/$domain or lsearch;FILE
_LOCAL_PARTS = (
    (_Pattern(rf"{_TYPE};\s*{_PATH}/{_DOM}{_SUFFIX}"), True),
    (_Pattern(rf"{_TYPE};\s*{_PATH}"), False),
)
# condition = ${lookup{$local_part@$domain}lsearch{FILE}{yes}{no}} (or the per-domain file form)
_CONDITION = (
    (_Pattern(rf"\$\{{lookup\{{{_LP}\}}{_TYPE}\{{{_PATH}/{_DOM}{_SUFFIX}\}}{_YES_NO}\}}"), True, False),
    (_Pattern(rf"\$\{{lookup\{{{_LP}@{_DOM}\}}{_TYPE}\{{{_PATH}\}}{_YES_NO}\}}"), False, True),
)
# ${if exists{FILE}{LOOKUP}} is a control panel's guard, so that a domain without the file declines instead of
# deferring; ${if eq{}{LOOKUP}{no}{yes}} asks for a non-empty value ({yes}{no}: no non-empty value)
# ${lookup mysql{QUERY}} as a redirect's data; ${lookup mysql{QUERY}{yes}{no}} as a mailbox condition
_SQL_DATA = _Pattern(r"\$\{lookup\s*(mysql|pgsql|sqlite)\s*\{(.*)\}\s*\}", re.DOTALL)
_SQL_CONDITION = _Pattern(rf"\$\{{lookup\s*(mysql|pgsql|sqlite)\s*\{{(.*)\}}\s*{_YES_NO}\s*\}}", re.DOTALL)
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
    suffix: str = ""  # per-domain: the file under the domain's directory (DIR/$domain/aliases)
    optional: bool = False  # ${if exists{FILE}...}: a domain without the file has no keys here
    nonempty: bool = False  # a key counts only with a non-empty value (${if eq{}{LOOKUP}{no}{yes}})

    def file(self, domain: str) -> str:
        """The file that holds ``domain``'s keys."""
        return f"{self.path}/{domain}{self.suffix}" if self.per_domain else self.path


@dataclass(frozen=True)
class _Lookup:
    """A file lookup of the recipient, as routers write it (possibly behind an ``exists`` guard)."""

    path: str
    suffix: str
    lookup_type: str
    per_domain: bool
    by_address: bool
    optional: bool

    def source(self, router: Driver, role: str, nonempty: bool = False) -> HostedSource:
        return HostedSource(
            router,
            role,
            self.path,
            self.per_domain,
            self.by_address,
            self.lookup_type,
            suffix=self.suffix,
            optional=self.optional,
            nonempty=nonempty,
        )


def _same_path(left: str, right: str) -> bool:
    """The same file, however its variables are written (``${domain_data}``, ``$domain``)."""

    def plain(text: str) -> str:
        return re.sub(r"\$\{?(domain|local_part)(?:_data)?\}?", r"$\1", text.strip())

    return plain(left) == plain(right)


def _file_lookup(text: str) -> _Lookup | None:
    """``${lookup{$local_part}lsearch{FILE}}`` (three forms), or it inside ``${if exists{FILE}{...}}``."""
    guarded = _if_args(text, "exists")
    if guarded is not None and len(guarded) != 2:
        return None
    inner = guarded[1].strip() if guarded else text
    patterns = [(p, d, a, False) for p, d, a in _DATA] + [(p, d, False, True) for p, d in _STAR]
    for pattern, per_domain, by_address, star in patterns:
        found = pattern.fullmatch(inner)
        if found is None:
            continue
        groups = found.groupdict()
        kind = STAR if star else found["type"]
        lookup = _Lookup(found["path"], groups.get("suffix") or "", kind, per_domain, by_address, False)
        if guarded is None:
            return lookup
        file = f"{lookup.path}/$domain{lookup.suffix}" if per_domain else lookup.path
        if _same_path(guarded[0], file):
            return replace(lookup, optional=True)
        return None
    return None


def alias_source(router: Driver) -> HostedSource | None:
    """A redirect router's ``data`` as a lookup of hosted addresses (nothing around it but an exists guard)."""
    text = option_text(router, "data")
    lookup = _file_lookup(text)
    if lookup is not None:
        return lookup.source(router, "aliases")
    return _sql_source(router, "aliases", _SQL_DATA.fullmatch(text))


def redundant_condition(router: Driver) -> bool:
    """A catch-all's ``condition``: "no exact key in the same file" (``${if eq{}{LOOKUP}{yes}{no}}``).

    exim's ``lsearch*`` already looks the exact key up first, and the router
    before it took every exact key with a value, so the condition changes
    nothing: the catch-all is what the ``*`` key says.
    """
    found = _empty_test(option_text(router, "condition"))
    source = alias_source(router)
    if found is None or source is None or source.lookup_type == "lsearch" or found[1]:
        return False
    exact = _file_lookup(found[0])
    same_file = exact is not None and exact.source(router, "aliases").file("d") == source.file("d")
    return exact is not None and exact.lookup_type == "lsearch" and same_file


_OWNER = _Pattern(rf"\$\{{lookup\{{{_DOM}\}}(?P<type>lsearch\*?)\{{(?P<path>/[^{{}}$\s]+)\}}(?:\{{\$value\}})?\}}")


def owner_lookup(text: str) -> tuple[str, str] | None:
    """``user = ${lookup{$domain}lsearch{FILE}{$value}}``: each domain delivered as its owner; (type, file)."""
    found = _OWNER.fullmatch(text.strip())
    return (found["type"], found["path"]) if found else None


def owner_of(owners: tuple[str, str], domain: str, read: Callable[[str], str]) -> str | None:
    """The owner a domain's mail is delivered as (raises OSError when the file cannot be read)."""
    lookup_type, path = owners
    entries = {key.lower(): data.strip() for key, data in reversed(lsearch_entries(read(path)))}
    owner = entries.get(domain.lower())
    if owner is None and lookup_type == "lsearch*":
        owner = entries.get("*")
    return owner or None


def exists_condition(router: Driver) -> str | None:
    """``condition = ${if exists{DIR/$domain/FILE}{yes}{no}}``: the per-domain file, with ``${domain}`` in it."""
    return file_test(option_text(router, "condition"))


def file_test(text: str) -> str | None:
    """``${if exists{DIR/$domain/FILE}{yes}{no}}`` (or without the answers): that file, with ``${domain}`` in it."""
    args = _if_args(text.strip(), "exists")
    if args is None or len(args) not in (1, 3) or (len(args) == 3 and _answers(args[1:]) is not True):
        return None
    path = re.sub(r"\$\{?domain(?:_data)?\}?", "\0", args[0].strip())
    if not path.startswith("/") or "\0" not in path or re.search(r"[${}]", path):
        return None
    return path.replace("\0", "${domain}")


def domain_condition(router: Driver, hostname: str | None) -> str | None:
    """``condition = ${if eq{$domain}{$primary_hostname}{yes}{no}}``: the one domain the router runs for."""
    args = _if_args(option_text(router, "condition"), "eq")
    if args is None or len(args) not in (2, 4) or (len(args) == 4 and _answers(args[2:]) is not True):
        return None
    if re.fullmatch(r"\$\{?domain\}?", args[0].strip()) is None:
        return None
    other = args[1].strip()
    if re.fullmatch(r"\$\{?primary_hostname\}?", other):
        return hostname.lower() if hostname else None
    return other.lower() if re.fullmatch(r"[A-Za-z0-9.-]+", other) else None


def mailbox_source(router: Driver) -> HostedSource | None:
    """An accept router's mailbox list: ``local_parts`` or a lookup ``condition``; every local part without one."""
    local_parts, condition = router.option("local_parts"), router.option("condition")
    if local_parts is not None and condition is not None:
        return None
    if local_parts is None and condition is None:
        return HostedSource(router, "mailboxes", "", False, False)
    text = option_text(router, "local_parts" if local_parts is not None else "condition")
    if local_parts is not None:
        for pattern, per_domain in _LOCAL_PARTS:
            found = pattern.fullmatch(text)
            if found and not (found["type"] != "lsearch" and per_domain):
                suffix = found.groupdict().get("suffix") or ""
                return HostedSource(router, "mailboxes", found["path"], per_domain, False, found["type"], suffix=suffix)
        return None
    for pattern, per_domain, by_address in _CONDITION:
        found = pattern.fullmatch(text)
        if found:
            suffix = found.groupdict().get("suffix") or ""
            return HostedSource(
                router, "mailboxes", found["path"], per_domain, by_address, found["type"], suffix=suffix
            )
    empty = _empty_test(text)
    lookup = _file_lookup(empty[0]) if empty is not None and empty[1] else None
    if lookup is not None and lookup.lookup_type == "lsearch":
        return lookup.source(router, "mailboxes", nonempty=True)
    source = _sql_source(router, "mailboxes", _SQL_CONDITION.fullmatch(text))
    return source if source is not None and not source.catch_all else None


def _empty_test(text: str) -> tuple[str, bool] | None:
    """``${if eq{}{X}{no}{yes}}`` → (X, True): true when X is not empty; ``{yes}{no}`` → (X, False)."""
    args = _if_args(text, "eq")
    if args is None or len(args) != 4 or args[0].strip():
        return None
    answer = _answers(args[2:])
    return None if answer is None else (args[1].strip(), not answer)


def _answers(pair: list[str]) -> bool | None:
    """``{yes}{no}`` → True, ``{no}{yes}`` → False; None for anything else."""
    answers = tuple(a.strip().lower() for a in pair)
    if answers in (("yes", "no"), ("true", "false"), ("1", "0")):
        return True
    if answers in (("no", "yes"), ("false", "true"), ("0", "1")):
        return False
    return None


def _if_args(text: str, test: str) -> list[str] | None:
    """The brace arguments of ``${if TEST{...}...}`` when that is the whole of ``text``, else None.

    The reader's expansion parser finds the item and its groups by exim's
    brace rules; each argument is returned as written, for the patterns here.
    """
    text = text.strip()
    try:
        parts = parse_expansion(text).parts
    except ExpansionSyntaxError:
        return None
    if len(parts) != 1 or not isinstance(parts[0], Item) or parts[0].name != "if" or parts[0].words() != [test]:
        return None
    groups = [arg for arg in parts[0].args if isinstance(arg, Group)]
    ends = [group.offset for group in groups[1:]] + [item_end(text, parts[0].offset) - 1]
    return [text[group.offset + 1 : end].rstrip()[:-1] for group, end in zip(groups, ends, strict=True)]


def option_text(router: Driver, name: str) -> str:
    option = router.option(name)
    return option.value.text.strip() if option is not None and option.value is not None else ""


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
    try:
        entries = lsearch_entries(read(source.file(domain)))
    except FileNotFoundError:
        if source.optional:
            return Keys((), None)
        raise
    if source.lookup_type == STAR:
        return Keys((), next((data for key, data in entries if key == "*"), None))
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
        if source.nonempty and not data.strip():
            continue
        if lowered == "*" and source.lookup_type != "lsearch":
            catch_all = data
            continue
        if lowered != "*":
            mapping.append((lowered, data))
    return Keys(tuple(mapping), catch_all)
