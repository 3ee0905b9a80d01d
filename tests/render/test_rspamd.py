"""rspamd local.d files: accepted by the real rspamadm, named as rspamd's modules are."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from migrate.commands.convert import convert
from migrate.render import RSPAMD_FILES
from migrate.verify.system import inside
from tests.conftest import FIXTURES, system_root

CASES = [
    ("article-mx", "off"),
    ("content-filters", "off"),
    ("content-filters", "rspamd"),
    ("article-mx", "rspamd"),
    ("dkim-submission", "off"),
]


@pytest.fixture(scope="module")
def rspamd_root() -> Path:
    """rspamd 4 from the unstable system root (tools/build-roots.sh), never the host's."""
    root = system_root("7.9")
    if not (root / "usr/bin/rspamadm").exists():
        pytest.fail(f"{root} has no rspamadm: rebuild it with `make test-deps`")
    return root


@pytest.fixture(scope="module")
def rspamadm(rspamd_root: Path) -> list[str]:
    """The rspamadm command, run from its system root in a private mount namespace."""
    return inside(rspamd_root, ["rspamadm"])


def _write(tmp_path: Path, case: str, greylist: str) -> Path:
    files = convert(str(FIXTURES / case / "configure"), greylist=greylist).files
    for name, text in files.items():
        if name.startswith("rspamd/"):
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_text(text)
    # Offline, strict mode fails on the fuzzy servers' DNS names: switch fuzzy
    # off in this test copy only (never in what we ship).
    (tmp_path / "rspamd" / "local.d" / "fuzzy_check.conf").write_text("enabled = false;\n")
    return tmp_path / "rspamd"


def _configdump(rspamadm: list[str], confdir: Path, section: str) -> dict:
    """What rspamd made of one section, as JSON (configdump exits 0 even for unknown sections)."""
    result = subprocess.run(
        [*rspamadm, f"--var=LOCAL_CONFDIR={confdir}", "configdump", "-j", section],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return json.loads(result.stdout)


@pytest.mark.parametrize(("case", "greylist"), CASES)
def test_rspamadm_strict_configtest_accepts_generated_files(
    rspamadm: list[str], tmp_path: Path, case: str, greylist: str
) -> None:
    confdir = _write(tmp_path, case, greylist)
    result = subprocess.run(
        [*rspamadm, f"--var=LOCAL_CONFDIR={confdir}", "configtest", "-s"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "syntax OK" in result.stdout


def test_thresholds_reach_rspamd(rspamadm: list[str], tmp_path: Path) -> None:
    confdir = _write(tmp_path, "article-mx", "off")
    actions = _configdump(rspamadm, confdir, "actions")
    assert actions["reject"] == 10.0  # exim: ${if >{$spam_score_int}{100}} is 10.0 points
    assert actions.get("greylist") is None  # greylist = null: rspamd 3 drops the action, rspamd 4 shows it null


def test_rbl_rules_survive_rspamd(rspamadm: list[str], tmp_path: Path) -> None:
    confdir = _write(tmp_path, "content-filters", "off")
    rbls = _configdump(rspamadm, confdir, "rbl")["rbls"]
    assert rbls["EXIM_ZEN_SPAMHAUS_ORG"]["returncodes"]["EXIM_ZEN_SPAMHAUS_ORG"] == ["127.0.0.2", "127.0.0.3"]


def test_every_file_name_is_an_rspamd_module(rspamd_root: Path) -> None:
    installed = {p.stem for p in (rspamd_root / "etc/rspamd/modules.d").glob("*.conf")} | {"actions"}
    # and the top-level files that read their local.d namesake (settings.conf)
    installed |= {p.stem for p in (rspamd_root / "etc/rspamd").glob("*.conf") if f"local.d/{p.name}" in p.read_text()}
    assert installed, "rspamd's modules.d was not found"
    assert installed >= RSPAMD_FILES, RSPAMD_FILES - installed
    for case, greylist in CASES:
        names = [
            n
            for n in convert(str(FIXTURES / case / "configure"), greylist=greylist).files
            if n.startswith("rspamd/local.d/") and n.endswith(".conf")  # maps.d/*.map are data, not modules
        ]
        assert {Path(n).stem for n in names} <= installed


def test_signing_reaches_rspamd_as_exim_signed(rspamadm: list[str], tmp_path: Path) -> None:
    """sign_networks are exim's trusted networks plus the socket's loopback; the sign-only settings exist."""
    confdir = _write(tmp_path, "dkim-submission", "off")
    signing = _configdump(rspamadm, confdir, "dkim_signing")
    assert signing["sign_networks"] == ["127.0.0.1", "::1", "192.0.2.0/24"]
    assert signing["sign_authenticated"] is True and signing["sign_inbound"] is False and signing["sign_local"] is False
    assert signing["domain"]["example.org"]["selector"] == "s2026"
    settings = _configdump(rspamadm, confdir, "settings")
    assert settings["exim2smtpd-sign"]["apply"]["symbols_enabled"] == ["DKIM_SIGNED"]


def test_no_content_checks_means_no_rspamd(tmp_path: Path) -> None:
    files = convert(str(FIXTURES / "macros-conditionals" / "configure")).files
    assert not [name for name in files if name.startswith("rspamd/")]
    assert "filter" not in files["smtpd.conf"]


def test_deny_lists_become_multimap_rules(rspamadm: list[str], tmp_path: Path) -> None:
    confdir = _write(tmp_path, "content-filters", "off")
    rules = _configdump(rspamadm, confdir, "multimap")
    assert rules["EXIM_DENY_BLOCKED_SENDERS_DOMAINS"]["filter"] == "email:domain"
    # a host list is smtpd's: refused at RCPT by the reject rule ahead of the others, as exim's RCPT deny did
    assert "EXIM_DENY_BLOCKED_HOSTS" not in rules
    converted = convert(str(FIXTURES / "content-filters" / "configure"))
    assert converted.policy.table("denied_hosts").entries == ("198.51.100.66", "203.0.113.0/28")


def test_a_blocklist_deny_is_reported_not_silently_mapped(tmp_path: Path) -> None:
    """A deny for listed hosts that rspamd cannot take (a regex) must be reported as unmapped."""
    path = tmp_path / "configure"
    text = (FIXTURES / "content-filters" / "configure").read_text()
    path.write_text(
        text.replace(
            "hostlist   blocked_hosts = 198.51.100.66 : 203.0.113.0/28",
            "hostlist   blocked_hosts = ^.*\\\\.dynamic\\\\.example$",
        )
    )
    policy = convert(str(path)).policy
    line = next(n for n, t in enumerate(path.read_text().splitlines(), 1) if "deny    hosts = +blocked_hosts" in t)
    assert any(f.span.line == line and f.severity == "unmapped" for f in policy.findings)
