"""exim's log as syslog holds it (``log_file_path = syslog``), read as well as exim's own files.

The real exim 4.100 logs one traffic script to its files and to syslog at
once; a stand-in syslog daemon (``traffic.Syslog``) writes what arrives on
/dev/log as rsyslog does. Both logs must give the same transactions: syslog's
prefix taken off, exim's long lines (a 1,200-character HELO name) joined
from their ``[n/m]`` parts, the reject log's copies of refusals
(``syslog_duplication``) and its header lines left out.
"""

from __future__ import annotations

import collections
import itertools
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrate.verify.mainlog import LogSummary, read_logs
from tests.conftest import FIXTURES, Exim
from tests.verify import traffic
from tests.verify.traffic import Client, Message, Session, Traffic

OWN = traffic.HOSTNAME
LONG_HELO = ".".join(f"label{n:02d}-abcdefghijklmnop" for n in range(50)) + ".example"  # 1,206 characters


def _script() -> list[Session]:
    """exim-default's traffic, and a client whose every line is longer than syslog takes in one piece."""
    return [
        *traffic.default_script(),
        Session(
            Client("198.51.100.95", 25, LONG_HELO),
            (Message("far@far.example", ("mail@" + OWN, "friend@far.example", "nosuch@" + OWN)),),
        ),
    ]


@pytest.fixture(scope="module")
def logged(exim: Exim, namespaces: None) -> Iterator[Traffic]:
    base = Path(tempfile.mkdtemp(prefix="exim2smtpd-syslog-"))
    base.chmod(0o755)
    try:
        configure = FIXTURES / "exim-default" / "configure"
        yield traffic.write_mainlog(
            exim, configure, base, _script(), selector="+incoming_interface", aliases=traffic.EXTRA_ALIASES, syslog=True
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _read(paths: list[Path]) -> tuple[collections.Counter[object], LogSummary]:
    summary = LogSummary()
    return collections.Counter(read_logs(paths, summary)), summary


@pytest.mark.exim
def test_syslog_holds_every_shape_the_reader_undoes(logged: Traffic) -> None:
    """The run made split lines, duplicated refusals and the reject log's headers (or the test proves nothing)."""
    text = logged.syslog[0].read_text()
    assert re.search(r"^\w{3} [ \d]\d \d\d:\d\d:\d\d mx exim\[\d+\]: \[1/\d\] \d{4}-", text, re.M)  # a long line
    assert re.search(r"exim\[\d+\]: \[1\\\d+\] ", text)  # the reject log's copy of a refusal after DATA, headers
    refusals = re.findall(r"exim\[(\d+)\]: (\S+ \S+ H=.* rejected RCPT .*)$", text, re.M)
    assert any(a == b for a, b in itertools.pairwise(refusals))  # syslog_duplication's copies


@pytest.mark.exim
@pytest.mark.parametrize("form", ["traditional", "rfc3339"])
def test_syslog_gives_what_the_files_give(logged: Traffic, form: str) -> None:
    """Every transaction (route, outcome and reason too), once: the same as exim's own mainlog files."""
    files, _ = _read([logged.rotated, logged.current])
    from_syslog, summary = _read([logged.syslog[0 if form == "traditional" else 1]])
    assert from_syslog == files
    assert summary.syslog and summary.unreadable == 0, summary.examples
    long_helo = [t for t in from_syslog if t.client == "198.51.100.95"]
    assert {(t.recipient, t.decision) for t in long_helo} == {
        ("mail@" + OWN, "accepted"),
        ("friend@far.example", "rejected"),
        ("nosuch@" + OWN, "rejected"),
    }
    assert sum(files.values()) == len(logged.sent)


def test_a_syslog_file_of_other_programs_and_cut_parts_reads_without_error(tmp_path: Path) -> None:
    """Other programs' lines are ignored; a part whose first part is missing, or a junk line, is never fatal."""
    log = tmp_path / "mail.log"
    log.write_text(
        "Dec  4 18:00:00 mx dovecot[7]: imap-login: Login: user=<u>\n"
        "Dec  4 18:00:01 mx exim[9]: [2/2] se.example>: relay not permitted\n"
        "Dec  4 18:00:02 mx exim[9]: 2026-12-04 18:00:02 H=(spam) [203.0.113.9]:5000 F=<b@spam.example> "
        "rejected RCPT <v@else.example>: relay not permitted\n"
        "\x00\x01 junk\n"
        "Dec  4 18:00:03 mx exim[10]: H=(spam) [203.0.113.10]:5000 F=<b@spam.example> "
        "rejected RCPT <w@else.example>: relay not permitted\n"
    )
    found, summary = _read([log])
    assert sorted(t.recipient for t in found) == ["v@else.example", "w@else.example"]  # the second without time
    assert (summary.lines, summary.unreadable, summary.ignored) == (5, 1, 2)
