"""The main log reader, held to logs the real exim 4.100 wrote for traffic whose every answer was seen.

Each fixture's traffic (tests/verify/traffic.py) goes through ``exim -bs``;
what exim replied in the dialogue is the expectation, and the reader must
find exactly that in exim's own log: each recipient with exim's decision, the
client, port, login and sender, and where exim logged them, the route and the
outcome. The damaged logs are the real ones cut, gzipped, rotated and
sprinkled with junk; the only hand-written lines are the junk.
"""

from __future__ import annotations

import collections
import errno
import gzip
import io
import re
import shutil
import sys
import tempfile
import tracemalloc
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from migrate.verify.mainlog import LogFileError, LogSummary, Transaction, read_logs, tally
from tests.conftest import FIXTURES, Exim
from tests.verify import traffic
from tests.verify.traffic import Sent, Traffic

# fixture: (the script, what is added to its log_selector, lines added to a copy of its aliases)
TRAFFIC = {
    "exim-default": (traffic.default_script, "+incoming_interface", traffic.EXTRA_ALIASES),
    "per-port-submission": (traffic.submission_script, "+all", ""),
    "blocklist-files": (traffic.blocklist_script, "", ""),
    "auth-passwd-file": (traffic.login_script, "+incoming_interface +received_recipients", ""),
    "control-panel-helo": (traffic.helo_script, "", ""),
    "includes-lists": (traffic.mail_script, "", ""),
}
LOGS_PORT = {
    name for name, (_, selector, _) in TRAFFIC.items() if "incoming_interface" in selector or "+all" in selector
}
OWN = traffic.HOSTNAME


@pytest.fixture(scope="module")
def logs(exim: Exim, namespaces: None) -> Iterator[dict[str, Traffic]]:
    """Every fixture's traffic through the real exim, once (exim's user must reach the directory: not pytest's)."""
    base = Path(tempfile.mkdtemp(prefix="exim2smtpd-mainlog-"))
    base.chmod(0o755)
    try:
        made = {}
        for name, (script, selector, aliases) in TRAFFIC.items():
            workdir = base / name
            workdir.mkdir()
            configure = FIXTURES / name / "configure"
            made[name] = traffic.write_mainlog(exim, configure, workdir, script(), selector=selector, aliases=aliases)
        yield made
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _read(paths: Iterable[Path | str], **options: int) -> tuple[list[Transaction], LogSummary]:
    summary = LogSummary()
    return list(read_logs(list(paths), summary, **options)), summary


def _key(t: Transaction | Sent, port_logged: bool = True) -> tuple[object, ...]:
    port = t.port if port_logged else 0
    return (t.client, port, t.authenticated, t.authenticator, t.sender, t.recipient, t.decision, t.stage)


def _both(made: Traffic) -> list[Path]:
    return [made.rotated, made.current]


def _find(transactions: Iterable[Transaction], **fields: object) -> list[Transaction]:
    return [t for t in transactions if all(getattr(t, k) == v for k, v in fields.items())]


# --- the real logs ----------------------------------------------------------------------------------------------


@pytest.mark.exim
@pytest.mark.parametrize("name", list(TRAFFIC))
def test_the_log_holds_what_exim_answered(logs: dict[str, Traffic], name: str) -> None:
    """Per client, port, login, sender, recipient and stage, the decisions in the log are exim's replies."""
    made = logs[name]
    transactions, summary = _read(_both(made))
    expected = collections.Counter(_key(s, name in LOGS_PORT) for s in made.sent)
    assert collections.Counter(_key(t) for t in transactions) == expected
    assert summary.unreadable == 0, summary.examples
    assert summary.lines == sum(len(p.read_bytes().splitlines()) for p in _both(made))
    assert all(t.outcome for t in transactions if t.decision == "accepted")
    assert not any(t.outcome or t.router for t in transactions if t.decision != "accepted")


