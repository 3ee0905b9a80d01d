"""Ask the real smtpd what it decides for each probe case.

One daemon per configuration, in private mount and network namespaces on
loopback (its own spool and control socket; delivery paused with ``-P mta
-P mda``), all cases sent in one run. Cases are sent in plaintext on the
port-25 listener; authenticated cases log in over STARTTLS (or implicit TLS)
on every listener offering AUTH, with PLAIN and LOGIN, as a probe user that exists only in the
namespace's copy of /etc/passwd and /etc/shadow. (Debian 12's smtpd 6.8
cannot complete inbound TLS: with it those cases are not comparable.)
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from migrate.verify import adapt
from migrate.verify.cases import Case
from migrate.verify.exim_side import Answer, Progress, SideError, quiet
from migrate.verify.system import chosen, inside

# A filter that completes OpenSMTPD's handshake and registers for nothing. It
# runs as smtpd's unprivileged user, so it is a plain sh script in the work dir.
FILTER_STUB = """#!/bin/sh
while read -r line; do [ "$line" = "config|ready" ] && break; done
echo "register|ready"
exec cat >/dev/null
"""


def prepare(text: str, workdir: Path, root: Path | None, files: dict[str, str] | None = None) -> tuple[Path, int]:
    """Write the runnable config; every listener moves to loopback. Returns (path, port to probe)."""
    runnable = adapt.adapt(text, workdir, root, files)
    stub_path = workdir / "filter-stub.sh"
    stub_path.write_text(FILTER_STUB)
    stub_path.chmod(0o755)
    stub = f"/bin/sh {stub_path}"
    # Filters become no-op stand-ins (the probe compares policy, not content).
    runnable = re.sub(
        r'^(filter "[^"]+" proc-exec )"[^"]+"( user "[^"]+")?( group "[^"]+")?$',
        lambda m: f'{m.group(1)}"{stub}"',
        runnable,
        flags=re.M,
    )
    lines: list[str] = []
    for line in runnable.splitlines():
        line = re.sub(r'^listen on "[^"]+" ', "listen on lo ", line)
        if line.startswith("listen on lo ") and line in lines:
            continue  # "0.0.0.0" and "::" both became lo
        lines.append(line)
    conf = workdir / "smtpd.conf"
    conf.write_text("\n".join(lines) + "\n")
    ports = [int(m.group(1)) for m in (re.match(r"listen on lo port (\d+)(?!.*smtps)", x) for x in lines) if m]
    ports += [587 for x in lines if re.match(r"listen on lo port submission(?!.*smtps)", x)]
    return conf, (25 if 25 in ports or not ports else ports[0])


def ask(
    smtpd: str,
    text: str,
    cases: list[Case],
    workdir: Path,
    root: Path | None = None,
    files: dict[str, str] | None = None,
    system: Path | None = None,
    progress: Progress = quiet,
) -> dict[Case, Answer]:
    """smtpd's answer for every case; with ``system``, the smtpd (and harness) of that system root.

    ``progress`` hears of each case as the harness answers it.
    """
    system = chosen(system)
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        raise SideError("smtpd", "unshare and ip (util-linux, iproute2) are needed to run smtpd privately")
    workdir.mkdir(parents=True, exist_ok=True)
    conf, port = prepare(text, workdir, root, files)
    auth = _auth_listener(conf.read_text(), workdir) if any(c.authenticated for c in cases) else None
    check = subprocess.run(
        inside(system, [smtpd, "-n", "-f", str(conf)]),
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=60,
    )
    if check.returncode != 0:
        raise SideError("smtpd", "smtpd -n rejects the generated configuration", check.stderr.splitlines())
    spec = workdir / "spec.json"
    spec.touch(mode=0o600)  # it holds the passwords of the cases that log in
    spec.write_text(
        json.dumps(
            {
                "workdir": str(workdir),
                "smtpd": smtpd,
                "conf": str(conf),
                "port": port,
                "smtps": sorted(
                    {int(p) for p in re.findall(r"^listen on lo port (\d+) smtps", conf.read_text(), re.MULTILINE)}
                ),
                "auth": auth,
                "accounts": server_accounts(files or {}, root),
                "run_dirs": database_sockets(root),
                "cases": [asdict(c) for c in cases],
            }
        )
    )
    harness = str(Path(__file__).with_name("inside.py"))  # standard library only: any python3 runs it
    python = "/usr/bin/python3" if system is not None else sys.executable
    cmd = inside(system, [python, harness, str(spec)], net=True)
    progress("smtpd", 0, len(cases))
    code, stdout, stderr = _harness(cmd, workdir / "report.json", lambda done: progress("smtpd", done, len(cases)))
    if code != 0 or not stdout.strip():
        raise SideError("smtpd", "the smtpd probe failed", stderr or stdout.splitlines())
    report = json.loads(stdout)
    if "error" in report:
        raise SideError("smtpd", report["error"], report.get("log", []))
    return {
        case: Answer(r["code"], r["text"], r["route"], routes=tuple(r.get("routes") or ()))
        for case, r in zip(cases, report["results"], strict=True)
    }


PROGRESS = "exim2smtpd-progress"  # inside.py's line on stderr as each case is answered
TIMEOUT = 300  # seconds for the whole probe


def _harness(cmd: list[str], report: Path, answered: Callable[[int], None]) -> tuple[int, str, list[str]]:
    """Run the probe harness: its exit status, its report (stdout) and its other stderr lines.

    stderr is read as it comes, for the progress lines; the report goes to a
    file, so that neither pipe can fill up while the other is read.
    """
    with report.open("w+", encoding="utf-8", errors="replace") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, encoding="utf-8", errors="replace")
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            proc.kill()

        timer = threading.Timer(TIMEOUT, expire)
        timer.start()
        other: list[str] = []
        try:
            assert proc.stderr is not None  # stderr=PIPE
            for line in proc.stderr:
                words = line.split()
                if len(words) == 2 and words[0] == PROGRESS and words[1].isdigit():
                    answered(int(words[1]))
                else:
                    other.append(line.rstrip("\n"))
            code = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:  # interrupted while reading: the harness must not outlive verify
                proc.kill()
                proc.wait()
        if expired.is_set():
            raise SideError("smtpd", f"the smtpd probe did not finish in {TIMEOUT} s")
        out.seek(0)
        return code, out.read(), other


PROBE_USER = "exim2smtpd-probe"
DATABASE_RUN_DIRS = ("mariadbd", "mysqld", "postgresql")  # where MariaDB/MySQL and PostgreSQL keep their sockets


def database_sockets(root: Path | None) -> dict[str, str]:
    """The database servers' socket directories smtpd's table backends reach under /run.

    The harness gives smtpd a /run of its own; these stay reachable: from
    under ``root`` when a copy of the server runs a database there (verify
    reads what the configuration names from ``root``), else the machine's own.
    """
    found = {}
    for name in DATABASE_RUN_DIRS:
        for base in ([str(root)] if root is not None else []) + [""]:
            directory = Path(f"{base}/run/{name}")
            if directory.is_dir():
                found[name] = str(directory)
                break
    return found


_USERNAME = re.compile(r"[A-Za-z0-9_.][A-Za-z0-9_.-]*")


def server_accounts(files: dict[str, str], root: Path | None) -> list[str]:
    """The server's /etc/passwd lines (from ``root``) of the system users the written virtual tables deliver to.

    A hosted domain delivered as its owner names that owner in the virtual
    table; smtpd refuses the address when getpwnam does not know the user, so
    the namespace's passwd gets the server's own line for it (nothing else).
    """
    passwd = Path(f"{root}/etc/passwd") if root is not None else None
    if passwd is None or not passwd.is_file():
        return []
    named: set[str] = set()
    for name, text in files.items():
        if "/" in name or name.endswith((".conf", ".md", ".txt")):
            continue
        for line in text.splitlines():
            _, _, value = line.partition(" ")
            named |= {v.strip() for v in value.split(",") if _USERNAME.fullmatch(v.strip())}
    lines = passwd.read_text(errors="replace").splitlines()
    return [line for line in lines if line.split(":", 1)[0] in named and line.split(":", 1)[0] != "root"]


def _auth_listener(conf: str, workdir: Path) -> dict[str, object] | None:
    """Where and as whom authenticated cases log in: every TLS listener that offers AUTH.

    With the system passwords, the harness adds a user with a throw-away
    password to the namespace's copy of /etc/passwd and /etc/shadow; with a
    credentials table, that user is added to verify's copy of the table. A
    case with a login of its own logs in as that user instead.
    """
    listeners = []
    tables = set()
    for line in conf.splitlines():
        found = re.match(
            r"listen on lo port (\d+|submission) (tls-require|tls|smtps) .*\bauth(?:-optional)?(?: <([^>]+)>)?", line
        )
        if found:
            port = 587 if found.group(1) == "submission" else int(found.group(1))
            listeners.append({"port": port, "smtps": found.group(2) == "smtps"})
            if found.group(3):
                tables.add(found.group(3))
    if not listeners:
        return None
    password = secrets.token_hex(12)
    crypted = subprocess.run(
        ["openssl", "passwd", "-6", password], capture_output=True, text=True, timeout=30, check=True
    ).stdout.strip()
    for name in tables:
        table = re.search(rf'^table "{re.escape(name)}" "file:([^"]+)"', conf, re.MULTILINE)
        if table is not None:
            with open(table.group(1), "a", encoding="utf-8") as copy:
                copy.write(f"{PROBE_USER} {crypted}\n")
    return {"listeners": listeners, "user": PROBE_USER, "password": password, "hash": crypted}
