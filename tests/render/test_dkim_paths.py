"""DKIM signing for real: each path mail takes through the converted configuration, checked with a DKIM verifier.

exim's smtp transport signed what it sent out: mail submitted on the local
socket, mail from its trusted networks and mail from authenticated users.
Mail that came in for its own domains was never signed, whatever port it
used and whatever its From: said. The converted configuration runs in the
unstable root (smtpd 7.9, filter-rspamd, rspamd 4) with a throw-away key;
every action relays to a sink, and each message that reaches it is checked
with dkimpy against the key's public half. rspamd's own log then says what
it did with each message: where exim scanned nothing (the local socket, or
every listener of a configuration without content checks) it only signs;
elsewhere it judges with exim's reject threshold.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import subprocess

import pytest

from tests.render import rspamd_run
from tests.render.rspamd_run import Staged

TRUSTED = "192.0.2.10"  # inside both fixtures' relay_from_hosts (192.0.2.0/24)
OUTSIDE = "198.18.0.77"  # inside no list: the internet
REMOTE = "someone@remote.example"
PROBE = rspamd_run.PROBE.with_name("dkim_probe.py")


def _to_sink(text: str) -> str:
    """Every action relays to the probe's sink, so each message can be read as smtpd sent it on."""
    return re.sub(r'^action ("[^"]+") .*$', r"action \1 relay host smtp://127.0.0.1:2525", text, flags=re.M)


def _paths(stage: Staged, domain: str) -> list[dict[str, object]]:
    """Each way in, with what exim did: signed (sent out by its smtp transport) or not (delivered here)."""
    found: list[dict[str, object]] = [
        {"name": "sendmail", "port": "socket", "from": f"root@{domain}", "rcpt": REMOTE, "expect": "signed"}
    ]
    auth_ports = {
        587 if port == "submission" else int(port)
        for port in re.findall(r"^listen on lo port (\w+) .*\bauth(?:-optional)?\b", stage.smtpd_conf, re.M)
    }
    local = f"postmaster@{stage.local_domain}"
    for port, kind in sorted(stage.listeners):
        way = {"port": port, "smtps": kind == "smtps", "tls": kind == "tls", "auth": False}
        found += [
            {**way, "name": f"trusted-network:{port}", "client": TRUSTED, "from": f"office@{domain}", "rcpt": REMOTE,
             "expect": "signed"},
            {**way, "name": f"inbound:{port}", "client": OUTSIDE, "from": "friend@elsewhere.example", "rcpt": local,
             "expect": "unsigned"},
            {**way, "name": f"forged-local-from:{port}", "client": OUTSIDE, "from": f"ceo@{domain}", "rcpt": local,
             "expect": "unsigned"},
        ]  # fmt: skip
        if port in auth_ports:
            found.append(
                {**way, "name": f"authenticated:{port}", "client": OUTSIDE, "auth": True, "from": f"user@{domain}",
                 "rcpt": REMOTE, "expect": "signed"}
            )  # fmt: skip
    return found


def _tasks(lines: list[str]) -> dict[str, tuple[float, set[str]]]:
    """For each message rspamd checked: its reject threshold and the symbols that fired."""
    found = {}
    for line in lines:
        named = re.search(r"id: <([^@>]+)@probe\.example>", line)
        scored = re.search(r"\[[-\d.]+/([\d.]+)\] \[(.*?)\]\)", line)
        if named and scored:
            symbols = {part.split("(")[0] for part in re.split(r",(?=[A-Z_0-9]+\()", scored.group(2)) if part}
            found[named.group(1)] = (float(scored.group(1)), symbols)
    return found


def _key(stage: Staged) -> str:
    """A throw-away signing key in place of exim's; its public half, as a DKIM record's p= value."""
    key = stage.work / "dkim.key"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True, timeout=60)
    key.chmod(0o644)  # rspamd's own user reads it
    conf = stage.work / "local.d" / "dkim_signing.conf"
    conf.write_text(re.sub(r'^(\s*path = )"[^"]*";', rf'\1"{key}";', conf.read_text(), flags=re.M))
    public = subprocess.run(
        ["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"], check=True, capture_output=True, timeout=60
    ).stdout
    return base64.b64encode(public).decode()


@pytest.mark.parametrize("case", ["dkim-submission", "content-filters"])
def test_signed_exactly_where_exim_signed(case: str, namespaces: None) -> None:
    with rspamd_run.staged(case, _to_sink) as stage:
        dkim = stage.result.policy.content.dkim
        assert dkim is not None and not dkim.per_domain
        paths = _paths(stage, dkim.domain)
        password = secrets.token_hex(12)
        crypted = subprocess.run(
            ["openssl", "passwd", "-6", password], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
        spec = {
            "paths": paths,
            "auth": {"user": "exim2smtpd-probe", "password": password},
            "public": _key(stage),
            "domain": dkim.domain,
        }
        (stage.work / "spec.json").write_text(json.dumps(spec))
        done = rspamd_run.run(
            stage,
            PROBE.read_text(),
            [str(stage.work / "spec.json")],
            {"CLIENTS": f"{OUTSIDE} {TRUSTED}", "PAUSE": "", "AUTH_USER": "exim2smtpd-probe", "AUTH_HASH": crypted},
        )
        logs = rspamd_run.log(stage)
        tasks = _tasks(rspamd_run.rspamd_tasks(stage))
    assert done.returncode == 0 and done.stdout.strip(), done.stdout + done.stderr + logs
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    expected = {str(p["name"]): p["expect"] for p in paths}
    assert outcome == expected, f"{json.dumps(outcome, indent=1)}\n{logs}"
    content = stage.result.policy.content
    for name, (threshold, symbols) in tasks.items():  # what rspamd itself said about each message
        if name == "sendmail" or not content.scans:  # exim scanned none of these: rspamd only signs
            assert symbols <= {"DKIM_SIGNED"}, (name, symbols)
        elif content.spam and content.spam.reject is not None:  # exim's threshold, on real mail
            assert threshold == content.spam.reject, (name, threshold)
    assert set(tasks) == set(expected) - {n for n, v in outcome.items() if v.startswith("refused")}, tasks
    if case == "dkim-submission":
        assert {n.split(":")[0] for n in expected} >= {"sendmail", "trusted-network", "authenticated", "inbound"}
