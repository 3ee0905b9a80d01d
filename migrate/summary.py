"""The short summary ``convert`` prints on stderr (the full report is a later stage)."""

from __future__ import annotations

from pathlib import Path

from migrate.model import Policy


def summary_lines(policy: Policy, written: list[Path]) -> list[str]:
    """One line per file written, the bucket counts, then every finding that needs a look."""
    counts = policy.counts()
    lines = [f"wrote {path}" for path in written]
    total = sum(counts.values())
    lines.append(
        f"{total} statements: {counts['mapped']} mapped, {counts['approximated']} approximated, "
        f"{counts['unmapped']} unmapped, {counts['ignored']} ignored"
    )
    for finding in policy.findings:
        if finding.severity not in ("unmapped", "approximated"):
            continue
        where = (
            f"{finding.span.file}:{finding.span.line}:{finding.span.col}" if finding.span.line else finding.span.file
        )
        lines.append(f"{where}: {finding.severity}[{finding.rule}] {finding.message}")
        if finding.advice:
            lines.append(f"    advice: {finding.advice}")
    return lines
