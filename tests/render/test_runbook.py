"""The runbook (MIGRATION.md): its invariants by reading, and the Debian one run for real.

By reading, for several fixtures and a ``--debian`` input on OpenBSD, FreeBSD
and Debian: exim is stopped and its queue emptied first, the backup is taken
before anything is installed, the files are placed and checked with
``smtpd -n`` before any daemon is restarted, each daemon the output uses
(rspamd, Redis, clamd) is started (restarted when it reads a generated file)
and never stopped or removed, the rollback reads only what the backup step
wrote, and the commands naming the input are ones exim2smtpd accepts.

For real (``test_the_debian_runbook_switches_a_running_exim_and_rolls_back``):
a throw-away copy of the Debian 13 root that tools/build-runbook-root.sh
builds. What is real there: exim4 (4.98) configured with debconf's files and
running, dpkg, apt (offline, from the root's archive cache), debconf, every
package's maintainer and init scripts, Debian's own ``service`` and
``update-rc.d``, OpenSMTPD 7.6, filter-rspamd, rspamd and Redis. The runbook's
commands are taken from MIGRATION.md's ``sh`` blocks as they are and each
block runs with ``sh -ex`` in the output directory, as the runbook tells the
admin. What differs from a server: PID 1 of the namespaces is a reaper, not
systemd, so ``service`` and ``update-rc.d`` run the init scripts where a
systemd server has them call systemctl (same verbs), and ``invoke-rc.d`` in
the maintainer scripts, finding no init system, starts and stops nothing (on
a server the runbook's policy-rc.d blocks those of step 4; the rollback stops
each daemon itself before removing it either way). Every daemon runs in
private pid, mount, UTS and network namespaces with loopback only: nothing
reaches the host's port 25, and DNS lookups fail at once.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from migrate.cli import _source, cli, verify_arguments
from migrate.commands.convert import Result, convert, write_output
from migrate.platforms import Platform, platform
from migrate.render.migration import BACKUP
from tests.conftest import FIXTURES, ROOTS, _missing

SWITCH = ("2.", "3.", "4.", "5.", "6.", "7.")  # the steps of the switch itself, run in order
FENCE = re.compile(r"^```sh\n(.*?)^```$", re.M | re.S)


def section(text: str, prefix: str) -> str:
    """The body of the ``## `` section whose title starts with ``prefix`` ('' when there is none)."""
    for part in re.split(r"^## ", text, flags=re.M)[1:]:
        if part.startswith(prefix):
            return part
    return ""


def blocks(text: str, prefix: str) -> list[str]:
    """The ``sh`` blocks of one section, as written."""
    return FENCE.findall(section(text, prefix))


def commands(text: str, *prefixes: str) -> list[str]:
    """Every command line of those sections' ``sh`` blocks, in order, without trailing comments."""
    lines = []
    for prefix in prefixes:
        for block in blocks(text, prefix):
            lines += [re.sub(r"\s+# .*$", "", line).strip() for line in block.splitlines() if line.strip()]
    return lines


def first(lines: list[str], predicate: object, what: str) -> int:
    """The index of the first command that matches (a string: equal to it, or a callable)."""
    for index, line in enumerate(lines):
        if predicate(line) if callable(predicate) else line == predicate:
            return index
    raise AssertionError(f"no command {what}:\n" + "\n".join(lines))


# ---------------------------------------------------------------- by reading

CASES = ["article-mx", "content-filters", "ldap-auth", "dkim-submission", "sql-lookups", "lookup-files"]
PLATFORMS = ["openbsd", "freebsd", "debian"]


def _fixture(case: str, target: str) -> Result:
    root = FIXTURES / case / "root"
    with_root = root.is_dir() and case != "article-mx"
    return convert(str(FIXTURES / case / "configure"), platform=target, root=str(root) if with_root else "/")


