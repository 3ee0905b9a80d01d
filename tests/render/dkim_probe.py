"""Inside the namespaces (content_probe.sh runs it as send.py): send one message down each path, say which got signed.

Every action of the staged smtpd.conf relays to a sink on 127.0.0.1:2525
run here, so each message arrives as smtpd sent it on. Each one is checked
with dkimpy against the throw-away key's public half. Prints one JSON object:
path name → "signed" | "unsigned" | "bad signature: ..." | "refused: ..." | "lost".
Standard library and python3-dkim only: it runs with the root's python3.
"""

import json
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time

import dkim

SINK = ("127.0.0.1", 2525)
received: dict[str, bytes] = {}


def sink() -> None:
    server = socket.create_server(SINK)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=session, args=(conn,), daemon=True).start()


def session(conn: socket.socket) -> None:
    """Just enough SMTP for smtpd's mta to hand a message over."""
    reader = conn.makefile("rb")
    conn.sendall(b"220 sink\r\n")
    while line := reader.readline():
        verb = line[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            conn.sendall(b"250 sink\r\n")
        elif verb == b"DATA":
            conn.sendall(b"354 go on\r\n")
            body = b""
            while (part := reader.readline()) not in (b".\r\n", b""):
                body += part[1:] if part.startswith(b"..") else part
            subject = next((h.split(b":", 1)[1].strip() for h in body.split(b"\r\n") if h.startswith(b"Subject:")), b"")
            received[subject.decode()] = body
            conn.sendall(b"250 kept\r\n")
        elif verb == b"QUIT":
            conn.sendall(b"221 bye\r\n")
            break
        else:
            conn.sendall(b"250 ok\r\n")
    conn.close()


def message(path: str, sender: str, rcpt: str) -> str:
    return (
        f"From: <{sender}>\r\nTo: <{rcpt}>\r\nSubject: {path}\r\nMessage-ID: <{path}@probe.example>\r\n"
        "Date: Tue, 01 Dec 2026 12:00:00 +0000\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        f"A message down the {path} path.\r\n"
    )


def send(path: dict, auth: dict) -> str:
    text = message(path["name"], path["from"], path["rcpt"])
    if path["port"] == "socket":
        done = subprocess.run(["sendmail", "-f", path["from"], path["rcpt"]], input=text.encode(), capture_output=True)
        return "" if done.returncode == 0 else f"refused: sendmail {done.returncode} {done.stderr[-200:]!r}"
    source = (path["client"], 0)
    if path["smtps"]:
        context = ssl._create_unverified_context()
        client = smtplib.SMTP_SSL("127.0.0.1", path["port"], source_address=source, timeout=60, context=context)
    else:
        client = smtplib.SMTP("127.0.0.1", path["port"], source_address=source, timeout=60)
    try:
        with client as s:
            s.ehlo("probe.example")
            if path["tls"]:
                s.starttls(context=ssl._create_unverified_context())
                s.ehlo("probe.example")
            if path["auth"]:
                s.login(auth["user"], auth["password"])
            s.sendmail(path["from"], [path["rcpt"]], text)
    except smtplib.SMTPException as exc:
        return f"refused: {exc}"
    return ""


def verdict(body: bytes, public: bytes, domain: str) -> str:
    if b"DKIM-Signature:" not in body:
        return "unsigned"
    record = b"v=DKIM1; k=rsa; p=" + public

    def txt(name: bytes, timeout: int = 5) -> bytes:
        return record if name.decode().rstrip(".").endswith(f"._domainkey.{domain}") else b""

    try:
        good = dkim.verify(body, dnsfunc=txt)
    except dkim.DKIMException as exc:
        return f"bad signature: {exc}"
    return "signed" if good else "bad signature"


def main() -> None:
    with open(sys.argv[1]) as file:
        spec = json.load(file)
    threading.Thread(target=sink, daemon=True).start()
    outcome = {}
    for path in spec["paths"]:
        outcome[path["name"]] = send(path, spec["auth"]) or "sent"
    deadline = time.time() + 60
    while time.time() < deadline and any(v == "sent" and k not in received for k, v in outcome.items()):
        time.sleep(0.2)
    for name, state in outcome.items():
        if state == "sent":
            body = received.get(name)
            outcome[name] = "lost" if body is None else verdict(body, spec["public"].encode(), spec["domain"])
    print(json.dumps(outcome))


main()
