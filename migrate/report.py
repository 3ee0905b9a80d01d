"""The migration report: every exim statement, the bucket it landed in, and where it went.

One entry per statement read (``EximConfig.statements()``), in exactly one of
mapped / approximated / unmapped / ignored, with a stable rule id, the file,
line and column, the user's own text (secrets redacted), and for mapped and
approximated statements the generated file and line. A readiness grade sums
it up. Formats: plain text (``file:line:col: bucket[RULE] message``), JSON,
SARIF 2.1.0 for CI annotations, and a rich terminal view.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, replace

from migrate import __version__
from migrate.model import Finding, Policy
from migrate.redact import HIDDEN, SECRET_OPTIONS, redact_source, redact_text
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

SCHEMA_VERSION = 1
BUCKETS = ("mapped", "approximated", "unmapped", "ignored")
FAIL_ON = ("never", "unmapped", "approximated", "info")
# Constructs that need a rewrite by hand, not a recipe: grade C.
HARD = re.compile(r"\$\{(perl|run|readsocket|dlfunc)\b|system_filter|verify\s*=\s*\S*callout")
HARD_RULES = frozenset(("EXIM-ACL-EXPANDED", "EXIM-ACL-INLINE", "EXIM-REWRITERULE-REWRITERULE", "EXIM-SYSTEM-FILTER"))
README = "https://github.com/exim2smtpd/exim2smtpd#"


@dataclass(frozen=True)
class Entry:
    """One statement of the exim configuration and what became of it."""

    rule: str
    bucket: str
    section: str
    option: str
    file: str
    line: int
    col: int
    source: str
    message: str
    advice: str = ""
    target: str = ""
    parent: str = ""  # FILE:LINE:COL of the ACL statement or driver this is part of


@dataclass(frozen=True)
class Report:
    """All entries (one per statement), extra findings, the grade and the counts."""

    config_path: str
    files: tuple[str, ...]
    entries: tuple[Entry, ...]
    notes: tuple[Finding, ...]
    grade: str

    def counts(self) -> dict[str, int]:
        """Statements per bucket."""
        totals = dict.fromkeys(BUCKETS, 0)
        for entry in self.entries:
            totals[entry.bucket] += 1
        return totals

    def sections(self) -> dict[str, dict[str, int]]:
        """Statements per bucket for each section."""
        found: dict[str, dict[str, int]] = {}
        for entry in self.entries:
            found.setdefault(entry.section, dict.fromkeys(BUCKETS, 0))[entry.bucket] += 1
        return found

    def return_code(self, fail_on: str = "unmapped") -> int:
        """0 when nothing reaches ``fail_on``, 2 when something does (never: always 0)."""
        if fail_on == "never":
            return 0
        levels = {
            "unmapped": ("unmapped",),
            "approximated": ("unmapped", "approximated"),
            "info": ("unmapped", "approximated", "ignored"),
        }[fail_on]
        return 2 if any(e.bucket in levels for e in self.entries) else 0


def build_report(config: EximConfig, policy: Policy, files: dict[str, str]) -> Report:
    """Put every statement of a conversion in the report; ``files`` are the generated texts it points into."""
    targets = _targets(files)
    section_targets = _section_targets(files)
    by_span: dict[tuple[str, int, int], Finding] = {}
    for finding in policy.findings:
        by_span.setdefault((finding.span.file, finding.span.line, finding.span.col), finding)
    sections = _sections(config)
    parents = _parents(config)
    entries = []
    statements = config.statements()
    secret_macros = config.secret_macros
    for node, (span, bucket) in zip(statements, policy.accounting, strict=True):
        finding = by_span.get((span.file, span.line, span.col))
        section = sections.get(id(node), "main")
        rule = finding.rule if finding and finding.severity == bucket else _default_rule(node, bucket)
        message = finding.message if finding and finding.severity == bucket else _default_message(bucket)
        advice = finding.advice if finding and finding.severity == bucket else ""
        parent = parents.get(id(node))
        if parent is not None and not (
            finding and finding.severity == bucket and finding.span.col == span.col and parent.span != span
        ):
            parent_finding = by_span.get((parent.span.file, parent.span.line, parent.span.col))
            if parent_finding is not None and parent_finding.severity == bucket:
                rule, message = parent_finding.rule, f"part of the statement at line {parent.span.line}"
        target = ""
        if bucket in ("mapped", "approximated"):
            target = targets.get(f"{os.path.basename(span.file)}:{span.line}") or section_targets.get(
                "acl" if _option(node).startswith("acl_") else section, ""
            )
        where = f"{parent.span.file}:{parent.span.line}:{parent.span.col}" if parent is not None else ""
        entries.append(
            Entry(
                rule,
                bucket,
                section,
                _option(node),
                span.file,
                span.line,
                span.col,
                _redacted(node, secret_macros),
                redact_text(message),
                redact_text(advice),
                target,
                where,
            )
        )
    notes = tuple(
        replace(f, message=redact_text(f.message), advice=redact_text(f.advice))
        for f in policy.findings
        if f.span.line == 0 or f.severity == "info"
    )
    return Report(config.path, tuple(config.files), tuple(entries), notes, _grade(entries))


# -- building blocks -------------------------------------------------------------


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


def _default_rule(node: Statement, bucket: str) -> str:
    kind = {
        Acl: "ACL",
        AclStatement: "ACL",
        AclCondition: "ACL",
        Driver: "DRIVER",
        NamedList: "LIST",
        MacroDefinition: "MACRO",
        RetryRule: "RETRY",
        RewriteRule: "REWRITE",
    }.get(type(node), "OPTION")
    return f"EXIM-{kind}-{bucket.upper()}"


def _default_message(bucket: str) -> str:
    return {
        "mapped": "carried over",
        "approximated": "carried over with a difference",
        "unmapped": "not migrated",
        "ignored": "not needed after the switch",
    }[bucket]


_CITE = re.compile(r"([\w.+-]+):(\d+)")


def _targets(files: dict[str, str]) -> dict[str, str]:
    """``configure:11`` → ``smtpd.conf:8``: the first line of the block whose comment cites it."""
    found: dict[str, str] = {}
    for name, text in files.items():
        pending: list[str] = []
        for number, line in enumerate(text.splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith("#"):
                if "not migrated" not in stripped:
                    pending += [f"{m.group(1)}:{m.group(2)}" for m in _CITE.finditer(stripped)]
                continue
            if stripped:
                inline = stripped.split("#", 1)[1] if "#" in stripped and '"' not in stripped.split("#", 1)[1] else ""
                pending += [f"{m.group(1)}:{m.group(2)}" for m in _CITE.finditer(inline)]
                for cite in pending:
                    found.setdefault(cite, f"{name}:{number}")
                pending = []
    return found


_SECTION_KEYWORDS = {"acl": "match ", "routers": "action ", "transports": "action ", "authenticators": "listen "}


def _section_targets(files: dict[str, str]) -> dict[str, str]:
    """Per section, the first smtpd.conf line of the kind its statements became."""
    first: dict[str, str] = {}
    for number, line in enumerate(files.get("smtpd.conf", "").splitlines(), 1):
        keyword = line[: line.find(" ") + 1]
        if keyword in ("match ", "action ", "listen "):
            first.setdefault(keyword, f"smtpd.conf:{number}")
    return {section: first.get(keyword, "") for section, keyword in _SECTION_KEYWORDS.items()}


def _grade(entries: list[Entry]) -> str:
    """A: migrate as is. B: review the approximations and unmapped items. C: manual rewrite needed."""
    problems = [e for e in entries if e.bucket in ("unmapped", "approximated")]
    if any(e.bucket == "unmapped" and (e.rule in HARD_RULES or HARD.search(e.source)) for e in entries):
        return "C"
    return "B" if problems else "A"


# -- formats ----------------------------------------------------------------------


def to_text(report: Report) -> str:
    """``file:line:col: bucket[RULE] message`` for everything that needs a look, then the summary."""
    lines = []
    for entry in _findings(report):
        lines.append(f"{entry.file}:{entry.line}:{entry.col}: {entry.bucket}[{entry.rule}] {entry.message}")
        if entry.target:
            lines.append(f"    became: {entry.target}")
        if entry.advice:
            lines.append(f"    advice: {entry.advice}")
    for note in report.notes:
        where = f"{note.span.file}:{note.span.line}:{note.span.col}" if note.span.line else note.span.file
        lines.append(f"{where}: {note.severity}[{note.rule}] {note.message}")
    lines.append(_summary(report))
    for section, counts in report.sections().items():
        lines.append(f"  {section:15} " + "  ".join(f"{k} {v}" for k, v in counts.items()))
    return "\n".join(lines) + "\n"


def _summary(report: Report) -> str:
    counts = report.counts()
    return (
        f"{sum(counts.values())} statements: {counts['mapped']} mapped, {counts['approximated']} approximated, "
        f"{counts['unmapped']} unmapped, {counts['ignored']} ignored; readiness grade {report.grade}"
    )


def _findings(report: Report) -> list[Entry]:
    order = {"unmapped": 0, "approximated": 1, "ignored": 2}
    seen: set[tuple[str, int, int, str]] = set()
    found = []
    for entry in sorted(
        (e for e in report.entries if e.bucket != "mapped" and not e.parent),
        key=lambda e: (order[e.bucket], e.file, e.line, e.col, e.rule),
    ):
        key = (entry.file, entry.line, entry.col, entry.rule)
        if key not in seen and entry.bucket != "ignored":
            seen.add(key)
            found.append(entry)
    return found


def to_json(report: Report) -> str:
    """The report for machines: schema_version, tool, input, summary, statements, notes."""
    data = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "exim2smtpd", "version": __version__},
        "input": {"files": [os.path.relpath(f) if os.path.isabs(f) else f for f in report.files]},
        "summary": {**report.counts(), "grade": report.grade, "sections": report.sections()},
        "statements": [asdict(e) for e in sorted(report.entries, key=lambda e: (e.file, e.line, e.col, e.rule))],
        "notes": [
            {"rule": n.rule, "severity": n.severity, "message": n.message, "file": n.span.file, "line": n.span.line}
            for n in report.notes
        ],
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def fingerprint(rule: str, source: str) -> str:
    """Stable across line shifts: the rule and the statement's own text."""
    return hashlib.sha256(f"{rule}\0{' '.join(source.split())}".encode()).hexdigest()[:32]


