"""Content filtering for real: GTUBE through smtpd, the real filter-rspamd and rspamd 4, on every listener.

exim scanned every message its DATA ACL saw; the converted configuration
must refuse the GTUBE test message on every listener, from a client outside
every list, with rspamd taking its settings from the generated local.d files.
Run from the unstable system root in private namespaces (no DNS: the test
message is recognised by rspamd without any lookup).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from migrate.commands.convert import convert
from migrate.verify import adapt
from migrate.verify.system import inside
from tests.conftest import FIXTURES, system_root

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
SEND = f"""
import smtplib, ssl, sys
port, implicit, rcpt = int(sys.argv[1]), sys.argv[2] == "smtps", sys.argv[3]
headers = "From: probe@probe.example\\r\\nTo: " + rcpt + "\\r\\nSubject: gtube\\r\\n"
headers += "Message-ID: <gtube@probe.example>\\r\\n"
message = headers + "Content-Type: text/plain; charset=us-ascii\\r\\n\\r\\nA test.\\r\\n\\r\\n{GTUBE}\\r\\n\\r\\n"
try:
    source = ("198.18.0.77", 0)
    if implicit:
        context = ssl._create_unverified_context()
        session = smtplib.SMTP_SSL("127.0.0.1", port, source_address=source, timeout=60, context=context)
    else:
        session = smtplib.SMTP("127.0.0.1", port, source_address=source, timeout=60)
    with session as s:
        s.ehlo("probe.example")
        s.mail("probe@probe.example")
        code, _ = s.rcpt(rcpt)
        if code >= 400:
            print(port, "rcpt", code)
        else:
            code, text = s.data(message)
            print(port, code, text.decode(errors="replace")[:60])
except smtplib.SMTPDataError as exc:
    print(port, exc.smtp_code)
except Exception as exc:
    print(port, "error", exc)
"""


@pytest.mark.parametrize("case", ["content-filters", "article-mx"])
def test_gtube_is_refused_on_every_listener_exim_scanned(case: str, namespaces: None) -> None:
    root = system_root("7.9")
    result = convert(str(FIXTURES / case / "configure"), platform="linux")
    work = Path(tempfile.mkdtemp(prefix="exim2smtpd-content-"))  # the filters' own users must reach it
    work.chmod(0o755)
    local_d = work / "local.d"
    for name, text in result.files.items():
        if name.startswith("rspamd/local.d/"):
            path = local_d / name.removeprefix("rspamd/local.d/")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    (local_d / "fuzzy_check.conf").write_text("enabled = false;\n")  # offline: no fuzzy servers
    (local_d / "options.inc").write_text(
        'enable_test_patterns = true;\ngtube_patterns = "all";\n'
    )  # GTUBE is off by default
    (local_d / "logging.inc").write_text('type = "console";\nlevel = "info";\n')  # into the test's log
    (local_d / "antivirus.conf").unlink(missing_ok=True)  # no clamd here; GTUBE is the spam check
    text = adapt.adapt(result.files["smtpd.conf"], work, None, result.files, join_tables=False)
    text = re.sub(r'^listen on "(0\.0\.0\.0|::)" ', "listen on lo ", text, flags=re.M)
    lines: list[str] = []
    for line in text.splitlines():
        if not (line.startswith("listen on lo ") and line in lines):  # the two addresses became one lo listener
            lines.append(line)
    key = work / "dkim.key"  # filter-dkimsign starts only with a key it can read: a throw-away one
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True, timeout=60)
    key.chmod(0o644)
    text = re.sub(r" -k \S+", f" -k {key}", "\n".join(lines) + "\n")
    (work / "smtpd.conf").write_text(text)
    (work / "send.py").write_text(SEND)
    listeners = {
        ("587" if port == "submission" else port, kind or "plain")
        for port, kind in re.findall(r"^listen on lo port (\w+)(?: (tls|smtps))?", text, re.M)
    }
    assert listeners, text
    local = result.policy.table("local_domains")
    domain = next(e for e in (local.entries if local else ()) if "*" not in e and e != "localhost")
    script = Path(__file__).with_name("content_probe.sh")
    try:
        done = subprocess.run(
            inside(
                root,
                ["sh", str(script), str(work), f"root@{domain}", *(f"{p}:{k}" for p, k in sorted(listeners))],
                net=True,
            ),
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ports = {p for p, _ in listeners}
    answers = dict(line.split(" ", 1) for line in done.stdout.splitlines() if line[:1].isdigit())
    assert set(answers) == ports, done.stdout + done.stderr
    for port, answer in answers.items():
        assert answer.startswith("5"), f"port {port}: {answer}\n{done.stdout}"  # refused at the end of DATA
