"""The honesty rule, over every fixture: what the report calls mapped is in the written files, with its effect.

The effects are checked against the files themselves (their text), not
against the source map that produced the buckets, so a wrong source map
fails here as well as a wrong booking.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from migrate import rules
from migrate.commands.convert import Result, convert
from migrate.render import Rendered
from migrate.report import build_report
from migrate.report.formats import summary_lines
from tests.conftest import FIXTURES

CASES = sorted(p.parent.name for p in FIXTURES.glob("*/configure"))
PLATFORMS = ("openbsd", "debian")
# What "ignored" may mean: about exim itself, or never used by exim (the rule reference lists them).
IGNORED_RULES = {"EXIM-IGNORED", "EXIM-MACRO", "EXIM-ACL-UNUSED", "EXIM-ACL-WARN-LOG", "EXIM-LIST-UNUSED"}
IGNORED_RULES |= {"EXIM-TRANSPORT-UNUSED"}


def _convert(case: str, platform: str = "openbsd") -> Result:
    root = FIXTURES / case / "root"
    return convert(str(FIXTURES / case / "configure"), platform=platform, root=str(root) if root.is_dir() else "/")


def _line(result: Result, target: str) -> str:
    name, _, number = target.rpartition(":")
    lines = result.files[name].splitlines()
    assert 1 <= int(number) <= len(lines), target
    return lines[int(number) - 1]


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("case", CASES)
def test_every_carried_statement_points_at_real_output_lines(case: str, platform: str) -> None:
    result = _convert(case, platform)
    for row in result.report.entries:
        if row.severity not in ("mapped", "approximated"):
            assert not row.targets, row
            continue
        assert row.targets, f"{row.span}: {row.severity} with no output line"
        for target in row.targets:
            text = _line(result, target)
            assert text.strip() and not text.lstrip().startswith("#"), (row.span, target, text)


@pytest.mark.parametrize("case", CASES)
def test_the_safety_net_is_not_how_fixtures_get_their_buckets(case: str) -> None:
    """EXIM-NO-EFFECT means the mapping booked a statement render did not write: a bug, never expected."""
    report = _convert(case).report
    assert not [e for e in report.entries if e.rule is rules.NO_EFFECT]


@pytest.mark.parametrize("case", CASES)
def test_ignored_is_only_for_what_exim_itself_never_needed(case: str) -> None:
    for row in _convert(case).report.statements:
        if row.severity == "ignored":
            assert row.rule.id in IGNORED_RULES, row


def _listen_lines(result: Result) -> list[str]:
    return [line for line in result.files["smtpd.conf"].splitlines() if line.startswith("listen on ")]


def _filter_names(result: Result, command: str) -> set[str]:
    """Filters (and chains holding them) that run ``command``."""
    conf = result.files["smtpd.conf"]
    direct = set(re.findall(rf'^filter "([^"]+)" proc-exec "{command}', conf, re.M))
    chains = {
        name
        for name, body in re.findall(r'^filter "([^"]+)" chain \{([^}]*)\}', conf, re.M)
        if direct & set(re.findall(r'"([^"]+)"', body))
    }
    return direct | chains


def _attached(result: Result, command: str) -> list[str]:
    names = _filter_names(result, command)
    return [line for line in _listen_lines(result) if any(f'filter "{n}"' in line for n in names)]


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("case", CASES)
def test_effects_of_what_is_called_carried_over(case: str, platform: str) -> None:
    result = _convert(case, platform)
    conf = result.files["smtpd.conf"]
    carried = {(r.option, r.section) for r in result.report.entries if r.severity in ("mapped", "approximated")}
    options = {o: result.config.options[o] for o in result.config.options}
    if ("tls_certificate", "main") in carried:
        path = options["tls_certificate"].value.text.strip()  # type: ignore[union-attr]
        if "$" in path:  # chosen per host name: the default and one pki per name
            assert re.search(r'^pki "default" cert "/', conf, re.M)
        else:
            assert re.search(rf'^pki "[^"]+" cert "{re.escape(path)}"', conf, re.M)
    if ("tls_on_connect_ports", "main") in carried:
        for port in re.findall(r"\d+", options["tls_on_connect_ports"].value.text):  # type: ignore[union-attr]
            assert any(f" port {port} smtps" in line for line in _listen_lines(result)), port
    if any(option.startswith("dkim_") for option, _ in carried):
        signing = _attached(result, "filter-dkimsign") or _socket_signs(result)
        rspamd = "rspamd/local.d/dkim_signing.conf" in result.files and _attached(result, "filter-rspamd")
        assert signing or rspamd, "a DKIM option is carried over, but nothing signs"
    if any(section == "authenticators" and option == "driver" for option, section in carried):
        assert any(" auth" in line for line in _listen_lines(result)), "an authenticator is carried, no AUTH offered"
    for row in result.report.statements:
        if (
            row.section == "acl"
            and row.severity in ("mapped", "approximated")
            and re.search(r"^\s*(malware|spam|dnslists)\s*=", row.source, re.M)
        ):
            network = [line for line in _listen_lines(result) if "socket" not in line]
            assert network and _attached(result, "filter-rspamd") == network, row
            assert any(n.startswith("rspamd/local.d/") for n in result.files), row


def _socket_signs(result: Result) -> bool:
    names = _filter_names(result, "filter-dkimsign")
    return any(
        line.startswith("listen on socket") and any(f'"{n}"' in line for n in names) for line in _listen_lines(result)
    )


def test_the_safety_net_catches_a_booking_render_did_not_write() -> None:
    """Hold a real conversion against an empty source map: every carried statement becomes unmapped."""
    result = _convert("article-mx")
    empty = Rendered(result.files, result.rendered.secret, {})
    report = build_report(result.config, result.policy, empty)
    assert all(r.severity in ("unmapped", "ignored") for r in report.statements)
    assert any(r.rule is rules.NO_EFFECT for r in report.statements)
    assert report.grade == "C"  # every service is lost too: the smtpd.conf is still there, but say so only once


def test_a_certificate_without_a_pki_line_is_unmapped() -> None:
    """Drop the pki lines' claims: tls_certificate loses its effect and is reported, with the reason."""
    result = _convert("article-mx")
    source_map = {
        span: tuple(t for t in targets if t.effect != "pki") for span, targets in result.rendered.source_map.items()
    }
    report = build_report(result.config, result.policy, replace(result.rendered, source_map=source_map))
    row = next(r for r in report.statements if r.option == "tls_certificate")
    assert row.severity == "unmapped" and row.rule is rules.TLS_NO_CERTIFICATE and "no pki" in row.message


