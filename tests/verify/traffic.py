"""Make the real exim 4.100 write a main log: SMTP sessions through ``exim -bs`` as a server's clients send them.

The log is exim's own, never written by hand: each session is a dialogue
with ``exim -bs`` (``-oMa`` names the client, ``-oMi`` the interface and port,
``-oMaa``/``-oMai`` an authenticated client, or a real STARTTLS and AUTH
PLAIN), and what exim answered to each command is kept as ``Sent``, so that a
test can hold the log reader to exim's own replies.

exim runs on a DNS-free copy of the configuration (``oracle.dns_free_config``)
in a private work directory: its spool, its log (``log_file_path``) and the
mailboxes its local deliveries write. ``-N`` sessions make exim log ``*>``
and deliver nothing. The others deliver for real: locally into the work
directory, remotely to a small SMTP sink at ``oracle.NEXT_HOP`` in a network
namespace of its own, joined to exim's private one by a veth pair (nothing of
the host's network is used). The sink refuses ``reject-*`` recipients (550)
and defers each ``defer-*`` recipient once (451), so exim writes real ``**``
and ``==`` lines, then delivers the deferred ones in a queue run after the log
is rotated (``mainlog.1``, then ``mainlog``).

Two edits beyond the oracle's are needed for exim to deliver at all here:
``exim_path`` (the binary is not where it was built to be), and
``user = Debian-exim`` on appendfile transports, because exim re-executed with
``-C`` drops root and can write a mailbox only as its own user.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import datetime
import os
import re
import select
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from migrate.verify.adapt import throwaway_pki
from migrate.verify.oracle import NEXT_HOP, dns_free_config

if TYPE_CHECKING:
    from tests.conftest import Exim

ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURES = ROOT / "fixtures"
HOSTNAME = "mx.example.org"  # the servers' name where a configuration sets none (exim-default's root/etc/hostname)
INTERFACE = "192.0.2.1"  # the server's address in -oMi: exim logs it as I=[192.0.2.1]:port
EXIM_SIDE = "192.0.2.2"  # exim's own address on the veth pair towards the sink
EXIM_UID = "Debian-exim"
TIMEOUT = 30.0


@dataclass(frozen=True)
class Client:
    """Who opens a session: an address (None: a local process, the socket), the server's port, a login."""

    address: str | None = None
    port: int = 25
    helo: str = "client.example"
    login: str = ""  # "authenticator:id": with no password exim is told so (-oMaa/-oMai); with one, AUTH PLAIN
    password: str = ""

    @property
    def authenticator(self) -> str:
        return self.login.partition(":")[0]


@dataclass(frozen=True)
class Message:
    """One mail transaction: MAIL, one RCPT per recipient, DATA when exim took any."""

    sender: str
    recipients: tuple[str, ...]
    long_line: bool = False  # a 1,200-octet body line: exim's default configuration refuses it after DATA


@dataclass(frozen=True)
class Session:
    """One ``exim -bs`` session (or, with ``submit``, one ``exim -bm`` per message: no dialogue at all)."""

    client: Client
    messages: tuple[Message, ...] = ()
    deliver: bool = False  # False: -N, exim logs *> and delivers nothing
    submit: bool = False


@dataclass(frozen=True)
class Sent:
    """What one transaction of the traffic should become in the log, from exim's replies in the dialogue.

    One per recipient exim answered at RCPT, and one with recipient "" for a
    refusal before any recipient (connect, EHLO, AUTH, MAIL) or after DATA.
    """

    client: str
    port: int
    authenticated: bool
    authenticator: str
    sender: str
    recipient: str
    decision: str
    stage: str
    code: int


@dataclass
class Traffic:
    """The log exim wrote for a script: the traffic in ``rotated``, the later queue run in ``current``."""

    rotated: Path  # mainlog.1
    current: Path  # mainlog: what the queue run after the rotation wrote
    sent: list[Sent] = field(default_factory=list)
    syslog: tuple[Path, ...] = ()  # with syslog=True: the same lines as syslog wrote them (traditional, RFC 3339)


