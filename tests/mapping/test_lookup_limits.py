"""Lookup files exim2smtpd will not hold: refused at once, not read, and reported as an unreadable file is.

A lookup file of a gigabyte, one with a line of megabytes, or something that
is no regular file (a FIFO, /dev/zero, a directory) must not be read into
memory, nor read forever: the statement naming it gets the finding an
unreadable file gets. A big file's read shows its progress on a terminal only.
"""

from __future__ import annotations

import fcntl
import io
import os
import pty
import select
import shutil
import struct
import subprocess
import sys
import termios
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from migrate import lookups
from migrate.commands.convert import Result, convert
from migrate.lookups import FileStore
from migrate.options import Options
from tests.conftest import FIXTURES, ROOT

MiB = 1024 * 1024
BIG = "1.0 GB, above the 256 MB exim2smtpd reads"

CONFIGURE = """\
keep_environment =
primary_hostname = mx.example.org
domainlist local_domains = @ : lsearch;/etc/exim/domains
acl_smtp_rcpt = acl_check_rcpt

begin acl

acl_check_rcpt:
  accept  domains = +local_domains
  deny    message = relaying denied

begin routers

localuser:
  driver = accept
  domains = +local_domains
  check_local_user
  transport = local_delivery

begin transports

local_delivery:
  driver = appendfile
  file = /var/mail/$local_part_data
"""


class CountingOs:
    """The os module as migrate.lookups sees it, counting the files opened and the bytes read."""

    def __init__(self) -> None:
        self.opened = 0
        self.read_bytes = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)

    def open(self, *args: Any, **kwargs: Any) -> int:
        self.opened += 1
        return os.open(*args, **kwargs)

    def read(self, fd: int, size: int) -> bytes:
        data = os.read(fd, size)
        self.read_bytes += len(data)
        assert self.read_bytes <= 8 * MiB, "read on past the limits"
        return data


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> CountingOs:
    counter = CountingOs()
    monkeypatch.setattr(lookups, "os", counter)
    return counter


def _sparse(path: Path, size: int = 1024 * MiB) -> Path:
    """A file of ``size`` bytes taking no disk (``truncate -s 1G``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.truncate(size)
    return path


def _long_line(path: Path, before: bytes = b"example.org\n# a comment\n", after: bytes = b"example.net\n") -> Path:
    """A file whose third line (after ``before``) is a comment 10 MB long."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(before + b"#" + b"x" * (10 * MiB) + b"\n" + after)
    return path


def _refusal(store: FileStore, path: str) -> str:
    with pytest.raises(OSError) as caught:
        store.read(path)
    assert isinstance(caught.value, lookups.LookupRefused)
    assert caught.value.strerror is not None
    return caught.value.strerror


def test_a_1gb_lookup_file_is_refused_without_being_opened(tmp_path: Path, counting: CountingOs) -> None:
    _sparse(tmp_path / "etc/exim/domains")
    store = FileStore(tmp_path)
    assert _refusal(store, "/etc/exim/domains") == BIG
    assert _refusal(store, "/etc/exim/domains") == BIG  # remembered, as an unreadable file is
    assert (counting.opened, counting.read_bytes) == (0, 0)


def test_a_file_just_over_the_limit_says_by_how_much(tmp_path: Path, counting: CountingOs) -> None:
    _sparse(tmp_path / "aliases", lookups.MAX_FILE_SIZE + 300 * 1024)
    assert _refusal(FileStore(tmp_path), "/aliases") == "256.3 MB, above the 256 MB exim2smtpd reads"
    assert counting.read_bytes == 0


def test_a_10mb_line_is_refused_as_soon_as_it_is_over_the_limit(tmp_path: Path, counting: CountingOs) -> None:
    _long_line(tmp_path / "etc/exim/domains")
    assert _refusal(FileStore(tmp_path), "/etc/exim/domains") == "line 3 is over 1 MB long"
    assert counting.read_bytes <= lookups.MAX_LINE_LENGTH + lookups._CHUNK  # not the 10 MB


def test_a_line_of_exactly_the_limit_is_read_as_before(tmp_path: Path) -> None:
    """Lines counted at \\n only; decoding and newlines as ``read_text`` gives them (CRLF, a lone CR, bad bytes)."""
    path = tmp_path / "domains"
    path.write_bytes(b"a.example\r\nb.\xffexample\rc\n" + b"y" * lookups.MAX_LINE_LENGTH + b"\nlast")
    lines: list[str] = []
    assert FileStore(tmp_path, progress=lines.append).read("/domains") == path.read_text(errors="replace")
    assert lines == []  # small and quick: nothing to say


