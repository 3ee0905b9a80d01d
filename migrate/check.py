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

from migrate.convert import convert
from migrate.diff import compare
from migrate.report import fingerprint

LEVELS = {
    "never": (),
    "unmapped": ("unmapped",),
    "approximated": ("unmapped", "approximated"),
    "info": ("unmapped", "approximated", "ignored"),
}


@dataclass(frozen=True)
class CheckOutcome:
    """What to print and the exit status."""

    lines: tuple[str, ...]
    return_code: int


def run_check(
    configure: str,
    against: str,
    *,
    baseline: str | None = None,
    fail_on: str = "unmapped",
    defines: dict[str, str] | None = None,
    platform: str = "openbsd",
    greylist: str = "off",
    root: str = "/",
    debian: bool = False,
) -> CheckOutcome:
    """Compare, then look for findings that are new since the baseline."""
    result = convert(configure, defines=defines, platform=platform, greylist=greylist, root=root, debian=debian)
    drift = compare(result, Path(against))
    report = result.report
    known: set[str] = set()
    if baseline:
        data = json.loads(Path(baseline).read_text())
        known = {fingerprint(s["rule"], s["source"]) for s in data.get("statements", [])}
    failing = [e for e in report.entries if e.bucket in LEVELS[fail_on] and fingerprint(e.rule, e.source) not in known]
    lines = [f"drift: {sentence}" for sentence in drift.semantic]
    lines += [
        f"{e.file}:{e.line}:{e.col}: {e.bucket}[{e.rule}] {e.message}"
        + (" (new since the baseline)" if baseline else "")
        for e in failing
    ]
    code = 2 if drift.drifted or failing else 0
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
