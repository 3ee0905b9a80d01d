"""The migration report: every exim statement, the bucket it landed in, and where it went.

One row per statement read (``EximConfig.statements()``), in exactly one of
mapped / approximated / unmapped / ignored, with its rule, the file, line and
column, the user's own text (secrets redacted), and for mapped and
approximated statements the output lines render produced for it. The buckets
the mapping booked are held against those lines (``honesty``); the services
exim provided are held against the written files (``services``). A lost
service comes first, and forces grade C.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from migrate import rules
from migrate.errors import Diagnostic, Span
from migrate.model import Policy
from migrate.options import FAIL_ON
from migrate.reader.tree import (
    Acl,
    AclCondition,
    AclStatement,
    Driver,
    EximConfig,
    MacroDefinition,
    NamedList,
    Option,
    RetryRule,
    RewriteRule,
    Statement,
)
from migrate.redact import HIDDEN, SECRET_OPTIONS, redact_source, redact_text
from migrate.render import Rendered, Target
from migrate.report.honesty import effects_of, requirement
from migrate.report.services import ServiceState, service_states
from migrate.rules import BUCKETS, Rule

SCHEMA_VERSION = 2


@dataclass(frozen=True)
class Report:
    """A row per statement, the findings not about one statement, the services, and the grade."""

    config_path: str
    files: tuple[str, ...]
    entries: tuple[Diagnostic, ...]
    notes: tuple[Diagnostic, ...]
    services: tuple[ServiceState, ...]
    grade: str

    @property
    def statements(self) -> list[Diagnostic]:
        """The rows of whole statements (an ACL statement over four lines is one)."""
        return [e for e in self.entries if e.parent is None]

    @property
    def lost(self) -> list[ServiceState]:
        """Services exim provided that the output does not keep."""
        return [s for s in self.services if not s.kept]

    def counts(self) -> dict[str, int]:
        """Statements per bucket, each multi-line statement once."""
        totals = dict.fromkeys(BUCKETS, 0)
        for entry in self.statements:
            totals[entry.severity] += 1
        return totals

    def sections(self) -> dict[str, dict[str, int]]:
        """Statements per bucket for each section."""
        found: dict[str, dict[str, int]] = {}
        for entry in self.statements:
            found.setdefault(entry.section, dict.fromkeys(BUCKETS, 0))[entry.severity] += 1
        return found

    def findings(self) -> list[Diagnostic]:
        """What needs a look: unmapped first, then approximated; one row per statement and rule."""
        order = {"unmapped": 0, "approximated": 1}
        seen: set[tuple[Span, Rule]] = set()
        found = []
        for entry in sorted(
            (e for e in self.statements if e.severity in order),
            key=lambda e: (order[e.severity], e.span.file, e.span.line, e.span.col, e.rule.id),
        ):
            if (entry.span, entry.rule) not in seen:
                seen.add((entry.span, entry.rule))
                found.append(entry)
        return found

    def return_code(self, fail_on: str = "unmapped") -> int:
        """0 when nothing reaches ``fail_on``, 2 when something does (never: always 0)."""
        levels = FAIL_ON[fail_on]
        if not levels:
            return 0
        return 2 if self.lost or any(e.severity in levels for e in self.statements) else 0


def build_report(config: EximConfig, policy: Policy, rendered: Rendered) -> Report:
    """Put every statement of a conversion in the report, held against what render wrote."""
    by_span: dict[Span, list[Diagnostic]] = {}
    for finding in policy.findings:
        by_span.setdefault(finding.span, []).append(finding)
    sections = _sections(config)
    parents = _parents(config)
    accepting = frozenset(policy.exim_accepting)
    secret_macros = config.secret_macros  # a walk over every option: once, not once per row
    rows: dict[int, Diagnostic] = {}
    for node, (_span, bucket) in zip(config.statements(), policy.accounting, strict=True):
        parent = parents.get(id(node))
        row = _row(node, parent, bucket, by_span, rendered, secret_macros, sections.get(id(node), "main"))
        if bucket in ("mapped", "approximated"):
            row = _held_to_output(row, node, parent, rendered, accepting)
        if parent is not None and rows.get(id(parent)) is not None:
            row = _with_parent(row, rows[id(parent)])
        rows[id(node)] = row
    notes = tuple(
        _replaced(f, message=redact_text(f.message), advice=redact_text(f.advice))
        for f in policy.findings
        if f.span.line == 0 or f.severity == "info"
    )
    states = tuple(_with_steps(s, policy.findings) for s in service_states(policy.services, rendered))
    entries = tuple(rows.values())
    return Report(config.path, tuple(config.files), entries, notes, states, _grade(entries, states))


def _with_steps(state: ServiceState, findings: tuple[Diagnostic, ...]) -> ServiceState:
    """A lost service carries the advice of the unmapped statements it came from: how to restore it."""
    if state.kept:
        return state
    origin = set(state.service.origin)
    steps = [f.advice or f.rule.advice for f in findings if f.span in origin and f.severity == "unmapped"]
    return replace(state, steps=tuple(redact_text(s) for s in dict.fromkeys(steps) if s))


def _row(
    node: Statement,
    parent: Statement | None,
    bucket: str,
    by_span: dict[Span, list[Diagnostic]],
    rendered: Rendered,
    secret_macros: frozenset[str],
    section: str,
) -> Diagnostic:
    finding = next((f for f in by_span.get(node.span, ()) if f.severity == bucket), None)
    own = finding is not None and finding.severity == bucket
    rule = finding.rule if own and finding else rules.default(_kind(node), bucket)
    message = finding.message if own and finding else _DEFAULT_MESSAGES[bucket]
    advice = finding.advice if own and finding else ""
    targets: tuple[Target, ...] = rendered.targets(node.span) if bucket in ("mapped", "approximated") else ()
    return Diagnostic(
        node.span,
        bucket,
        rule,
        redact_text(message),
        _redacted(node, secret_macros),
        redact_text(advice),
        option=_option(node),
        section=section,
        targets=_ordered(targets),
        parent=parent.span if parent is not None else None,
    )


# Which output lines to name first: the specific effect before the general one.
_FIRST = (
    "rspamd:",
    "pki",
    "listen:smtps",
    "listen:auth",
    "action:auth",
    "filter:",
    "table",
    "action",
    "match:",
    "listen",
    "global",
    "match",
)


_RANKS: dict[str, int] = {}  # effect: its place in _FIRST (a handful of effects, looked up for every target)


def _rank(effect: str) -> int:
    rank = _RANKS.get(effect)
    if rank is None:
        rank = _RANKS[effect] = next((i for i, p in enumerate(_FIRST) if effect.startswith(p)), len(_FIRST))
    return rank


def _ordered(targets: tuple[Target, ...]) -> tuple[str, ...]:
    if not targets:
        return ()
    return tuple(dict.fromkeys(str(t) for t in sorted(targets, key=lambda t: (_rank(t.effect), t.file, t.line))))


_ROW_FIELDS = tuple(Diagnostic.__dataclass_fields__)


def _replaced(row: Diagnostic, **changes: Any) -> Diagnostic:
    """``dataclasses.replace`` of a row, without its look at every field's kind on every call."""
    return Diagnostic(**{name: changes[name] if name in changes else getattr(row, name) for name in _ROW_FIELDS})