NOT_REGULAR = """\
import resource, sys
from pathlib import Path
from migrate.lookups import FileStore
resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))  # reading /dev/zero must fail, not fill the machine
try:
    FileStore(Path(sys.argv[1])).read(sys.argv[2])
except OSError as exc:
    print(exc.strerror)
else:
    print("read it")
"""


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("fifo", "not a regular file (a FIFO)"),
        ("directory", "not a regular file (a directory)"),
        ("/dev/zero", "not a regular file (a character device)"),
    ],
)
def test_what_is_no_regular_file_is_refused_without_waiting(tmp_path: Path, case: str, reason: str) -> None:
    """exim's lsearch refuses them too ("is not a regular file"). In a child: a FIFO's open waits for ever."""
    if case == "fifo":
        os.mkfifo(tmp_path / "blocked")
        root, path = str(tmp_path), "/blocked"
    elif case == "directory":
        (tmp_path / "blocked").mkdir()
        root, path = str(tmp_path), "/blocked"
    else:
        root, path = "/", case  # lsearch;/dev/zero on the server itself
    run = subprocess.run(
        [sys.executable, "-c", NOT_REGULAR, root, path], capture_output=True, text=True, timeout=30, cwd=ROOT
    )
    assert (run.stdout.strip(), run.stderr) == (reason, "")


def _write_configure(tmp_path: Path) -> Path:
    configure = tmp_path / "configure"
    configure.write_text(CONFIGURE)
    return configure


def _findings(result: Result) -> list[tuple[str, int, int, str, str, str]]:
    return [
        (Path(f.span.file).name, f.span.line, f.span.col, f.severity, f.rule.id, f.message)
        for f in result.report.findings()
    ]


@pytest.mark.parametrize(("case", "reason"), [("big", BIG), ("long line", "line 3 is over 1 MB long")])
def test_a_refused_lookup_file_is_reported_as_an_unreadable_one(tmp_path: Path, case: str, reason: str) -> None:
    """The finding at the list naming the file, and everything else, as when the file is missing."""
    configure = _write_configure(tmp_path)
    root = tmp_path / "root"
    (root / "etc/exim").mkdir(parents=True)
    options = Options(root=str(root))
    missing = convert(str(configure), options)
    domains = root / "etc/exim/domains"
    if case == "big":
        _sparse(domains)
    else:
        _long_line(domains)
    refused = convert(str(configure), options)
    item = f"lsearch;/etc/exim/domains ({domains}: {reason})"
    assert (
        "configure",
        3,
        1,
        "unmapped",
        "EXIM-LIST-ITEMS",
        f"domainlist local_domains: items smtpd tables cannot hold: {item}",
    ) in _findings(refused)
    unreadable = f"lsearch;/etc/exim/domains ({domains}: No such file or directory)"
    assert [(*f[:5], f[5].replace(item, unreadable)) for f in _findings(refused)] == _findings(missing)
    assert refused.report.grade == missing.report.grade
    assert {name: text.replace(reason, "No such file or directory") for name, text in refused.files.items()} == (
        missing.files
    )


def test_a_refused_blocklist_file_is_left_out_as_an_unreadable_one_is(tmp_path: Path) -> None:
    """``deny hosts = +spam_sources`` (net-lsearch): the same output as when the file is missing, never less."""
    shutil.copytree(FIXTURES / "blocklist-files", tmp_path / "case")
    configure, root = tmp_path / "case/configure", tmp_path / "case/root"
    listed = root / "etc/exim/spam_sources"
    text = listed.read_bytes()
    options = Options(root=str(root))
    listed.unlink()
    missing = convert(str(configure), options)
    _long_line(listed, before=text, after=b"198.18.0.98\n")  # the same hosts, a comment of 10 MB, one more
    refused = convert(str(configure), options)
    why = ("line 4 is over 1 MB long", "No such file or directory")  # the reason is named, in the files too
    assert {n: t.replace(*why) for n, t in refused.files.items()} == missing.files
    assert [tuple(str(x).replace(*why) for x in f) for f in _findings(refused)] == [
        tuple(str(x) for x in f) for f in _findings(missing)
    ]
    assert "198.18.0.99" not in refused.files["denied_hosts"]  # the file was not read ...
    assert ("configure", 30, 3, "unmapped") in [f[:4] for f in _findings(refused)]  # ... and its deny is reported


# -- progress -------------------------------------------------------------------------------


