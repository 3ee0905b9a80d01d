"""A real login to exim: ``exim -bh`` over a socket pair, STARTTLS, AUTH, then the recipient.

``-bh`` runs the authenticators for real (the lookup, crypteq, dovecot's
socket) and starts TLS on its standard input when asked, so a login here is
checked the way the daemon checks it, without a daemon or a port. exim -bh
cannot start TLS on connect: on an implicit-TLS port (465) the client asks
STARTTLS instead, with ``$received_port`` still 465 (``-oMi``), so the ACLs and
authenticators see the same port and an encrypted session.
"""

from __future__ import annotations

import base64
import socket
import ssl
import subprocess

from migrate.verify.cases import Case

TIMEOUT = 30
_PREAMBLE = "**** "


class _Session:
    """Line-at-a-time SMTP on a socket that may turn into TLS (nothing read ahead of the handshake)."""

    def __init__(self, sock: socket.socket | ssl.SSLSocket) -> None:
        self.sock = sock

    def reply(self) -> tuple[int | None, list[str]]:
        lines: list[str] = []
        while True:
            line = self._line()
            if line is None:
                return None, lines
            if not line or line.startswith(_PREAMBLE):
                continue
            lines.append(line[4:])
            if line[:3].isdigit() and line[3:4] == " ":
                return int(line[:3]), lines

    def command(self, text: str) -> tuple[int | None, list[str]]:
        self.sock.sendall(text.encode() + b"\r\n")
        return self.reply()

    def _line(self) -> str | None:
        data = b""
        while not data.endswith(b"\n"):
            byte = self.sock.recv(1)
            if not byte:
                return None if not data else data.decode(errors="replace").rstrip("\r\n")
            data += byte
        return data.decode(errors="replace").rstrip("\r\n")


def login(exim: str, config: str, defines: list[str], case: Case) -> tuple[int | None, str]:
    """exim's answer to ``case``: the AUTH reply when the login fails, else the RCPT reply."""
    interface = "::1" if ":" in case.client else "127.0.0.1"
    cmd = [exim, "-C", config, *defines, "-bh", case.client, "-oMi", f"{interface}.{case.port or 587}"]
    ours, theirs = socket.socketpair()
    ours.settimeout(TIMEOUT)
    process = subprocess.Popen(cmd, stdin=theirs.fileno(), stdout=theirs.fileno(), stderr=subprocess.DEVNULL)
    theirs.close()
    try:
        return _dialogue(_Session(ours), ours, case)
    except (OSError, ssl.SSLError) as exc:
        return None, f"exim -bh session failed: {exc}"
    finally:
        ours.close()
        try:
            process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _dialogue(session: _Session, sock: socket.socket, case: Case) -> tuple[int | None, str]:
    code, lines = session.reply()
    if code is None or code >= 400:
        return code, " ".join(lines) or "no banner"
    code, lines = session.command("EHLO probe.example")
    if code != 250:
        return code, " ".join(lines)
    if "STARTTLS" in lines:
        code, lines = session.command("STARTTLS")
        if code != 220:
            return code, "STARTTLS: " + " ".join(lines)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # verify gives exim a throw-away certificate
        session = _Session(context.wrap_socket(sock, server_hostname="probe.example"))
        code, lines = session.command("EHLO probe.example")
    mechanisms = next((line.split()[1:] for line in lines if line.upper().startswith("AUTH ")), [])
    if not mechanisms:
        return 503, "AUTH: exim offers no AUTH in this session"
    code, lines = _authenticate(session, case, [m.upper() for m in mechanisms])
    if code != 235:
        return code, "AUTH: " + " ".join(lines)
    code, lines = session.command(f"MAIL FROM:<{case.sender}>")
    if code is None or code >= 400:
        return code, " ".join(lines)
    code, lines = session.command(f"RCPT TO:<{case.recipient}>")
    session.command("QUIT")
    return code, " ".join(lines)


def _authenticate(session: _Session, case: Case, mechanisms: list[str]) -> tuple[int | None, list[str]]:
    def b64(text: str) -> str:
        return base64.b64encode(text.encode()).decode()

    if "PLAIN" in mechanisms:
        return session.command("AUTH PLAIN " + b64(f"\0{case.login}\0{case.password}"))
    if "LOGIN" not in mechanisms:
        return 504, [f"neither PLAIN nor LOGIN offered ({' '.join(mechanisms)})"]
    code, lines = session.command("AUTH LOGIN")
    if code == 334:
        code, lines = session.command(b64(case.login))
    if code == 334:
        code, lines = session.command(b64(case.password))
    return code, lines
