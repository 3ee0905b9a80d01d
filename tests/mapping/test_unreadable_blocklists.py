"""A deny on hosts listed in a file that cannot be read: whoever the file may hold is refused, and it is said so.

fixtures/blocklist-files refuses at RCPT the clients its lookup files list
(``deny hosts = +spam_sources``, a net-lsearch file). When the copy under
--root lacks that file, cannot be opened, or is one exim2smtpd refuses to
read (a FIFO, over 256 MB), nobody knows whom it refuses: no match rule may
then accept a client exim refused, the list is reported unmapped with the
file and the reason (never "not used"), and what that costs (inbound mail,
the trusted network's relay) is reported as lost services first.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from migrate.commands.convert import Result, convert
from migrate.errors import Diagnostic
from migrate.lookups import lsearch_keys
from migrate.model import ANYONE
from migrate.options import Options
from migrate.render.smtpd_reader import read_smtpd_conf
from migrate.verify.oracle import dns_free_config
from tests.conftest import FIXTURES, ROOT, Exim, readable
from tests.mapping.test_permissiveness import Client, exim_verdict, smtpd_accepts

CASE = FIXTURES / "blocklist-files"
LISTED = lsearch_keys((CASE / "root/etc/exim/spam_sources").read_text())  # 198.18.0.99, 198.18.5.9
RECIPIENTS = ["postmaster@mx.example.org", "root@mx.example.org", "someone@elsewhere.example"]
REASONS = {
    "missing": "No such file or directory",
    "fifo": "not a regular file (a FIFO)",
    "big": "1.0 GB, above the 256 MB exim2smtpd reads",
}


def _copy(where: Path, how: str | None) -> tuple[Path, Path, Path]:
    """The fixture copied to ``where``, its spam_sources file as ``how`` says (None: left as it is)."""
    shutil.copytree(CASE, where / "case", ignore=shutil.ignore_patterns("expected"))
    configure, root = where / "case/configure", where / "case/root"
    listed = root / "etc/exim/spam_sources"
    if how is not None:
        listed.unlink()
    if how == "fifo":
        os.mkfifo(listed)
    elif how == "big":
        with listed.open("wb") as handle:
            handle.truncate(1024 * 1024 * 1024)  # sparse: takes no disk
    return configure, root, listed


def _convert(tmp_path: Path, how: str | None) -> tuple[Result, Path]:
    configure, root, listed = _copy(tmp_path, how)
    return convert(str(configure), Options(root=str(root), platform="openbsd")), listed


def _written_accepts(result: Result, address: str, rcpt: str) -> bool:
    """First match in the smtpd.conf written (read back as smtpd reads it), for a client at ``address``."""
    files = {name: text for name, text in result.files.items() if name != "smtpd.conf"}
    conf = read_smtpd_conf(result.files["smtpd.conf"], "smtpd.conf", table_files=files)
    domain = rcpt.rsplit("@", 1)[1]
    ip = ipaddress.ip_address(address)

    def source(origin: object) -> bool:
        if origin == "any":
            return True
        if origin in ("local", "socket"):
            return origin == "local" and ip.is_loopback
        assert isinstance(origin, tuple) and origin[0] == "src", origin
        entries = conf.tables[str(origin[1]).strip("<>")]
        assert isinstance(entries, list)
        return any(ip in ipaddress.ip_network(e.strip("[]"), strict=False) for e in entries)

    def target(criterion: object) -> bool:
        if criterion == "any":
            return True
        if criterion == "local":
            return domain in ("localhost", "mx.example.org")
        assert isinstance(criterion, tuple) and criterion[0] == "domain", criterion
        entries = conf.tables[str(criterion[1]).strip("<>")]
        return isinstance(entries, list) and domain in entries

    for rule in conf.rules:
        if rule.get("auth") or "rcpt-to" in rule:
            continue  # this client does not log in; no rule here decides by the local part
        from_ok = not source(rule["!from"]) if "!from" in rule else source(rule.get("from"))
        for_ok = not target(rule["!for"]) if "!for" in rule else target(rule.get("for"))
        if from_ok and for_ok:
            return rule.get("action") != "reject"
    return False


def _at(result: Result, line: int) -> Diagnostic:
    """The report's row for the statement at ``line`` of the configure file."""
    (row,) = [e for e in result.report.statements if e.span.line == line and e.parent is None]
    return row


