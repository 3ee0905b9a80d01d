"""The parse tree: what the user wrote, typed and located, nothing interpreted.

Frozen dataclasses with tuples, so nodes hash, compare and diff cleanly.  Every
statement carries the span of its logical line and the user's own text
(``source``, before macro substitution); values keep their exim-level text and,
where they contain ``$``, the parsed expansion tree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from migrate.errors import Diagnostic, Span
from migrate.reader.expansion import Expansion
from migrate.reader.lists import ListItem
from migrate.redact import HIDDEN, SECRET_OPTIONS, redact_text


@dataclass(frozen=True, slots=True)
class Value:
    """An option's right-hand side: as written, as exim stores it, and parsed."""

    raw: str  # after macros, before de-quoting
    text: str  # what exim stores: de-quoted when the value was a quoted string
    quoted: bool
    span: Span
    expansion: Expansion | None = None  # None when the text has no "$"


@dataclass(frozen=True, slots=True)
class Statement:
    """Fields every statement has: where it is and how the user wrote it."""

    span: Span
    source: str
    macros: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class MacroDefinition(Statement):
    """``NAME = value`` or ``NAME == value``; ``effect`` says what exim did with it."""

    name: str
    value: str
    redefine: bool
    effect: str  # "defined" | "redefined" | "overridden" (a -D on the command line won)


@dataclass(frozen=True, slots=True)
class Option(Statement):
    """``[hide] [no_|not_]name [= value]`` in the main section, a driver or local_scan."""

    name: str  # without no_/not_
    value: Value | None
    negated: bool = False
    hidden: bool = False

    @property
    def bool_value(self) -> bool | None:
        """The boolean exim reads, when the option is written as one."""
        if self.value is None:
            return not self.negated
        lowered = self.value.text.strip().lower()
        if lowered in ("true", "yes"):
            return True
        if lowered in ("false", "no"):
            return False
        return None


@dataclass(frozen=True, slots=True)
class NamedList(Statement):
    """``domainlist``/``hostlist``/``addresslist``/``localpartlist NAME = items``."""

    kind: str  # "domain" | "host" | "address" | "localpart"
    name: str
    value: Value
    separator: str
    items: tuple[ListItem, ...]
    hidden: bool = False
    cached: bool = False


@dataclass(frozen=True, slots=True)
class AclCondition(Statement):
    """A condition or modifier of an ACL statement, e.g. ``!verify = sender``."""

    name: str
    value: Value | None  # None only for endpass
    negated: bool = False
    modifier: bool = False
    variable: str = ""  # for "set acl_m_x = ..."


@dataclass(frozen=True, slots=True)
class AclStatement(Statement):
    """A verb with its conditions and modifiers, in the order exim tests them."""

    verb: str
    conditions: tuple[AclCondition, ...]


@dataclass(frozen=True, slots=True)
class Acl(Statement):
    """A named ACL from the ``acl`` section."""

    name: str
    statements: tuple[AclStatement, ...]


@dataclass(frozen=True, slots=True)
class Driver(Statement):
    """A router, transport or authenticator instance: ``name:`` plus its options."""

    kind: str  # "router" | "transport" | "authenticator"
    name: str
    driver: str
    options: tuple[Option, ...]

    def option(self, name: str) -> Option | None:
        """The option of that name, if set."""
        return next((o for o in reversed(self.options) if o.name == name), None)  # set twice: the later counts


@dataclass(frozen=True, slots=True)
class RetryStep:
    """One ``F,2h,15m`` / ``G,16h,1h,1.5`` element of a retry rule."""

    algorithm: str
    cutoff: str
    params: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RetryRule(Statement):
    """``pattern error [senders=...] steps`` from the ``retry`` section."""

    pattern: str
    error: str
    senders: str
    steps: tuple[RetryStep, ...]


@dataclass(frozen=True, slots=True)
class RewriteRule(Statement):
    """``pattern replacement flags`` from the ``rewrite`` section."""

    pattern: str
    replacement: Value
    flags: str


@dataclass(frozen=True, slots=True)
class Directive:
    """A ``.ifdef``-family or ``.include`` line and what exim did with it.

    Kept so that a report can say which branches were assumed and with which
    macro values, instead of silently leaving the untaken ones out.
    """

    span: Span
    kind: str  # ifdef, ifndef, elifdef, elifndef, else, endif, include, include_if_exists
    argument: str
    active: bool  # False when it sat inside a skipped region
    taken: bool | None = None  # conditionals: was the following branch read? includes: was the file read?


@dataclass(frozen=True, slots=True)
class SectionStart:
    """A ``begin NAME`` line."""

    span: Span
    name: str  # normalised: acl, routers, transports, authenticators, retry, rewrite, local_scan