# -- the wrong claims issue 12 listed, each in a fixture of its own ------------------------------------


def _text(case: str) -> list[str]:
    return (FIXTURES / case / "configure").read_text().splitlines()


def _row(result: Result, option: str) -> object:
    return next(r for r in result.report.statements if r.option == option)


def test_expanded_dkim_key_is_not_called_mapped() -> None:
    result = _convert("regress-dkim-expanded")
    dkim = [r for r in result.report.entries if r.option.startswith("dkim_")]
    assert dkim and all(r.severity == "unmapped" and r.rule is rules.DKIM_UNMAPPED for r in dkim)
    assert "dkimsign" not in result.files["smtpd.conf"] and "signs outbound" not in result.files["smtpd.conf"]
    assert [s.service.name for s in result.report.lost] == ["dkim"]
    assert result.report.grade == "C"


def test_a_dnsbl_deny_is_never_ignored() -> None:
    result = _convert("regress-dnsbl-deny")
    line = next(n for n, text in enumerate(_text("regress-dnsbl-deny"), 1) if "dnslists" in text)
    row = next(r for r in result.report.entries if r.span.line == line)  # the condition, or its statement
    assert row.severity == "unmapped" and row.rule is rules.CONTENT_COMBINED
    assert "content" in [s.service.name for s in result.report.lost]
    assert result.report.grade == "C"


def test_certificates_chosen_per_name_are_one_pki_each_and_implicit_tls_listens() -> None:
    """Once 'mapped' with no pki; then unmapped; now a pki per name under --root, and smtps on 465."""
    result = _convert("regress-tls-expanded")
    for option in ("tls_certificate", "tls_privatekey"):
        assert _row(result, option).severity == "approximated", option  # type: ignore[attr-defined]
    assert _row(result, "tls_on_connect_ports").severity == "mapped"  # type: ignore[attr-defined]
    pkis = re.findall(r'^pki "([^"]+)" cert "([^"]+)"', result.files["smtpd.conf"], re.M)
    assert pkis == [
        ("default", "/etc/ssl/exim/default.crt"),
        ("mail.example.com", "/etc/ssl/exim/mail.example.com.crt"),
        ("mail.example.org", "/etc/ssl/exim/mail.example.org.crt"),
    ]
    assert any(" port 465 smtps " in line for line in _listen_lines(result))
    assert "submission" in [s.service.name for s in result.report.lost]  # dovecot, nothing of it under --root
    six_eight = _convert("regress-tls-expanded", "debian12")  # one pki per listener there: the default
    assert re.findall(r'^pki "([^"]+)" cert', six_eight.files["smtpd.conf"], re.M) == ["default"]


