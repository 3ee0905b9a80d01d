"""``exim2smtpd check``: the CI guard for committed configurations.

Passes when the committed smtpd.conf (and rspamd files) still implement the
exim policy — compared semantically, so comments and table names may differ —
and no finding at or above ``--fail-on`` appeared that a baseline report did
not already have.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from migrate.commands.convert import convert
from migrate.commands.diff import compare
from migrate.options import FAIL_ON, Options
from migrate.report.formats import fingerprint
from migrate.rules import by_id


@dataclass(frozen=True)
class CheckOutcome:
    """What to print and the exit status."""

    lines: tuple[str, ...]
    return_code: int


def run_check(
    configure: str,
    against: str,
    options: Options | None = None,
    *,
    baseline: str | None = None,
    fail_on: str = "unmapped",
) -> CheckOutcome:
    """Compare, then look for findings that are new since the baseline."""
    result = convert(configure, options or Options())
    drift = compare(result, Path(against))
    report = result.report
    known: set[str] = set()
    if baseline:
        data = json.loads(Path(baseline).read_text())
        known = {fingerprint(_current_id(s["rule"]), s["source"]) for s in data.get("statements", [])}
    failing = [
        e for e in report.statements if e.severity in FAIL_ON[fail_on] and fingerprint(e.rule.id, e.source) not in known
    ]
    lines = [f"drift: {sentence}" for sentence in drift.semantic]
    if FAIL_ON[fail_on]:
        lines += [f"lost service: {s.service.title}: {s.why}" for s in report.lost]
    lines += [e.line() + (" (new since the baseline)" if baseline else "") for e in failing]
    code = 2 if drift.drifted or failing or (FAIL_ON[fail_on] and report.lost) else 0
    lines.append(
        "check: "
        + (
            "the committed files implement the exim policy"
            if not drift.drifted
            else f"{len(drift.semantic)} semantic difference(s)"
        )
        + f"; {len(failing)} finding(s) at or above {fail_on}"
        + ("" if code else " — OK")
    )
    return CheckOutcome(tuple(lines), code)


def _current_id(rule_id: str) -> str:
    """A baseline written by an older release may name a rule by an id it has since replaced."""
    found = by_id(rule_id)
    return found.id if found is not None else rule_id
