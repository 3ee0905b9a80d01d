"""Passwords never reach what people read; smtpd gets them in a 0600 secrets table.

fixtures/secrets holds a secret in every place exim keeps one, each containing
"hunter2". Every output the CLI has is searched for it.
"""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrate.cli import cli
from migrate.commands.convert import convert, write_output
from migrate.errors import ConfigError
from migrate.reader import read_config
from migrate.verify import adapt as smtpd_check
from tests.conftest import FIXTURES, Corpus

SECRETS = FIXTURES / "secrets" / "configure"
MARK = "hunter2"


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.output


def test_no_output_shows_a_secret(tmp_path: Path) -> None:
    out, empty = tmp_path / "out", tmp_path / "empty"
    empty.mkdir()
    printed = [
        _run(
            "convert",
            str(SECRETS),
            "-o",
            str(out),
            "--report-json",
            str(tmp_path / "r.json"),
            "--report-sarif",
            str(tmp_path / "r.sarif"),
        ),
        *(_run("report", str(SECRETS), "--format", fmt) for fmt in ("text", "json", "sarif", "rich")),
        _run("parse", str(SECRETS)),
        _run("parse", str(SECRETS), "--json"),
        _run("parse", str(SECRETS), "--resolved"),
        _run("diff", str(SECRETS), "--against", str(empty)),
        _run("diff", str(SECRETS), "--against", str(out)),
        _run("check", str(SECRETS), "--against", str(empty)),
        _run("convert", str(SECRETS), "-o", str(out), "--dry-run"),
    ]
    for text in printed:
        assert MARK not in text
    for name in ("r.json", "r.sarif"):
        assert MARK not in (tmp_path / name).read_text()
    holders = {p.name for p in out.iterdir() if MARK in p.read_text()}
    assert holders == {"secrets", "local_domains_sql.conf"}  # the two files smtpd needs the passwords in
    for name in holders:
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600
    assert "install -m 0600 -o root secrets" in (out / "MIGRATION.md").read_text()


def test_the_report_says_where_the_password_went() -> None:
    result = convert(str(SECRETS))
    finding = next(f for f in result.policy.findings if f.rule.id == "EXIM-AUTH-CLIENT-CREDENTIALS")
    assert "secrets table" in finding.message and "0600" in finding.message
    conf = result.files["smtpd.conf"]
    assert 'relay host "smtp+tls://outbound_auth@smtp.provider.example:587" auth <secrets>' in conf
    assert result.files["secrets"] == f"outbound_auth relay@example.org:{MARK}-smarthost\n"


def test_a_syntax_error_on_a_secret_line_does_not_print_it(tmp_path: Path) -> None:
    config = tmp_path / "configure"
    config.write_text(f"hide mysql_servers {MARK}\n")
    with pytest.raises(ConfigError) as caught:
        read_config(str(config))
    assert MARK not in str(caught.value) and caught.value.diagnostic.span.line == 1


def test_a_macro_used_in_a_secret_is_a_secret(tmp_path: Path) -> None:
    config = tmp_path / "configure"
    config.write_text(
        f"SMARTHOST_PASSWORD = {MARK}-macro\n"
        "begin authenticators\n"
        "login:\n  driver = plaintext\n  public_name = LOGIN\n"
        "  client_send = : me@example.org : SMARTHOST_PASSWORD\n"
    )
    for args in (
        ["parse", str(config)],
        ["parse", str(config), "--json"],
        ["parse", str(config), "--resolved"],
        ["report", str(config), "--format", "json"],
    ):
        assert MARK not in _run(*args), args


@pytest.mark.parametrize(
    ("authenticator", "user", "password"),
    [
        (
            "  driver = plaintext\n  public_name = PLAIN\n  client_send = ^me@example.org^pw-plain\n",
            "me@example.org",
            "pw-plain",
        ),
        ("  driver = plaintext\n  public_name = LOGIN\n  client_send = : me : pw-login\n", "me", "pw-login"),
        (
            "  driver = cram_md5\n  public_name = CRAM-MD5\n  client_name = me\n  client_secret = pw-cram\n",
            "me",
            "pw-cram",
        ),
    ],
)
def test_smarthost_credentials_become_a_secrets_table(
    smtpd: str, tmp_path: Path, authenticator: str, user: str, password: str
) -> None:
    config = tmp_path / "configure"
    config.write_text(_smarthost_config("  hosts_try_auth = smtp.provider.example\n", authenticator))
    result = convert(str(config))
    assert result.files["secrets"] == f"outbound_auth {user}:{password}\n"
    check = smtpd_check.check(result.files["smtpd.conf"], tmp_path, result.files)
    assert check.returncode == 0, check.stderr


def test_no_credentials_where_exim_would_not_authenticate(tmp_path: Path) -> None:
    config = tmp_path / "configure"
    login = "  driver = plaintext\n  public_name = LOGIN\n  client_send = : me : pw\n"
    config.write_text(_smarthost_config("", login))  # no hosts_try_auth / hosts_require_auth
    result = convert(str(config))
    assert "secrets" not in result.files
    assert 'relay host "smtp://smtp.provider.example:587"' in result.files["smtpd.conf"]


def test_debian_passwd_client_feeds_the_secrets_table(smtpd: str, debian_corpus: Corpus, tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc/exim4").mkdir(parents=True)
    (root / "etc/exim4/passwd.client").write_text(
        "# host:user:password\nother.example.net:nobody:wrong\n*.example.net:relayuser:pw:with:colons\n"
    )
    result = convert(str(debian_corpus.files["smarthost"]), defines=debian_corpus.defines["smarthost"], root=str(root))
    assert result.files["secrets"] == "outbound_auth relayuser:pw:with:colons\n"
    assert "auth <secrets>" in result.files["smtpd.conf"]
    check = smtpd_check.check(result.files["smtpd.conf"], tmp_path, result.files)
    assert check.returncode == 0, check.stderr
    written = write_output(result, str(tmp_path / "out"))
    assert stat.S_IMODE(next(p for p in written if p.name == "secrets").stat().st_mode) == 0o600


def _smarthost_config(transport_auth: str, authenticator: str) -> str:
    return (
        "primary_hostname = host.example.org\n"
        "domainlist local_domains = @ : localhost\n"
        "acl_smtp_rcpt = acl_check_rcpt\n"
        "begin acl\nacl_check_rcpt:\n  accept hosts = :\n  require domains = +local_domains\n  accept\n"
        "begin routers\n"
        "smarthost:\n  driver = manualroute\n  domains = ! +local_domains\n  transport = smarthost_smtp\n"
        "  route_list = * smtp.provider.example::587 byname\n  no_more\n"
        "begin transports\n"
        f"smarthost_smtp:\n  driver = smtp\n{transport_auth}"
        "begin authenticators\n"
        f"client:\n{authenticator}"
    )


def test_secret_files_are_never_world_readable_even_with_force(tmp_path: Path) -> None:
    result = convert(str(SECRETS))
    out = tmp_path / "out"
    write_output(result, str(out))
    (out / "secrets").chmod(0o644)  # an admin's mistake in the old copy
    write_output(result, str(out), force=True)
    assert stat.S_IMODE((out / "secrets").stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "secrets.bak").stat().st_mode) == 0o600
    shutil.rmtree(out)
