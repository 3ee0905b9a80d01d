"""Read exim main logs: for each recipient a client asked for, what exim decided (``verify --from-log``).

The log is read as a stream. A refusal (``rejected RCPT``, a refused
connection, a failed login) is whole on one line and is yielded at once. An
accepted message is spread over several lines: its arrival (``<=``: the
client and the sender, with ``+received_recipients`` the recipients), one line
per delivery attempt, then ``Completed``. It waits in a map by message id
until ``Completed``, so memory grows with the messages still waiting for
their delivery lines, never with the file; past ``PENDING_CAP`` the oldest
leaves with what is known of it.

Without ``+received_recipients`` the recipients are the top-level addresses
the delivery lines name (``=> mail <team@example.org>``: the client asked for
team@); a recipient exim wrote no line for (a duplicate of another's final
address) is then not seen.

Only the shape of a line is trusted. Fields are found by their ``NAME=``, so
a log_selector field this module does not know is skipped; a line that is not
a log line at all (junk, a write cut short, another file) is counted with its
place, never raised. exim's many informational lines (queue runs, retries,
"Frozen", a lost connection) are counted as ignored.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import gzip
import io
import itertools
import re
import sys
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple, cast

ACCEPTED, REJECTED, DEFERRED = "accepted", "rejected", "deferred"
DELIVERED, SUPPRESSED, FAILED, UNKNOWN = "delivered", "suppressed", "failed", "unknown"
SOCKET = "socket"  # the client of a local submission: no host, exim's P=local*
PENDING_CAP = 200_000  # messages waiting for delivery lines, at most
EXAMPLES = 5
EXAMPLE_WIDTH = 120

# The timestamp (+millisec adds ".mmm", log_timezone the offset), +pid's "[pid]", then the message id
# when the line is about one: 6-6-2 base-62 characters before exim 4.97, 6-11-4 since.
_PREFIX = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{3})?(?: [-+]\d{4})? (?:\[\d+\] )?"
    r"(?:([0-9A-Za-z]{6}-[0-9A-Za-z]{6,11}-[0-9A-Za-z]{2,4}) )?"
)
# What syslogd, rsyslog or journalctl put before a message: the time (traditional, or RFC 3339), the host, the tag
_SYSLOG = re.compile(
    r"(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[-+]\d\d:?\d\d)?) "
    r"\S+ ([^\s\[:]+(?:\[\d+\])?): "
)
_SEGMENT = re.compile(r"\[(\d+)([/\\])(\d+)\] ")  # exim's "[2/3] " on a long line it split for syslog
_UNDATED = "1970-01-01 00:00:00 "  # put before a syslogged line exim wrote without its time (no syslog_timestamp)
SNIFF = 50  # lines read at most to tell a syslog file from exim's own log
_QUOTED = re.compile(r'="[^"\\]*(?:\\.[^"\\]*)*"')  # a quoted value (T="subject"), backslash escapes and all
_FIELD_START = re.compile(r" [A-Za-z][A-Za-z0-9*]*=")
_TIMES = re.compile(r"(?: [DQ]T=\S*)+$")  # +deliver_time, +queue_time: after the reason on ** lines
# The common shape of a delivery, matched at once (the general path below takes any order of fields):
# ``addr [(parent)] [<top>] R=router T=transport``
_DELIVERED = re.compile(r"(\S+)(?: \([^)]*\))?(?: <([^>]+)>)? R=(\S+) T=(\S+)")
_GZIP_MAGIC = b"\x1f\x8b"
_MARKERS = frozenset(("=> ", "-> ", "*> ", "** ", "== "))
_OUTCOMES = {"=>": DELIVERED, "->": DELIVERED, "*>": SUPPRESSED, "**": FAILED, "==": DEFERRED}
# A later line for one recipient replaces the outcome only with a better one: a deferral then a delivery is delivered.
_RANK = {DEFERRED: 1, FAILED: 2, SUPPRESSED: 3, DELIVERED: 4}
# What follows "rejected " in exim's refusals (acl.c names the ACL; smtp_in.c its own EHLO check).
_STAGES = {
    "RCPT": "rcpt",
    "MAIL": "mail",
    "connection": "connect",
    "EHLO": "helo",
    "HELO": "helo",
    "after": "data",
    "DATA": "predata",
    "AUTH": "auth",
    "during": "mime",
}


class Transaction(NamedTuple):
    """One recipient of one SMTP transaction (or local submission) and what exim did with it.

    A named tuple, not a frozen dataclass: the reader makes one per recipient, and a tuple is made and
    hashed in a fifth of the time (a million-line log holds half a million of them).
    """

    client: str  # the client's IP address as logged in [..]; "socket" for a local submission
    port: int  # the server's port from I=[addr]:port (+incoming_interface), else 0
    authenticated: bool  # A= present on the line
    authenticator: str  # the A= value's name part ("plain_server" of "A=plain_server:alice"), "" if none
    sender: str  # envelope sender ("" for <>)
    recipient: str  # the address the client gave at RCPT (the top-level address); "" for a refusal before RCPT
    decision: str  # "accepted" | "rejected" (5xx) | "deferred" (4xx)
    stage: str  # where exim refused: "rcpt", "mail", "connect", "helo", "data", "auth", ...; "" when accepted
    router: str  # accepted: R= of the first delivery line for this recipient, "" unknown
    transport: str  # T= likewise
    outcome: str  # accepted: delivered, suppressed (-N), failed, deferred, unknown; refused: ""
    reason: str  # exim's text after a refusal, or the ** / == reason; "" otherwise


@dataclass(frozen=True)
class Unreadable:
    """A line that is not an exim main log line as this reader knows them, and where it is."""

    file: str
    line: int
    text: str  # trimmed to EXAMPLE_WIDTH characters, non-printable characters escaped


@dataclass
class LogSummary:
    """How the log read, filled in while reading: the lines, which were not understood, which did not matter."""

    lines: int = 0
    unreadable: int = 0
    examples: list[Unreadable] = field(default_factory=list)  # the first EXAMPLES unreadable lines
    ignored: int = 0  # understood but irrelevant: queue runs, "Completed", exim's own bounces, retries...
    pending: int = 0  # messages whose delivery lines never came (their recipients' outcome is "unknown")
    syslog: bool = False  # a file was a syslog file (exim's lines taken out of it)
    skipped: list[str] = field(default_factory=list)  # reject logs given with a main log: not read (read_logs)


class LogFileError(OSError):
    """A log that cannot be opened or read; the message names it."""


def read_logs(
    paths: Sequence[str | Path], summary: LogSummary | None = None, *, pending_cap: int = PENDING_CAP
) -> Iterator[Transaction]:
    """Stream transactions from the files in order (each plain or gzip, told by its magic bytes; "-" is stdin).

    Every path is checked before anything is read, so a wrong name fails at
    once with a LogFileError naming it. exim's reject log holds each refusal
    of the main log again (with the message's headers): given with a main
    log it is not read (``summary.skipped``), else its refusals are read and
    its header lines ignored. One message's lines may span files
    (a rotation between its arrival and its delivery). Messages still waiting
    at the end of the last file are yielded with what their lines said.
    """
    for path in paths:
        if str(path) != "-":
            _check_readable(Path(path))
    summary = summary if summary is not None else LogSummary()
    main = [path for path in paths if not is_reject_log(path)]
    if main and len(main) < len(paths):
        summary.skipped += [str(path) for path in paths if is_reject_log(path)]
        paths = main
    return _Reader(summary, pending_cap).read(paths)


def is_reject_log(path: str | Path) -> bool:
    """exim's reject log by its name (``rejectlog``, ``rejectlog.1.gz``, ``%slog`` with a date)."""
    return Path(str(path)).name.startswith("rejectlog")


def tally(transactions: Iterable[Transaction]) -> collections.Counter[Transaction]:
    """Deduplicate: how many times each distinct transaction occurred."""
    return collections.Counter(transactions)


def _check_readable(path: Path) -> None:
    """Fail early and clearly: a missing file, a directory or a file we may not read."""
    try:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        with path.open("rb"):
            pass
    except OSError as error:
        raise LogFileError(error.errno, f"cannot read the log {path}: {error.strerror}", str(path)) from error


class _Message:
    """An accepted message waiting for its delivery lines: who sent it, to whom, what each line said."""

    __slots__ = ("listed", "origin", "results")

    def __init__(self, origin: tuple[str, int, bool, str, str], listed: list[str]) -> None:
        self.origin = origin  # client, port, authenticated, authenticator, sender
        self.listed = listed  # +received_recipients' "for" list, as the client spelt the addresses
        # by lower-cased top-level address: [its spelling, router, transport, outcome, reason]
        self.results: dict[str, list[str]] = {}


class _Reader:
    """The state of one read: the summary, and the accepted messages still waiting for delivery lines."""

    def __init__(self, summary: LogSummary, pending_cap: int) -> None:
        self.summary = summary
        self.pending_cap = max(1, pending_cap)
        self.messages: dict[str, _Message] = {}

    def read(self, paths: Sequence[str | Path]) -> Iterator[Transaction]:
        for path in paths:
            name = str(path)
            with _open(name) as stream:
                yield from self._read_file(stream, name, is_reject_log(name))
        while self.messages:
            yield from self._finish(self.messages.pop(next(iter(self.messages))))

    def _read_file(self, stream: BinaryIO, name: str, reject_log: bool = False) -> Iterator[Transaction]:
        """Every line of one file; this loop is the hot path, so the common kinds are dispatched inline."""
        text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="\n")
        prefix, messages, summary = _PREFIX.match, self.messages, self.summary
        undated = self._header if reject_log else self._undated
        number = 0
        try:
            for number, line in _numbered(text, self.summary):
                match = prefix(line)
                if match is None:
                    undated(line.rstrip("\n"), name, number)
                    continue
                rest = line[match.end() : -1] if line[-1] == "\n" else line[match.end() :]
                message_id = match[1]
                marker = rest[:3]
                if message_id is None:
                    if (refusal := self._refusal(rest, name, number)) is not None:
                        yield refusal
                elif marker == "<= ":
                    if evicted := self._arrival(message_id, rest, name, number):
                        yield from evicted
                elif marker in _MARKERS:
                    self._delivery(message_id, rest, name, number)
                elif rest.startswith("Completed"):
                    summary.ignored += 1  # the line itself says nothing: it lets the message go
                    if (message := messages.pop(message_id, None)) is not None:
                        yield from self._finish(message)
                elif "rejected after DATA" in rest:
                    if (refusal := self._refusal(rest, name, number)) is not None:
                        yield refusal
                else:
                    summary.ignored += 1
        except (EOFError, zlib.error, gzip.BadGzipFile) as error:
            # A gzip file cut short (a copy in progress, a full disk): keep what was read, say where it stopped.
            self._unreadable(name, number + 1, f"compressed data ends or breaks here: {error}")
        except OSError as error:
            raise LogFileError(error.errno, f"cannot read the log {name}: {error.strerror}", name) from error
        finally:
            summary.lines += number
            text.detach()  # the caller closes the file (and never stdin)

    def _arrival(self, message_id: str, rest: str, name: str, number: int) -> list[Transaction]:
        """Remember an accepted message; the oldest waiting one when the map is full."""
        parsed = _arrival(rest)
        if parsed is None:
            self._unreadable(name, number, rest)
            return []
        if not parsed:  # exim's own message (a bounce, an autoreply): no client asked for it
            self.summary.ignored += 1
            return []
        self.messages[message_id] = _Message(*parsed)
        if len(self.messages) > self.pending_cap:
            return self._finish(self.messages.pop(next(iter(self.messages))))
        return []

    def _delivery(self, message_id: str, rest: str, name: str, number: int) -> None:
        """Note what one =>, ->, *>, ** or == line says of its message's recipient."""
        outcome = _OUTCOMES[rest[:2]]
        parsed = _delivery(rest[3:], outcome)
        if parsed is None:
            self._unreadable(name, number, rest)
            return
        message = self.messages.get(message_id)
        if message is None:  # exim's own bounce, or a message that arrived before this log began
            self.summary.ignored += 1
            return
        top, router, transport, reason = parsed
        key = top.lower()
        result = message.results.get(key)
        if result is None:
            message.results[key] = [top, router, transport, outcome, reason]
        elif _RANK[outcome] > _RANK[result[3]] or (outcome == result[3] and not result[4]):
            result[3], result[4] = outcome, reason

    def _finish(self, message: _Message) -> list[Transaction]:
        """One transaction per recipient: the "for" list's, then any other the delivery lines named."""
        origin, results = message.origin, message.results
        if not results:
            self.summary.pending += 1
        if not message.listed:  # no "for" list: the delivery lines name the recipients
            return [Transaction(*origin, r[0], ACCEPTED, "", r[1], r[2], r[3], r[4]) for r in results.values()]
        done = []
        for recipient in message.listed:
            result = results.get(recipient.lower())
            route = (result[1], result[2], result[3], result[4]) if result else ("", "", UNKNOWN, "")
            done.append(Transaction(*origin, recipient, ACCEPTED, "", *route))
        listed = {r.lower() for r in message.listed}
        for key, (recipient, router, transport, outcome, reason) in results.items():
            if key not in listed:  # an address rewritten after the "for" list was written
                done.append(Transaction(*origin, recipient, ACCEPTED, "", router, transport, outcome, reason))
        return done

    def _refusal(self, rest: str, name: str, number: int) -> Transaction | None:
        """A refusal as a transaction; None for anything else exim says (ignored) or a refusal cut short.

        exim's lines about no message are sentences; a single word after the
        timestamp is a line cut short (inside its message id, say).
        """
        if " " not in rest:
            self._unreadable(name, number, rest)
            return None
        try:
            refusal = _refusal(rest)
        except ValueError:
            self._unreadable(name, number, rest)
            return None
        if refusal is None:
            self.summary.ignored += 1
        return refusal

    def _undated(self, line: str, name: str, number: int) -> None:
        """A line without exim's timestamp is not a log line (a blank one is harmless)."""
        if line.strip():
            self._unreadable(name, number, line)
        else:
            self.summary.ignored += 1

    def _header(self, line: str, name: str, number: int) -> None:
        """In the reject log, the lines after a refusal are the message's envelope and headers."""
        self.summary.ignored += 1

    def _unreadable(self, name: str, number: int, text: str) -> None:
        self.summary.unreadable += 1
        if len(self.summary.examples) < EXAMPLES:
            self.summary.examples.append(Unreadable(name, number, _printable(text)))


