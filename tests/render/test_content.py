"""Content filtering for real: GTUBE through smtpd, the real filter-rspamd and rspamd 4, on every listener.

exim scanned every message its DATA ACL saw; the converted configuration
must refuse the GTUBE test message on every listener, from a client outside
every list, with rspamd taking its settings from the generated local.d files.
Run from the unstable system root in private namespaces (no DNS: the test
message is recognised by rspamd without any lookup).
"""

from __future__ import annotations

import pytest

from tests.render import rspamd_run

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
SEND = f"""
import smtplib, ssl, sys


def send(port, implicit, rcpt):
    headers = "From: probe@probe.example\\r\\nTo: " + rcpt + "\\r\\nSubject: gtube\\r\\n"
    headers += "Message-ID: <gtube@probe.example>\\r\\n"
    message = headers + "Content-Type: text/plain; charset=us-ascii\\r\\n\\r\\nA test.\\r\\n\\r\\n{GTUBE}\\r\\n\\r\\n"
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
            return f"rcpt {{code}}"
        code, text = s.data(message)
        return f"{{code}} {{text.decode(errors='replace')[:60]}}"


for arg in sys.argv[1:]:
    port, kind, rcpt = arg.split(":", 2)
    try:
        print(port, send(int(port), kind == "smtps", rcpt))
    except smtplib.SMTPDataError as exc:
        print(port, exc.smtp_code)
    except Exception as exc:
        print(port, "error", exc)
"""


@pytest.mark.parametrize("case", ["content-filters", "article-mx"])
def test_gtube_is_refused_on_every_listener_exim_scanned(case: str, namespaces: None) -> None:
    with rspamd_run.staged(case) as stage:
        rcpt = f"root@{stage.local_domain}"
        done = rspamd_run.run(stage, SEND, [f"{port}:{kind}:{rcpt}" for port, kind in sorted(stage.listeners)])
        logs = rspamd_run.log(stage)
    ports = {str(port) for port, _ in stage.listeners}
    answers = dict(line.split(" ", 1) for line in done.stdout.splitlines() if line[:1].isdigit())
    assert set(answers) == ports, done.stdout + done.stderr + logs
    for port, answer in answers.items():
        assert answer.startswith("5"), f"port {port}: {answer}\n{done.stdout}"  # refused at the end of DATA
