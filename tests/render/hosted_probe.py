"""Sends mail to hosted-domain addresses through the staged smtpd, with stand-ins for Dovecot, and says what arrived.

Runs inside the unstable root's namespaces (content_probe.sh), as root. Argument: a JSON object with
"recipients" (each sent in a message of its own, from the internet), "lmtp" (a socket path to answer
LMTP on, or null), "lda_log" (the file the stand-in dovecot-lda appends to, or null) and "maildirs"
(a directory to list). Prints a JSON object: the RCPT answers, the LMTP recipients, the stand-in LDA's
lines and every file under the maildirs with its owner.
"""

import json
import os
import smtplib
import socket
import sys
import threading
import time

job = json.loads(sys.argv[1])
lmtp_rcpts: list[str] = []


def serve_lmtp(path: str) -> None:
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    os.chmod(path, 0o666)
    server.listen(5)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=lmtp_session, args=(conn,), daemon=True).start()


def lmtp_session(conn: socket.socket) -> None:
    stream = conn.makefile("rwb")
    stream.write(b"220 stand-in LMTP\r\n")
    stream.flush()
    pending: list[str] = []
    while line := stream.readline():
        verb = line.decode(errors="replace").strip()
        upper = verb.upper()
        if upper.startswith("LHLO"):
            stream.write(b"250-stand-in\r\n250 PIPELINING\r\n")
        elif upper.startswith("RCPT TO:"):
            pending.append(verb[8:].strip().strip("<>"))
            stream.write(b"250 ok\r\n")
        elif upper == "DATA":
            stream.write(b"354 go on\r\n")
            stream.flush()
            while (body := stream.readline()) and body not in (b".\r\n", b".\n"):
                pass
            lmtp_rcpts.extend(pending)
            stream.write(b"".join(b"250 delivered\r\n" for _ in pending))
            pending = []
        elif upper == "QUIT":
            stream.write(b"221 bye\r\n")
            stream.flush()
            break
        else:
            stream.write(b"250 ok\r\n")
        stream.flush()
    conn.close()


if job["lmtp"]:
    threading.Thread(target=serve_lmtp, args=(job["lmtp"],), daemon=True).start()
answers = {}
for number, rcpt in enumerate(job["recipients"]):
    with smtplib.SMTP("127.0.0.1", 25, source_address=("198.18.0.77", 0), timeout=30) as client:
        client.ehlo("probe.example")
        client.mail("friend@elsewhere.example")
        code, _ = client.rcpt(rcpt)
        answers[rcpt] = code
        if code == 250:
            client.data(f"From: friend@elsewhere.example\r\nTo: {rcpt}\r\nSubject: probe {number}\r\n\r\nhello\r\n")


def collect() -> tuple[list[list[object]], list[str]]:
    files: list[list[object]] = []
    for top, _, names in os.walk(job["maildirs"]):
        for name in names:
            status = os.stat(os.path.join(top, name))
            files.append([os.path.relpath(os.path.join(top, name), job["maildirs"]), status.st_uid, status.st_gid])
    path = job["lda_log"]
    return files, open(path).read().splitlines() if path and os.path.exists(path) else []


deadline = time.time() + 30
while time.time() < deadline:
    files, lda = collect()
    if len(files) + len(lmtp_rcpts) + len(lda) >= job["expect"]:
        break
    time.sleep(0.3)
time.sleep(1)  # anything beyond what was expected arrives too, and is counted
files, lda = collect()
print(json.dumps({"answers": answers, "lmtp": sorted(lmtp_rcpts), "lda": sorted(lda), "files": sorted(files)}))
