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
from typing import NoReturn

from migrate.commands.convert import convert
from migrate.commands.diff import compare_files
from migrate.errors import MigrateError, os_reason
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
    """Compare, then look for findings that are new since the baseline (read first: a wrong file fails fast)."""
    known = read_baseline(baseline) if baseline else set()
    result = convert(configure, options or Options())
    files, secret_files, report = result.files, result.secret_files, result.report
    del result  # the tree and the policy: their memory serves reading the committed side back
    drift = compare_files(files, secret_files, Path(against))
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


class BaselineError(MigrateError):
    """The --baseline file is not a JSON report exim2smtpd wrote."""


# What every JSON report has held since schema version 1 (report.formats.to_json).
_REPORT_KEYS = ("schema_version", "tool", "statements")
_JSON_TYPES = {
    dict: "an object",
    list: "a list",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true or false",
}


def read_baseline(path: str) -> set[str]:
    """The fingerprints of a saved report's statements; refuse, naming the file, anything that is not one.

    A baseline that is silently empty would let every old finding through as
    new, or, worse, a wrong file would pass unnoticed: so its shape is checked.
    """

    def refuse(reason: str, where: str = "") -> NoReturn:
        raise BaselineError(f"{path}{where}: error: not a JSON report from exim2smtpd ({reason})")

    try:
        data = json.loads(Path(path).read_bytes())
    except OSError as exc:
        raise BaselineError(f"{path}: error: cannot read it: {os_reason(exc)}") from exc
    except json.JSONDecodeError as exc:
        refuse(f"not JSON: {exc.msg[0].lower()}{exc.msg[1:]}", f":{exc.lineno}:{exc.colno}")
    except UnicodeDecodeError as exc:
        refuse(f"not text: byte {exc.start + 1} is not UTF-8")
    if not isinstance(data, dict):
        refuse(f"the JSON is {_JSON_TYPES.get(type(data), 'null')}, where a report is an object")
    missing = [key for key in _REPORT_KEYS if key not in data]
    if missing:
        refuse("it has no " + ", no ".join(missing))
    if not isinstance(data["schema_version"], int) or isinstance(data["schema_version"], bool):
        refuse("its schema_version is not a number")
    tool = data["tool"].get("name") if isinstance(data["tool"], dict) else None
    if tool != "exim2smtpd":
        refuse(f"its tool is {tool!r}" if isinstance(tool, str) else "its tool has no name")
    statements = data["statements"]
    if not isinstance(statements, list):
        refuse("its statements are not a list")
    known = set()
    for number, entry in enumerate(statements, 1):
        if not (
            isinstance(entry, dict) and isinstance(entry.get("rule"), str) and isinstance(entry.get("source"), str)
        ):
            refuse(f"statement {number} has no rule and source")
        known.add(fingerprint(_current_id(entry["rule"]), entry["source"]))
    return known


def _current_id(rule_id: str) -> str:
    """A baseline written by an older release may name a rule by an id it has since replaced."""
    found = by_id(rule_id)
    return found.id if found is not None else rule_id
