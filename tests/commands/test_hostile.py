"""Hostile input: paths that leave --root, symlink loops, include cycles, commands in expansions."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrate.cli import cli
from migrate.commands.convert import convert
from migrate.errors import ConfigError
from migrate.verify import verify
from migrate.verify.exim_side import SideError
from tests.conftest import Exim

BASE = (
    "primary_hostname = mx.example.org\n"
    "domainlist local_domains = @ : localhost{extra}\n"
    "acl_smtp_rcpt = acl_check_rcpt\n"
    "begin acl\nacl_check_rcpt:\n  accept hosts = :\n  require domains = +local_domains\n  accept\n"
)


def _tree(tmp_path: Path, configure: str) -> tuple[Path, Path]:
    root = tmp_path / "root"
    (root / "etc/exim").mkdir(parents=True)
    config = tmp_path / "configure"
    config.write_text(configure)
    return config, root


def test_absolute_includes_are_read_under_root(tmp_path: Path) -> None:
    config, root = _tree(tmp_path, ".include /etc/exim/main.conf\n" + BASE.format(extra=""))
    (root / "etc/exim/main.conf").write_text("qualify_domain = example.org\n")
    result = convert(str(config), root=str(root))
    assert str(root / "etc/exim/main.conf") in result.config.files


def test_an_include_may_not_leave_root_through_a_symlink(tmp_path: Path) -> None:
    config, root = _tree(tmp_path, ".include /etc/exim/escape\n" + BASE.format(extra=""))
    outside = tmp_path / "outside.conf"
    outside.write_text("qualify_domain = stolen.example\n")
    (root / "etc/exim/escape").symlink_to(outside)
    with pytest.raises(ConfigError) as caught:
        convert(str(config), root=str(root))
    diagnostic = caught.value.diagnostic
    assert diagnostic.rule.id == "EXIM-READ-INCLUDE-ROOT" and "outside --root" in diagnostic.message
    assert (diagnostic.span.file, diagnostic.span.line) == (str(config), 1)


def test_a_relative_include_may_not_leave_root(tmp_path: Path) -> None:
    _, root = _tree(tmp_path, BASE.format(extra=""))
    (root / "etc/exim/configure").write_text(".include ../../../outside.conf\n" + BASE.format(extra=""))
    (tmp_path / "outside.conf").write_text("qualify_domain = stolen.example\n")
    with pytest.raises(ConfigError, match="outside --root"):
        convert(str(root / "etc/exim/configure"), root=str(root))


def test_a_lookup_file_may_not_leave_root(tmp_path: Path) -> None:
    config, root = _tree(tmp_path, BASE.format(extra=" : lsearch;/etc/exim/domains"))
    secret = tmp_path / "outside-domains"
    secret.write_text("stolen.example\n")
    (root / "etc/exim/domains").symlink_to(secret)
    result = convert(str(config), root=str(root))
    assert "stolen.example" not in "".join(result.files.values())
    finding = next(f for f in result.policy.findings if f.rule.id == "EXIM-LIST-ITEMS")
    assert "outside --root" in finding.message and finding.severity == "unmapped"


def test_symlink_loops_are_located_errors_not_hangs(tmp_path: Path) -> None:
    config, root = _tree(tmp_path, ".include /etc/exim/loop\n" + BASE.format(extra=" : lsearch;/etc/exim/loop"))
    os.symlink("loop", root / "etc/exim/loop")
    with pytest.raises(ConfigError) as caught:
        convert(str(config), root=str(root))
    assert caught.value.diagnostic.span.line == 1
    config.write_text(BASE.format(extra=" : lsearch;/etc/exim/loop"))
    result = convert(str(config), root=str(root))  # a looping lookup file is reported, not followed
    assert any("loop" in f.message for f in result.policy.findings if f.rule.id == "EXIM-LIST-ITEMS")


def test_include_cycles_are_located_errors(tmp_path: Path) -> None:
    config, root = _tree(tmp_path, ".include /etc/exim/a\n" + BASE.format(extra=""))
    (root / "etc/exim/a").write_text(".include /etc/exim/b\n")
    (root / "etc/exim/b").write_text(".include /etc/exim/a\n")
    with pytest.raises(ConfigError, match="include loop"):
        convert(str(config), root=str(root))


COMMANDS = (
    "primary_hostname = ${run{/bin/touch {marker}-main}}\n"
    "domainlist local_domains = @ : ${perl{touch}{{marker}-perl}}\n"
    "acl_smtp_rcpt = acl_check_rcpt\n"
    "begin acl\nacl_check_rcpt:\n"
    "  deny condition = ${run{/bin/touch {marker}-acl}{yes}{no}}\n"
    "  warn message = ${readsocket{/tmp/{marker}.sock}{x}}\n"
    "  accept\n"
    "begin routers\nr:\n  driver = redirect\n  data = ${run{/bin/touch {marker}-router}}\n"
)


def test_commands_in_expansions_are_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    config = tmp_path / "configure"
    config.write_text(COMMANDS.replace("{marker}", str(marker)))
    out = tmp_path / "out"
    for args in (
        ["parse", str(config)],
        ["parse", str(config), "--json"],
        ["parse", str(config), "--resolved"],
        ["report", str(config), "--format", "text"],
        ["convert", str(config), "-o", str(out)],
        ["diff", str(config), "--against", str(out)],
    ):
        CliRunner().invoke(cli, args)
    assert not list(tmp_path.glob("ran*")), "a command in the configuration was executed"
    result = convert(str(config))
    assert result.report.grade == "C"  # commands need a rewrite by hand


@pytest.mark.exim
def test_verify_never_makes_exim_run_commands(tmp_path: Path, exim: Exim, smtpd: str, namespaces: None) -> None:
    """exim is asked with every command expansion failing, then giving 'yes': none of them is ever run."""
    marks = Path(tempfile.mkdtemp(prefix="exim2smtpd-marks-"))  # where exim's own user could write, had it run one
    marks.chmod(0o777)
    try:
        config = tmp_path / "configure"
        config.write_text(COMMANDS.replace("{marker}", str(marks / "ran")))
        with contextlib.suppress(SideError):  # exim may refuse the copy (primary_hostname forced to fail)
            verify(str(config), exim=str(exim.binary), smtpd=smtpd)
        assert not list(marks.iterdir())
    finally:
        shutil.rmtree(marks, ignore_errors=True)


def test_a_relative_include_beside_the_given_configure_is_fine(tmp_path: Path) -> None:
    config, root = _tree(tmp_path, ".include lists.conf\n" + BASE.format(extra=""))
    (tmp_path / "lists.conf").write_text("qualify_domain = example.org\n")
    result = convert(str(config), root=str(root))
    assert str(tmp_path / "lists.conf") in result.config.files


def test_bytes_that_are_not_utf8_survive_into_the_output(tmp_path: Path) -> None:
    """Found by the fuzzer: a Latin-1 byte in a comment crashed writing smtpd.conf."""
    config = tmp_path / "configure"
    routers = "begin routers\nlocaluser:\n  driver = accept\n  domains = +local_domains\n  transport = t\n"
    transports = "begin transports\nt:\n  driver = appendfile\n  file = /var/mail/$local_part_data\n"
    config.write_bytes((BASE.format(extra=" : caf\xe9.example") + routers + transports).encode("latin-1"))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["convert", str(config), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert b"caf\xe9.example" in (out / "smtpd.conf").read_bytes()
    report = CliRunner().invoke(cli, ["report", str(config), "--format", "text"])
    assert report.exit_code == 0, report.output
