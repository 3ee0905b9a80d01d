"""The report in its file formats: text, JSON and SARIF 2.1.0, and the summary convert and report print.

``summary_lines`` is the one summary: ``convert`` prints it after the files it
wrote, ``report --format text`` prints it with the per-section counts. Lost
services come first.
"""

from __future__ import annotations

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
    return [*service_lines(report), count_line(report), *finding_lines(report)]


def service_lines(report: Report) -> list[str]:
    """The services exim provided, lost ones first, each lost one with the steps that restore it."""
    if not report.services:
        return []
    lost = len(report.lost)
    lines = [
        f"services exim provided: {len(report.services) - lost} kept, {lost} lost"
        + (" -- do not switch over until the lost ones are restored" if lost else "")
    ]
    for state in sorted(report.services, key=lambda s: s.kept):
        origin = ", ".join(f"{os.path.basename(s.file)}:{s.line}" for s in state.service.origin[:3] if s.line)
        mark = "kept" if state.kept else "LOST"
        lines.append(f"  {mark} {state.service.title}: {state.why}" + (f" ({origin})" if origin else ""))
        lines += [f"    to restore: {step}" for step in state.steps]
    return lines


def count_line(report: Report) -> str:
    """How many statements landed in each bucket, and the grade with its reason."""
    counts = report.counts()
    return (
        f"{sum(counts.values())} statements: {counts['mapped']} mapped, {counts['approximated']} approximated, "
        f"{counts['unmapped']} unmapped, {counts['ignored']} ignored; "
        f"readiness grade {report.grade} ({GRADE_REASONS[report.grade]})"
    )


def finding_lines(report: Report) -> list[str]:
    """Every statement that needs a look, where it went, and what to do; then the notes."""
    lines = []
    for entry in report.findings():
        lines.append(entry.line())
        if entry.targets:
            lines.append(f"    became: {', '.join(entry.targets[:3])}")
        if entry.advice:
            lines.append(f"    advice: {entry.advice}")
    lines += [note.line() for note in report.notes]
    return lines


def grade_reason(report: Report, findings_at: str = "listed above") -> str:
    """Why this configuration got its grade, in its own terms: which services, how many statements."""
    if report.lost:
        titles = ", ".join(s.service.title for s in report.lost)
        return f"{len(report.lost)} service(s) exim provided would be lost: {titles}"
    whole = [e for e in report.findings() if e.parent is None]
    unmapped = sum(e.severity == "unmapped" for e in whole)
    approximated = sum(e.severity == "approximated" for e in whole)
    if report.grade == "C":
        return f"{unmapped} statement(s) were not migrated and need a rewrite by hand ({findings_at})"
    if report.grade == "B":
        return f"{approximated} approximated and {unmapped} unmapped statement(s) to review ({findings_at})"
    return "every statement carried over"


def closing_lines(report: Report, out_dir: str, given: str, platform_label: str) -> list[str]:
    """What convert says last: the services, the grade and why, and what to do next."""
    verify_root = "" if "--root " in given else " --root COPY-OF-THE-SERVER"
    steps = [
        *(["restore the lost services above by hand: do not switch over before"] if report.lost else []),
        f"read {os.path.join(out_dir, 'MIGRATION.md')}: the steps for {platform_label}, in order",
        f"exim2smtpd verify {given} {out_dir}{verify_root}   # the real exim and smtpd, same questions",
        f"exim2smtpd diff {given} --against {out_dir}   # after any change to the exim configuration",
    ]
    return [
        *service_lines(report),
        f"readiness grade {report.grade}: {grade_reason(report)}",
        "next:",
        *(f"  {number}. {step}" for number, step in enumerate(steps, 1)),
    ]


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
    import hashlib  # only the JSON and SARIF reports fingerprint findings

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
    """The report in one of the file formats (html: without the conversion's policy; see ``html.to_html``)."""
    if fmt == "html":
        from migrate.report.html import to_html  # it imports this module's grade reasons

        return to_html(report)
    return {"text": to_text, "json": to_json, "sarif": to_sarif}[fmt](report)