def write_mainlog(
    exim: Exim,
    configure: Path,
    workdir: Path,
    script: list[Session],
    *,
    selector: str = "",
    aliases: str = "",
    defines: dict[str, str] | None = None,
    syslog: bool = False,
) -> Traffic:
    """Run ``script`` through the real exim on a copy of ``configure`` and return its log and what was sent.

    ``exim`` is the conftest fixture (its ``binary`` runs exim in the Debian
    root, its ``root`` holds exim's own files). ``selector`` is added to the
    configuration's log_selector; ``aliases`` lines are added to a private
    copy of the fixture's aliases file. With ``syslog``, exim logs to syslog
    as well as to its files (``log_file_path = syslog : ...``), and a
    ``Syslog`` stands in for the syslog daemon.
    """
    binary, exim_root = exim.binary, exim.root
    layout = _layout(workdir)
    conf = exim_copy(configure, workdir, exim_root / "usr/sbin/exim4", selector, aliases, defines or {}, syslog)
    sent: list[Sent] = []
    with Network() as network, Syslog(workdir) if syslog else contextlib.nullcontext() as daemon:
        exim_command = [str(binary), "-C", str(conf)]
        if daemon is not None:
            exim_command = [*daemon.wrapper(), *exim_command]
        for session in script:
            sent += run_session(network.command(*exim_command), session)
        mainlog = layout["log"] / "mainlog"
        _settle(mainlog)
        rotated = mainlog.rename(layout["log"] / "mainlog.1")
        subprocess.run(network.command(*exim_command, "-qff"), capture_output=True, timeout=TIMEOUT, check=False)
        _settle(mainlog)
    mainlog.touch()
    return Traffic(rotated, mainlog, sent, daemon.files if daemon is not None else ())


def exim_copy(
    configure: Path,
    workdir: Path,
    exim_binary: Path,
    selector: str,
    aliases: str,
    defines: dict[str, str],
    syslog: bool = False,
) -> Path:
    """The DNS-free copy exim runs on, logging into ``workdir/log`` and delivering into ``workdir/mail``."""
    root = configure.parent / "root"
    relocate = {"/var/mail": str(workdir / "mail")}
    if aliases:
        original = root / "etc/aliases"
        text = original.read_text() if original.exists() else ""
        (workdir / "aliases").write_text(text + aliases)
        (workdir / "aliases").chmod(0o644)
        relocate["/etc/aliases"] = str(workdir / "aliases")
    certificate = None
    if "tls_certificate" in configure.read_text():  # a throw-away pair in its place, for STARTTLS
        certificate = throwaway_pki(workdir)
        certificate[1].chmod(0o644)  # exim's own user reads it
    out = dns_free_config(
        configure,
        defines,
        workdir / "exim.conf",
        relocate=relocate,
        spool=workdir / "spool",
        hostname=HOSTNAME,
        root=root if root.is_dir() else None,
        certificate=certificate,
    )
    text = out.read_text()
    if selector:
        if re.search(r"^log_selector\s*=", text, re.M):
            text = re.sub(r"^(log_selector\s*=.*)$", rf"\1 {selector}", text, count=1, flags=re.M)
        else:
            text = f"log_selector = {selector}\n" + text
    text = re.sub(r"^(driver\s*=\s*appendfile)\s*$", rf"\1\nuser = {EXIM_UID}", text, flags=re.M)
    logs = f"{'syslog : ' if syslog else ''}{workdir / 'log'}/%slog"
    text = f"exim_path = {exim_binary}\nlog_file_path = {logs}\n" + text
    out.write_text(text)
    return out


def _layout(workdir: Path) -> dict[str, Path]:
    """The spool, log and mailbox directories, open to exim's own user (it drops to it after -C)."""
    workdir.chmod(0o755)
    dirs = {name: workdir / name for name in ("spool", "log", "mail")}
    for path in dirs.values():
        path.mkdir(exist_ok=True)
        path.chmod(0o1777)
    return dirs


def _settle(log: Path, quiet: float = 0.4, longest: float = 10.0) -> None:
    """Wait until exim's background processes (bounces it sends itself) stop writing the log."""
    deadline = time.monotonic() + longest
    size = -1
    while time.monotonic() < deadline:
        now = log.stat().st_size if log.exists() else 0
        if now == size:
            return
        size = now
        time.sleep(quiet)


