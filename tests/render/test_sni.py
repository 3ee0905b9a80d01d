"""Certificates chosen per host name (SNI): the real smtpd 7.9 serves each name its own, the default otherwise.

exim's ``tls_certificate = ${if exists{DIR/${tls_sni}.crt}{...}{DEFAULT}}``
becomes one pki per name found under --root, all on each TLS listener, the
default first (fixtures/regress-tls-expanded). This runs that listener line
with distinct throw-away certificates and asks for each name. smtpd (libtls)
picks the certificate whose own names match, exim the file named after it:
alike when each file holds the certificate for its name.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from migrate.commands.convert import convert
from migrate.verify.system import inside
from tests.conftest import FIXTURES, system_root

PROBE = """
import socket, ssl, subprocess, sys, time
work, smtpd = sys.argv[1], sys.argv[2]
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
subprocess.run(["mount", "--bind", work + "/spool", "/var/spool/smtpd"], check=True)
subprocess.run(["mount", "--rbind", work + "/run", "/run"], check=True)
log = open(work + "/smtpd.log", "wb")
proc = subprocess.Popen([smtpd, "-d", "-f", work + "/smtpd.conf"], stdout=log, stderr=subprocess.STDOUT)
try:
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", 4650), 1).close()
            break
        except OSError:
            time.sleep(0.1)
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    for name in sys.argv[3:]:
        with socket.create_connection(("127.0.0.1", 4650), 5) as raw:
            server = None if name == "-" else name
            with context.wrap_socket(raw, server_hostname=server) as tls:
                der = tls.getpeercert(binary_form=True)
                print(name, next(f"sni-{x}" for x in ("default", "com", "org") if f"sni-{x}".encode() in der))
finally:
    proc.terminate()
    proc.wait()
"""


def _certificate(work: Path, label: str, name: str) -> tuple[Path, Path]:
    cert, key = work / f"{label}.crt", work / f"{label}.key"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert)),
            *("-subj", f"/O=sni-{label}/CN={name}", "-days", "2"),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    key.chmod(0o600)
    return cert, key


def test_each_name_gets_its_certificate(smtpd: str, namespaces: None, tmp_path: Path) -> None:
    fixture = FIXTURES / "regress-tls-expanded"
    conf = convert(str(fixture / "configure"), root=str(fixture / "root")).files["smtpd.conf"]
    listen = next(line for line in conf.splitlines() if line.startswith("listen on all port 465 smtps"))
    assert 'pki "default" pki "mail.example.com" pki "mail.example.org"' in listen
    lines = []
    for pki, label in (("default", "default"), ("mail.example.com", "com"), ("mail.example.org", "org")):
        cert, key = _certificate(tmp_path, label, "mail.example.net" if pki == "default" else pki)
        lines += [f'pki "{pki}" cert "{cert}"', f'pki "{pki}" key "{key}"']
    pkis = listen.split(" smtps ", 1)[1].split(" hostname ", 1)[0]
    lines += [f"listen on lo port 4650 smtps {pkis}", 'action "local" mbox', 'match from any for local action "local"']
    (tmp_path / "smtpd.conf").write_text("\n".join(lines) + "\n")
    for name, mode in (("spool", 0o711), ("run", 0o755)):
        (tmp_path / name).mkdir()
        (tmp_path / name).chmod(mode)
    (tmp_path / "probe.py").write_text(PROBE)
    names = ["mail.example.com", "mail.example.org", "other.example", "-"]
    done = subprocess.run(
        inside(
            system_root("7.9"), ["/usr/bin/python3", str(tmp_path / "probe.py"), str(tmp_path), smtpd, *names], net=True
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    log = (tmp_path / "smtpd.log").read_text(errors="replace") if (tmp_path / "smtpd.log").exists() else ""
    assert done.returncode == 0, done.stderr + log
    served = dict(line.split() for line in done.stdout.splitlines())
    assert served == {
        "mail.example.com": "sni-com",
        "mail.example.org": "sni-org",
        "other.example": "sni-default",  # a name without its own certificate: the default, as exim's {DEFAULT}
        "-": "sni-default",  # no name at all
    }