def test_a_forward_only_server_keeps_inbound_mail_as_forward_only() -> None:
    """Once it lost every recipient and said grade A; then it said so; now smtpd forwards as exim did."""
    result = _convert("regress-forward-only")
    inbound = next(s for s in result.report.services if s.service.name == "inbound")
    assert inbound.kept and "forward-only" in inbound.why
    assert 'action "virtual" forward-only virtual <virtual_aliases>' in result.files["smtpd.conf"]
    assert "hostmaster@example.com ops-team@mail.example.net" in result.files["virtual_aliases"]
    assert any(f.rule.id == "EXIM-VIRTUAL-ENTRIES" for f in result.policy.findings)  # the :fail: entry is named


def test_a_lost_service_is_said_first() -> None:
    result = convert(str(FIXTURES / "smarthost-macro" / "configure"))  # without the server's passwd.client
    assert [s.service.name for s in result.report.lost] == ["outbound"]
    assert result.report.grade == "C"
    assert summary_lines(result.report)[1].startswith("  LOST outbound delivery")
    assert result.files["MIGRATION.md"].index("Services this output does not keep") < result.files[
        "MIGRATION.md"
    ].index("## 1.")


def test_a_lost_service_says_how_to_restore_it() -> None:
    case = FIXTURES / "ldap-auth"
    result = convert(str(case / "configure"), platform="debian", root=str(case / "root"))
    [submission] = result.report.lost
    assert submission.service.name == "submission" and len(submission.steps) == 1
    assert "libpam-ldapd or sssd" in submission.steps[0] and "'auth'" in submission.steps[0]
    lines = summary_lines(result.report)
    assert lines[1].startswith("  LOST authenticated submission") and lines[2].startswith("    to restore: make PAM")
    assert f"  - to restore: {submission.steps[0]}" in result.files["MIGRATION.md"]
    assert submission.to_dict()["steps"] == list(submission.steps)
    on_openbsd = convert(str(case / "configure"), platform="openbsd", root=str(case / "root"))
    assert "login_ldap" in on_openbsd.report.lost[0].steps[0]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migrate", *args], capture_output=True, text=True, timeout=120)


def test_convert_and_report_print_the_same_summary(tmp_path: Path) -> None:
    case = FIXTURES / "regress-multiline"
    converted = _cli("convert", str(case / "configure"), "--root", str(case / "root"), "-o", str(tmp_path / "out"))
    reported = _cli("report", str(case / "configure"), "--root", str(case / "root"), "--format", "text")
    assert converted.returncode == 0 and reported.returncode == 0, converted.stderr + reported.stderr
    summary = converted.stdout.splitlines()
    report = reported.stdout.splitlines()

    def findings(lines: list[str]) -> list[str]:
        return [line for line in lines if re.match(r"\S+:\d+:\d+: \w+\[", line)]

    def services(lines: list[str]) -> list[str]:
        return [line for line in lines if re.match(r"  (kept|LOST) |    to restore: |services exim provided: ", line)]

    assert findings(summary) == findings(report) and findings(summary)
    assert services(summary) == services(report) and services(summary)
    assert next(s for s in summary if "statements:" in s) in report
    listed = [line for line in summary if re.match(r"\S+:\d+:\d+: unmapped\[", line)]
    counted = re.search(r"(\d+) unmapped", summary[next(i for i, s in enumerate(summary) if "statements:" in s)])
    assert counted is not None and int(counted.group(1)) == len(listed)  # a 4-line statement counts once


@pytest.mark.parametrize("case", CASES)
def test_diff_right_after_convert_finds_nothing(case: str, tmp_path: Path) -> None:
    root = FIXTURES / case / "root"
    where = ["--root", str(root)] if root.is_dir() else []
    out = tmp_path / "out"
    assert _cli("convert", str(FIXTURES / case / "configure"), *where, "-o", str(out)).returncode == 0
    drift = _cli("diff", str(FIXTURES / case / "configure"), *where, "--against", str(out))
    assert drift.returncode == 0, drift.stdout + drift.stderr