def to_sarif(report: Report) -> str:
    """SARIF 2.1.0: one run; unmapped as errors, approximated as warnings."""
    entries = [e for e in report.entries if e.bucket in ("unmapped", "approximated") and not e.parent]
    rules: dict[str, dict[str, object]] = {}
    results = []
    base = os.path.dirname(report.config_path)
    for entry in sorted(entries, key=lambda e: (e.file, e.line, e.col, e.rule)):
        level = "error" if entry.bucket == "unmapped" else "warning"
        rules.setdefault(
            entry.rule,
            {
                "id": entry.rule,
                "shortDescription": {"text": entry.message[:120]},
                "helpUri": README + "what-maps-and-what-does-not",
                "defaultConfiguration": {"level": level},
            },
        )
        results.append(
            {
                "ruleId": entry.rule,
                "level": level,
                "message": {"text": entry.message + (f" Advice: {entry.advice}" if entry.advice else "")},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": os.path.relpath(entry.file, base or ".")},
                            "region": {
                                "startLine": entry.line,
                                "startColumn": max(entry.col, 1),
                                "snippet": {"text": entry.source},
                            },
                        }
                    }
                ],
                "partialFingerprints": {"exim2smtpd/v1": fingerprint(entry.rule, entry.source)},
            }
        )
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "exim2smtpd",
                        "version": __version__,
                        "informationUri": README.rstrip("#"),
                        "rules": list(rules.values()),
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(sarif, indent=2, sort_keys=True) + "\n"


def print_rich(report: Report) -> None:
    """Tables grouped by section; colour only on a terminal, NO_COLOR honoured (stderr)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True, no_color="NO_COLOR" in os.environ or None, soft_wrap=True)
    styles = {"unmapped": "red", "approximated": "yellow", "ignored": "dim"}
    for section in report.sections():
        rows = [e for e in _findings(report) if e.section == section]
        if not rows:
            continue
        table = Table("where", "bucket", "rule", "what happened", title=section, title_justify="left")
        for entry in rows:
            table.add_row(
                f"{os.path.basename(entry.file)}:{entry.line}",
                entry.bucket,
                entry.rule,
                entry.message + (f"\nadvice: {entry.advice}" if entry.advice else ""),
                style=styles.get(entry.bucket, ""),
            )
        console.print(table)
    console.print(_summary(report))


def render(report: Report, fmt: str) -> str:
    """The report in one of the file formats."""
    return {"text": to_text, "json": to_json, "sarif": to_sarif}[fmt](report)
