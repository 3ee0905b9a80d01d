"""Configurations in the idioms admins run (issue 14), each written for this project: convert, keep, agree.

For each: every service exim provided is kept (or named lost with the
reason), and verify — the real exim 4.100 against the real smtpd 7.9 —
finds no difference.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from migrate.commands.convert import Result, convert
from migrate.verify import DIFFERS, verify
from migrate.verify.cases import Case
from tests.conftest import FIXTURES, Exim, readable

# fixture -> the services it must lose, with why (everything else exim provided is kept); a relay is named
# with its client table
IDIOMS = {
    "docker-relay": {},  # relay_to_domains = *: the trusted network relays anywhere
    "smarthost-route-list": {},  # route_list * host::587, TLS required, aliases only: forward-only
    "forward-aliases": {},  # root forwards outside with only 127.0.0.1 trusted
    # /etc/aliases with :blackhole:, :fail:, :defer:, :unknown: and :include:: smtpd reads a translated copy
    "aliases-exim-values": {},
    "exim-default": {},  # exim's own default: @ is the host name only
    "localhost-at": {},
    "router-two-conditions": {},
    "control-panel-helo": {},  # its HELO checks are reported; exim's refusals at EHLO are named, not hidden
    # hosted domains named only inline (dsearch in the ACL and the router), forwarded: forward-only hosted action
    "virtual-inline-domains": {},
    # route_data = ROUTER_SMARTHOST, TLS and AUTH required, credentials from passwd.client under --root
    "smarthost-macro": {},
    # per-domain alias files, nothing delivered locally: forward-only with a virtual table
    "regress-forward-only": {},
    # hosted domains of their own list: per-domain mailbox and alias files, Maildir as uid 5000 (a userbase)
    "virtual-maildir": {},
    # hosted domains delivered to Dovecot's LMTP socket; its SASL authenticators have no smtpd table yet
    "dovecot-lmtp": {"submission": "no listener offers AUTH"},
    # hosted users in a passwd-style file, delivered by dovecot-lda as uid 5000
    "dovecot-lda": {},
    # a '*' catch-all alias whose target is one of the domain's own mailboxes; mailboxes keyed by address
    "vhost-catchall": {},
    # a control panel's hosting: the local domains are hosted ones, per-domain alias and passwd files behind
    # ${if exists} guards, mailboxes delivered as each domain's owner; port 587 only after a login (a listener
    # tag); its logins are SHA-512 hashes, which OpenBSD's crypt does not check, so submission is lost there
    "directadmin-like": {"submission": "no listener offers AUTH"},
    # cPanel's layout: forwarders per domain keyed by address with a "*" line, a passwd file per domain,
    # a blocked-IP file and suspension flags
    "cpanel-like": {},
    # clients refused from files (issue 15): a list file, net-lsearch, net24-lsearch inline; one reject rule
    "blocklist-files": {},
    # logins from Debian's documented /etc/exim4/passwd (issue 15): a credentials table of the same hashes
    "auth-passwd-file": {},
    # acl_smtp_rcpt chosen by $received_port: port 25 for the MX, 587 for logged-in users only (listener tags)
    "per-port-submission": {},
    # exim asks Dovecot's auth socket; Dovecot's passwd-file under --root gives smtpd the same hashes
    "dovecot-passwd-file": {},
    # greylisting (issue 15): a sub-ACL asking greylistd, and an inline defer for postmaster; exim is asked as
    # on the retry that passes (the daemon's socket down gives its fail string)
    "greylisting": {},
    # logins checked by binding to LDAP (issue 15): smtpd has no LDAP check, so submission is lost and said so
    "ldap-auth": {"submission": "no listener offers AUTH"},
    # outbound mail gated by ${perl} per sender, a ${run} per mailbox: smtpd cannot ask either, so they are lost
    # issue 17: a hosting box's 300 domains and 262 client networks inline: smtpd reads them from table files
    "hosting-scale": {},
    "run-perl": {
        "relay relay_from_hosts": "refused",
        "outbound": "no match rule leads to a relay action",
        "sendmail": "other domains",
        "forwarding": "refused",
    },
}


def _root(case: str) -> str:
    root = FIXTURES / case / "root"
    return str(root) if root.is_dir() else "/"


@pytest.mark.parametrize("case", sorted(IDIOMS))
def test_every_service_is_kept_or_named_lost(case: str) -> None:
    report = convert(str(FIXTURES / case / "configure"), root=_root(case)).report
    states = {" ".join(filter(None, (s.service.name, s.service.table))): s for s in report.services}
    provided = {name: s for name, s in states.items() if s.service.provided}
    lost = {name: s.why for name, s in provided.items() if not s.kept}
    assert set(lost) == set(IDIOMS[case]), lost
    for name, why in IDIOMS[case].items():
        assert why in lost[name]


def test_a_smarthost_that_needs_a_login_is_lost_without_credentials() -> None:
    """Without the server's passwd.client there is nothing to log in with: exim's smarthost would refuse."""
    result = convert(str(FIXTURES / "smarthost-macro" / "configure"))
    (outbound,) = [s for s in result.report.services if s.service.name == "outbound"]
    assert not outbound.kept and "sends no credentials" in outbound.why
    assert 'relay host "smtp+tls://mail.example.net:587"' in result.files["smtpd.conf"]  # TLS as exim required


LOOPBACK = {"127.0.0.1", "::1", "127.0.0.0/8", "::1/128"}


def _asks_about(name: str, table: str | None, converted: Result, fixture: str, case: Case) -> bool:
    """Whether a verify case puts the question a service of exim's depends on."""
    if name == "relay":
        entries = converted.policy.table(table or "")
        if entries is not None and set(entries.entries) <= LOOPBACK:
            return case.client_class == "local"  # smtpd counts loopback as local: the socket's cases ask it
        return case.client_class == table and case.recipient_class == "other-domains"
    if name == "forwarding" and case.recipient_class == "local-domains":  # root@, postmaster@ are aliases too
        aliases = converted.policy.table("aliases")
        path = FIXTURES / fixture / "root" / aliases.file.lstrip("/") if aliases else None
        lines = path.read_text().splitlines() if path is not None and path.is_file() else []
        return case.recipient.split("@")[0] in {line.split(":", 1)[0].strip() for line in lines}
    return {
        "inbound": case.client_class == "anyone" and case.recipient_class == "local-domains",
        "submission": case.authenticated,
        "outbound": case.recipient_class == "other-domains",
        "sendmail": case.client_class == "local",
        "forwarding": case.recipient_class in ("alias", "hosted", "hosted-domains"),
        "hosted": case.recipient_class in ("hosted", "hosted-domains"),
    }[name]