@contextlib.contextmanager
def _open(name: str) -> Iterator[BinaryIO]:
    """The file (or stdin, left open) as bytes; decompressed when it starts with gzip's magic, whatever its name."""
    try:
        raw = sys.stdin.buffer if name == "-" else open(name, "rb")  # noqa: SIM115 - closed below
    except OSError as error:
        raise LogFileError(error.errno, f"cannot read the log {name}: {error.strerror}", name) from error
    try:
        # peek() needs a buffered reader: sys.stdin.buffer is one, a test's stand-in may not be
        buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(cast(io.RawIOBase, raw))
        if buffered.peek(2)[:2] == _GZIP_MAGIC:
            yield cast(BinaryIO, gzip.GzipFile(fileobj=buffered, mode="rb"))
        else:
            yield cast(BinaryIO, buffered)
    finally:
        if name != "-":
            raw.close()


def _numbered(text: Iterable[str], summary: LogSummary) -> Iterator[tuple[int, str]]:
    """The file's lines, numbered; a syslog file's as exim wrote them (``_from_syslog``).

    Which of the two a file is, its first line of either shape tells (within
    SNIFF lines); a file of exim's own log is read as it is, at full speed.
    """
    lines = enumerate(text, 1)
    seen: list[tuple[int, str]] = []
    for numbered in lines:
        seen.append(numbered)
        line = numbered[1]
        if _PREFIX.match(line) is not None or len(seen) >= SNIFF:
            break
        if _SYSLOG.match(line) is not None:
            summary.syslog = True
            return _from_syslog(itertools.chain(seen, lines))
    return itertools.chain(seen, lines)