class Network:
    """exim's network namespace and the sink's, joined by a veth pair: exim reaches NEXT_HOP and nothing else."""

    def __enter__(self) -> Network:
        self.holder = _in_new_namespace(["sh", "-c", "echo ready; exec sleep 100000"])
        self.sink = _in_new_namespace([sys.executable, "-m", "tests.verify.traffic", "sink"])
        try:
            veth = f"link add v0 netns {self.holder.pid} type veth peer name v1 netns {self.sink.pid}"
            subprocess.run(["ip", *veth.split()], check=True, capture_output=True, timeout=TIMEOUT)
            self._address(self.holder.pid, "v0", EXIM_SIDE)
            self._address(self.sink.pid, "v1", NEXT_HOP)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_: object) -> None:
        for process in (self.sink, self.holder):
            process.kill()
            process.wait()

    def command(self, *argv: str) -> list[str]:
        """``argv`` run in exim's namespace."""
        return ["nsenter", f"--net=/proc/{self.holder.pid}/ns/net", "--", *argv]

    @staticmethod
    def _address(pid: int, device: str, address: str) -> None:
        inside = ["nsenter", f"--net=/proc/{pid}/ns/net", "--", "ip"]
        for args in (
            ["link", "set", "lo", "up"],
            ["addr", "add", f"{address}/24", "dev", device],
            ["link", "set", device, "up"],
        ):
            subprocess.run([*inside, *args], check=True, capture_output=True, timeout=TIMEOUT)