def _held_to_output(
    row: Diagnostic, node: Statement, parent: Statement | None, rendered: Rendered, accepting: frozenset[Span]
) -> Diagnostic:
    """The honesty rule: without output lines carrying its effect, a statement is unmapped."""
    own = rendered.targets(node.span)
    targets = own or (rendered.targets(parent.span) if parent is not None else ())
    need = requirement(node, parent, accepting)
    effects = effects_of(targets)
    if need.holds(effects):
        if not row.targets and targets:  # a part of a statement: it went where its statement went
            return _replaced(row, targets=_ordered(targets))
        return row
    if row.severity == "approximated" and not effects:
        return _replaced(
            row, severity="unmapped", message=f"{row.message} (nothing in the written files carries it)", targets=()
        )
    message = f"{row.option}: {need.missing}"
    return _replaced(row, severity="unmapped", rule=need.rule, message=message, advice=need.rule.advice, targets=())


def _with_parent(row: Diagnostic, statement: Diagnostic) -> Diagnostic:
    """A part of a statement (an ACL condition, a driver option) goes where its statement goes.

    When the statement is unmapped, so is the part; a part without a finding of
    its own carries the statement's, as "part of the statement at line N".
    """
    parent = row.parent
    assert parent is not None
    if statement.severity == "unmapped" and row.severity in ("mapped", "approximated"):
        row = _replaced(row, severity="unmapped", targets=())
    own = row.rule.area != rules.ACCOUNTING
    if not own and row.severity == statement.severity and statement.rule.area != rules.ACCOUNTING:
        return _replaced(row, rule=statement.rule, message=f"part of the statement at line {parent.line}", advice="")
    return row


