"""--debian: what we build from /etc/exim4 must be what Debian's update-exim4.conf writes.

Debian's own script from the unpacked exim4-config package is the oracle. It
reads absolute paths of the machine it runs on (/etc/mailname,
/etc/exim4/exim4.conf.localmacros, ``hostname --fqdn``); the test
points them into the same temporary tree we give ``--root``, and otherwise runs
the script untouched.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrate.cli import cli
from migrate.commands.convert import convert
from migrate.errors import ConfigError
from migrate.reader import format_like_exim
from migrate.reader.debian import read_debian, resolve
from tests.conftest import DEBIAN_DEFAULTS, debian_script

BASE = DEBIAN_DEFAULTS

CASES = {
    "internet": {
        "dc_eximconfig_configtype": "internet",
        "dc_other_hostnames": "Example.ORG; mail.example.org;example.com;",
        "dc_relay_domains": "relay.example.net;*.relay.example.net",
        "dc_relay_nets": "192.0.2.0/24;2001:db8::/32",
    },
    "internet-split": {
        "dc_eximconfig_configtype": "internet",
        "dc_use_split_config": "true",
        "dc_other_hostnames": "example.org",
        "dc_relay_nets": "192.0.2.0/24 : 198.51.100.7",
    },
    "smarthost": {
        "dc_eximconfig_configtype": "smarthost",
        "dc_smarthost": "SmartHost.example.net::587",
        "dc_relay_nets": "<; 192.0.2.0/24 ; 2001:db8::/32",
        "dc_local_interfaces": "127.0.0.1 ; ::1",
        "dc_hide_mailname": "true",
        "dc_readhost": "example.org",
    },
    "satellite": {
        "dc_eximconfig_configtype": "satellite",
        "dc_smarthost": "smarthost.example.net;backup.example.net",
        "dc_readhost": "example.org",
        "dc_hide_mailname": "true",
        "dc_local_interfaces": "127.0.0.1 ; ::1",
        "dc_minimaldns": "true",
    },
    "local-split": {
        "dc_eximconfig_configtype": "local",
        "dc_use_split_config": "true",
        "dc_other_hostnames": "vm",
        "dc_local_interfaces": "127.0.0.1",
        "dc_localdelivery": "maildir_home",
    },
    "none": {"dc_eximconfig_configtype": "none"},
    "none-split": {"dc_eximconfig_configtype": "none", "dc_use_split_config": "true"},
    "keepcomments": {"dc_eximconfig_configtype": "internet", "ue4c_keepcomments": "yes"},
}


def _debian_tree(exim, base: Path, values: dict[str, str], extra: str = "") -> Path:
    """A server's /etc under ``base``: Debian's package files, the debconf answers, a mailname."""
    etc = base / "etc"
    shutil.copytree(exim.root / "etc/exim4", etc / "exim4")
    settings = BASE | values
    text = "".join(f"{k}='{v}'\n" for k, v in settings.items()) + extra
    (etc / "exim4/update-exim4.conf.conf").write_text(text)
    (etc / "mailname").write_text("MX.Example.org  # the host\n")
    (etc / "hostname").write_text("mx.example.org\n")
    (base / "usr/sbin").mkdir(parents=True, exist_ok=True)  # the script says which exim4-config this is
    shutil.copy(exim.root / "usr/sbin/update-exim4.conf", base / "usr/sbin/update-exim4.conf")
    return etc / "exim4"


def _debian_script(exim, base: Path) -> Path:
    """Debian's update-exim4.conf with its host paths pointed under ``base``."""
    return debian_script(exim, base, base / "etc/mailname")


