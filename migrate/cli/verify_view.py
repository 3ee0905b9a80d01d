"""Terminal and JSON output of ``exim2smtpd verify``; security regressions come first and loud."""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table

from migrate.lookups import StatusLine, status_line
from migrate.verify import DIFFERS, NOT_COMPARABLE, VerifyResult
from migrate.verify.exim_side import Answer


def to_json(result: VerifyResult) -> str:
    """Every outcome as JSON, with the counts and the exit status."""
    return json.dumps(
        {
            "counts": result.counts(),
            "return_code": result.return_code,
            "notes": list(result.notes),
            "outcomes": [_without_passwords(asdict(o)) for o in result.outcomes],
        },
        indent=2,
    )


def _without_passwords(value: Any) -> Any:
    """A case's password (from --cases) never reaches the JSON: asdict ignores repr=False."""
    if isinstance(value, dict):
        return {k: ("<hidden>" if k == "password" and v else _without_passwords(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_passwords(v) for v in value]
    return value


class ProgressLine:
    """How far verify has got, on one line of a terminal rewritten in place (``verify: asking exim 12/48``).

    verify is silent for seconds otherwise (smtpd answers a case at a time).
    The line is the one a big lookup file's read shows (``lookups.StatusLine``);
    ``clear`` blanks it before the outcomes or an error are printed.
    """

    def __init__(self, line: StatusLine, interval: float = 0.1) -> None:
        self.line = line
        self.interval = interval  # at most one rewrite per interval, and always the last case
        self.last = 0.0

    def __call__(self, who: str, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.last < self.interval:
            return
        self.last = now
        self.line(f"verify: asking {who} {done}/{total}")

    def clear(self) -> None:
        """Blank the line (nothing when nothing was shown)."""
        self.line("")


def progress_line(stream: TextIO) -> ProgressLine | None:
    """A progress line on ``stream`` when it is a terminal; None (nothing shown) when piped or redirected."""
    line = status_line(stream)
    return ProgressLine(line) if line is not None else None


def print_outcomes(result: VerifyResult, *, show_all: bool = False) -> None:
    """Regressions first, then differences; not-comparable cases grouped by reason (all with ``show_all``)."""
    console = Console(no_color="NO_COLOR" in os.environ or None, soft_wrap=True)
    regressions = [o for o in result.outcomes if o.regression]
    if regressions:
        console.print(
            f"[bold red]SECURITY REGRESSION: smtpd accepts {len(regressions)} case(s) exim refused[/bold red]"
        )
    shown = [o for o in result.outcomes if show_all or o.verdict == DIFFERS]
    if shown:
        table = Table()  # cells fold at any width: an address or a router name is never cut
        for heading in ("verdict", "client", "recipient", "exim", "smtpd", "why"):
            table.add_column(heading, overflow="fold")
        for outcome in shown:
            style = "bold red" if outcome.regression else "red" if outcome.verdict == DIFFERS else ""
            client = outcome.case.client + (" (auth)" if outcome.case.authenticated else "")
            table.add_row(
                outcome.verdict,
                client,
                outcome.case.recipient,
                _answer(outcome.exim),
                _answer(outcome.smtpd),
                outcome.reason,
                style=style,
            )
        console.print(table)
    if not show_all:
        reasons: dict[str, int] = {}
        for outcome in result.outcomes:
            if outcome.verdict == NOT_COMPARABLE:
                reasons[outcome.reason] = reasons.get(outcome.reason, 0) + 1
        for reason, count in sorted(reasons.items(), key=lambda item: -item[1]):
            console.print(f"not comparable ({count}): {reason}")
    for note in result.notes:
        console.print(f"note: {note}")
    counts = result.counts()
    console.print(f"{counts['same']} same, {counts['differs']} differ, {counts['not comparable']} not comparable")


def _answer(answer: Answer) -> str:
    code = "-" if answer.code is None else str(answer.code)
    return f"{code} {answer.route}" if answer.route else code