def _from_syslog(lines: Iterable[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """exim's lines out of a syslog file: its prefix taken off, split lines joined, duplicates dropped.

    Every line of the file is yielded, so that its number stays its own: a
    line that is not exim's (another program's, a part of a split line, a
    copy) as "", which the reader counts as ignored. exim splits a line of
    over 870 characters into ``[1/3] ``, ``[2/3] ``... and a line of several
    (the reject log's headers) at its newlines (``[1\\3] ``): the first line
    is what the main log has. With ``syslog_duplication`` (the default) a
    refusal is written twice, for the main log and for the reject log: a line
    the same process wrote just before is that copy. Two identical refusals
    in one second from one process, without syslog_duplication, count once.
    """
    parts: dict[str, list[str]] = {}  # by tag[pid]: the parts of a split line's first line so far
    ended: set[str] = set()  # tags[pid] whose split line's first line is whole (the parts left are headers)
    last: dict[str, str] = {}  # by tag[pid]: the line it wrote before, until its copy comes
    for number, line in lines:
        match = _SYSLOG.match(line)
        if match is None:
            yield number, line  # not a syslog line: unreadable, as in exim's own log
            continue
        source = match[1]
        if not source.startswith("exim"):
            yield number, ""
            continue
        body = line[match.end() :].rstrip("\n")
        segment = _SEGMENT.match(body)
        if segment is not None:
            whole = _joined(parts, ended, source, body[segment.end() :], *segment.groups())
            if whole is None:
                yield number, ""
                continue
            body = whole
        if last.pop(source, None) == body:
            yield number, ""  # syslog_duplication's copy
            continue
        last[source] = body
        yield number, body if _PREFIX.match(body) is not None else _UNDATED + body


def _joined(
    parts: dict[str, list[str]], ended: set[str], source: str, text: str, index: str, cut: str, total: str
) -> str | None:
    """The first line of a split one once its last part has come; None before (and for a part out of place)."""
    if index == "1":
        parts[source] = []
        ended.discard(source)
    elif source not in parts:
        return None
    if source not in ended:
        parts[source].append(text)
        if cut == "\\":
            ended.add(source)  # the first line ends here: the rest is the reject log's headers
    if index != total:
        return None
    ended.discard(source)
    return "".join(parts.pop(source))


def _arrival(rest: str) -> tuple[tuple[str, int, bool, str, str], list[str]] | tuple[()] | None:
    """The origin and "for" list of a ``<=`` line; () for exim's own message; None when the line is cut short.

    ``<= sender [R=parent] [H=name (helo) [ip]:port] [I=[ip]:port] [U=..] P=proto ... [A=name:id] ... S=size
    ... [for r1 r2]``, fields as the log_selector has them: a line without P= or S= (both always written)
    was cut off. Quoted values (T="subject") are blanked first, so nothing in them is taken for a field.
    """
    text = rest[3:]
    if '"' in text:
        text = _QUOTED.sub('=""', text)
    space = text.find(" ", text.find('"', 1) if text[:1] == '"' else 0)  # a quoted local part may hold spaces
    protocol = text.find(" P=")
    if space <= 0 or protocol < 0:
        return None
    cut = text.find(" for ", protocol)  # after P=, so that a HELO name with " for " in it is no list
    fields = text[space:cut] if cut >= 0 else text[space:]
    if " S=" not in fields:
        return None
    if " R=" in fields:
        return ()
    sender = text[:space]
    at = fields.find(" A=")
    authenticator = fields[at + 3 :].partition(" ")[0].partition(":")[0] if at >= 0 else ""
    listed = text[cut + 5 :].split() if cut >= 0 else []
    return (
        _client(fields, bare=False),
        _port(fields),
        at >= 0,
        authenticator,
        "" if sender == "<>" else sender,
    ), listed


def _delivery(body: str, outcome: str) -> tuple[str, str, str, str] | None:
    """(top-level address, router, transport, reason) of a =>, ->, *>, ** or == line; None when it is cut short.

    ``addr [(parent, ...)] [<top>] [F=<..>] [P=<..>] R=router T=transport ... [: reason]``: the top-level
    address (the one the client gave) is the ``<..>`` after the delivered one, else the delivered one itself.
    """
    if outcome in (DELIVERED, SUPPRESSED) and (common := _DELIVERED.match(body)):
        return common[2] or common[1], common[3], common[4], ""
    head, reason = body, ""
    if outcome in (FAILED, DEFERRED):
        cut = _reason_start(body)
        if cut >= 0:
            head, reason = body[:cut].rstrip(), _TIMES.sub("", body[cut + 2 :])
    router_at, transport_at = head.find(" R="), head.find(" T=")
    first = router_at if router_at >= 0 else transport_at if transport_at >= 0 else len(head)
    addresses = head[:first]
    if "=" in addresses and (found := _FIELD_START.search(addresses)):  # F=<..>, P=<..>, Q=.. before R=
        addresses = addresses[: found.start()]
    opening = addresses.rfind(" <")
    closing = addresses.find(">", opening)
    top = addresses[opening + 2 : closing] if 0 <= opening < closing else addresses.partition(" ")[0]
    router = _value(head, router_at) if router_at >= 0 else ""
    transport = _value(head, transport_at) if transport_at >= 0 else ""
    if not top:
        return None
    if outcome == DEFERRED:
        if " defer" not in head:
            return None
        if not reason and "defer (" in head:
            reason = head[head.index("defer (") + 7 :].partition(")")[0]
    elif outcome == FAILED:
        if not reason and not router:
            return None
    elif not router and not transport:
        return None
    return top, router, transport, reason


def _refusal(rest: str) -> Transaction | None:
    """The transaction of a refusal line, None for a line that is no refusal; ValueError when one is cut short.

    ``H=(helo) [ip]:port I=[ip]:port U=.. F=<sender> A=.. [temporarily ]rejected RCPT <rcpt>: reason`` and
    the like for MAIL, the connect and HELO ACLs, DATA; exim's own ``rejected EHLO from [ip]: ...``; a failed
    login; a connection the daemon refused.
    """
    if rest.startswith("SMTP protocol synchronization error"):
        return _refused(rest, "sync", REJECTED, rest.partition(":")[0])
    at = rest.find("rejected ")
    if at < 0:
        if " authenticator failed for " in rest:
            return _failed_login(rest)
        if rest.startswith("Connection from ") and " refused" in rest:
            reason = rest.partition(" refused")[2].lstrip(": ")
            busy = "too many" in reason or "load average" in reason
            return _refused(rest, "connect", DEFERRED if busy else REJECTED, reason)
        return None
    if at and not _after_host(rest, at):
        return None
    head, what = rest[:at], rest[at + 9 :]
    word = what.partition(" ")[0]
    stage = _STAGES.get(word, word.lower().rstrip(":"))
    address, after = "", what
    if stage in ("rcpt", "mail"):
        address, after = _command_address(what[len(word) + 1 :])
    host = head if at else what
    sender = address if stage == "mail" else _sender(head)
    recipient = address if stage == "rcpt" else ""
    authenticated = (found := host.find(" A=")) >= 0
    authenticator = host[found + 3 :].partition(" ")[0].partition(":")[0] if authenticated else ""
    decision = DEFERRED if head.endswith("temporarily ") else REJECTED
    reason = after.partition(": ")[2]
    client, port = _client(host), _port(host)
    return Transaction(
        client, port, authenticated, authenticator, sender, recipient, decision, stage, "", "", "", reason
    )


def _failed_login(rest: str) -> Transaction:
    """``NAME authenticator failed for H=(helo) [ip] ...: 535 Incorrect authentication data (set_id=...)``."""
    name, _, after = rest.partition(" authenticator failed for ")
    host, _, reason = after.partition(": ")
    decision = DEFERRED if reason[:1] == "4" else REJECTED
    return Transaction(_client(host), _port(host), False, name, "", "", decision, "auth", "", "", "", reason)


def _refused(rest: str, stage: str, decision: str, reason: str) -> Transaction:
    return Transaction(_client(rest), _port(rest), False, "", "", "", decision, stage, "", "", "", reason)


def _after_host(rest: str, at: int) -> bool:
    """Whether "rejected" at ``at`` follows the client's fields (H=, U=, F=...), as in exim's refusals."""
    before = rest[:at].rstrip().removesuffix("temporarily").rstrip()
    last = before.rpartition(" ")[2]
    return "=" in last or last.startswith("[")


def _command_address(argument: str) -> tuple[str, str]:
    """The address of a RCPT or MAIL argument as logged (``<a@b> [params]: reason``) and the text after it."""
    if argument.startswith("<"):
        closing = argument.find(">")
        if closing < 0:
            raise ValueError("cut short inside the address")
        return argument[1:closing], argument[closing + 1 :]
    word, _, after = argument.partition(" ")
    if word.endswith(":"):
        return word[:-1], ": " + after
    return word, after


def _client(text: str, bare: bool = True) -> str:
    """The client's address: H=[ip], H=name [ip], H=(helo) [ip] or H=name (helo) [ip]; else the socket.

    The HELO name may itself be an address literal (``H=([10.0.0.5]) [198.51.100.7]``), so the address is
    the bracket after the parenthesised HELO name when there is one. With ``bare``, a line with no H= may
    name its client as a bare ``[ip]`` (``rejected EHLO from [ip]``, ``Connection from [ip]``).
    """
    at = text.find("H=")
    while at > 0 and text[at - 1] != " ":  # another field's name ending in H
        at = text.find("H=", at + 1)
    if at < 0:
        opening = text.find("[") if bare else -1
        return _bracketed(text[opening:]) if opening >= 0 else SOCKET
    at += 2
    if text[at : at + 1] not in ("(", "["):  # a host name first
        at = text.find(" ", at) + 1
        if not at:
            return SOCKET
    if text[at : at + 1] == "(":
        at = text.find(") [", at) + 2
        if at < 2:
            return SOCKET
    return _bracketed(text[at:]) if text[at : at + 1] == "[" else SOCKET


def _port(text: str) -> int:
    """The server's port of ``I=[addr]:port``, 0 when it is not logged."""
    at = text.find("I=[")
    while at > 0 and text[at - 1] != " ":  # another field's name ending in I (an unknown XI=, say)
        at = text.find("I=[", at + 1)
    closing = text.find("]:", at) if at >= 0 else -1
    if closing < 0:
        return 0
    digits = text[closing + 2 :].partition(" ")[0].rstrip(":")
    return int(digits) if digits.isdigit() else 0


def _sender(head: str) -> str:
    """The F=<sender> of a refusal's fields, "" for <> or none."""
    at = head.find("F=<")
    return head[at + 3 : head.find(">", at)] if at >= 0 else ""


def _bracketed(text: str) -> str:
    """The address inside ``[..]`` at the start of ``text`` (``[2001:db8::1]:25`` gives ``2001:db8::1``)."""
    return text[1:].partition("]")[0]


def _value(text: str, at: int) -> str:
    """The value of the field whose " NAME=" starts at ``at``, up to the next space."""
    start = text.index("=", at) + 1
    end = text.find(" ", start)
    return text[start:] if end < 0 else text[start:end]


def _reason_start(text: str) -> int:
    """Where the reason of a ** or == line starts: the first ": " outside a quoted field, -1 if none."""
    cut = text.find(": ")
    while cut >= 0 and text.count('"', 0, cut) % 2:
        cut = text.find(": ", cut + 1)
    return cut


def _printable(text: str) -> str:
    """A line fit to show: at most EXAMPLE_WIDTH characters, control and undecodable characters escaped."""
    shown = "".join(c if c.isprintable() and c != "\ufffd" else f"\\x{ord(c):02x}" for c in text[:EXAMPLE_WIDTH])
    return shown + ("..." if len(text) > EXAMPLE_WIDTH else "")
