"""Shared test fixtures: the real exim, and Debian's configurations made at test time.

Nothing of Debian's is committed: the corpus is generated from the unpacked
exim4-config package with Debian's own update-exim4.conf on every run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from migrate.verify.system import ENVIRONMENT

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
IN_CI = os.environ.get("CI", "").lower() == "true"

# What debconf writes to update-exim4.conf.conf when every question is left at its default.
DEBIAN_DEFAULTS = {
    "dc_other_hostnames": "",
    "dc_local_interfaces": "",
    "dc_readhost": "",
    "dc_relay_domains": "",
    "dc_minimaldns": "false",
    "dc_relay_nets": "",
    "dc_smarthost": "",
    "CFILEMODE": "644",
    "dc_use_split_config": "false",
    "dc_hide_mailname": "",
    "dc_mailname_in_oh": "true",
    "dc_localdelivery": "mail_spool",
}
DEBIAN_CONFIGTYPES = {
    "internet": {
        "dc_other_hostnames": "example.org;mail.example.org;example.com",
        "dc_relay_domains": "relay.example.net;*.relay.example.net",
        "dc_relay_nets": "192.0.2.0/24;2001:db8::/32",
    },
    "smarthost": {
        "dc_smarthost": "smarthost.example.net::587",
        "dc_relay_nets": "192.0.2.0/24",
        "dc_local_interfaces": "127.0.0.1 ; ::1",
    },
    "satellite": {
        "dc_smarthost": "smarthost.example.net",
        "dc_readhost": "example.org",
        "dc_hide_mailname": "true",
        "dc_local_interfaces": "127.0.0.1 ; ::1",
    },
    "local": {"dc_other_hostnames": "vm", "dc_local_interfaces": "127.0.0.1 ; ::1"},
}


@dataclass
class Exim:
    """The real exim binary, asked questions the way the reference says."""

    binary: Path
    root: Path
    spool: Path

    def run(self, config: Path, *args: str, defines: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run exim on a config; -D definitions are passed the same way we take them."""
        cmd = [str(self.binary), "-C", str(config)]
        cmd += [f"-D{k}={v}" for k, v in (defines or {}).items()]
        return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=60)

    def error(self, config: Path) -> str:
        """exim's own -bV complaint about a config ('' when it accepts it)."""
        result = self.run(config, "-bV")
        if result.returncode == 0:
            return ""
        lines = [line.strip() for line in result.stderr.splitlines() if "configuration error" not in line]
        return " ".join(line for line in lines if line)


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--update-golden`` rewrites fixtures/*/expected; review the diff before committing."""
    parser.addoption("--update-golden", action="store_true", help="rewrite the golden files")


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    """Whether this run rewrites golden files instead of comparing with them."""
    return bool(request.config.getoption("--update-golden"))


def _missing(what: str) -> None:
    if IN_CI:
        pytest.fail(f"{what} is missing; under CI=true that is a failure (run `make test-deps`)")
    pytest.skip(f"{what} is missing (run `make test-deps`)")  # only outside CI: CI=true fails above


@pytest.fixture(scope="session")
def exim() -> Iterator[Exim]:
    """exim 4.100 from the unstable system root, run there by tools/exim-in-root.sh."""
    root = Path(os.environ.get("EXIM_ROOT", ROOTS / "unstable" / "opt" / "exim4"))
    binary = Path(os.environ.get("EXIM", ROOT / "tools" / "exim-in-root.sh"))
    if not (root / "usr/sbin/exim4").exists():
        _missing(f"exim ({root}/usr/sbin/exim4)")
    # exim -bh works as its own user and writes to the spool, so the spool sits
    # where that user (the root's Debian-exim) can reach it (pytest's own tmp tree is root-only).
    spool = Path(tempfile.mkdtemp(prefix="exim2smtpd-spool-"))
    if os.geteuid() == 0:
        os.chown(spool, *_exim_ids(ROOTS / "unstable"))
    yield Exim(binary, root, spool)
    shutil.rmtree(spool, ignore_errors=True)


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temporary directory exim's user and the database servers can read (pytest's own tree is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="exim2smtpd-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def readable(tree: Path) -> None:
    """Everything under ``tree`` readable by other users, as a copy of the server's files would be for exim."""
    for path in [tree, *tree.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def _exim_ids(system: Path) -> tuple[int, int]:
    """Debian-exim's uid and gid in that root's /etc/passwd (not the host's: exim runs with the root's)."""
    for line in (system / "etc" / "passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == "Debian-exim":
            return int(fields[2]), int(fields[3])
    raise LookupError(f"no Debian-exim in {system}/etc/passwd")


# The system roots `make test-deps` builds (tools/build-roots.sh): real daemons, never the host's.
ROOTS = Path(os.environ.get("EXIM2SMTPD_ROOTS", ROOT / ".cache" / "roots"))
SYSTEMS = {"7.9": "unstable", "7.6": "trixie", "6.8": "bookworm"}


def system_root(version: str) -> Path:
    """The root holding OpenSMTPD ``version``; a missing one fails under CI."""
    root = ROOTS / SYSTEMS[version]
    if not (root / "usr/sbin/smtpd").exists():
        _missing(f"the OpenSMTPD {version} system root ({root})")
    return root


@pytest.fixture(scope="session")
def smtpd() -> Iterator[str]:
    """smtpd as verify and the probes run it: OpenSMTPD 7.9 from the unstable root, in private namespaces.

    The harness's environment names the root (migrate.verify.system), so every
    `smtpd -n` check and every verify run uses it and never the host's smtpd.
    """
    root = system_root("7.9")
    if shutil.which("openssl") is None:
        _missing("openssl")
    saved = os.environ.get(ENVIRONMENT)
    os.environ[ENVIRONMENT] = str(root)
    yield "/usr/sbin/smtpd"
    if saved is None:
        os.environ.pop(ENVIRONMENT, None)
    else:
        os.environ[ENVIRONMENT] = saved


@dataclass
class Corpus:
    """Debian's generated configs plus the package's template and example."""

    files: dict[str, Path] = field(default_factory=dict)
    defines: dict[str, dict[str, str]] = field(default_factory=dict)


def debian_script(exim: Exim, base: Path, mailname: Path) -> Path:
    """Debian's update-exim4.conf reading its host files under ``base``: nothing of this machine's /etc
    (no /etc/mailname, no Debian-exim group: the tests run on a machine without exim)."""
    text = (exim.root / "usr/sbin/update-exim4.conf").read_text()
    for old, new in (
        ("< /etc/mailname", f"< {mailname}"),
        ('-e "/etc/exim4/exim4.conf.localmacros"', f'-e "{base}/etc/exim4/exim4.conf.localmacros"'),
        ('LOCALMACROS="/etc/exim4/exim4.conf.localmacros"', f'LOCALMACROS="{base}/etc/exim4/exim4.conf.localmacros"'),
        ("hostname --fqdn", f"cat {base}/etc/hostname"),
        ("chown root:Debian-exim", ": chown"),
    ):
        assert old in text, f"Debian's script changed: {old!r} not found"
        text = text.replace(old, new)
    script = base / "update-exim4.conf"
    script.write_text(text)
    return script


def _generate(exim: Exim, workdir: Path, name: str, values: dict[str, str], split: bool) -> Path:
    conf = workdir / f"conf-{name}{'-split' if split else ''}"
    shutil.copytree(exim.root / "etc/exim4", conf)
    settings = (
        DEBIAN_DEFAULTS
        | {"dc_eximconfig_configtype": name, "dc_use_split_config": "true" if split else "false"}
        | values
    )
    (conf / "update-exim4.conf.conf").write_text("".join(f"{k}='{v}'\n" for k, v in settings.items()))
    out = workdir / f"{name}{'-split' if split else ''}.conf"
    (workdir / "etc").mkdir(exist_ok=True)
    (workdir / "etc/hostname").write_text("mx.example.org\n")
    (workdir / "etc/mailname").write_text("")  # as the golden reports were made: no mailname
    result = subprocess.run(
        ["sh", str(debian_script(exim, workdir, workdir / "etc/mailname")), "-d", str(conf), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and out.exists(), result.stderr
    out.chmod(0o644)
    return out


@pytest.fixture(scope="session")
def debian_corpus(exim: Exim, tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """Generate Debian's configs with Debian's own update-exim4.conf."""
    workdir = tmp_path_factory.mktemp("debian")
    workdir.chmod(0o755)
    corpus = Corpus()
    for name, values in DEBIAN_CONFIGTYPES.items():
        corpus.files[name] = _generate(exim, workdir, name, values, split=False)
    corpus.files["internet-split"] = _generate(exim, workdir, "internet", DEBIAN_CONFIGTYPES["internet"], split=True)
    for key in list(corpus.files):
        corpus.defines[key] = {"SPOOLDIR": str(exim.spool)}
    template = workdir / "exim4.conf.template"
    shutil.copy(exim.root / "etc/exim4/exim4.conf.template", template)
    corpus.files["template"] = template
    corpus.defines["template"] = {}
    example = workdir / "example.conf"
    shutil.copy(exim.root / "usr/share/doc/exim4-base/examples/example.conf", example)
    corpus.files["upstream-example"] = example
    corpus.defines["upstream-example"] = {}
    for path in corpus.files.values():
        path.chmod(0o644)
    return corpus


@pytest.fixture(scope="session")
def namespaces() -> None:
    """Root, unshare and ip: what the real-daemon harness needs for its private namespaces."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        if IN_CI:
            pytest.fail("verify needs root, unshare and ip; under CI=true that is a failure")
        pytest.skip("verify needs root, unshare and ip")  # only outside CI: CI=true fails above
