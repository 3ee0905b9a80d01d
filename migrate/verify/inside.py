"""Runs inside private mount and network namespaces: start smtpd, send the cases, report.

Started by ``smtpd_side`` as ``unshare --mount --net -- python -m migrate.verify.inside SPEC``.
The namespaces give smtpd its own loopback, spool and control socket, so
nothing on the host is touched and the daemon dies with the namespace.
Prints one JSON document on stdout, and a ``PROGRESS`` line on stderr as each case is answered.
"""

from __future__ import annotations

import ipaddress
import json
import os
import smtplib
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import cast

MESSAGE = "Subject: exim2smtpd probe\n\nprobe\n"
PROGRESS = "exim2smtpd-progress"  # smtpd_side reads these lines: "PROGRESS N", N cases answered


def _sh(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)


def _listening(port: int, proc: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        with socket.socket() as probe:
            probe.settimeout(0.2)
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


class Log:
    """smtpd's -d output, read as it grows, to find each RCPT's rule trace."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size

    def decisions(self) -> list[str]:
        """The actions of the rules that matched the RCPT and each of its expansions (alias, .forward), in order.

        smtpd expands local recipients at RCPT and matches every expanded
        address again; exim reports the route of a final address, so the
        last match is the one to compare (the others: an alias's other targets).
        """
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                text = handle.read().decode(errors="replace")
            # smtpd's lookup process logs every match (expansions included)
            # before the RCPT is answered, so what is there now is complete.
            found = [
                _action(line) for line in text.splitlines() if "no rule matched" in line or " matched: match " in line
            ]
            if found:
                return found
            time.sleep(0.02)
        return []


def _action(line: str) -> str:
    if "no rule matched" in line:
        return "none"
    return "reject" if line.rstrip().endswith(" reject") else line.rsplit(" action ", 1)[-1].strip()


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    work = Path(spec["workdir"])
    _sh("ip", "link", "set", "lo", "up")
    for name, mode in (("spool", 0o711), ("run", 0o755)):
        (work / name).mkdir(exist_ok=True)
        os.chmod(work / name, mode)
    os.makedirs("/var/spool/smtpd", exist_ok=True)
    _sh("mount", "--bind", str(work / "spool"), "/var/spool/smtpd")
    for name, directory in (spec.get("run_dirs") or {}).items():  # database sockets stay reachable
        (work / "run" / name).mkdir(exist_ok=True)
        _sh("mount", "--bind", directory, str(work / "run" / name))
    _sh("mount", "--rbind", str(work / "run"), "/run")
    if spec.get("auth") or spec.get("accounts"):
        _users(work, spec.get("auth"), spec.get("accounts") or [])
    log_path = work / "smtpd.log"
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            [spec["smtpd"], "-d", "-v", "-T", "rules", "-P", "mta", "-P", "mda", "-f", spec["conf"]],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        if not _listening(spec["port"], proc):
            lines = [
                line
                for line in log_path.read_text(errors="replace").splitlines()
                if not line.startswith(("debug:", "setup"))
            ]
            print(json.dumps({"error": "smtpd did not start listening", "log": lines[-20:]}))
            return
        results = run_cases(spec, Log(log_path))
        print(json.dumps({"results": results}))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _users(work: Path, auth: dict | None, accounts: list[str]) -> None:
    """The server's accounts the tables deliver to, and a user smtpd can authenticate (system passwords),
    in this namespace's /etc/passwd and /etc/shadow only."""
    passwd = "".join(f"{line}\n" for line in accounts)
    shadow = ""
    if auth:
        passwd += f"{auth['user']}:x:64999:64999::/nonexistent:/usr/sbin/nologin\n"
        shadow = f"{auth['user']}:{auth['hash']}:19000:0:99999:7:::\n"
    for name, extra in (("passwd", passwd), ("shadow", shadow)):
        if not extra:
            continue
        copy = work / name
        copy.write_text(Path(f"/etc/{name}").read_text() + extra)
        os.chmod(copy, 0o644 if name == "passwd" else 0o640)
        _sh("mount", "--bind", str(copy), f"/etc/{name}")


def run_cases(spec: dict, log: Log) -> list[dict]:
    clients = sorted({c["client"] for c in spec["cases"] if c["client"] != "socket"})
    for address in clients:  # after smtpd started, so they count as remote
        ip = ipaddress.ip_address(address)
        if address not in ("127.0.0.1", "::1"):
            extra = ["nodad"] if ip.version == 6 else []
            _sh("ip", "addr", "add", f"{address}/{ip.max_prefixlen}", "dev", "lo", *extra)
    results = []
    for case in spec["cases"]:
        if case["authenticated"] and not spec.get("auth"):
            results.append({"code": None, "text": "no listener of this smtpd.conf offers AUTH", "route": None})
        elif case["authenticated"]:
            results.append(_authenticated(case, spec["auth"], log))
        elif case["client"] == "socket":
            results.append(_sendmail(case, log))
        else:  # on the case's port (a listener tag's policy), else the first plaintext one
            port = case.get("port") or spec["port"]
            results.append(_smtp(case, port, log, implicit=port in spec.get("smtps", [])))
        print(PROGRESS, len(results), file=sys.stderr, flush=True)
    return results


def _sendmail(case: dict, log: Log) -> dict:
    log.mark()
    done = subprocess.run(
        ["sendmail", "-f", case["sender"], case["recipient"]], input=MESSAGE, capture_output=True, text=True, timeout=30
    )
    routes = log.decisions()
    route = routes[-1] if routes else None
    if done.returncode == 0:
        return {"code": 250, "text": "accepted", "route": route, "routes": routes}
    text = (done.stderr.strip().splitlines() or [""])[-1]
    code = (
        int(text.split("failed: ")[-1][:3]) if "failed: " in text and text.split("failed: ")[-1][:3].isdigit() else 550
    )
    return {"code": code, "text": text, "route": route, "routes": routes}


def _authenticated(case: dict, auth: dict, log: Log) -> dict:
    """One answer for the case from every AUTH listener (the case's port only, when it names one), with PLAIN
    and with LOGIN: the first that disagrees. A case with a login of its own logs in as that user."""
    if case.get("login"):
        auth = {**auth, "user": case["login"], "password": case["password"]}
    listeners = [li for li in auth["listeners"] if not case.get("port") or li["port"] == case["port"]]
    if not listeners:
        return {"code": None, "text": f"no listener on port {case['port']} offers AUTH", "route": None}
    answers = [
        (listener, mechanism, _smtp(case, listener["port"], log, auth, listener["smtps"], mechanism))
        for listener in listeners
        for mechanism in ("PLAIN", "LOGIN")
    ]
    first = answers[0][2]
    for listener, mechanism, answer in answers:
        if answer["code"] != first["code"]:
            return {**answer, "text": f"port {listener['port']} AUTH {mechanism}: {answer['text']}"}
    tried = ", ".join(f"{listener['port']} {mechanism}" for listener, mechanism, _ in answers)
    return {**first, "text": f"{first['text']} (the same on {tried})"}


def _smtp(
    case: dict, port: int, log: Log, auth: dict | None = None, implicit: bool = False, mechanism: str = "PLAIN"
) -> dict:
    ip = ipaddress.ip_address(case["client"])
    server = "::1" if ip.version == 6 else "127.0.0.1"
    unverified = ssl._create_unverified_context()  # the listener has a throw-away certificate
    try:
        session = (
            smtplib.SMTP_SSL(server, port, source_address=(case["client"], 0), timeout=20, context=unverified)
            if implicit
            else smtplib.SMTP(server, port, source_address=(case["client"], 0), timeout=20)
        )
        with session:
            session.ehlo("probe.example")
            if auth:
                if not implicit:
                    session.starttls(context=unverified)
                    session.ehlo("probe.example")
                try:
                    session.user, session.password = auth["user"], auth["password"]
                    method = session.auth_plain if mechanism == "PLAIN" else session.auth_login
                    session.auth(mechanism, method, initial_response_ok=mechanism == "PLAIN")
                except smtplib.SMTPAuthenticationError as exc:
                    return {"code": exc.smtp_code, "text": f"AUTH: {exc.smtp_error!r}", "route": None}
            code, text = session.mail(case["sender"])
            if code >= 400:
                return {"code": code, "text": text.decode(errors="replace"), "route": None}
            log.mark()
            code, text = session.rcpt(case["recipient"])
            routes = log.decisions()
            session.rset()
            route = routes[-1] if routes else None
            return {"code": code, "text": text.decode(errors="replace"), "route": route, "routes": routes}
    except smtplib.SMTPConnectError as exc:  # refused in the banner
        error = cast(bytes, exc.smtp_error)  # smtplib raises it with the banner's bytes
        return {"code": exc.smtp_code, "text": error.decode(errors="replace"), "route": None}
    except (OSError, smtplib.SMTPException) as exc:
        return {"code": None, "text": f"connection failed: {exc}", "route": None}


if __name__ == "__main__":
    main()
