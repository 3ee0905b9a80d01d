"""The rich terminal view of the report: lost services first, then tables grouped by section."""

from __future__ import annotations

import os

from migrate.report import Report
from migrate.report.formats import GRADE_REASONS


def print_rich(report: Report) -> None:
    """Tables grouped by section; colour only on a terminal, NO_COLOR honoured (stderr)."""
    from rich.console import Console
    from rich.table import Table

    console = Console(stderr=True, no_color="NO_COLOR" in os.environ or None, soft_wrap=True)
    if report.lost:
        table = Table("service exim provided", "why it is lost", title="LOST SERVICES", title_justify="left")
        for state in report.lost:
            table.add_row(state.service.title, state.why, style="bold red")
        console.print(table)
    styles = {"unmapped": "red", "approximated": "yellow", "ignored": "dim"}
    findings = report.findings()
    for section in report.sections():
        rows = [e for e in findings if e.section == section]
        if not rows:
            continue
        table = Table("where", "bucket", "rule", "what happened", title=section, title_justify="left")
        for entry in rows:
            table.add_row(
                f"{os.path.basename(entry.span.file)}:{entry.span.line}",
                entry.severity,
                entry.rule.id,
                entry.message + (f"\nadvice: {entry.advice}" if entry.advice else ""),
                style=styles.get(entry.severity, ""),
            )
        console.print(table)
    counts = report.counts()
    console.print(
        f"{sum(counts.values())} statements: {counts['mapped']} mapped, {counts['approximated']} approximated, "
        f"{counts['unmapped']} unmapped, {counts['ignored']} ignored; "
        f"readiness grade {report.grade} ({GRADE_REASONS[report.grade]})"
    )