def test_an_unquoted_sql_query_is_named_injectable() -> None:
    """Quoted lookups pass; the one query that puts $domain into SQL as it is gets a finding of its own."""
    result = _convert("sql-virtual")
    found = [f for f in result.policy.findings if f.rule.id == "EXIM-SQL-UNQUOTED"]
    assert [(f.span.line, f.severity) for f in found] == [(72, "info")]
    assert "$domain" in found[0].message and "quote_mysql" in found[0].message
    assert "EXIM-SQL-UNQUOTED" in {n.rule.id for n in result.report.notes}  # printed with the report
    # its hosted domains' mailboxes live in SQL, which does not map yet: said first (its logins do, issue 15)
    assert {s.service.name for s in result.report.lost} == {"hosted"}


def test_aliases_beside_mailbox_routers_left_out_are_not_forward_only(tmp_path: Path) -> None:
    """A control panel's hosted mailboxes are routers the output leaves out: their mail is lost, and said so.

    Calling the rest forward-only would have kept only the aliases for every hosted domain and reported
    their mail as kept. (Here the mailbox transport's path is a dbm lookup, which has no smtpd equivalent.)
    """
    shutil.copytree(FIXTURES / "directadmin-like", tmp_path / "case")
    configure = tmp_path / "case" / "configure"
    text = configure.read_text()
    path = "/home/${lookup{$domain_data}lsearch*{/etc/virtual/domainowners}{$value}}/imap/"
    assert path in text
    configure.write_text(text.replace(path, "/home/${lookup{$domain_data}dbm{/etc/virtual/owners.db}}/imap/"))
    result = convert(str(configure), root=str(tmp_path / "case" / "root"))
    assert "forward-only" not in result.files["smtpd.conf"]
    assert "hosted" in {s.service.name for s in result.report.lost}
    assert summary_lines(result.report)[1].startswith("  LOST ")


def test_a_control_panels_hosted_domains_keep_their_mailboxes_and_aliases() -> None:
    """DirectAdmin's shape: the local domains are the hosted ones, each delivered as its owner."""
    result = _convert("directadmin-like")
    conf = result.files["smtpd.conf"]
    assert (
        'maildir "/home/%{user.username}/imap/%{dest.domain:lowercase}/%{dest.user:lowercase}/Maildir" '
        "virtual <hosted_users>" in conf
    )
    users = dict(line.split(" ", 1) for line in result.files["hosted_users"].splitlines())
    assert users["alice@example.com"] == "webuser1" and users["bob@example.net"] == "webuser2"  # the owners
    assert users["@example.com"] == "alice@example.com"  # the lsearch* catch-all, after the mailboxes
    assert users["info@example.com"] == "alice@example.com"  # sales@example.net is :fail:, left out of it
    assert users["postmaster@example.net"] == "root@server1.example.org"  # /etc/aliases, for every domain
    assert "root@example.com" not in users  # the catch-all took it before /etc/aliases
    kept = {s.service.name for s in result.report.services if s.kept}
    assert {"hosted", "forwarding", "sendmail"} <= kept
    assert {s.service.name for s in result.report.lost} == {"submission"}  # SHA-512 logins: OpenBSD reads bcrypt only
    found = {f.rule.id for f in result.policy.findings}
    assert {"EXIM-HOSTED-OWNER", "EXIM-HOSTED-FILE-CONDITION", "EXIM-HOSTED-PARTIAL-ALIAS"} <= found


def test_hosted_mail_a_router_left_out_took_is_lost_not_kept(tmp_path: Path) -> None:
    """cPanel's "*" forwarder written another way: smtpd refuses what that router took, so the service is lost."""
    shutil.copytree(FIXTURES / "cpanel-like", tmp_path / "case")
    configure = tmp_path / "case" / "configure"
    text = configure.read_text()
    assert "{${lookup{*}lsearch{" in text
    configure.write_text(text.replace("{${lookup{*}lsearch{", "{${lookup{**}lsearch{"))
    result = convert(str(configure), root=str(tmp_path / "case" / "root"))
    (hosted,) = [s for s in result.report.lost if s.service.name == "hosted"]
    assert "virtual_aliases" in hosted.why and "refused" in hosted.why
    assert _convert("cpanel-like").report.lost == []