@pytest.mark.exim
@pytest.mark.parametrize("case", sorted(IDIOMS))
def test_verify_finds_no_difference(case: str, exim: Exim, smtpd: str, namespaces: None) -> None:
    result = verify(str(FIXTURES / case / "configure"), root=_root(case), exim=str(exim.binary), smtpd=smtpd)
    differs = [o for o in result.outcomes if o.verdict == DIFFERS]
    assert not differs, differs
    assert result.counts()["same"] >= 8  # cases were really compared
    converted = convert(str(FIXTURES / case / "configure"), root=_root(case))
    for state in converted.report.services:  # every service kept was asked about (content and DKIM: content tests)
        if state.service.provided and state.kept and state.service.name not in ("content", "dkim"):
            service = state.service
            asked = [o for o in result.outcomes if _asks_about(service.name, service.table, converted, case, o.case)]
            assert asked, f"no verify case asks about {state.service.title}"
    if case == "control-panel-helo":  # no reverse DNS in the namespace: exim refuses every outside client
        named = [o for o in result.outcomes if "refused the client at EHLO" in o.reason]
        assert named and all("EXIM-ACL-FILTER" in o.reason for o in named)


@pytest.mark.exim
def test_verify_never_runs_what_the_configuration_names(
    tmp_path: Path, exim: Exim, smtpd: str, namespaces: None
) -> None:
    """${run} and ${perl} would have left marks; exim is asked with them failing, then giving 'yes', never run."""
    marks = tmp_path / "marks"
    marks.mkdir()
    marks.chmod(0o777)  # exim asks as its own user too
    text = (FIXTURES / "run-perl" / "configure").read_text()
    text = text.replace("/usr/local/sbin/mailbox-suspended", f"/usr/bin/touch {marks}/run")
    text = text.replace(
        "perl_startup = do '/etc/exim/exim.pl'", f"perl_startup = open(my $f, '>', '{marks}/perl')\nperl_at_start"
    )
    configure = tmp_path / "configure"
    configure.write_text(text)
    result = verify(str(configure), root=_root("run-perl"), exim=str(exim.binary), smtpd=smtpd)
    assert list(marks.iterdir()) == []
    decided = [o for o in result.outcomes if o.exim.decided_by_commands]
    assert decided and all(o.verdict == "not comparable" for o in decided)
    assert any(o.case.recipient_class == "other-domains" for o in decided)  # the ${perl} gate of outbound mail
    assert any("never executed" in note for note in result.notes)


@pytest.mark.exim
def test_a_suspended_hosted_domain_is_refused_as_exim_refused_it(
    exim: Exim, smtpd: str, namespaces: None, shared_tmp: Path
) -> None:
    """The panel suspends a domain with a flag file: the domains flagged under --root get a reject rule first."""
    tmp_path = shared_tmp  # exim's user reads it
    shutil.copytree(FIXTURES / "directadmin-like", tmp_path / "case")
    root = tmp_path / "case" / "root"
    (root / "etc/virtual/example.net_off").write_text("")
    configure = str(tmp_path / "case" / "configure")
    converted = convert(configure, root=str(root))
    first = next(line for line in converted.files["smtpd.conf"].splitlines() if line.startswith("match "))
    assert first == "match ! from socket for domain <refused_domains_line34> reject"
    assert '"example.net"' in converted.files["smtpd.conf"].split('table "refused_domains_line34"', 1)[1][:40]
    readable(tmp_path)
    cases = tmp_path / "cases"
    cases.write_text("198.18.0.77 bob@example.net\n198.18.0.77 alice@example.com\nsocket bob@example.net\n")
    result = verify(configure, root=str(root), exim=str(exim.binary), smtpd=smtpd, cases_file=str(cases))
    assert not [o for o in result.outcomes if o.verdict == DIFFERS]
    mine = {(o.case.client, o.case.recipient): o.smtpd.code for o in result.outcomes if o.case.note.startswith("from")}
    assert mine == {
        ("198.18.0.77", "bob@example.net"): 550,  # suspended
        ("198.18.0.77", "alice@example.com"): 250,
        ("socket", "bob@example.net"): 250,  # sendmail never ran the RCPT ACL
    }