class Syslog:
    """A stand-in for the syslog daemon: exim's messages from /dev/log, written as rsyslog writes them.

    exim calls syslog(3), which sends each message to /dev/log. ``wrapper``
    runs exim in a private mount namespace whose /dev is a small tmpfs with
    the few devices exim opens and a /dev/log leading to this socket (the
    host has none, and its /dev is not written to). Each message becomes a
    line of ``files[0]`` in the traditional format (``Dec  4 18:00:00 HOST
    exim[PID]: ...``) and of ``files[1]`` with an RFC 3339 time, as rsyslog
    writes them with its two usual templates.
    """

    DEVICES = ("null", "zero", "full", "random", "urandom", "tty")

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.files = (workdir / "log" / "syslog", workdir / "log" / "syslog.rfc3339")
        self.priorities: collections.Counter[int] = collections.Counter()

    def __enter__(self) -> Syslog:
        self.path = self.workdir / "devlog"
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(self.path))
        self.path.chmod(0o777)  # exim writes as its own user too
        self.socket.settimeout(0.5)
        self.outputs = [path.open("w") for path in self.files]
        self.running = True
        self.thread = threading.Thread(target=self._receive, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        time.sleep(0.5)  # the last datagrams
        self.running = False
        self.thread.join(timeout=TIMEOUT)
        self.socket.close()
        for output in self.outputs:
            output.close()

    def wrapper(self) -> list[str]:
        """The command line before exim's: its /dev in a private mount namespace, /dev/log this socket."""
        devices = self.workdir / "host-dev"
        devices.mkdir(exist_ok=True)
        script = (
            'set -e; mount --bind /dev "$1"; mount -t tmpfs -o size=64k,mode=755 tmpfs /dev; '
            f'for n in {" ".join(self.DEVICES)}; do [ -e "$1/$n" ] || continue; : > "/dev/$n"; '
            'mount --bind "$1/$n" "/dev/$n"; done; ln -s /proc/self/fd /dev/fd; ln -s "$2" /dev/log; '
            'shift 2; exec "$@"'
        )
        return [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            script,
            "sh",
            str(devices),
            str(self.path),
        ]

    def _receive(self) -> None:
        while self.running:
            try:
                datagram = self.socket.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            match = re.match(rb"<(\d+)>([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) ", datagram)
            if match is None:
                continue
            self.priorities[int(match[1]) & 7] += 1
            message = datagram[match.end() :].decode("utf-8", "replace").rstrip("\n")
            now = datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")
            for output, stamp in zip(self.outputs, (match[2].decode(), now), strict=True):
                output.write(f"{stamp} {HOSTNAME.partition('.')[0]} {message}\n")
                output.flush()


def _in_new_namespace(argv: list[str]) -> subprocess.Popen[bytes]:
    """A process in a network namespace of its own, once it says it is ready (then its /proc/PID/ns/net is it)."""
    process = subprocess.Popen(["unshare", "--net", "--", *argv], stdout=subprocess.PIPE, cwd=ROOT)
    assert process.stdout is not None
    if process.stdout.readline().strip() != b"ready":
        process.kill()
        process.wait()
        raise RuntimeError(f"{argv[0]} did not start in its network namespace")
    return process


# --- sessions ---------------------------------------------------------------------------------------------------


def run_session(exim: list[str], session: Session) -> list[Sent]:
    """One session of the script through ``exim`` (the command line up to -C FILE); what exim answered."""
    if session.submit:
        return _submit(exim, session)
    client = session.client
    args = ["-bs", "-odi", *([] if session.deliver else ["-N"])]
    if client.address is not None:
        args += ["-oMa", client.address, "-oMi", f"{INTERFACE}.{client.port}"]
        if client.login and not client.password:
            name, _, login = client.login.partition(":")
            args += ["-oMaa", name, "-oMai", login]
    if client.password:
        return _over_socket([*exim, *args], session)
    process = subprocess.Popen([*exim, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdin is not None and process.stdout is not None
    stdin, fd = process.stdin, process.stdout.fileno()

    def send(data: bytes) -> None:
        stdin.write(data)
        stdin.flush()

    try:
        return _Dialogue(_Replies(send, lambda: _read(fd)), client).run(session.messages)
    finally:
        _close(process)


def _over_socket(command: list[str], session: Session) -> list[Sent]:
    """A session on a socket pair, so that exim can start TLS on its standard input for AUTH."""
    ours, theirs = socket.socketpair()
    ours.settimeout(TIMEOUT)
    process = subprocess.Popen(command, stdin=theirs.fileno(), stdout=theirs.fileno(), stderr=subprocess.DEVNULL)
    theirs.close()
    try:
        return _Dialogue(_Replies(ours.sendall, lambda: ours.recv(65536), ours), session.client).run(session.messages)
    finally:
        ours.close()
        _close(process)


def _submit(exim: list[str], session: Session) -> list[Sent]:
    """``exim -bm``: a message handed over on standard input, as sendmail does (no SMTP, no host)."""
    sent: list[Sent] = []
    for message in session.messages:
        body = f"Subject: submitted\n\nfrom {message.sender or 'nobody'}\n"
        suppress = [] if session.deliver else ["-N"]
        command = [*exim, "-odi", *suppress, "-f", message.sender or "<>", "-bm", *message.recipients]
        result = subprocess.run(command, input=body.encode(), capture_output=True, timeout=TIMEOUT, check=False)
        code = 250 if result.returncode == 0 else 550
        sent += [Sent("socket", 0, False, "", message.sender, r, _decision(code), "", code) for r in message.recipients]
    return sent


class _Replies:
    """exim's replies, one at a time: each command is answered before the next is sent."""

    def __init__(self, send: Callable[[bytes], None], receive: Callable[[], bytes], sock: socket.socket | None = None):
        self.send, self.receive, self.sock = send, receive, sock
        self.buffer = b""

    def reply(self) -> tuple[int, list[str]]:
        lines = []
        while True:
            line = self._line()
            lines.append(line[4:])
            if line[:3].isdigit() and line[3:4] != "-":
                return int(line[:3]), lines

    def command(self, text: str) -> tuple[int, list[str]]:
        self.send(text.encode() + b"\r\n")
        return self.reply()

    def start_tls(self) -> None:
        assert self.sock is not None and not self.buffer
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # exim has a throw-away certificate
        wrapped = context.wrap_socket(self.sock, server_hostname="mx.example.org")
        self.send, self.receive = wrapped.sendall, lambda: wrapped.recv(65536)

    def _line(self) -> str:
        while b"\n" not in self.buffer:
            chunk = self.receive()
            if not chunk:
                raise EOFError("exim ended the session")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode(errors="replace").rstrip("\r")


class _Dialogue:
    """One SMTP session as a client holds it: each command sent, exim's reply read, and noted as Sent."""

    def __init__(self, replies: _Replies, client: Client) -> None:
        self.replies, self.client = replies, client
        self.authenticated = bool(client.login and not client.password)  # -oMaa: exim takes it as logged in
        self.sent: list[Sent] = []

    def run(self, messages: tuple[Message, ...]) -> list[Sent]:
        code, _ = self.replies.reply()
        if code >= 400:
            return [self._answer("connect", code)]
        code, offered = self.replies.command(f"EHLO {self.client.helo}")
        if code >= 400:
            return [self._answer("helo", code)]
        if self.client.password:
            self._login(offered)
        for message in messages:
            self._transaction(message)
        with contextlib.suppress(EOFError, OSError):  # exim may have dropped the session after a refusal
            self.replies.command("QUIT")
        return self.sent

    def _login(self, offered: list[str]) -> None:
        """STARTTLS, EHLO again, AUTH PLAIN with the client's login: exim's authenticators decide."""
        if "STARTTLS" in offered:
            code, _ = self.replies.command("STARTTLS")
            if code == 220:
                self.replies.start_tls()
                self.replies.command(f"EHLO {self.client.helo}")
        user = self.client.login.partition(":")[2]
        token = base64.b64encode(f"\0{user}\0{self.client.password}".encode()).decode()
        code, _ = self.replies.command(f"AUTH PLAIN {token}")
        self.authenticated = code == 235
        if not self.authenticated:  # exim logs the authenticator's name with the failure
            self.sent.append(
                Sent(*self._where(), False, self.client.authenticator, "", "", _decision(code), "auth", code)
            )

    def _transaction(self, message: Message) -> None:
        code, _ = self.replies.command(f"MAIL FROM:<{message.sender}>")
        if code >= 400:
            self.replies.command("RSET")
            self.sent.append(self._answer("mail", code, message.sender))
            return
        taken = []
        for recipient in message.recipients:
            code, _ = self.replies.command(f"RCPT TO:<{recipient}>")
            if code < 300:
                taken.append(recipient)
            else:
                self.sent.append(self._answer("rcpt", code, message.sender, recipient))
        if not taken:
            self.replies.command("RSET")
            return
        code, _ = self.replies.command("DATA")
        if code != 354:
            self.sent.append(self._answer("predata", code, message.sender))
            return
        body = "Subject: traffic\r\n\r\nA message of the test traffic.\r\n"
        if message.long_line:
            body += "x" * 1200 + "\r\n"
        code, _ = self.replies.command(body + ".")
        if code >= 400:  # refused after DATA: exim logs the message once, without its recipients
            self.sent.append(self._answer("data", code, message.sender))
        else:
            self.sent += [self._answer("", code, message.sender, r) for r in taken]

    def _answer(self, stage: str, code: int, sender: str = "", recipient: str = "") -> Sent:
        authenticator = self.client.authenticator if self.authenticated else ""
        return Sent(*self._where(), self.authenticated, authenticator, sender, recipient, _decision(code), stage, code)

    def _where(self) -> tuple[str, int]:
        return (self.client.address, self.client.port) if self.client.address else ("socket", 0)


def _decision(code: int) -> str:
    return "accepted" if code < 400 else "deferred" if code < 500 else "rejected"


def _read(fd: int) -> bytes:
    ready, _, _ = select.select([fd], [], [], TIMEOUT)
    if not ready:
        raise TimeoutError("exim did not answer")
    return os.read(fd, 65536)


def _close(process: subprocess.Popen[bytes]) -> None:
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()
    try:
        process.wait(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# --- the sink -----------------------------------------------------------------------------------------------------


class _SinkHandler(socketserver.StreamRequestHandler):
    """SMTP enough for exim's smtp transport: 550 for reject-*, 451 the first time for each defer-*."""

    deferred_once: ClassVar[set[str]] = set()  # the sink's one process answers every connection

    def handle(self) -> None:
        self._say("220 sink.example ESMTP")
        in_data = False
        for raw in self.rfile:
            line = raw.decode(errors="replace").rstrip("\r\n")
            if in_data:
                if line == ".":
                    in_data = False
                    self._say("250 OK queued")
                continue
            verb = line[:4].upper()
            if verb == "RCPT":
                self._say(self._rcpt(line))
            elif verb == "DATA":
                in_data = True
                self._say("354 go ahead")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("250 sink.example")

    def _rcpt(self, line: str) -> str:
        address = line.partition("<")[2].partition(">")[0].lower()
        if address.startswith("reject-"):
            return "550 5.1.1 no such user here"
        if address.startswith("defer-") and address not in self.deferred_once:
            self.deferred_once.add(address)
            return "451 4.3.0 try again later"
        return "250 OK"

    def _say(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")


def serve_sink() -> None:
    """The sink's process (``python -m tests.verify.traffic sink``, in its own network namespace)."""
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    server = socketserver.ThreadingTCPServer(("0.0.0.0", 25), _SinkHandler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


# --- scripts --------------------------------------------------------------------------------------------------------


def outside(count: int, first: int = 10) -> list[str]:
    """Client addresses no fixture trusts (TEST-NET-2, and IPv6 documentation addresses)."""
    v4 = [f"198.51.100.{first + i}" for i in range(count - count // 4)]
    return v4 + [f"2001:db8:5::{first + i:x}" for i in range(count // 4)]


def default_script() -> list[Session]:
    """For fixtures/exim-default (with EXTRA_ALIASES): inbound, relay attempts, the trusted host, a login, local."""
    own = HOSTNAME
    inbound = (
        "mail@" + own,
        "nosuch@" + own,
        "friend@far.example",
        "postmaster@" + own,
        "moved@" + own,
        "busy@" + own,
        "Daemon@" + own,
    )
    script = [
        Session(
            Client(ip, 25, f"client{n}.example"),
            (Message(f"sender{n}@far.example", inbound), Message("", ("team@" + own,))),
        )
        for n, ip in enumerate(outside(20))
    ]
    script += [
        Session(
            Client("198.51.100.90", 25, "real.example"),
            (Message("bob@far.example", ("void@" + own, "team@" + own, "postmaster@" + own)),),
            deliver=True,
        ),
        Session(
            Client("127.0.0.1", 25, "localhost"),
            (
                Message(
                    "mail@" + own,
                    ("friend@far.example", "pal@far.example", "reject-1@far.example", "defer-1@far.example"),
                ),
            ),
            deliver=True,
        ),
        Session(
            Client("203.0.113.50", 587, "laptop.example", login="plain_server:alice"),
            (Message("alice@far.example", ("friend@far.example", "mail@" + own)),),
            deliver=True,
        ),
        Session(
            Client("203.0.113.51", 587, "laptop.example", login="plain_server:alice"),
            (Message("alice@far.example", ("other@far.example",)),),
        ),
        Session(Client("198.51.100.99", 25, "spoof.example"), (Message("nosuch@" + own, ("mail@" + own,)),)),
        Session(Client("198.51.100.98", 25, "long.example"), (Message("long@far.example", ("mail@" + own,), True),)),
        Session(Client("198.51.100.97", 25, "bad_helo!")),
        Session(Client(None, helo="localhost"), (Message("mail@" + own, ("daemon@" + own, "far@far.example")),)),
        Session(Client(None), (Message("daemon@" + own, ("mail@" + own, "friend@far.example")),), submit=True),
    ]
    return script


EXTRA_ALIASES = """\
team: mail, daemon, friend@far.example
void: :blackhole:
moved: :fail: moved away, no forwarding address
busy: :defer: mailbox being migrated
"""


def submission_script() -> list[Session]:
    """For fixtures/per-port-submission: port 25 inbound and relay, port 587 with and without a login."""
    script = [
        Session(
            Client(ip, 25, "mx.far.example"),
            (
                Message(
                    "news@far.example",
                    ("mail@mx.example.org", "postmaster@example.org", "nosuch@example.org", "friend@far.example"),
                ),
            ),
        )
        for ip in outside(8, 40)
    ]
    script += [
        Session(Client(ip, 587, "laptop.example"), (Message("carl@example.org", ("friend@far.example",)),))
        for ip in outside(4, 60)
    ]
    script += [
        Session(
            Client("198.51.100.70", 587, "laptop.example", login="login_server:carl"),
            (Message("carl@example.org", ("friend@far.example", "pal@far.example", "mail@mx.example.org")),),
            deliver=True,
        ),
        Session(
            Client("192.0.2.10", 25, "office.example"),
            (Message("office@example.org", ("friend@far.example", "reject-2@far.example")),),
            deliver=True,
        ),
        Session(
            Client("198.51.100.71", 25, "mx.far.example"),
            (Message("news@far.example", ("postmaster@example.org", "abuse@mx.example.org")),),
            deliver=True,
        ),
    ]
    return script


def blocklist_script() -> list[Session]:
    """For fixtures/blocklist-files: refused at connect, refused at RCPT by a list, and ordinary mail."""
    mail = (Message("someone@far.example", ("mail@mx.example.org", "friend@far.example")),)
    return [
        Session(Client("198.18.0.66"), mail),
        Session(Client("203.0.113.5"), mail),
        Session(Client("2001:db8:bad::5"), mail),
        Session(Client("198.18.0.99"), mail),
        Session(Client("198.18.7.20"), mail),
        Session(Client("198.51.100.20"), mail),
        Session(Client("192.0.2.5"), mail),
    ]


def login_script() -> list[Session]:
    """For fixtures/auth-passwd-file: real AUTH PLAIN after STARTTLS, right and wrong, then a relay attempt."""
    mail = (Message("anna@example.net", ("friend@far.example", "ben@example.net")),)
    return [
        Session(Client("198.18.0.77", 587, "phone.example", "plain_server:anna@example.net", "anna-phone-2024"), mail),
        Session(Client("198.18.0.78", 587, "phone.example", "plain_server:anna@example.net", "anna-phone-2023"), mail),
        Session(Client("198.18.0.79", 587, "phone.example", "plain_server:nobody@example.net", "anything"), mail),
    ]


def helo_script() -> list[Session]:
    """For fixtures/control-panel-helo: its HELO ACL refuses a client without reverse DNS (every client here)."""
    return [
        Session(Client("198.51.100.30", 25, "mail.far.example"), (Message("a@far.example", ("mail@mx.example.org",)),))
    ]


def mail_script() -> list[Session]:
    """For fixtures/includes-lists: its MAIL ACL refuses a listed sender.

    (A sender it cannot judge, its lookup files being absent here, gets a 451
    that exim 4.100 does not log as a refusal: nothing the log reader could see.)
    """
    return [
        Session(
            Client("198.51.100.31", 25, "mail.far.example"),
            (Message("bulk@spam.example", ("postmaster@mx.example.org",)),),
        ),
    ]


# --- synthetic logs (benchmark, memory test) -------------------------------------------------------------------------


def synthetic_log(messages: int, refusals_every: int = 4) -> Iterator[str]:
    """A main log of ``messages`` messages shaped like exim 4.100's lines (see the real ones this module makes).

    Each message arrives, is delivered (locally, or remotely with a second
    address on the same connection) and completes before the next, with a
    refused relay attempt every ``refusals_every`` messages: the reader's
    waiting map stays small however long the log is.
    """
    for n in range(messages):
        mid = f"1{n % 100000:05d}-{n:011d}-{n % 10000:04d}"  # 6-11-4, as exim 4.97 and later
        ip = f"198.51.{n // 250 % 250}.{n % 250}"
        stamp = f"2026-12-03 17:{n // 60 % 60:02d}:{n % 60:02d}"
        yield (
            f"{stamp} {mid} <= sender{n % 97}@far.example H=(client{n % 13}.example) [{ip}]:{40000 + n % 9999} "
            f"I=[192.0.2.1]:25 P=esmtps X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no S={1000 + n % 5000} "
            f'id={mid}@far.example T="report {n % 31} for you"'
        )
        if n % 2:
            yield f"{stamp} {mid} => user{n % 17} <user{n % 17}@mx.example.org> R=localuser T=local_delivery"
        else:
            yield (
                f"{stamp} {mid} => friend@far.example R=dnslookup T=remote_smtp H=mx.far.example [192.0.2.250] "
                f'X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes C="250 2.0.0 OK id=abc"'
            )
            yield f"{stamp} {mid} -> pal@far.example R=dnslookup T=remote_smtp H=mx.far.example [192.0.2.250]"
        yield f"{stamp} {mid} Completed"
        if n % refusals_every == 0:
            yield (
                f"{stamp} H=(spam.example) [203.0.113.{n % 250}]:{50000 + n % 9999} I=[192.0.2.1]:25 "
                f"F=<bulk@spam.example> rejected RCPT <victim{n % 7}@elsewhere.example>: relay not permitted"
            )


def main() -> None:
    if sys.argv[1:] == ["sink"]:
        serve_sink()
    else:
        sys.exit("usage: python -m tests.verify.traffic sink")


if __name__ == "__main__":
    main()