def _debian_output(exim, base: Path, confdir: Path) -> str:
    out = base / "generated.conf"
    result = subprocess.run(
        ["sh", str(_debian_script(exim, base)), "-d", str(confdir), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return out.read_text().replace(
        f"# dynamically by {base}/update-exim4.conf", "# dynamically by /usr/sbin/update-exim4.conf"
    )


def _local_customisations(confdir: Path) -> None:
    """What admins add: localmacros, a .rul override, parts run-parts skips, a file with no final newline."""
    (confdir / "exim4.conf.localmacros").write_text("MAIN_TLS_ENABLE = yes\nCHECK_RCPT_LOCAL_LOCALPARTS = ^[./|]")
    router = confdir / "conf.d/router"
    (router / "150_local_extra").write_text(
        "# a router of our own\nextra:\n  driver = redirect\n  data = :blackhole:\n"
    )
    (router / "150_local_extra.rul").write_text("extra_rul:\n  driver = redirect\n  data = :blackhole:")
    (router / "160_ignored.dpkg-old").write_text("this would not parse\n")
    (router / "170 with space").write_text("neither would this\n")


@pytest.mark.parametrize("case", sorted(CASES))
def test_generated_text_equals_update_exim4_conf(exim, tmp_path: Path, case: str) -> None:
    confdir = _debian_tree(exim, tmp_path, CASES[case], extra="MAIN_HARDCODE_PRIMARY_HOSTNAME='Mx.example.org'\n")
    _local_customisations(confdir)
    expected = _debian_output(exim, tmp_path, confdir)
    assert resolve(str(confdir), str(tmp_path)).text == expected


def test_resolved_config_equals_exims_view(exim, tmp_path: Path) -> None:
    """exim itself accepts what we read and sees the same statements we do."""
    confdir = _debian_tree(exim, tmp_path, CASES["internet"])
    generated = tmp_path / "generated.conf"
    generated.write_text(_debian_output(exim, tmp_path, confdir))
    generated.chmod(0o644)
    tmp_path.chmod(0o755)
    defines = {"SPOOLDIR": str(exim.spool)}
    seen = exim.run(generated, "-bP", "config", defines=defines)
    assert seen.returncode == 0, seen.stderr
    config = read_debian(str(confdir), defines, str(tmp_path))
    ours = format_like_exim(config.resolved_lines)  # exim's admin view, secrets included
    # exim names the file it read; ours is held in memory under another name.
    assert ours.replace(config.path, str(generated)) == seen.stdout


def test_statements_point_at_the_admins_files(exim, tmp_path: Path) -> None:
    confdir = _debian_tree(exim, tmp_path, CASES["internet-split"])
    config = read_debian(str(confdir), {}, str(tmp_path))
    relay = config.options.get("MAIN_RELAY_NETS")
    assert relay is None  # a macro, not an option
    macro = next(s for s in config.main if getattr(s, "name", "") == "MAIN_RELAY_NETS")
    assert macro.span.file == str(confdir / "update-exim4.conf.conf")
    assert macro.span.line == 6  # dc_relay_nets, in BASE's order
    acl = next(a for a in config.acls if a.name == "acl_check_rcpt")
    assert acl.span.file.startswith(str(confdir / "conf.d/acl/"))
    line = Path(acl.span.file).read_text().splitlines()[acl.span.line - 1]
    assert line.strip().startswith("acl_check_rcpt")


def test_default_exim4_ports_and_defines(exim, tmp_path: Path) -> None:
    confdir = _debian_tree(exim, tmp_path, CASES["internet"])
    (tmp_path / "etc/default").mkdir()
    (tmp_path / "etc/default/exim4").write_text(
        "QUEUERUNNER='combined'\nQUEUEINTERVAL='30m'\nCOMMONOPTIONS='-DMAIN_TLS_ENABLE=yes'\n"
        "SMTPLISTENEROPTIONS='-oX 465:25:587 -oP /run/exim4/exim.pid'\n"
    )
    result = convert(str(confdir), root=str(tmp_path), debian=True)
    assert ("MAIN_TLS_ENABLE", "yes") in result.config.defines
    ports = sorted(
        {
            line.split(" port ")[1].split()[0].replace("submission", "587")
            for line in result.files["smtpd.conf"].splitlines()
            if line.startswith("listen on") and " port " in line
        }
    )
    assert ports == ["25", "465", "587"]


def test_queue_only_daemon_listens_nowhere(exim, tmp_path: Path) -> None:
    confdir = _debian_tree(exim, tmp_path, CASES["internet"])
    (tmp_path / "etc/default").mkdir()
    (tmp_path / "etc/default/exim4").write_text("QUEUERUNNER='queueonly'\n")
    result = convert(str(confdir), root=str(tmp_path), debian=True)
    network = [
        line
        for line in result.files["smtpd.conf"].splitlines()
        if line.startswith("listen on") and "socket" not in line
    ]
    assert network == []
    assert any("QUEUERUNNER=queueonly" in d.message for d in result.config.diagnostics)


def test_cli_convert_debian(exim, tmp_path: Path) -> None:
    confdir = _debian_tree(exim, tmp_path, CASES["smarthost"])
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["convert", "--debian", str(confdir), "--root", str(tmp_path), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "smtpd.conf").read_text().count("listen on") >= 1


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("dc_relay_nets='unterminated\n", "cannot read this shell line"),
        ("rm -rf /\n", "not a plain VAR=value assignment"),
        ("dc_use_split_config='maybe'\n", "dc_use_split_config must be true or false"),
    ],
)
def test_bad_settings_are_located_errors(exim, tmp_path: Path, line: str, message: str) -> None:
    confdir = _debian_tree(exim, tmp_path, CASES["internet"], extra=line)
    with pytest.raises(ConfigError) as caught:
        resolve(str(confdir), str(tmp_path))
    diagnostic = caught.value.diagnostic
    assert message in diagnostic.message
    assert diagnostic.span.file.endswith("update-exim4.conf.conf")
    assert diagnostic.span.line == len(BASE) + 2


def test_not_a_debian_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"update-exim4\.conf\.conf"):
        resolve(str(tmp_path))