def _grade(entries: tuple[Diagnostic, ...], states: tuple[ServiceState, ...]) -> str:
    """The report's grade.

    A: migrate as is. B: review the approximations and unmapped items. C: a service is lost or a rewrite is needed.
    """
    whole = [e for e in entries if e.parent is None]
    if any(not s.kept for s in states):
        return "C"
    if any(e.severity == "unmapped" and (e.rule.hard or _needs_rewrite(e.source)) for e in whole):
        return "C"
    return "B" if any(e.severity in ("unmapped", "approximated") for e in whole) else "A"


def _needs_rewrite(source: str) -> bool:
    """Constructs that need a rewrite by hand whatever their rule: Perl, commands, sockets, callouts."""
    return any(word in source for word in ("${perl", "${run", "${readsocket", "${dlfunc", "system_filter")) or (
        "verify" in source and "callout" in source
    )


_DEFAULT_MESSAGES = {
    "mapped": "carried over",
    "approximated": "carried over with a difference",
    "unmapped": "not migrated",
    "ignored": "not needed after the switch",
}


_KINDS: dict[type, str] = {
    Acl: "ACL",
    AclStatement: "ACL",
    AclCondition: "ACL",
    Driver: "DRIVER",
    NamedList: "LIST",
    MacroDefinition: "MACRO",
    RetryRule: "RETRY",
    RewriteRule: "REWRITE",
}


def _kind(node: Statement) -> str:
    return _KINDS.get(type(node), "OPTION")


def _sections(config: EximConfig) -> dict[int, str]:
    found: dict[int, str] = {}
    for acl in config.acls:
        for node in (acl, *acl.statements, *(c for s in acl.statements for c in s.conditions)):
            found[id(node)] = "acl"
    for title, drivers in (
        ("routers", config.routers),
        ("transports", config.transports),
        ("authenticators", config.authenticators),
    ):
        for driver in drivers:
            for node in (driver, *driver.options):
                found[id(node)] = title
    for title, nodes in (("retry", config.retry), ("rewrite", config.rewrite), ("local_scan", config.local_scan)):
        for node in nodes:
            found[id(node)] = title
    for macro in config.section_macros:
        found[id(macro)] = "macros"
    return found


def _parents(config: EximConfig) -> dict[int, Statement]:
    found: dict[int, Statement] = {}
    for acl in config.acls:
        for statement in acl.statements:
            found.update({id(c): statement for c in statement.conditions})
    for driver in (*config.routers, *config.transports, *config.authenticators):
        found.update({id(o): driver for o in driver.options})
    return found


def _option(node: Statement) -> str:
    if isinstance(node, AclStatement):
        return node.verb
    if isinstance(node, RetryRule):
        return "retry"
    if isinstance(node, RewriteRule):
        return "rewrite"
    if isinstance(node, NamedList):
        return f"{node.kind}list"
    return str(getattr(node, "name", type(node).__name__))


def _redacted(node: Statement, secret_macros: frozenset[str]) -> str:
    """The user's text, unless it carries a secret."""
    if isinstance(node, Option | NamedList) and node.hidden:
        return HIDDEN
    if isinstance(node, Option) and node.name in SECRET_OPTIONS:
        return f"{node.name} = {HIDDEN}"
    if isinstance(node, MacroDefinition) and node.name in secret_macros:
        return f"{node.name} = {HIDDEN}"
    return redact_source(node.source, secret_macros)