@pytest.mark.exim
def test_the_logs_hold_every_kind_of_line(logs: dict[str, Traffic]) -> None:
    """The traffic makes exim write each kind of line the reader knows (so the other tests cover them)."""
    text = "\n".join(p.read_text(errors="replace") for made in logs.values() for p in _both(made))
    kinds = [
        " <= ",
        " => ",
        " -> ",
        " *> ",
        " ** ",
        " == ",
        " Completed",
        "<= <> R=",
        " rejected RCPT ",
        " temporarily rejected RCPT ",
        " rejected MAIL ",
        ' rejected connection in "connect" ACL',
        " rejected EHLO or HELO ",
        "rejected EHLO from ",
        " rejected after DATA",
        " authenticator failed for ",
        " A=plain_server:",
        " A=login_server:",
        " for friend@far.example",
        "Start queue run",
    ]
    assert [kind for kind in kinds if kind not in text] == []
    # +all: milliseconds and the process id in the prefix; the parents of an alias in parentheses
    assert re.search(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \[\d+\] ", text, re.M)
    assert re.search(r" == \S+ <postmaster@example\.org> ", text)


@pytest.mark.exim
def test_routes_and_outcomes(logs: dict[str, Traffic]) -> None:
    """Each recipient carries the router, transport and outcome of its first delivery line."""
    transactions, _ = _read(_both(logs["exim-default"]))
    real = _find(transactions, client="198.51.100.90")
    assert {(t.recipient, t.router, t.transport, t.outcome) for t in real} == {
        ("void@" + OWN, "system_aliases", "", "delivered"),  # => :blackhole: <void@...>
        ("team@" + OWN, "localuser", "local_delivery", "delivered"),  # => mail <team@...>, then daemon, friend@
        ("postmaster@" + OWN, "dnslookup", "remote_smtp", "delivered"),  # => admin@example.net <postmaster@...>
    }
    relayed = {t.recipient: t for t in _find(transactions, client="127.0.0.1")}
    assert relayed["friend@far.example"].outcome == relayed["pal@far.example"].outcome == "delivered"  # => and ->
    assert relayed["reject-1@far.example"].outcome == "failed"
    assert "550 5.1.1 no such user here" in relayed["reject-1@far.example"].reason
    suppressed = _find(transactions, client="198.51.100.10", recipient="mail@" + OWN)
    assert [(t.router, t.transport, t.outcome) for t in suppressed] == [("localuser", "local_delivery", "suppressed")]
    assert _find(transactions, recipient="Daemon@" + OWN)[0].outcome == "suppressed"  # the spelling the client gave
    login = _find(transactions, client="203.0.113.50")
    assert {(t.port, t.authenticated, t.authenticator, t.outcome) for t in login} == {
        (587, True, "plain_server", "delivered")
    }
    local = _find(transactions, client="socket")
    assert local and all(t.port == 0 and not t.authenticated and t.outcome == "suppressed" for t in local)
    assert {t.reason for t in _find(transactions, decision="deferred", stage="rcpt")} == {"mailbox being migrated"}
    assert _find(transactions, stage="data")[0].reason == "maximum allowed line length is 998 octets, got 1200"


@pytest.mark.exim
def test_a_message_delivered_in_the_next_file(logs: dict[str, Traffic]) -> None:
    """A recipient deferred before the rotation and delivered by the queue run after it is delivered."""
    made = logs["exim-default"]
    assert "defer-1@far.example" in made.current.read_text()  # the queue run after the rotation delivered it
    before, _ = _read([made.rotated])
    assert _find(before, recipient="defer-1@far.example")[0].outcome == "deferred"
    assert "451 4.3.0 try again later" in _find(before, recipient="defer-1@far.example")[0].reason
    both, _ = _read(_both(made))
    assert _find(both, recipient="defer-1@far.example")[0].outcome == "delivered"
    alone, summary = _read([made.current])  # the queue run's lines alone name a message this file never saw
    assert alone == [] and summary.ignored > 0 and summary.unreadable == 0


@pytest.mark.exim
def test_the_for_list_all_parents_and_a_duplicate(logs: dict[str, Traffic]) -> None:
    """With +all the "for" list names the recipients; one exim wrote no line for (a duplicate) stays unknown."""
    transactions, _ = _read(_both(logs["per-port-submission"]))
    abuse = _find(transactions, recipient="abuse@mx.example.org")  # abuse -> root, as postmaster: delivered once
    assert [(t.outcome, t.router) for t in abuse] == [("unknown", "")]
    postmaster = _find(transactions, client="198.51.100.71", recipient="postmaster@example.org")
    assert [(t.router, t.outcome) for t in postmaster] == [("local_user", "deferred")]
    refused = _find(transactions, port=587, authenticated=False)
    assert refused and {(t.decision, t.reason) for t in refused} == {("rejected", "authentication required")}


@pytest.mark.exim
def test_logins(logs: dict[str, Traffic]) -> None:
    """A real AUTH PLAIN after STARTTLS: A= on the accepted ones, the failed logins refused at "auth"."""
    transactions, _ = _read(_both(logs["auth-passwd-file"]))
    accepted = _find(transactions, decision="accepted")
    assert {(t.client, t.authenticated, t.authenticator) for t in accepted} == {("198.18.0.77", True, "plain_server")}
    failed = _find(transactions, stage="auth")
    assert {(t.client, t.port, t.authenticator, t.decision) for t in failed} == {
        ("198.18.0.78", 587, "plain_server", "rejected"),
        ("198.18.0.79", 587, "plain_server", "rejected"),
    }
    assert all(t.reason.startswith("535 Incorrect authentication data") for t in failed)


@pytest.mark.exim
def test_pending_cap_lets_the_oldest_go(logs: dict[str, Traffic]) -> None:
    """With room for one waiting message, the deferred one leaves before its delivery line: same answers."""
    made = logs["exim-default"]
    full, _ = _read(_both(made))
    capped, summary = _read(_both(made), pending_cap=1)
    assert collections.Counter(_key(t) for t in capped) == collections.Counter(_key(t) for t in full)
    assert _find(capped, recipient="defer-1@far.example")[0].outcome == "deferred"
    assert summary.unreadable == 0


@pytest.mark.exim
def test_a_log_that_ends_before_the_deliveries(logs: dict[str, Traffic], tmp_path: Path) -> None:
    """Arrivals without their delivery lines: with a "for" list, unknown outcomes; without one, nothing to say."""
    for name in ("per-port-submission", "exim-default"):
        lines = logs[name].rotated.read_text().splitlines(keepends=True)
        arrivals = [line for line in lines if " <= " in line]
        cut = tmp_path / f"{name}.log"
        cut.write_text("".join(line for line in lines if not re.search(r" (?:=>|->|\*>|\*\*|==) | Completed", line)))
        transactions, summary = _read([cut])
        own = sum(" R=" in line.partition(" for ")[0] for line in arrivals)  # exim's bounces: no one's question
        assert summary.pending == len(arrivals) - own
        accepted = _find(transactions, decision="accepted")
        assert {t.outcome for t in accepted} == ({"unknown"} if name == "per-port-submission" else set())


# --- the same logs, damaged --------------------------------------------------------------------------------------


@pytest.mark.exim
def test_gzip_is_told_by_its_magic_bytes(logs: dict[str, Traffic], tmp_path: Path) -> None:
    made = logs["exim-default"]
    expected = tally(read_logs(_both(made)))
    data = made.rotated.read_bytes()
    (tmp_path / "mainlog.1.gz").write_bytes(gzip.compress(data))
    (tmp_path / "mainlog.1.txt").write_bytes(gzip.compress(data))  # gzip whatever the name
    (tmp_path / "mainlog.gz").write_bytes(made.current.read_bytes())  # plain whatever the name
    for first in ("mainlog.1.gz", "mainlog.1.txt"):
        assert tally(read_logs([tmp_path / first, tmp_path / "mainlog.gz"])) == expected


@pytest.mark.exim
def test_stdin(logs: dict[str, Traffic], monkeypatch: pytest.MonkeyPatch) -> None:
    made = logs["exim-default"]
    expected = tally(read_logs([made.rotated]))
    for data in (made.rotated.read_bytes(), gzip.compress(made.rotated.read_bytes())):
        monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BufferedReader(io.BytesIO(data))))
        assert tally(read_logs(["-"])) == expected
        assert not sys.stdin.buffer.closed  # stdin is the caller's


