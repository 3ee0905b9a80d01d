"""Hosted domains delivered for real: smtpd 7.9 runs the converted configuration and the mail lands where exim put it.

verify compares what both daemons accept at RCPT; this is the rest. Each hosted-domain fixture is
converted with its copy of the server's files, run in the unstable root's namespaces (where /run is
the test's own directory), and sent mail from the internet. The Maildir fixture's messages must land
in <vmail>/<domain>/<user>/Maildir owned by exim's uid and gid (5000, from the userbase table: there
is no such system user), an alias must reach each of its mailboxes, and an unknown local part must
be refused at RCPT. Dovecot is replaced by stand-ins: an LMTP listener on Dovecot's socket path that
records each RCPT TO (smtpd must send the full address, as exim's lmtp transport did), and a
dovecot-lda that records its arguments and the uid it ran as.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

import pytest

from tests.conftest import FIXTURES
from tests.render import rspamd_run

PROBE = rspamd_run.PROBE.with_name("hosted_probe.py")
FAKE_LDA = '#!/bin/sh\necho "$(id -u):$(id -g) $*" >> /run/lda.log\ncat > /dev/null\n'


def _deliver(case: str, rewrite: Callable[[str], str], recipients: list[str], expect: int, uid: int = 5000) -> dict:  # type: ignore[type-arg]
    with rspamd_run.staged(case, rewrite, root=FIXTURES / case / "root") as stage:
        run = stage.work / "run"  # content_probe.sh mounts it on /run
        (run / "vmail").mkdir(parents=True)
        os.chown(run / "vmail", uid, uid)
        (run / "dovecot").mkdir()
        (run / "fake-lda").write_text(FAKE_LDA)
        (run / "fake-lda").chmod(0o755)
        (run / "lda.log").touch(mode=0o666)
        (run / "lda.log").chmod(0o666)
        job = {
            "recipients": recipients,
            "expect": expect,
            "lmtp": "/run/dovecot/lmtp",
            "lda_log": "/run/lda.log",
            "maildirs": "/run/vmail",
        }
        done = rspamd_run.run(stage, PROBE.read_text(), [json.dumps(job)], {"PAUSE": "-P mta"})
        assert done.returncode == 0, done.stdout + done.stderr + rspamd_run.log(stage)
        found = json.loads(done.stdout.strip().splitlines()[-1])
        found["log"] = rspamd_run.log(stage)
        return found


def _replacing(old: str, new: str) -> Callable[[str], str]:
    def rewrite(text: str) -> str:
        assert old in text, text
        return text.replace(old, new)

    return rewrite


@pytest.mark.exim
def test_maildir_mailboxes_land_per_domain_as_the_vmail_uid(namespaces: None) -> None:
    recipients = ["alice@example.com", "info@example.com", "Dave@Example.NET", "nobody@example.com"]
    maildir = 'maildir "/var/vmail/%{dest.domain:lowercase}/%{dest.user:lowercase}/Maildir"'
    found = _deliver(
        "virtual-maildir", _replacing(maildir, maildir.replace("/var/vmail/", "/run/vmail/")), recipients, 4
    )
    refused = {r for r, code in found["answers"].items() if code >= 500}
    assert refused == {"nobody@example.com"} and set(found["answers"]) == set(recipients), found
    boxes = {(path.split("/Maildir/")[0], uid, gid) for path, uid, gid in found["files"] if "/new/" in path}
    # info@ is an alias of bob and carol; Dave@Example.NET is dave's mailbox (exim lowercased local parts)
    assert boxes == {
        ("example.com/alice", 5000, 5000),
        ("example.com/bob", 5000, 5000),
        ("example.com/carol", 5000, 5000),
        ("example.net/dave", 5000, 5000),
    }, found


@pytest.mark.exim
def test_dovecot_lmtp_gets_the_full_addresses_aliases_expanded(namespaces: None) -> None:
    recipients = ["alice@example.com", "helpdesk@example.com", "anyone-at-all@example.net"]
    found = _deliver("dovecot-lmtp", lambda text: text, recipients, 4)
    assert found["answers"] == dict.fromkeys(recipients, 250), found  # exim took every local part: Dovecot decides
    # helpdesk@ is an alias of alice and bob; LMTP is told each full address, not a system user's name
    assert found["lmtp"] == sorted(
        ["alice@example.com", "alice@example.com", "bob@example.com", "anyone-at-all@example.net"]
    ), found


@pytest.mark.exim
def test_dovecot_lda_runs_as_the_vmail_uid_with_the_address(namespaces: None) -> None:
    recipients = ["alice@example.com", "nobody@example.com"]
    found = _deliver(
        "dovecot-lda", _replacing('mda "/usr/lib/dovecot/dovecot-lda ', 'mda "/run/fake-lda '), recipients, 1
    )
    assert found["answers"]["alice@example.com"] == 250 and found["answers"]["nobody@example.com"] >= 500, found
    assert found["lda"] == ["5000:5000 -d alice@example.com -f friend@elsewhere.example -a alice@example.com"], found


@pytest.mark.exim
def test_a_catch_all_to_a_mailbox_delivers_there(namespaces: None) -> None:
    """exim sent the catch-all's own target on to its mailbox router: anna's mail, and everyone else's, reach anna."""
    recipients = ["anna@shop.example", "ben@shop.example", "whoever@shop.example", "carl@blog.example"]
    maildir = 'maildir "/srv/mail/%{dest.domain:lowercase}/%{dest.user:lowercase}/Maildir"'
    found = _deliver(
        "vhost-catchall", _replacing(maildir, maildir.replace("/srv/mail/", "/run/vmail/")), recipients, 4, uid=2000
    )
    assert all(code == 250 for code in found["answers"].values()), found
    boxes = [(path.split("/Maildir/")[0], uid, gid) for path, uid, gid in found["files"] if "/new/" in path]
    assert sorted(boxes) == [("blog.example/carl", 2000, 2000)] + [("shop.example/anna", 2000, 2000)] * 3, found