@pytest.mark.parametrize("how", sorted(REASONS))
def test_no_rule_accepts_a_client_the_unreadable_file_lists(tmp_path: Path, how: str) -> None:
    """exim refuses those clients every recipient (the deny comes before every accept a TCP client can reach)."""
    result, _ = _convert(tmp_path, how)
    accepted = [
        (address, rcpt)
        for address in LISTED
        for rcpt in RECIPIENTS
        if smtpd_accepts(result.policy, Client(ANYONE, address), rcpt) or _written_accepts(result, address, rcpt)
    ]
    assert accepted == []
    assert not smtpd_accepts(result.policy, Client("relay_from_hosts", "192.0.2.1"), RECIPIENTS[-1])  # it may be listed
    assert "198.18.0.99" not in result.files["denied_hosts"]  # the file was not read: nothing is made up


@pytest.mark.parametrize("how", sorted(REASONS))
def test_the_list_and_the_deny_say_which_file_and_why(tmp_path: Path, how: str) -> None:
    result, listed = _convert(tmp_path, how)
    hostlist = _at(result, 11)  # hostlist spam_sources = net-lsearch;/etc/exim/spam_sources
    assert (hostlist.severity, hostlist.rule.id) == ("unmapped", "EXIM-LIST-UNREADABLE")
    assert f"net-lsearch;/etc/exim/spam_sources ({listed}: {REASONS[how]}) cannot be read" in hostlist.message
    assert hostlist.advice.startswith("put a readable copy of the server's file under --root")
    deny = _at(result, 30)  # deny message = listed as a spam source / hosts = +spam_sources
    assert (deny.severity, deny.rule.id) == ("unmapped", "EXIM-ACL-DENY-UNREADABLE")
    assert f"({listed}: {REASONS[how]})" in deny.message
    assert deny.message.endswith(
        "the output refuses all mail from trusted network relay_from_hosts and any other client "
        "to local domains and other domains"
    )
    assert "EXIM-LIST-UNUSED" not in result.files["smtpd.conf"] + result.files["MIGRATION.md"]


def test_the_mail_that_costs_is_lost_and_reported_first(tmp_path: Path) -> None:
    result, _ = _convert(tmp_path, "missing")
    lost = {" ".join(filter(None, (s.service.name, s.service.table))): s for s in result.report.lost}
    assert set(lost) == {"inbound", "relay relay_from_hosts"}
    assert lost["inbound"].why == "mail from the internet to a local domain is refused"
    for state in lost.values():
        assert [f"{Path(s.file).name}:{s.line}" for s in state.service.origin][-2:] == ["configure:30", "configure:11"]
        assert state.steps == (
            "put a readable copy of the server's file under --root (within the size exim2smtpd reads), "
            "then convert again",
        )
    assert result.report.grade == "C"
    migration = result.files["MIGRATION.md"]
    assert migration.index("## Services this output does not keep") < migration.index("## 1. Before you start")
    assert "**inbound delivery for local domains from the internet: mail from the internet" in migration


