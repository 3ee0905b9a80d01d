"""The rule catalogue: one registry, used by every finding, documented from itself."""

from __future__ import annotations

import re
import subprocess
import sys

from migrate import rules
from tests.conftest import FIXTURES, ROOT

SOURCES = [p for p in (ROOT / "migrate").rglob("*.py") if p.name != "rules.py"]


def test_docs_rules_md_is_the_generated_reference() -> None:
    committed = (ROOT / "docs" / "rules.md").read_text()
    assert committed == rules.reference_markdown(), "run: exim2smtpd rules --format markdown > docs/rules.md"


def test_rules_command_lists_every_rule_with_its_advice() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "migrate", "rules"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    for found in rules.CATALOGUE.values():
        if found.area == rules.ACCOUNTING:
            continue
        assert found.id in listed
        assert found.advice, f"{found.id} has no advice"
        assert found.advice in listed


def test_no_rule_id_is_written_as_a_string_outside_the_catalogue() -> None:
    ids = {r.id for r in rules.CATALOGUE.values()}
    for path in SOURCES:
        for literal in re.findall(r'"((?:EXIM|RSPAMD|DEBIAN|SMTPD)-[A-Z0-9-]+)"', path.read_text()):
            assert literal not in ids, f"{path}: rule {literal} as a string; use the rule object"


def test_every_rule_is_used_somewhere() -> None:
    code = "\n".join(p.read_text() for p in SOURCES)
    names = {name for name, value in vars(rules).items() if isinstance(value, rules.Rule) and name.isupper()}
    unused = sorted(n for n in names if not re.search(rf"\brules\.{n}\b", code))
    assert not unused, f"rules nobody reports: {unused}"


def test_former_ids_still_find_their_rule() -> None:
    assert rules.by_id("EXIM-ROUTER-CONDITION") is rules.ROUTER_PER_ADDRESS
    assert rules.by_id("EXIM-OPTION-TLS-VERIFY-HOSTS") is rules.OPTION_UNMAPPED
    assert rules.by_id("EXIM-REWRITERULE-REWRITERULE") is rules.REWRITE
    assert rules.by_id("EXIM-NO-SUCH-THING") is None


def test_every_rule_in_the_golden_reports_is_in_the_catalogue() -> None:
    for report in FIXTURES.glob("**/expected/**/report.json"):
        for rule_id in re.findall(r'"rule": "([^"]+)"', report.read_text()):
            assert rule_id in rules.CATALOGUE, (report, rule_id)


def test_a_baseline_written_with_former_rule_ids_still_counts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A report saved before the catalogue named a router finding EXIM-ROUTER-CONDITION: it is not 'new'."""
    import json

    from migrate.commands.check import run_check
    from migrate.commands.convert import convert, write_output
    from migrate.report.formats import to_json

    config = FIXTURES / "unrepresentable" / "configure"
    result = convert(str(config))
    write_output(result, str(tmp_path / "out"))
    data = json.loads(to_json(result.report))
    assert any(s["rule"] == "EXIM-ROUTER-PER-ADDRESS" for s in data["statements"])
    for statement in data["statements"]:
        if statement["rule"] == "EXIM-ROUTER-PER-ADDRESS":
            statement["rule"] = "EXIM-ROUTER-CONDITION"  # as the release before wrote it
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps(data))
    outcome = run_check(str(config), str(tmp_path / "out"), baseline=str(baseline), fail_on="unmapped")
    assert not [line for line in outcome.lines if "EXIM-ROUTER-PER-ADDRESS" in line]