@dataclass(frozen=True, slots=True)
class EximConfig:
    """A whole configuration as read: sections in file order, plus how it was read."""

    path: str
    main: tuple[Option | NamedList | MacroDefinition, ...] = ()
    acls: tuple[Acl, ...] = ()
    routers: tuple[Driver, ...] = ()
    transports: tuple[Driver, ...] = ()
    authenticators: tuple[Driver, ...] = ()
    retry: tuple[RetryRule, ...] = ()
    rewrite: tuple[RewriteRule, ...] = ()
    local_scan: tuple[Option, ...] = ()
    section_macros: tuple[MacroDefinition, ...] = ()  # defined between ACLs or drivers
    sections: tuple[SectionStart, ...] = ()
    directives: tuple[Directive, ...] = ()
    defines: tuple[tuple[str, str], ...] = ()
    files: tuple[str, ...] = ()
    diagnostics: tuple[Diagnostic, ...] = ()
    line_kinds: tuple[tuple[str, tuple[str, ...]], ...] = field(default=(), repr=False)
    resolved_lines: tuple[str, ...] = field(default=(), repr=False)

    @property
    def options(self) -> dict[str, Option]:
        """Main-section options by name (an option set twice: the later setting, as exim takes it)."""
        return {s.name: s for s in self.main if isinstance(s, Option)}

    @property
    def secret_macros(self) -> frozenset[str]:
        """Macros used in an option that holds a secret: their values are secrets too."""
        drivers = (*self.routers, *self.transports, *self.authenticators)
        options = [s for s in self.main if isinstance(s, Option)] + [o for d in drivers for o in d.options]
        return frozenset(m for o in options if o.hidden or o.name in SECRET_OPTIONS for m in o.macros)

    @property
    def named_lists(self) -> dict[str, NamedList]:
        """Named lists by name."""
        return {s.name: s for s in self.main if isinstance(s, NamedList)}

    def statements(self) -> list[Statement]:
        """Every statement read, in a stable order (section, then file order)."""
        found: list[Statement] = list(self.main)
        for acl in self.acls:
            found.append(acl)
            for statement in acl.statements:
                found.append(statement)
                found.extend(statement.conditions)
        for driver in (*self.routers, *self.transports, *self.authenticators):
            found.append(driver)
            found.extend(driver.options)
        found.extend(self.retry)
        found.extend(self.rewrite)
        found.extend(self.local_scan)
        found.extend(self.section_macros)
        return found


def to_dict(node: object, secret_macros: frozenset[str] | None = None) -> object:
    """Convert a tree (or any part of it) to JSON-ready data, tagging node types.

    Values of ``hide`` options and lists, of options that are passwords by
    nature, and of macros used in them are replaced by ``<hidden>``; so are
    credentials inside lookups (see ``migrate.redact``).
    """
    expand = json_expander(node, secret_macros)

    def deep(item: object) -> object:
        value, done = expand(item)
        if done:
            return value
        if isinstance(value, dict):
            return {k: deep(v) for k, v in value.items()}
        return [deep(v) for v in value]  # type: ignore[attr-defined]

    return deep(node)


Expander = Callable[[object], tuple[object, bool]]
ONE_LINE = 2  # "ready, plain values only" for a JSON writer (migrate.cli.json_view), truthy for the rest


def json_expander(node: object, secret_macros: frozenset[str] | None = None) -> Expander:
    """``to_dict`` one level at a time, for a writer that streams a big tree instead of copying it.

    It returns ``(value, True)`` for a JSON-ready value, or ``(container, False)``
    for a dict or sequence whose items still need expanding.
    """
    secrets = secret_macros
    if secrets is None:
        secrets = node.secret_macros if isinstance(node, EximConfig) else frozenset()
    return lambda item: _expand(item, secrets)


def _expand(node: object, secret_macros: frozenset[str]) -> tuple[object, bool]:
    # The commonest values first: a 200,000-domain list is 200,000 ListItems of strings.
    kind = type(node)
    if kind is ListItem:
        item: ListItem = node  # type: ignore[assignment]
        return {
            "type": "ListItem",
            "text": redact_text(item.text),
            "offset": item.offset,
            "negated": item.negated,
            "kind": item.kind,
            "value": redact_text(item.value),
            "lookup_type": item.lookup_type,
        }, ONE_LINE  # type: ignore[return-value]
    if kind is str:
        return redact_text(node), True  # type: ignore[arg-type]
    if kind is int or kind is bool or node is None:
        return node, True
    if kind is tuple or kind is list:
        return node, False
    if kind is Span or kind is Diagnostic:
        return node.to_dict(), True  # type: ignore[attr-defined]
    if isinstance(node, (Option, NamedList)) and (node.hidden or getattr(node, "name", "") in SECRET_OPTIONS):
        return _redacted(node), True
    if isinstance(node, MacroDefinition) and node.name in secret_macros:
        return {"type": "MacroDefinition", "span": node.span.to_dict(), "name": node.name, "value": HIDDEN}, True
    names = _field_names(kind)
    if names is not None:  # plain fields converted here: a node of plain fields is ready in one call
        data: dict[str, object] = {"type": kind.__name__}
        ready = True
        for name in names:
            value = getattr(node, name)
            if name == "defines":
                value = tuple((k, HIDDEN if k in secret_macros else v) for k, v in value)
            plain = type(value)
            if plain is str:
                value = redact_text(value)  # idempotent: expanding it again changes nothing
            elif not (plain is int or plain is bool or value is None):
                ready = False
            data[name] = value
        return data, ready
    if isinstance(node, (tuple, list, dict)):
        return node, False
    if isinstance(node, str):
        return redact_text(node), True
    return node, True


_FIELD_NAMES: dict[type, tuple[str, ...] | None] = {}


def _field_names(kind: type) -> tuple[str, ...] | None:
    """A dataclass's fields as JSON shows them (looked up once per class), None for other types."""
    if kind not in _FIELD_NAMES:
        fields = dataclasses.fields(kind) if dataclasses.is_dataclass(kind) else None
        shown = (
            None if fields is None else tuple(f.name for f in fields if f.name not in ("resolved_lines", "line_kinds"))
        )
        _FIELD_NAMES[kind] = shown
    return _FIELD_NAMES[kind]


def _redacted(node: Option | NamedList) -> object:
    data: dict[str, object] = {"type": type(node).__name__}
    for f in dataclasses.fields(node):
        data[f.name] = to_dict(getattr(node, f.name), frozenset())
    data["source"] = HIDDEN
    value = data.get("value")
    if isinstance(value, dict):
        data["value"] = {"type": "Value", "raw": HIDDEN, "text": HIDDEN, "span": value["span"]}
    if "items" in data:
        data["items"] = HIDDEN
    return data