def test_the_cli_fails_on_unmapped_and_names_the_lost_services(tmp_path: Path) -> None:
    configure, root, _ = _copy(tmp_path, "missing")
    args = ["convert", str(configure), "--root", str(root), "--platform", "openbsd", "-o", str(tmp_path / "out")]
    run = subprocess.run(
        [sys.executable, "-m", "migrate", *args, "--fail-on", "unmapped"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert (run.returncode, run.stderr) == (2, "")
    assert "services exim provided: 3 kept, 2 lost -- do not switch over until the lost ones are restored" in run.stdout
    assert "  LOST inbound delivery for local domains from the internet: " in run.stdout
    assert f"{configure}:11:1: unmapped[EXIM-LIST-UNREADABLE] hostlist spam_sources: " in run.stdout


def test_with_the_file_every_service_is_kept(tmp_path: Path) -> None:
    """The other way round: the listed clients are refused by the blocklist rule, and nobody else loses mail."""
    result, _ = _convert(tmp_path, None)
    services = {" ".join(filter(None, (s.service.name, s.service.table))): s.kept for s in result.report.services}
    assert services == dict.fromkeys(["inbound", "relay relay_from_hosts", "outbound", "sendmail", "forwarding"], True)
    assert all(not _written_accepts(result, a, r) for a in LISTED for r in RECIPIENTS)
    assert _written_accepts(result, "198.18.0.77", "postmaster@mx.example.org")


TRUSTING = """\
  accept  hosts = +relay_from_hosts
  accept  hosts = net-lsearch;/etc/exim/submit_hosts
  deny    message = relaying denied
"""


def test_an_unreadable_trusted_list_trusts_nobody_from_it(tmp_path: Path) -> None:
    """``accept hosts = ...`` on a file that cannot be read: the safe way is to trust none of its hosts."""
    configure, root, _ = _copy(tmp_path, None)
    text = configure.read_text()
    text = text.replace("<; 127.0.0.1 ; ::1 ; 192.0.2.0/28", "net-lsearch;/etc/exim/relay_hosts")
    text = text.replace("  accept  hosts = +relay_from_hosts\n\n  deny    message = relaying denied\n", TRUSTING)
    configure.write_text(text)
    result = convert(str(configure), Options(root=str(root), platform="openbsd"))
    assert not [r for r in result.policy.rules if r.action == "outbound" and r.source not in ("local", "socket")]
    assert not _written_accepts(result, "192.0.2.1", "someone@elsewhere.example")
    named = _at(result, 9)  # hostlist relay_from_hosts = net-lsearch;/etc/exim/relay_hosts
    assert named.severity == "unmapped"
    assert (
        f"net-lsearch;/etc/exim/relay_hosts ({root}/etc/exim/relay_hosts: No such file or directory)" in named.message
    )
    inline = _at(result, 40)  # accept hosts = net-lsearch;/etc/exim/submit_hosts
    assert (inline.severity, inline.rule.id) == ("unmapped", "EXIM-ACL-CONDITIONAL-ACCEPT")
    assert f"({root}/etc/exim/submit_hosts: No such file or directory) cannot be read" in inline.message
    assert [s.service.table for s in result.report.lost] == ["relay_from_hosts"]


@pytest.mark.exim
def test_exim_refuses_the_listed_clients_the_output_refuses(exim: Exim, shared_tmp: Path) -> None:
    """The real exim, given the file, refuses its clients every recipient: converted without it, so does smtpd."""
    configure, root, listed = _copy(shared_tmp, None)
    readable(shared_tmp)  # exim -bh reads the configuration and the lookup files as its own user
    spool = Path(tempfile.mkdtemp(prefix="exim2smtpd-spool-"))
    spool.chmod(0o1777)
    try:
        oracle = dns_free_config(configure, {}, shared_tmp / "oracle.conf", spool=spool, root=root)
        verdicts = {(a, r): exim_verdict(exim, oracle, {}, Client(ANYONE, a), r) for a in LISTED for r in RECIPIENTS}
        outsider = exim_verdict(exim, oracle, {}, Client(ANYONE, "198.18.0.77"), RECIPIENTS[0])
    finally:
        shutil.rmtree(spool, ignore_errors=True)
    assert set(verdicts.values()) == {"refuse"}, verdicts
    assert outsider == "accept"  # exim refuses the listed ones, not everyone
    listed.unlink()
    result = convert(str(configure), Options(root=str(root), platform="openbsd"))
    wider = [(a, r) for (a, r), verdict in verdicts.items() if verdict == "refuse" and _written_accepts(result, a, r)]
    assert wider == []