def _comments(path: Path, size: int) -> Path:
    """A valid lookup file of ``size`` bytes: comment lines, then one domain."""
    line = b"#" * 1023 + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(line * (size // len(line)) + b"example.org\n")
    return path


def test_a_big_file_shows_how_far_its_read_has_got_and_clears_it(tmp_path: Path) -> None:
    path = _comments(tmp_path / "etc/virtual/domains", 9 * MiB)
    lines: list[str] = []
    assert FileStore(tmp_path, progress=lines.append).read("/etc/virtual/domains") == path.read_text()
    assert lines[0] == f"reading {tmp_path}/etc/virtual/domains: 1 of 9 MB ..."
    assert lines[-1] == ""  # the read is over: the line is cleared
    assert all(line.startswith(f"reading {tmp_path}/etc/virtual/domains: ") for line in lines[:-1])


def test_a_slow_file_shows_its_progress_after_a_second(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter(range(100))
    monkeypatch.setattr(lookups, "time", SimpleNamespace(monotonic=lambda: next(ticks) * 0.4))
    _comments(tmp_path / "domains", 4 * MiB)  # small, but each chunk takes 0.4 s
    lines: list[str] = []
    FileStore(tmp_path, progress=lines.append).read("/domains")
    assert lines[0] == f"reading {tmp_path}/domains: 3 of 4 MB ..."  # from the third chunk, past 1 s
    assert lines[-1] == ""


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_status_line_is_shown_on_a_terminal_only() -> None:
    assert lookups.status_line(io.StringIO()) is None
    terminal = FakeTerminal()
    shown = lookups.status_line(terminal)
    assert shown is not None
    shown("reading /etc/virtual/domains: 48 of 120 MB ...")
    shown("reading /etc/virtual/domains: 96 of 120 MB ...")
    shown("")
    shown("")  # nothing left to clear
    width = len("reading /etc/virtual/domains: 48 of 120 MB ...")
    assert terminal.getvalue() == (
        "\rreading /etc/virtual/domains: 48 of 120 MB ...\rreading /etc/virtual/domains: 96 of 120 MB ..."
        f"\r{' ' * width}\r"
    )


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "migrate", *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_the_cli_names_the_refused_file_at_the_statement(tmp_path: Path) -> None:
    configure = _write_configure(tmp_path)
    root = tmp_path / "root"
    domains = _sparse(root / "etc/exim/domains")
    run = _cli("convert", str(configure), "--root", str(root), "-o", str(tmp_path / "out"), "--platform", "openbsd")
    assert (run.returncode, run.stderr) == (0, "")  # as for an unreadable file: a finding, not an error
    assert (
        f"{configure}:3:1: unmapped[EXIM-LIST-ITEMS] domainlist local_domains: items smtpd tables cannot hold: "
        f"lsearch;/etc/exim/domains ({domains}: {BIG})\n"
    ) in run.stdout
    assert "Traceback" not in run.stdout
    strict = _cli(
        "convert", str(configure), "--root", str(root), "-o", str(tmp_path / "strict"), "--fail-on", "unmapped"
    )
    missing = _cli("convert", str(configure), "--root", str(tmp_path), "-o", str(tmp_path / "missing"))
    assert "/etc/exim/domains: No such file or directory)" in missing.stdout
    assert (missing.returncode, missing.stderr) == (0, "")  # the same exit status as for a file that is not there
    assert (strict.returncode, strict.stderr) == (2, "")


def test_the_cli_shows_progress_on_a_terminal_and_nothing_off_one(tmp_path: Path) -> None:
    configure = _write_configure(tmp_path)
    root = tmp_path / "root"
    _comments(root / "etc/exim/domains", 9 * MiB)
    args = [sys.executable, "-m", "migrate", "convert", str(configure), "--root", str(root), "--platform", "openbsd"]
    piped = subprocess.run([*args, "-o", str(tmp_path / "piped")], capture_output=True, timeout=120, cwd=ROOT)
    assert (piped.returncode, piped.stderr) == (0, b"")
    main, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 300, 0, 0))  # room for the whole line
    try:
        child = subprocess.Popen(
            [*args, "-o", str(tmp_path / "tty")], stdout=subprocess.DEVNULL, stderr=terminal, cwd=ROOT
        )
        os.close(terminal)
        shown = b""
        while select.select([main], [], [], 120)[0]:
            try:
                data = os.read(main, 65536)
            except OSError:  # the child closed the terminal
                break
            if not data:
                break
            shown += data
        assert child.wait(timeout=120) == 0
    finally:
        os.close(main)
    assert shown.startswith(f"\rreading {root}/etc/exim/domains: ".encode())
    assert shown.endswith(b"\r") and shown.rstrip(b"\r").split(b"\r")[-1].strip() == b""  # cleared at the end
