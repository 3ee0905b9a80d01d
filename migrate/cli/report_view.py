"""The rich terminal view of the report: lost services first, then tables grouped by section."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from migrate.report import Report
from migrate.report.formats import grade_reason

if TYPE_CHECKING:
    from rich.console import Console


def print_rich(report: Report) -> None:
    """Tables grouped by section on standard output, through a pager on a terminal; NO_COLOR honoured.

    Cells wrap and never crop, so rule ids and addresses stay whole at any width.
    """
    from rich.console import Console

    console = Console(no_color="NO_COLOR" in os.environ or None)
    if not console.is_terminal:
        _print_tables(console, report)
        return
    os.environ.setdefault("LESS", "FRX")  # colours kept, and less exits when it fits on one screen
    with console.pager(styles=True):
        _print_tables(console, report)


def _print_tables(console: Console, report: Report) -> None:
    from rich.table import Table

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
        table = Table(title=section, title_justify="left")
        table.add_column("where", no_wrap=True)
        table.add_column("bucket", no_wrap=True)
        table.add_column("rule", overflow="fold")
        table.add_column("what happened", overflow="fold")
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
        f"readiness grade {report.grade}: {grade_reason(report)}"
    )
