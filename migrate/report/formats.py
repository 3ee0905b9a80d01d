"""The report in its file formats: text, JSON and SARIF 2.1.0, and the summary convert and report print.

``summary_lines`` is the one summary: ``convert`` prints it after the files it
wrote, ``report --format text`` prints it with the per-section counts. Lost
services come first.
"""

from __future__ import annotations

import hashlib
import json
import os

from migrate import __version__, rules
from migrate.errors import Diagnostic
from migrate.report import SCHEMA_VERSION, Report

README = "https://github.com/exim2smtpd/exim2smtpd#"
GRADE_REASONS = {
    "A": "migrates as is",
    "B": "review the approximated and unmapped statements",
    "C": "a service exim provided is lost, or a statement needs a rewrite by hand",
}


def summary_lines(report: Report) -> list[str]:
    """Lost services, the counts and the grade, then every statement that needs a look."""
    lines = []
    if report.services:
        lost = len(report.lost)
        lines.append(
            f"services exim provided: {len(report.services) - lost} kept, {lost} lost"
            + (" -- do not switch over until the lost ones are restored" if lost else "")
        )
    for state in sorted(report.services, key=lambda s: s.kept):
        origin = ", ".join(f"{os.path.basename(s.file)}:{s.line}" for s in state.service.origin[:3] if s.line)
        mark = "kept" if state.kept else "LOST"
        lines.append(f"  {mark} {state.service.title}: {state.why}" + (f" ({origin})" if origin else ""))
        lines += [f"    to restore: {step}" for step in state.steps]
    counts = report.counts()
    lines.append(
        f"{sum(counts.values())} statements: {counts['mapped']} mapped, {counts['approximated']} approximated, "
        f"{counts['unmapped']} unmapped, {counts['ignored']} ignored; "
        f"readiness grade {report.grade} ({GRADE_REASONS[report.grade]})"
    )
    for entry in report.findings():
        lines.append(entry.line())
        if entry.targets:
            lines.append(f"    became: {', '.join(entry.targets[:3])}")
        if entry.advice:
            lines.append(f"    advice: {entry.advice}")
    for note in report.notes:
        lines.append(note.line())
    return lines


def to_text(report: Report) -> str:
    """The summary, then the counts per section."""
    lines = summary_lines(report)
    for section, counts in report.sections().items():
        lines.append(f"  {section:15} " + "  ".join(f"{k} {v}" for k, v in counts.items()))
    return "\n".join(lines) + "\n"


def statement_dict(entry: Diagnostic) -> dict[str, object]:
    """One statement's row in the JSON report."""
    parent = entry.parent
    return {
        "rule": entry.rule.id,
        "bucket": entry.severity,
        "section": entry.section,
        "option": entry.option,
        "file": entry.span.file,
        "line": entry.span.line,
        "col": entry.span.col,
        "source": entry.source,
        "message": entry.message,
        "advice": entry.advice,
        "target": entry.targets[0] if entry.targets else "",
        "targets": list(entry.targets),
        "parent": f"{parent.file}:{parent.line}:{parent.col}" if parent is not None else "",
    }


def to_json(report: Report) -> str:
    """The report for machines: schema_version, tool, input, summary, services, statements, notes."""
    data = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "exim2smtpd", "version": __version__},
        "input": {"files": [os.path.relpath(f) if os.path.isabs(f) else f for f in report.files]},
        "summary": {
            **report.counts(),
            "grade": report.grade,
            "sections": report.sections(),
            "lost_services": [s.service.name for s in report.lost],
        },
        "services": [s.to_dict() for s in report.services],
        "statements": [
            statement_dict(e)
            for e in sorted(report.entries, key=lambda e: (e.span.file, e.span.line, e.span.col, e.rule.id))
        ],
        "notes": [
            {"rule": n.rule.id, "severity": n.severity, "message": n.message, "file": n.span.file, "line": n.span.line}
            for n in report.notes
        ],
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


def fingerprint(rule: str, source: str) -> str:
    """Stable across line shifts: the rule and the statement's own text."""
    return hashlib.sha256(f"{rule}\0{' '.join(source.split())}".encode()).hexdigest()[:32]


def _level(bucket: str) -> str:
    return {"unmapped": "error", "error": "error", "approximated": "warning", "warning": "warning"}.get(bucket, "note")


def sarif_rule(rule: rules.Rule) -> dict[str, object]:
    """A rule's SARIF metadata, from the catalogue."""
    return {
        "id": rule.id,
        "shortDescription": {"text": rule.summary},
        "help": {"text": rule.advice or rule.summary},
        "helpUri": README + "what-maps-and-what-does-not",
        "defaultConfiguration": {"level": _level(rule.bucket)},
        "properties": {"area": rule.area},
    }


def to_sarif(report: Report) -> str:
    """SARIF 2.1.0: one run; unmapped statements and lost services as errors, approximated as warnings."""
    entries = list(report.findings())
    used: dict[str, rules.Rule] = {}
    results = []
    base = os.path.dirname(report.config_path)
    for state in report.lost:
        used[rules.SERVICE_LOST.id] = rules.SERVICE_LOST
        where = state.service.origin[0] if state.service.origin else None
        results.append(
            {
                "ruleId": rules.SERVICE_LOST.id,
                "level": "error",
                "message": {"text": f"lost service: {state.service.title}: {state.why}"},
                "locations": [
                    _location(where.file if where else report.config_path, where.line if where else 1, 1, "", base)
                ],
                "partialFingerprints": {"exim2smtpd/v1": fingerprint(rules.SERVICE_LOST.id, state.service.title)},
            }
        )
    for entry in sorted(entries, key=lambda e: (e.span.file, e.span.line, e.span.col, e.rule.id)):
        used[entry.rule.id] = entry.rule
        results.append(
            {
                "ruleId": entry.rule.id,
                "level": _level(entry.severity),
                "message": {"text": entry.message + (f" Advice: {entry.advice}" if entry.advice else "")},
                "locations": [_location(entry.span.file, entry.span.line, entry.span.col, entry.source, base)],
                "partialFingerprints": {"exim2smtpd/v1": fingerprint(entry.rule.id, entry.source)},
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
                        "rules": [sarif_rule(r) for _, r in sorted(used.items())],
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(sarif, indent=2, sort_keys=True) + "\n"


def _location(file: str, line: int, col: int, snippet: str, base: str) -> dict[str, object]:
    region: dict[str, object] = {"startLine": max(line, 1), "startColumn": max(col, 1)}
    if snippet:
        region["snippet"] = {"text": snippet}
    return {"physicalLocation": {"artifactLocation": {"uri": os.path.relpath(file, base or ".")}, "region": region}}


def render(report: Report, fmt: str) -> str:
    """The report in one of the file formats."""
    return {"text": to_text, "json": to_json, "sarif": to_sarif}[fmt](report)