@pytest.fixture(scope="module")
def debian_input(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A Debian /etc/exim4 (exim4-config's own files, the 'internet' type, a DNSBL macro) and its root."""
    package = ROOTS / "unstable" / "opt" / "exim4" / "etc" / "exim4"
    if not (package / "exim4.conf.template").exists():
        _missing(f"Debian's exim4-config ({package})")
    root = tmp_path_factory.mktemp("debian-server")
    etc = root / "etc" / "exim4"
    shutil.copytree(package, etc)
    (etc / "update-exim4.conf.conf").write_text(
        "dc_eximconfig_configtype='internet'\ndc_other_hostnames='example.org'\ndc_local_interfaces=''\n"
        "dc_relay_nets=''\ndc_relay_domains=''\ndc_smarthost=''\ndc_use_split_config='false'\n"
        "dc_localdelivery='mail_spool'\n"
    )
    (etc / "exim4.conf.localmacros").write_text("CHECK_RCPT_IP_DNSBLS = zen.spamhaus.org\n")
    (root / "etc" / "mailname").write_text("mx.example.org\n")
    return etc, root


def _runbooks(debian_input: tuple[Path, Path]) -> Iterator[tuple[str, Result]]:
    for case in CASES:
        for target in PLATFORMS:
            yield f"{case}/{target}", _fixture(case, target)
    yield "article-mx/debian12", _fixture("article-mx", "debian12")
    yield "article-mx/linux", _fixture("article-mx", "linux")
    etc, root = debian_input
    for target in PLATFORMS:
        yield f"--debian/{target}", convert(str(etc), debian=True, root=str(root), platform=target)


@dataclass(frozen=True)
class Used:
    """A daemon the output uses: its service name, the packages it comes in, and whether it reads our files."""

    service: str
    packages: tuple[str, ...]
    restarted: bool


def used_daemons(result: Result) -> list[Used]:
    """What the output relies on, read from the written files (not from the runbook)."""
    pack = platform(result.policy.platform)
    rspamd = {name.removeprefix("rspamd/local.d/") for name in result.files if name.startswith("rspamd/")}
    used = [Used(pack.smtpd_service, ("opensmtpd",), True)]
    if rspamd:
        used.append(Used("rspamd", ("rspamd", "opensmtpd-filter-rspamd"), True))
    if rspamd - {"dkim_signing.conf", "settings.conf"}:  # anything but signing keeps state in Redis
        used.append(Used(pack.redis_service, (pack.redis_service,), True))
    if "antivirus.conf" in rspamd:
        used.append(Used(pack.clamd_service, ("clamav", "clamav-daemon", "clamd"), False))
    return used


def _check_order(text: str, pack: Platform) -> list[str]:
    switch = commands(text, *SWITCH)
    stop = first(switch, pack.stop.format(service=pack.exim_service), "stopping exim")
    flush = first(switch, f"{pack.exim} -qff", "flushing exim's queue")
    empty = first(switch, lambda c: c.startswith(f'test "$({pack.exim} -bpc)" = 0'), "checking the queue is empty")
    backup = first(switch, f"mkdir -m 0700 {BACKUP}", "making the backup directory")
    place = first(switch, f"install -m 0644 smtpd.conf {pack.smtpd_conf}", "installing smtpd.conf")
    check = first(switch, f"smtpd -n -f {pack.smtpd_conf}", "checking smtpd.conf")
    restart = first(switch, pack.restart.format(service=pack.smtpd_service), "restarting smtpd")
    assert stop < flush < empty < backup < place < check < restart
    installs = [i for i, c in enumerate(switch) if re.search(r"\b(apt-get install|pkg_add|pkg install)\b", c)]
    assert all(backup < i < place for i in installs), switch
    for i, line in enumerate(switch):
        if re.match(r"(service \S+ (start|restart)|rcctl (start|restart)|systemctl)", line):
            assert i > check, f"{line!r} before smtpd -n"
        assert not line.startswith("systemctl start"), line
    return switch


def _check_debian_install(switch: list[str]) -> None:
    """policy-rc.d and debconf answers are in place before apt-get installs opensmtpd, and gone after."""
    install = first(switch, lambda c: "apt-get install" in c and "opensmtpd" in c.split(), "installing opensmtpd")
    assert "DEBIAN_FRONTEND=noninteractive" in switch[install]
    policy = first(switch, lambda c: c.startswith("printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d"), "")
    answers = first(switch, lambda c: c.endswith("| debconf-set-selections"), "preseeding debconf")
    assert "opensmtpd/mailname" in switch[answers] and "opensmtpd/root_address" in switch[answers]
    removed = first(switch, "rm /usr/sbin/policy-rc.d", "removing policy-rc.d")
    remove_exim = first(switch, lambda c: "apt-get remove" in c and "exim4-packages" in c, "removing exim")
    assert policy < install < removed and answers < install < remove_exim < removed
    restart = first(switch, "service opensmtpd restart", "restarting opensmtpd")
    assert removed < restart


def _check_daemons(text: str, result: Result, switch: list[str]) -> None:
    """Each daemon the output uses is enabled and (re)started after the check, and never stopped or removed."""
    pack = platform(result.policy.platform)
    inline = [part.strip() for code in re.findall(r"`([^`]+)`", section(text, "8.")) for part in code.split("&&")]
    later = commands(text, "8.") + inline
    check = first(switch, f"smtpd -n -f {pack.smtpd_conf}", "checking smtpd.conf")
    for daemon in used_daemons(result):
        rcvar = daemon.service.replace("-", "_")
        enable = pack.enable.format(service=daemon.service, rcvar=rcvar)
        run = (pack.restart if daemon.restarted else pack.start).format(service=daemon.service)
        assert check < first(switch, enable, f"enabling {daemon.service}") < first(switch, run, run)
        if daemon.restarted:
            assert pack.start.format(service=daemon.service) not in switch, f"{daemon.service} started, not restarted"
        stops = {pack.stop.format(service=daemon.service), pack.disable.format(service=daemon.service, rcvar=rcvar)}
        for line in switch + later:
            assert line not in stops, f"{line!r} stops {daemon.service}"
            if re.search(r"\b(apt-get (purge|remove)|pkg_delete|pkg delete)\b", line):
                assert not set(line.split()) & set(daemon.packages), f"{line!r} removes {daemon.service}"
        assert pack.status.format(service=daemon.service) in commands(text, "7.")


def _check_rollback(text: str, pack: Platform) -> None:
    """The rollback restores exim from what step 3 saved, after smtpd let go of port 25."""
    back = commands(text, "Roll back")
    assert back, "no rollback"
    saved = set(re.findall(rf"{BACKUP}/([\w.-]+)", " ".join(commands(text, "3."))))
    read = set(re.findall(rf"{BACKUP}/([\w.-]+)", " ".join(back)))
    assert read <= saved, f"the rollback reads {read - saved} that step 3 does not save"
    stop = first(back, lambda c: c.startswith(pack.stop.format(service=pack.smtpd_service)), "stopping smtpd")
    restore = first(back, lambda c: c.startswith("cp ") and c.endswith(f" {pack.exim_etc}"), "restoring exim's files")
    exim = first(back, pack.restart.format(service=pack.exim_service), "restarting exim")
    assert stop < exim and restore < exim
    if pack.system == "debian":
        reinstall = first(back, lambda c: "apt-get install" in c and f"{BACKUP}/exim4-packages" in c, "reinstalling")
        assert restore < reinstall < exim and stop < reinstall
        assert any(re.search(rf"cp -p {BACKUP}/aliases /etc/aliases$", c) for c in back), back
        step4 = commands(text, "4.")
        install = step4[first(step4, lambda c: "apt-get install" in c, "installing")].split()
        for name in ("rspamd", "redis-server"):
            if name in install:
                stop_it = f"{{ update-rc.d {name} disable; service {name} stop; }}"
                assert f"grep -qx {name} {BACKUP}/installed-before || {stop_it}" in back, back
    else:
        assert f"cp -p {BACKUP}/mailer.conf {pack.mailer_conf}" in back
        assert first(back, pack.enable.format(service=pack.exim_service, rcvar="exim"), "enabling exim") < exim


def _check_input_commands(text: str, result: Result) -> None:
    """The commands naming the input are accepted by exim2smtpd as they are written."""
    [report] = re.findall(r"`exim2smtpd report ([^`]*)`", text)
    assert f"--platform {result.policy.platform}" in report
    ran = CliRunner().invoke(cli, ["report", *shlex.split(report)])
    assert ran.exit_code in (0, 2) and "Usage:" not in ran.output, ran.output
    [verify] = re.findall(r"`exim2smtpd verify ([^`]*)`", text)
    command = cli.commands["verify"]
    with command.make_context("verify", shlex.split(verify)) as context:
        params = context.params
        configure, outdir = verify_arguments(params["configure"], params["outdir"], params["debian_dir"])
        _source(configure, params["debian_dir"])
        assert outdir == "."
    for line in commands(text, *SWITCH, "Roll back"):
        assert "update-exim4.conf output" not in line and "standard input" not in line


def test_runbooks_keep_their_invariants(debian_input: tuple[Path, Path]) -> None:
    """Order, the daemons the output uses, the rollback, and the input commands, for every runbook."""
    for name, result in _runbooks(debian_input):
        text = result.files["MIGRATION.md"]
        pack = platform(result.policy.platform)
        try:
            switch = _check_order(text, pack)
            if pack.system == "debian":
                _check_debian_install(switch)
            _check_daemons(text, result, switch)
            _check_rollback(text, pack)
            _check_input_commands(text, result)
        except (AssertionError, click.UsageError) as exc:
            raise AssertionError(f"{name}: {exc}\n\n{text}") from exc


def test_a_runbook_with_antivirus_keeps_clamd_and_checks_its_socket() -> None:
    """article-mx scans with clamd: started if it is not running, its socket checked, never stopped or removed."""
    text = _fixture("article-mx", "debian").files["MIGRATION.md"]
    start = commands(text, "6.")
    assert start.index("service clamav-daemon start") < start.index("test -S /var/clamav/clamd.sock")
    assert start.index("test -S /var/clamav/clamd.sock") < start.index("service rspamd restart")
    everywhere = " ".join(commands(text, *SWITCH, "8."))
    assert "clamav-daemon stop" not in everywhere and "clamav" not in " ".join(commands(text, "8."))
    assert "spamd stop" not in " ".join(commands(text, *SWITCH))  # spamd is only offered to go afterwards
    assert "Keep `clamav-daemon`" in section(text, "8.")


def test_a_runbook_installs_every_rspamd_file_and_table() -> None:
    """maps.d/ files and tables land where the generated configuration names them."""
    result = _fixture("content-filters", "openbsd")
    place = commands(result.files["MIGRATION.md"], "5.")
    for name in result.files:
        if name.startswith("rspamd/"):
            assert f"install -m 0644 {name} /etc/rspamd/local.d/{name.removeprefix('rspamd/local.d/')}" in place
    tables = _fixture("sql-lookups", "debian")
    place = commands(tables.files["MIGRATION.md"], "5.")
    assert place.index("install -d -m 0755 /etc/smtpd") < place.index(
        "install -m 0600 -o root relay_domains_sql.conf /etc/smtpd/relay_domains_sql.conf"
    )


def test_a_runbook_names_files_exim_s_directory_still_holds() -> None:
    """The DKIM key under /etc/exim stays: the Afterwards step says so instead of deleting the directory."""
    text = _fixture("content-filters", "openbsd").files["MIGRATION.md"]
    assert "- `/etc/exim/dkim/example.net.key`" in section(text, "8.")
    assert not any(line.startswith("rm ") for line in commands(text, "8."))


# ---------------------------------------------------------------- for real

RUNBOOK_ROOT = ROOTS / "runbook-trixie"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
OUT = "/root/smtpd-new"  # where the admin converted to, inside the server
UNSHARE = ("unshare", "--pid", "--fork", "--mount", "--uts", "--net", "--propagation", "private")
OUTSIDE = "198.18.0.77"  # a client that is neither loopback nor in exim's relay_from_hosts
# The init of the namespaces: mounts the server's /proc, /run and /dev, brings lo up, names the host,
# says so, then reaps what the daemons leave behind until it is killed (and every daemon with it).
REAPER = """
import os, subprocess, sys, time
root = sys.argv[1]
for cmd in (["mount", "-t", "proc", "proc", root + "/proc"], ["mount", "-t", "tmpfs", "-o", "mode=755", "run",
            root + "/run"], ["mount", "--rbind", "/dev", root + "/dev"], ["ip", "link", "set", "lo", "up"],
            ["hostname", "mx.example.org"]):
    subprocess.run(cmd, check=True)
print("ready", flush=True)
while True:
    try:
        os.wait()
    except ChildProcessError:
        time.sleep(0.2)
"""
# What exim's admin had set up: debconf's 'internet' type for example.org, with a DNS blocklist
# (which the conversion hands to rspamd, so that rspamd and Redis have work to do).
EXIM_SETUP = """
set -e
sed -i "s/^dc_eximconfig_configtype=.*/dc_eximconfig_configtype='internet'/; \
s/^dc_other_hostnames=.*/dc_other_hostnames='example.org'/" /etc/exim4/update-exim4.conf.conf
echo 'CHECK_RCPT_IP_DNSBLS = zen.spamhaus.org' > /etc/exim4/exim4.conf.localmacros
echo mx.example.org > /etc/mailname
update-exim4.conf
service exim4 start
"""
SESSION = """
import smtplib, sys
session = smtplib.SMTP(timeout=30, source_address=(sys.argv[1], 0))
code, banner = session.connect("127.0.0.1", 25)
print(code, banner.decode())
session.ehlo("probe.example")
print(*session.mail("probe@probe.example"))
accepted = False
for rcpt in sys.argv[2:]:
    code, text = session.rcpt(rcpt)
    print(code, text)
    accepted = accepted or code == 250
if accepted:
    print(*session.data(b"Subject: runbook\\r\\nMessage-ID: <runbook@probe.example>\\r\\n\\r\\nswitched\\r\\n"))
session.quit()
"""


@dataclass
class Server:
    """The throw-away server: its root on the host, and the init of its namespaces."""

    root: Path
    init: int
    log: Path

    def sh(self, script: str, *, cwd: str = "/", flags: str = "-e", timeout: int = 300) -> tuple[int, str]:
        """Run a script in the server as root would (``sh FLAGS``), its output in the log (daemons keep it open)."""
        (self.root / "tmp" / "step.sh").write_text(script)
        start = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("a") as log:
            log.write(f"\n=== sh {flags} in {cwd}:\n{script}\n")
            log.flush()
            done = subprocess.run(
                [
                    *self._enter("--pid", "--mount", "--uts", "--net"),
                    *("env", "-i", f"PATH={PATH}", "HOME=/root", "chroot", str(self.root)),
                    *("sh", "-c", f'cd "$0" && exec sh {flags} /tmp/step.sh', cwd),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
        with self.log.open() as log:
            log.seek(start)
            return done.returncode, log.read()

    def net(self, argv: list[str], timeout: int = 60) -> subprocess.CompletedProcess[str]:
        """Run a host program in the server's network namespace only (the SMTP client, ip)."""
        return subprocess.run(
            [*self._enter("--net"), *argv], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )

    def smtp(self, *rcpts: str) -> str:
        """One SMTP session from a client outside every list, recipients in turn (and DATA when one is given)."""
        self.net(["ip", "addr", "add", f"{OUTSIDE}/32", "dev", "lo"])  # added now: smtpd counts it as its own
        try:
            done = self.net([sys.executable, "-c", SESSION, OUTSIDE, *rcpts])
        finally:
            self.net(["ip", "addr", "del", f"{OUTSIDE}/32", "dev", "lo"])
        return done.stdout + done.stderr

    def listening(self, port: int) -> bool:
        """Whether something accepts connections on loopback:port in the server."""
        probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), 2)"
        return self.net([sys.executable, "-c", probe]).returncode == 0

    def processes(self) -> list[str]:
        """The command lines of the processes running in the server."""
        found = []
        for entry in Path("/proc").iterdir():
            with contextlib.suppress(OSError):
                if entry.name.isdigit() and os.readlink(entry / "root") == str(self.root):
                    found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
        return found

    def installed(self) -> set[str]:
        """The packages dpkg has installed in the server."""
        status = (self.root / "var/lib/dpkg/status").read_text()
        return {
            block.split("\n", 1)[0].removeprefix("Package: ")
            for block in status.split("\n\n")
            if "\nStatus: install ok installed" in block
        }

    def _enter(self, *namespaces: str) -> list[str]:
        return ["nsenter", "--target", str(self.init), *namespaces, "--"]


@contextlib.contextmanager
def server() -> Iterator[Server]:
    """A copy of the runbook root, with its namespaces' init; all of it is gone afterwards."""
    if not (RUNBOOK_ROOT / ".exim2smtpd-recipe").exists():
        _missing(f"the runbook root ({RUNBOOK_ROOT}; tools/build-runbook-root.sh)")
    for program in ("nsenter", "unshare", "ip", "chroot"):
        if shutil.which(program) is None:
            _missing(program)
    work = Path(tempfile.mkdtemp(prefix="exim2smtpd-runbook-"))
    root = work / "root"
    subprocess.run(["cp", "-a", str(RUNBOOK_ROOT), str(root)], check=True)
    unshare = subprocess.Popen(
        [*UNSHARE, sys.executable, "-c", REAPER, str(root)],
        stdout=subprocess.PIPE,
        text=True,
    )
    init = 0
    try:
        assert unshare.stdout is not None and unshare.stdout.readline().strip() == "ready"
        init = int(Path(f"/proc/{unshare.pid}/task/{unshare.pid}/children").read_text().split()[0])
        yield Server(root, init, work / "server.log")
    finally:
        if init:
            os.kill(init, signal.SIGKILL)  # the init gone, the kernel ends every process of the namespaces
        else:
            unshare.kill()
        unshare.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def _ok(server: Server, script: str, **options: object) -> str:
    status, output = server.sh(script, **options)  # type: ignore[arg-type]
    assert status == 0, f"exit {status}:\n{output[-6000:]}"
    return output


def _files(tree: Path) -> dict[str, bytes]:
    return {str(p.relative_to(tree)): p.read_bytes() for p in sorted(tree.rglob("*")) if p.is_file()}


def _wait(condition: object, seconds: float = 20) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


def test_the_debian_runbook_switches_a_running_exim_and_rolls_back(namespaces: None) -> None:
    """Steps 2-7 of the Debian runbook, as written, on a server whose exim is running; then its rollback."""
    with server() as srv:
        _ok(srv, EXIM_SETUP)
        assert _wait(lambda: srv.listening(25)), srv.log.read_text()[-3000:]
        before = srv.smtp()
        assert before.startswith("220 ") and "Exim" in before, before
        exim_files = _files(srv.root / "etc/exim4")
        kept = {name: (srv.root / "etc" / name).read_bytes() for name in ("aliases", "mailname")}
        exim_packages = {p for p in srv.installed() if p.startswith("exim4")}
        assert "exim4-daemon-light" in exim_packages

        result = convert(str(srv.root / "etc/exim4"), debian=True, root=str(srv.root), platform="debian")
        write_output(result, str(srv.root / OUT.lstrip("/")))
        runbook = result.files["MIGRATION.md"]
        for step in SWITCH:
            for block in blocks(runbook, step):
                _ok(srv, block, cwd=OUT, flags="-ex")

        assert not srv.installed() & exim_packages, "exim's packages are still installed"
        assert {name: (srv.root / "etc" / name).read_bytes() for name in kept} == kept  # debconf asked nothing
        assert (srv.root / "etc/smtpd.conf").read_text() == result.files["smtpd.conf"]
        running = srv.processes()
        assert any(p.startswith("/usr/sbin/smtpd -f /etc/smtpd.conf") for p in running), running
        assert any("filter-rspamd" in p for p in running), running  # the new smtpd.conf's filter
        assert any(p.startswith("rspamd: main process") for p in running), running
        assert any(p.startswith("/usr/bin/redis-server") for p in running), running
        assert srv.listening(11333) and srv.listening(6379)
        assert not any("exim4" in p for p in running), running
        _ok(srv, "smtpd -n -f /etc/smtpd.conf && smtpctl show status | grep -x 'SMTP running'")
        after = srv.smtp("nobody@elsewhere.example", "root@example.org")
        lines = after.splitlines()
        assert lines[0].startswith("220 ") and "OpenSMTPD" in lines[0], after
        assert lines[2].startswith("550 "), after  # no relaying for the internet, as exim
        assert lines[3].startswith("250 ") and lines[4].startswith("250 "), after  # example.org is local: taken
        assert _wait(lambda: b"Subject: runbook" in _read(srv.root / "var/mail/root")), _ok(srv, "smtpctl show queue")

        for block in blocks(runbook, "Roll back"):
            _ok(srv, block, cwd=OUT, flags="-ex")

        assert _wait(lambda: srv.listening(25)), srv.log.read_text()[-3000:]
        back = srv.smtp()
        assert back.startswith("220 ") and "Exim" in back, back
        assert _files(srv.root / "etc/exim4") == exim_files
        installed = srv.installed()
        assert exim_packages <= installed and not {"opensmtpd", "rspamd", "redis-server"} & installed
        running = srv.processes()
        assert any("exim4" in p for p in running), running
        assert not any(p.startswith(("rspamd", "/usr/bin/redis-server", "/usr/sbin/smtpd")) for p in running), running
        relay = srv.smtp("nobody@elsewhere.example").splitlines()
        assert relay[2].startswith("550 "), relay


def _read(path: Path) -> bytes:
    return path.read_bytes() if path.exists() else b""