@pytest.mark.exim
def test_each_port_keeps_its_own_policy(exim: Exim, smtpd: str, namespaces: None) -> None:
    """Port 25 takes mail for the local domains from anyone; 587 nothing before a login, then anything."""
    fixture = FIXTURES / "per-port-submission"
    result = verify(str(fixture / "configure"), root=str(fixture / "root"), exim=str(exim.binary), smtpd=smtpd)
    assert not [o for o in result.outcomes if o.verdict == DIFFERS]
    anyone = {
        (o.case.port, o.case.recipient_class): o
        for o in result.outcomes
        if o.case.client_class == "anyone" and o.case.recipient.startswith("postmaster@")
    }
    assert anyone[(25, "local-domains")].smtpd.code == 250
    assert anyone[(587, "local-domains")].exim.code == 550  # exim: "authentication required"
    assert anyone[(587, "local-domains")].smtpd.code == 530  # smtpd: tls-require, then auth, on that listener
    submitted = [o for o in result.outcomes if o.case.authenticated and o.case.recipient_class == "other-domains"]
    assert {o.case.port: o.smtpd.code for o in submitted} == {25: 550, 587: 250}  # port 25's ACL relays no one


LOGINS = {  # (login, port) -> both daemons' answer for someone@elsewhere.example (fixtures/auth-passwd-file/cases)
    **{("anna@example.net", p): 250 for p in (25, 465, 587)},  # a $2y$ hash, read as 2b
    **{("carla@example.com", p): 250 for p in (25, 465, 587)},
}


@pytest.mark.exim
def test_real_logins_are_checked_alike(exim: Exim, smtpd: str, namespaces: None) -> None:
    """Good and wrong passwords, over STARTTLS on 25 and 587 and implicit TLS on 465: exim and smtpd agree."""
    fixture = FIXTURES / "auth-passwd-file"
    result = verify(
        str(fixture / "configure"),
        root=str(fixture / "root"),
        exim=str(exim.binary),
        smtpd=smtpd,
        cases_file=str(fixture / "cases"),
    )
    assert not [o for o in result.outcomes if o.verdict == DIFFERS]
    logins = [o for o in result.outcomes if o.case.login]
    accepted = {(o.case.login, o.case.port): o.smtpd.code for o in logins if o.verdict == "same" and o.exim.code == 250}
    assert accepted == LOGINS
    refused = [o for o in logins if o.reason.startswith("both refuse the login")]
    assert {o.case.login for o in refused} == {"anna@example.net", "nobody@example.net"}  # wrong password, unknown
    assert all(o.exim.code == o.smtpd.code == 535 for o in refused)
    assert any(o.case.wrong_password for o in refused)  # verify's own wrong-password case
    ben = [o for o in logins if o.case.login == "ben@example.net"]  # SHA-512: OpenBSD's crypt checks bcrypt only
    assert ben and all(o.verdict == "not comparable" and "EXIM-AUTH-LOGIN-LOST" in o.reason for o in ben)


BLOCKED = {  # client → smtpd's answer for postmaster@mx.example.org (exim's is the same: verify compares)
    "198.18.0.66": 550,  # /etc/exim/blocked_hosts, refused by exim at connect
    "203.0.113.9": 550,  # a network in that file
    "2001:db8:bad::5": 550,  # an IPv6 network in it
    "198.18.0.99": 550,  # net-lsearch;/etc/exim/spam_sources
    "198.18.7.5": 550,  # net24-lsearch, written inline in the ACL
    "198.18.0.77": 250,  # listed nowhere
    "198.18.8.5": 250,  # beside the /24
}


@pytest.mark.exim
def test_blocklisted_clients_are_refused_and_others_are_not(
    exim: Exim, smtpd: str, namespaces: None, shared_tmp: Path
) -> None:
    """Host lists in files become one reject rule: each listed client refused, an unlisted one accepted."""
    cases = shared_tmp / "cases"
    cases.write_text("".join(f"{client} postmaster@mx.example.org\n" for client in BLOCKED))
    readable(shared_tmp)
    configure, root = str(FIXTURES / "blocklist-files" / "configure"), _root("blocklist-files")
    result = verify(configure, root=root, exim=str(exim.binary), smtpd=smtpd, cases_file=str(cases))
    assert not [o for o in result.outcomes if o.verdict == DIFFERS]
    mine = {o.case.client: o for o in result.outcomes if o.case.note.startswith("from")}
    assert {client: o.smtpd.code for client, o in mine.items()} == BLOCKED
    assert all(o.verdict == "same" for o in mine.values()), mine