@pytest.mark.exim
def test_a_truncated_gzip_keeps_what_was_read(logs: dict[str, Traffic], tmp_path: Path) -> None:
    made = logs["exim-default"]
    packed = gzip.compress(made.rotated.read_bytes())
    cut = tmp_path / "mainlog.1.gz"
    cut.write_bytes(packed[: len(packed) * 2 // 3])
    transactions, summary = _read([cut])
    assert transactions and not (tally(transactions) - tally(read_logs([made.rotated])))
    assert summary.unreadable == 1 and summary.examples[0].file == str(cut)
    assert "compressed data" in summary.examples[0].text


@pytest.mark.exim
def test_junk_cut_lines_unknown_fields_and_bad_bytes(logs: dict[str, Traffic], tmp_path: Path) -> None:
    """Known lines stay readable whatever is around or inside them; each line that is not one is counted, located."""
    made = logs["exim-default"]
    expected = tally(read_logs([made.rotated]))
    real = made.rotated.read_bytes().splitlines()
    arrival = next(line for line in real if b" <= sender" in line)
    delivery = next(line for line in real if b" *> mail <mail@" in line)
    refusal = next(line for line in real if b" rejected RCPT <nosuch@" in line)
    junk = [
        b"\x00\x01\xfe\xff binary \x7f junk",
        b"not a log line at all",
        real[0][:15],  # cut inside the timestamp
        arrival[: arrival.index(b" P=")],  # an arrival cut before P=
        delivery[: delivery.index(b" R=")],  # a delivery cut before R=
        refusal[: refusal.index(b"<nosuch@") + 8],  # a refusal cut inside the address
    ]
    damaged = []
    for line in real:
        # fields this reader has never heard of, in every kind of line; a HELO name that is not UTF-8
        line = re.sub(rb" P=esmtp", b" ZZ=new Q9*=x P=esmtp", line)
        line = re.sub(rb" R=localuser", b" XY=[1.2.3.4]:5 R=localuser", line)
        line = re.sub(rb" U=root F=", b" U=root W=w F=", line)
        damaged.append(line.replace(b"(client3.example)", b"(client\xff3.example)"))
    where = []
    for n, line in enumerate(junk):
        at = 10 + n * 40
        damaged.insert(at, line)
        where.append(at + 1)
    path = tmp_path / "mainlog"
    path.write_bytes(b"\n".join(damaged) + b"\n" + arrival[:40])  # and the last write cut short, no newline
    transactions, summary = _read([path])
    assert tally(transactions) == expected
    assert summary.unreadable == len(junk) + 1
    assert [(e.file, e.line) for e in summary.examples] == [(str(path), n) for n in where[:5]]
    assert all(e.text.isprintable() and len(e.text) <= 123 for e in summary.examples)
    assert summary.examples[0].text.startswith("\\x00\\x01")


def test_a_missing_file_fails_at_once_naming_it(tmp_path: Path) -> None:
    present = tmp_path / "mainlog.1"
    present.write_text("")
    missing = tmp_path / "mainlog"
    with pytest.raises(LogFileError) as raised:
        read_logs([present, missing])  # before anything is read: not at the first transaction
    assert isinstance(raised.value, OSError) and raised.value.errno == errno.ENOENT
    assert str(missing) in str(raised.value)
    with pytest.raises(LogFileError, match="Is a directory"):
        read_logs([tmp_path])


# --- streaming ----------------------------------------------------------------------------------------------------


class _Generated(io.RawIOBase):
    """A synthetic log as a stream, made while it is read: nothing of it is ever held whole."""

    def __init__(self, messages: int) -> None:
        self.lines = traffic.synthetic_log(messages)
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while len(self.pending) < len(buffer):
            block = "\n".join(line for _, line in zip(range(500), self.lines, strict=False))
            if not block:
                break
            self.pending += block.encode() + b"\n"
        count = min(len(buffer), len(self.pending))
        buffer[:count] = self.pending[:count]
        self.pending = self.pending[count:]
        return count


def _streamed(messages: int, monkeypatch: pytest.MonkeyPatch) -> tuple[int, int]:
    """(transactions, peak bytes Python allocated while reading) for a synthetic log of ``messages``."""
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BufferedReader(_Generated(messages))))
    tracemalloc.start()
    try:
        count = sum(1 for _ in read_logs(["-"]))
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_is_bounded_by_the_waiting_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten times the messages, each completed before the next: the same peak, not ten times it."""
    small, small_peak = _streamed(2_000, monkeypatch)
    large, large_peak = _streamed(20_000, monkeypatch)
    assert large == 10 * small
    assert large_peak < small_peak * 1.5


def test_messages_that_complete_in_turn_never_wait_together(monkeypatch: pytest.MonkeyPatch) -> None:
    """Room for a single waiting message changes nothing when each completes before the next arrives."""
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BufferedReader(_Generated(3_000))))
    roomy = tally(read_logs(["-"]))
    monkeypatch.setattr(sys, "stdin", SimpleNamespace(buffer=io.BufferedReader(_Generated(3_000))))
    summary = LogSummary()
    assert tally(read_logs(["-"], summary, pending_cap=1)) == roomy
    assert summary.pending == 0 and summary.unreadable == 0


@pytest.mark.exim
@pytest.mark.parametrize("name", list(TRAFFIC))
def test_the_reject_log_alone_gives_the_main_logs_refusals(logs: dict[str, Traffic], name: str) -> None:
    """Read alone (all an admin kept, say), exim's reject log gives every refusal of the main log, headers ignored."""
    made = logs[name]
    rejectlog = made.rotated.parent / "rejectlog"
    refused, summary = _read([rejectlog])
    main, _ = _read(_both(made))
    assert refused and collections.Counter(refused) == collections.Counter(t for t in main if t.decision != "accepted")
    assert summary.unreadable == 0, summary.examples
