"""Where the CLI's output goes and how it ends: stdout in every format, pipes, Ctrl-C, the assumed platform."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from migrate.options import default_platform
from tests.conftest import FIXTURES

ARTICLE = str(FIXTURES / "article-mx" / "configure")
LDAP = FIXTURES / "ldap-auth"


def _cli(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # type: ignore[call-overload,no-any-return]
        [sys.executable, "-m", "migrate", *args], capture_output=True, text=True, timeout=120, **kwargs
    )


@pytest.mark.parametrize("fmt", [None, "text", "json", "sarif", "rich"])
def test_report_goes_to_standard_output_in_every_format(fmt: str | None) -> None:
    result = _cli("report", ARTICLE, *(["--format", fmt] if fmt else []))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "EXIM-QUALIFY-DOMAIN" in result.stdout


def test_off_a_terminal_the_report_is_plain_text_and_nothing_is_cut() -> None:
    result = _cli("report", str(LDAP / "configure"), "--root", str(LDAP / "root"))
    assert result.returncode == 0, result.stderr
    assert "\x1b[" not in result.stdout and "┃" not in result.stdout and "…" not in result.stdout
    plain = _cli("report", str(LDAP / "configure"), "--root", str(LDAP / "root"), "--format", "text")
    assert result.stdout == plain.stdout
    # a long rule id and the whole restore step, on one line each
    restore = next(line for line in result.stdout.splitlines() if "to restore:" in line)
    assert restore.endswith("then give the submission listeners 'auth'")


def test_rich_tables_piped_fold_rule_ids_instead_of_cutting_them() -> None:
    result = _cli("report", ARTICLE, "--format", "rich")
    assert "…" not in result.stdout
    folded = "".join(line.split("│")[3].strip() for line in result.stdout.splitlines() if line.count("│") > 4)
    assert "EXIM-ACL-CONDITIONAL-ACCEPT" in folded


def test_on_a_terminal_long_output_goes_through_the_pager(tmp_path: Path) -> None:
    pager = tmp_path / "pager"
    seen = tmp_path / "seen"
    pager.write_text(f"#!/bin/sh\ncat > {seen}\n")
    pager.chmod(0o755)
    env = {**os.environ, "PAGER": str(pager), "LINES": "10", "COLUMNS": "100"}
    pid, descriptor = pty.fork()
    if pid == 0:  # the child: the CLI on a terminal
        os.execve(sys.executable, [sys.executable, "-m", "migrate", "report", ARTICLE, "--format", "text"], env)
    output = b""
    while True:
        try:
            chunk = os.read(descriptor, 65536)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, output
    assert "services exim provided" in seen.read_text()
    assert b"services exim provided" not in output  # the terminal saw the pager, not the text


def test_a_reader_that_leaves_does_not_change_the_exit_status() -> None:
    for args, status in ((("report", ARTICLE), 0), (("report", ARTICLE, "--fail-on", "approximated"), 2)):
        command = f"{sys.executable} -m migrate {' '.join(args)} | head -c 1 >/dev/null; exit ${{PIPESTATUS[0]}}"
        result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
        assert result.returncode == status, result.stderr
        assert "Broken pipe" not in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_exits_130_and_leaves_nothing_half_written(tmp_path: Path) -> None:
    big = tmp_path / "configure"
    domains = " : ".join(f"d{n}.example" for n in range(200_000))
    big.write_text(f"domainlist local_domains = {domains}\nbegin acl\nacl_check_rcpt:\n  accept\n")
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "migrate", "convert", str(big), "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, (stdout, stderr)
    assert stderr.strip().splitlines()[-1] == "interrupted"
    assert "Traceback" not in stderr
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize(
    ("release", "system", "expected"),
    [
        ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\nID=debian\n', "linux", "debian12"),
        ('VERSION_ID="13"\nID=debian\n', "linux", "debian"),
        ('PRETTY_NAME="Debian GNU/Linux forky/sid"\nID=debian\n', "linux", "linux"),
        ('ID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n', "linux", "openbsd"),
        ("", "openbsd7", "openbsd"),
        ("", "freebsd14", "freebsd"),
        (None, "linux", "openbsd"),
    ],
)
def test_the_default_platform_is_the_running_system(
    tmp_path: Path, release: str | None, system: str, expected: str
) -> None:
    path = tmp_path / "os-release"
    if release is not None:
        path.write_text(release)
    assert default_platform(str(path), system) == expected


def test_every_generated_file_names_version_input_and_platform(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _cli("convert", ARTICLE, "-o", str(out), "--platform", "freebsd", "-D", "UNUSED=secret-value")
    assert result.returncode == 0, result.stderr
    from migrate import __version__

    expected = f"generated by exim2smtpd {__version__} from {ARTICLE} -D UNUSED for FreeBSD (--platform freebsd)"
    for path in out.rglob("*"):
        if path.is_file():
            head = " ".join(path.read_text().splitlines()[:3])
            assert expected in head, path
            assert "secret-value" not in path.read_text()


def test_a_dash_reads_the_configuration_from_standard_input(tmp_path: Path) -> None:
    text = Path(ARTICLE).read_text()
    out = tmp_path / "out"
    result = _cli("convert", "-", "-o", str(out), "--platform", "openbsd", input=text)
    assert result.returncode == 0, result.stderr
    from migrate.commands.convert import convert

    expected = convert(ARTICLE, platform="openbsd").files["smtpd.conf"].splitlines()[2:]
    written = (out / "smtpd.conf").read_text().splitlines()[2:]
    assert [line.replace("<stdin>:", "configure:") for line in written] == expected
    assert "from standard input for OpenBSD 7.9" in (out / "smtpd.conf").read_text().splitlines()[0]
    assert "exim2smtpd diff - --against" in result.stdout
    bad = _cli("report", "-", input="primary_hostnam = x\n")
    assert bad.returncode == 1
    assert bad.stderr.startswith('<stdin>:1:1: error: main option "primary_hostnam" unknown')


def test_report_html_is_one_page_on_standard_output_with_the_matrix(tmp_path: Path) -> None:
    result = _cli("report", str(LDAP / "configure"), "--root", str(LDAP / "root"), "--format", "html")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("<!DOCTYPE html>") and "LOST" in result.stdout
    assert "from the conversion, not verified" in result.stdout
    wrong = tmp_path / "v.json"
    wrong.write_text("[1]")
    bad = _cli("report", ARTICLE, "--format", "html", "--verify-json", str(wrong))
    assert bad.returncode == 1 and bad.stderr.startswith(f"{wrong}: error: not the JSON output")


def test_verify_json_never_carries_a_login_password() -> None:
    from migrate.cli.verify_view import _without_passwords

    outcome = {"case": {"client": "192.0.2.1", "login": "ann", "password": "s3cret"}, "cases": [{"password": "x"}]}
    shown = _without_passwords(outcome)
    assert "s3cret" not in json.dumps(shown) and '"x"' not in json.dumps(shown)
    assert shown["case"]["login"] == "ann" and shown["case"]["password"] == "<hidden>"
    assert _without_passwords({"password": ""}) == {"password": ""}  # no login: nothing to hide


def test_the_verify_step_convert_suggests_for_debian_input_is_accepted(tmp_path: Path) -> None:
    """`verify --debian DIR OUTDIR`: the one argument is the output, as convert's next steps write it."""
    from migrate.cli import _source, cli, verify_arguments

    etc = tmp_path / "etc" / "exim4"
    etc.mkdir(parents=True)
    (etc / "update-exim4.conf.conf").write_text("dc_eximconfig_configtype='local'\ndc_use_split_config='false'\n")
    (etc / "exim4.conf.template").write_text(Path(ARTICLE).read_text())
    out = tmp_path / "out"
    result = _cli("convert", "--debian", str(etc), "-o", str(out), "--platform", "debian")
    assert result.returncode == 0, result.stderr
    [line] = [s for s in result.stdout.splitlines() if s.startswith("  2. exim2smtpd verify ")]
    words = line.split("#")[0].replace("COPY-OF-THE-SERVER", str(tmp_path)).split()[3:]
    with cli.commands["verify"].make_context("verify", words) as context:
        params = context.params
        configure, outdir = verify_arguments(params["configure"], params["outdir"], params["debian_dir"])
        assert _source(configure, params["debian_dir"]) == (str(etc), True)
        assert outdir == str(out)


def test_piped_verify_tables_fold_addresses_instead_of_cutting_them(capsys: pytest.CaptureFixture[str]) -> None:
    from migrate.cli.verify_view import print_outcomes
    from migrate.verify import DIFFERS, Outcome, VerifyResult
    from migrate.verify.cases import Case
    from migrate.verify.exim_side import Answer

    recipient = "a-rather-long-local-part-4711@hosted-customer-domain.example.net"
    case = Case("2001:db8:ffff:ffff:ffff:ffff:ffff:fffe", recipient, "outside", "hosted")
    outcome = Outcome(case, Answer(250, "ok", "virtual_user_router"), Answer(550, "no"), DIFFERS, "smtpd refuses")
    print_outcomes(VerifyResult((outcome,)))
    shown = capsys.readouterr().out
    assert "…" not in shown
    cells = "".join(line.split("│")[3].strip() for line in shown.splitlines() if line.count("│") == 7)
    assert recipient in cells
