"""Conversion: golden smtpd.conf files, the real smtpd -n, and the CLI."""

from __future__ import annotations

import contextlib
import difflib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from migrate.commands.convert import convert, write_output
from migrate.model import Policy
from migrate.verify import adapt as smtpd_check
from tests.conftest import FIXTURES, ROOT, Corpus

GOLDEN = {
    "article-mx": ("openbsd", "linux", "debian", "debian12", "freebsd"),
    "macros-conditionals": ("openbsd",),
    "includes-lists": ("openbsd",),
    "continuations-tabs": ("openbsd",),
    "unrepresentable": ("openbsd",),
    "content-filters": ("openbsd", "linux"),
    "dkim-submission": ("openbsd", "debian12"),
    # idioms of public configurations (issue 14), each written for this project
    "docker-relay": ("openbsd",),
    "smarthost-macro": ("openbsd", "debian"),
    "smarthost-route-list": ("openbsd",),
    "forward-aliases": ("openbsd",),
    # /etc/aliases with exim's own values (:blackhole:, :fail:, :defer:, :unknown:): smtpd reads a translated copy
    "aliases-exim-values": ("openbsd", "debian"),
    "exim-default": ("openbsd",),
    "localhost-at": ("openbsd",),
    "router-two-conditions": ("openbsd",),
    "control-panel-helo": ("openbsd",),
    "virtual-inline-domains": ("openbsd",),
    "sql-virtual": ("openbsd",),
    "sql-hosting": ("openbsd", "debian"),
    "directadmin-like": ("openbsd",),
    "cpanel-like": ("openbsd",),
    "virtual-maildir": ("openbsd", "debian"),
    "dovecot-lmtp": ("openbsd",),
    "dovecot-lda": ("openbsd",),
    "run-perl": ("openbsd",),
    "vhost-catchall": ("openbsd",),
    "lookup-files": ("openbsd", "debian"),
    "sql-lookups": ("openbsd", "debian"),
    # issue 15: blocklists in files; logins from a password file (SHA-512 checkable on Linux only)
    "blocklist-files": ("openbsd",),
    "greylisting": ("openbsd",),
    # staff log in by binding to the office directory (ldapauth): lost, with the steps for each target
    "ldap-auth": ("openbsd", "debian"),
    "auth-passwd-file": ("openbsd", "linux"),
    "dovecot-passwd-file": ("openbsd", "linux"),
    "per-port-submission": ("openbsd", "debian12"),
    # the wrong claims of issue 12, each in its own configuration
    "regress-dkim-expanded": ("openbsd",),
    "regress-dnsbl-deny": ("openbsd",),
    "regress-tls-expanded": ("openbsd",),
    "regress-forward-only": ("openbsd",),
    "regress-multiline": ("openbsd",),
    "regress-lookup-tables": ("openbsd", "debian"),
    # issue 17: 300 domains and 262 networks inline: table files beside smtpd.conf (6.8 and 7.6 read them too)
    "hosting-scale": ("openbsd", "debian", "debian12"),
}
# Fixtures whose lookup files live in a copy of the server's tree (convert --root).
ROOTS = {p.parent.name: str(p) for p in FIXTURES.glob("*/root") if p.parent.name != "article-mx"}


def _convert(case: str, platform: str = "openbsd"):  # type: ignore[no-untyped-def]
    """Convert as an admin would from the checkout: the headers name the paths as given, relative here."""
    root = ROOTS.get(case)
    with contextlib.chdir(ROOT):
        return convert(
            os.path.relpath(FIXTURES / case / "configure"),
            platform=platform,
            root=os.path.relpath(root) if root else "/",
        )


DEBIAN = ["internet", "smarthost", "satellite", "local", "internet-split", "template", "upstream-example"]


def _golden_dir(case: str, platform: str) -> Path:
    base = FIXTURES / case / "expected"
    return base if platform == "openbsd" else base / platform


def findings_text(policy: Policy) -> str:
    """The findings, one per line, with file names relative to the fixture."""
    lines = []
    for f in policy.findings:
        where = f"{os.path.basename(f.span.file)}:{f.span.line}:{f.span.col}"
        lines.append(f"{where}: {f.severity}[{f.rule}] {f.message}")
    counts = policy.counts()
    lines.append(" ".join(f"{k}={v}" for k, v in counts.items()))
    return "\n".join(lines) + "\n"


def _compare(path: Path, actual: str, update: bool) -> None:
    if update:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual)
        return
    expected = path.read_text() if path.exists() else ""
    if actual != expected:
        diff = "".join(difflib.unified_diff(expected.splitlines(True), actual.splitlines(True), str(path), "actual"))
        pytest.fail(f"{path} differs (run pytest --update-golden and review the diff):\n{diff}")


@pytest.mark.parametrize(("case", "platform"), [(c, p) for c, ps in GOLDEN.items() for p in ps])
def test_golden_outputs(case: str, platform: str, update_golden: bool) -> None:
    """smtpd.conf, every rspamd local.d file, and the findings."""
    result = _convert(case, platform)
    directory = _golden_dir(case, platform)
    for name, text in result.files.items():
        _compare(directory / name, text, update_golden)
    _compare(directory / "findings.txt", findings_text(result.policy), update_golden)
    rspamd_dir = directory / "rspamd"
    golden = (
        {str(p.relative_to(directory)) for p in rspamd_dir.rglob("*") if p.is_file()} if rspamd_dir.exists() else set()
    )
    if update_golden:
        for stale in golden - set(result.files):
            (directory / stale).unlink()
        golden &= set(result.files)
    written = golden
    assert written == {n for n in result.files if n.startswith("rspamd/")}


@pytest.mark.parametrize(("case", "platform"), [(c, p) for c, ps in GOLDEN.items() for p in ps])
def test_same_input_gives_the_same_bytes(case: str, platform: str) -> None:
    assert _convert(case, platform).files == _convert(case, platform).files


@pytest.mark.parametrize(("case", "platform"), [(c, p) for c, ps in GOLDEN.items() for p in ps])
def test_real_smtpd_accepts_generated_fixture_configs(smtpd: str, tmp_path: Path, case: str, platform: str) -> None:
    files = _convert(case, platform).files
    text = files["smtpd.conf"]
    result = smtpd_check.check(text, tmp_path, files)
    assert result.returncode == 0, result.stderr + "\n" + smtpd_check.adapt(text, tmp_path)
    assert "configuration OK" in result.stderr


@pytest.mark.exim
@pytest.mark.parametrize("platform", ["openbsd", "linux"])
@pytest.mark.parametrize("name", DEBIAN)
def test_real_smtpd_accepts_generated_debian_configs(
    smtpd: str, debian_corpus: Corpus, tmp_path: Path, name: str, platform: str
) -> None:
    result = convert(str(debian_corpus.files[name]), defines=debian_corpus.defines[name], platform=platform)
    check = smtpd_check.check(result.files["smtpd.conf"], tmp_path, result.files)
    assert check.returncode == 0, check.stderr + "\n" + result.files["smtpd.conf"]


def test_article_example_has_the_hand_written_shape() -> None:
    text = convert(str(FIXTURES / "article-mx" / "configure")).files["smtpd.conf"]
    for line in [
        'table "aliases" "file:/etc/mail/aliases"',
        'table "local_domains" {',
        'table "relay_domains" {',
        '\t"nuug.no" = "smtp://mx1.nuug.no",',
        'table "relay_from_hosts" {',
        '\t"2001:db8::/32"',
        'pki "skapet.bsdly.net" cert "/etc/ssl/skapet.bsdly.net.fullchain.pem"',
        "listen on socket",
        'filter "rspamd" proc-exec "filter-rspamd"',
        'listen on all port 25 tls pki "skapet.bsdly.net" hostname "skapet.bsdly.net" auth-optional filter "rspamd"',
        'listen on all port 465 smtps pki "skapet.bsdly.net" hostname "skapet.bsdly.net" auth-optional filter "rspamd"',
        'listen on all port submission tls pki "skapet.bsdly.net" hostname "skapet.bsdly.net" '
        'auth-optional filter "rspamd"',
        'action "local" mbox alias <aliases>',
        'action "relay_domains" relay domain <relay_routes> helo "skapet.bsdly.net"',
        'action "outbound" relay helo "skapet.bsdly.net"',
    ]:
        assert line in text.splitlines(), line
    matches = [line for line in text.splitlines() if line.startswith("match ")]
    assert matches == [
        # exim's "Restricted characters in address" denies, for every client but local submission (accepted above)
        "match ! from socket for domain <local_domains> rcpt-to regex <denied_local_parts_line52> reject",
        "match ! from socket ! for domain <local_domains> rcpt-to regex <denied_local_parts_line56> reject",
        'match from local for local action "local"',
        'match from any for domain <local_domains> action "local"',
        'match from any for domain <relay_domains> action "relay_domains"',
        'match from local for any action "outbound"',
        'match from src <relay_from_hosts> for any action "outbound"',
        'match auth from any for any action "outbound"',
    ]
    order = [line.split()[0] for line in text.splitlines() if line and not line.startswith(("#", "\t", "}"))]
    kinds = [k for k in order if k in ("table", "pki", "filter", "listen", "action", "match")]
    assert kinds == sorted(kinds, key=["table", "pki", "filter", "listen", "action", "match"].index)
    assert len([line for line in text.splitlines() if line.strip() and not line.startswith("#")]) < 100


@pytest.mark.parametrize(("platform", "first_line"), [("linux", "{"), ("debian", "{"), ("debian12", "{ \\")])
def test_linux_platforms_write_addresses_and_the_tables_their_smtpd_reads(platform: str, first_line: str) -> None:
    text = convert(str(FIXTURES / "article-mx" / "configure"), platform=platform).files["smtpd.conf"]
    assert "listen on all" not in text
    assert 'listen on "0.0.0.0" port 25 tls' in text and 'listen on "::" port 25 tls' in text
    assert f'table "local_domains" {first_line}\n' in text  # 6.8 reads one line, continued with a backslash


def test_every_statement_is_accounted_for_exactly_once() -> None:
    result = convert(str(FIXTURES / "article-mx" / "configure"))
    statements = result.config.statements()
    assert len(result.policy.accounting) == len(statements)
    assert sum(result.policy.counts().values()) == len(statements)
    # Every unmapped statement is listed, itself or through its ACL statement or driver.
    parent = {}
    for acl in result.config.acls:
        for statement in acl.statements:
            parent.update({c.span: statement.span for c in statement.conditions})
    for driver in (*result.config.routers, *result.config.transports, *result.config.authenticators):
        parent.update({o.span: driver.span for o in driver.options})
    listed = {f.span for f in result.policy.findings if f.severity == "unmapped"}
    for span, bucket in result.policy.accounting:
        if bucket == "unmapped":
            assert span in listed or parent.get(span) in listed, span


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migrate", *args], capture_output=True, text=True, timeout=60)


def test_convert_cli_writes_the_files_and_ends_with_direction(tmp_path: Path) -> None:
    out = tmp_path / "out"
    configure = str(FIXTURES / "article-mx" / "configure")
    result = _cli("convert", configure, "-o", str(out), "--platform", "openbsd")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    expected = convert(configure, platform="openbsd").files["smtpd.conf"]
    assert (out / "smtpd.conf").read_text() == expected
    lines = result.stdout.splitlines()
    written = [p for p in out.rglob("*") if p.is_file()]
    assert lines[0].startswith(f"wrote {len(written)} file(s) to {out}: smtpd.conf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging directory left behind
    assert "configure:60:3: approximated[EXIM-ACL-CONDITIONAL-ACCEPT]" in result.stdout
    # last: the services, the grade with its reason, then what to do next
    grade = next(n for n, line in enumerate(lines) if line.startswith("readiness grade B: "))
    assert "approximated" in lines[grade] and lines[grade - 1].startswith("  kept ")
    assert lines[grade + 1 :] == [
        "next:",
        f"  1. read {out}/MIGRATION.md: the steps for OpenBSD 7.9, in order",
        f"  2. exim2smtpd verify {configure} {out} --root COPY-OF-THE-SERVER"
        "   # the real exim and smtpd, same questions",
        f"  3. exim2smtpd diff {configure} --against {out}   # after any change to the exim configuration",
    ]


def test_convert_names_the_assumed_platform_and_lost_services_come_first_in_next_steps(tmp_path: Path) -> None:
    root = FIXTURES / "ldap-auth" / "root"
    result = _cli("convert", str(FIXTURES / "ldap-auth" / "configure"), "--root", str(root), "-o", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "readiness grade C: 1 service(s) exim provided would be lost: authenticated submission" in result.stdout
    assert lines[lines.index("next:") + 1] == "  1. restore the lost services above by hand: do not switch over before"
    assert "(assumed from this system; --platform chooses another)" in result.stdout


def test_convert_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "smtpd.conf").write_text("mine\n")
    result = _cli("convert", str(FIXTURES / "article-mx" / "configure"), "-o", str(out))
    assert result.returncode == 1
    assert "already exists" in result.stderr
    assert (out / "smtpd.conf").read_text() == "mine\n"


def test_convert_error_leaves_no_output_directory(tmp_path: Path) -> None:
    bad = tmp_path / "configure"
    bad.write_text("keep_environment =\nprimary_hostnam = x\n")
    result = _cli("convert", str(bad), "-o", str(tmp_path / "out"))
    assert result.returncode == 1
    assert f"{bad}:2:1: error:" in result.stderr
    assert not (tmp_path / "out").exists()
    assert "Traceback" not in result.stderr


def test_unrepresentable_config_converts_what_it_can() -> None:
    result = convert(str(FIXTURES / "unrepresentable" / "configure"))
    policy = result.policy
    rules = {f.rule.id for f in policy.findings if f.severity == "unmapped"}
    assert {"EXIM-ROUTER-PER-ADDRESS", "EXIM-ACL-CONDITIONAL-ACCEPT"} <= rules
    # The perl-selected relay is not migrated, so nobody may send to other domains.
    assert not any(d.accept for d in policy.decisions if d.recipient == "other-domains")


def test_migration_runbook_only_has_the_steps_this_config_needs() -> None:
    plain = convert(str(FIXTURES / "macros-conditionals" / "configure"), platform="debian").files["MIGRATION.md"]
    assert "rspamd" not in plain and "redis" not in plain and "clamav" not in plain
    assert "-o Dpkg::Options::=--force-confold opensmtpd\n" in plain  # apt-get install: opensmtpd alone
    filtered = convert(str(FIXTURES / "content-filters" / "configure"), platform="openbsd").files["MIGRATION.md"]
    assert "pkg_add opensmtpd-filter-rspamd rspamd redis\n" in filtered  # rspamd signs: no filter-dkimsign
    assert "rcctl enable rspamd\nrcctl restart rspamd\n" in filtered
    assert "readable by rspamd's user\n(`_rspamd`)" in filtered
    freebsd = convert(str(FIXTURES / "article-mx" / "configure"), platform="freebsd").files["MIGRATION.md"]
    assert "sysrc spamd_enable=NO" in freebsd and "install -m 0644 smtpd.conf /usr/local/etc/mail/smtpd.conf" in freebsd


def test_lookup_files_become_table_files() -> None:
    files = _convert("lookup-files").files
    assert 'table "local_domains" "file:/etc/mail/local_domains"' in files["smtpd.conf"]
    assert files["local_domains"].split() == [
        "mx.example.org",
        "localhost",
        "example.org",
        "example.com",
        "quoted.example",
        "virtual-one.example",
        "virtual-two.example",
        "*.lists.example.org",  # a wildlsearch "*.domain" key is a pattern
    ]
    assert "[2001:db8::/32]" in files["relay_from_hosts"].split()  # 7.x wants IPv6 bracketed in files
    assert "198.51.100.0/24" not in files["relay_from_hosts"]  # net-lsearch never matched it
    assert "*.relay.example.net" not in files["relay_domains"]  # a literal lsearch key
    assert "install -m 0644 relay_domains /etc/mail/relay_domains" in files["MIGRATION.md"]


def test_missing_lookup_file_is_reported_with_the_exim_line(tmp_path: Path) -> None:
    result = convert(str(FIXTURES / "lookup-files" / "configure"), root=str(tmp_path))
    missing = [f for f in result.policy.findings if "No such file or directory" in f.message]
    assert missing and all(f.severity == "unmapped" and f.span.line > 0 for f in missing)
    assert "/etc/exim/relay_domains" in " ".join(f.message for f in missing)


def test_relay_map_becomes_the_relay_routes_table() -> None:
    result = _convert("lookup-files")
    routes = dict(result.policy.table("relay_routes").mapping)
    assert routes == {
        "relay.example.net": "smtp://mx1.relay.example.net",
        "partner.example": "smtp://smtp.partner.example:2525",  # exim's "host::port" in a colon list
    }
    assert 'action "relay_domains" relay domain <relay_routes>' in result.files["smtpd.conf"]


def test_relay_map_without_every_relay_domain_is_left_out(tmp_path: Path) -> None:
    root = _copy_root(tmp_path)
    (root / "etc/exim/relay_map").write_text("relay.example.net mx1.relay.example.net\n")
    result = convert(str(FIXTURES / "lookup-files" / "configure"), root=str(root))
    assert result.policy.table("relay_routes") is None
    finding = next(f for f in result.policy.findings if f.rule.id == "EXIM-ROUTER-ROUTE-DATA-MISSING")
    assert "partner.example" in finding.message and finding.severity == "unmapped"


def test_per_domain_alias_files_become_a_virtual_table() -> None:
    files = _convert("lookup-files").files
    virtual = dict(line.split(" ", 1) for line in files["virtual_aliases"].splitlines())
    assert virtual["info@virtual-one.example"] == "alice@example.org"
    # unqualified local parts get exim's qualify domain (the primary host name)
    assert virtual["sales@virtual-one.example"] == "bob@mx.example.org, alice@example.org"
    # :fail: must refuse even though "nobody" could fall through to a bare key
    assert virtual["nobody@virtual-one.example"].startswith("error:550 ")
    # the "*" key of lsearch*@ catches the rest of virtual-two, before any fall-through
    assert virtual["@virtual-two.example"] == "postmaster@example.org"
    assert virtual["root@virtual-two.example"] == "postmaster@example.org"
    # exim's fall-through to the aliases file and local users, as bare keys
    assert virtual["root"] == "root@mx.example.org" and virtual["postmaster"] == "postmaster@mx.example.org"
    assert files["virtual_domains"].split() == ["virtual-one.example", "virtual-two.example"]
    conf = files["smtpd.conf"]
    assert 'action "virtual" mbox virtual <virtual_aliases>' in conf
    assert conf.index("for domain <virtual_domains>") < conf.index("for domain <local_domains>")


def test_virtual_domains_must_be_local_domains(tmp_path: Path) -> None:
    """A virtual domain exim's ACL did not treat as local must not be delivered as one."""
    root = _copy_root(tmp_path)
    config = tmp_path / "configure"
    text = (FIXTURES / "lookup-files" / "configure").read_text()
    assert " : dsearch;/etc/exim/vdomains" in text
    config.write_text(text.replace(" : dsearch;/etc/exim/vdomains", ""))
    (root / "etc/exim/vdomains/stranger.example").write_text("info: alice@example.org\n")
    result = convert(str(config), root=str(root))
    # now a hosted list of their own, which exim's dnslookup router (before the alias router) sends out
    assert "virtual_domains" not in result.files and "hosted_users" not in result.files
    assert "hosted_domains" not in result.files["smtpd.conf"]
    assert not [s for s in result.report.lost if s.service.name == "hosted"]  # exim refused them from outside


def test_domain_list_lookup_types() -> None:
    from migrate.lookups import MemoryStore, domain_keys

    store = MemoryStore(
        {
            "/wild": "*.a.example\n*fish\n^\\N^x\\N\nPlain.Example: data\n",
            "/partial": "*.dates.example.org\n*.example\nexact.example\n",
            "/star": "*\nreal.example\n",
            "/built": "from-text.example\n",
            "/built.db": "\x00binary",
            "/orphan.cdb": "\x00",
        }
    )
    wild = domain_keys("wildlsearch", store, "/wild")
    assert wild.entries == ("*.a.example", "plain.example")
    assert any("*fish" in p for p in wild.problems) and any(p.startswith("^") for p in wild.problems)
    partial = domain_keys("partial-lsearch", store, "/partial")
    assert partial.entries == ("dates.example.org", "*.dates.example.org", "exact.example")
    assert any("*.example" in p for p in partial.problems)  # one component: partial2 never tries it
    star = domain_keys("lsearch*", store, "/star")
    assert star.entries == ("real.example",) and "matches every domain" in star.problems[0]
    built = domain_keys("dbm", store, "/built.db")
    assert built.entries == ("from-text.example",) and "text source" in built.note
    with pytest.raises(FileNotFoundError):
        domain_keys("cdb", store, "/orphan.cdb")
    assert domain_keys("mysql", store, "/wild") is None


def test_lsearch_data_follows_exims_rules() -> None:
    from migrate.lookups import lsearch_entries

    text = 'a: one\n  two\n# comment inside\n    three\nb two words\n"c d": quoted\nbaduser:  :fail:\n'
    assert lsearch_entries(text) == [
        ("a", "one two three"),
        ("b", "two words"),
        ("c d", "quoted"),
        ("baduser", ":fail:"),
    ]


def test_sql_domain_list_names_the_table_backend(tmp_path: Path) -> None:
    config = tmp_path / "configure"
    config.write_text(
        "domainlist local_domains = @ : ldap;ldap:///dc=example,dc=org?dc?sub?(dc=${quote_ldap:$domain})\n"
        "begin acl\nacl_check_rcpt:\n  accept domains = +local_domains\n"
    )
    result = convert(str(config))
    finding = next(f for f in result.policy.findings if f.rule.id == "EXIM-LIST-ITEMS")
    assert "table-ldap" in finding.message and finding.severity == "unmapped"


def _copy_root(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "lookup-files" / "root", root)
    return root


def test_sql_lookups_become_backend_tables(tmp_path: Path) -> None:
    result = _convert("sql-lookups")
    conf = result.files["smtpd.conf"]
    assert 'table "local_domains_sql" "sqlite:/etc/mail/local_domains_sql.conf"' in conf
    assert 'table "relay_domains_sql" "mysql:/etc/mail/relay_domains_sql.conf"' in conf
    assert result.files["local_domains_sql.conf"] == (
        "dbpath /var/db/exim/domains.sqlite\nquery_domain SELECT name FROM domains WHERE name=?\n"
    )
    assert "password s3cret" in result.files["relay_domains_sql.conf"]
    assert result.secret_files == {"relay_domains_sql.conf"}
    written = write_output(result, str(tmp_path / "out"))
    modes = {p.name: p.stat().st_mode & 0o777 for p in written}
    assert modes["relay_domains_sql.conf"] == 0o600 and modes["smtpd.conf"] == 0o644
    assert "install -m 0600 -o root relay_domains_sql.conf" in result.files["MIGRATION.md"]
    assert "pkg_add opensmtpd-extras-mysql opensmtpd-extras" in result.files["MIGRATION.md"]


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ("mysql;SELECT d FROM t WHERE d='${quote_mysql:$domain}' AND u='$local_part'", "exactly once"),
        ("mysql,servers=a/b/c/d;SELECT d FROM t WHERE d='${quote_mysql:$domain}'", "options"),
        ("pgsql;SELECT d FROM t WHERE d='${quote_pgsql:$domain}'", "pgsql_servers"),
    ],
)
def test_sql_lookups_that_cannot_be_translated_are_reported(tmp_path: Path, item: str, reason: str) -> None:
    config = tmp_path / "configure"
    config.write_text(f"domainlist local_domains = @ : {item}\nbegin acl\nrcpt:\n  accept domains = +local_domains\n")
    result = convert(str(config))
    finding = next(f for f in result.policy.findings if f.rule.id == "EXIM-LIST-SQL")
    assert reason in finding.message and finding.severity == "unmapped"
    assert not any(t.backend for t in result.policy.tables)


def test_diff_never_shows_a_password(tmp_path: Path) -> None:
    from migrate.commands.diff import compare

    result = _convert("sql-lookups")
    (tmp_path / "relay_domains_sql.conf").write_text("password old-secret\n")
    drift = "".join(compare(result, tmp_path).text)
    assert "relay_domains_sql.conf" in drift and "not shown" in drift
    assert "s3cret" not in drift and "old-secret" not in drift


def test_a_runbook_for_signing_only_installs_no_redis() -> None:
    """rspamd signs without Redis (test_dkim_paths runs it so); scanning keeps it."""
    signing = convert(str(FIXTURES / "dkim-submission" / "configure"), platform="openbsd").files["MIGRATION.md"]
    assert "pkg_add opensmtpd-filter-rspamd rspamd\n" in signing and "redis" not in signing
    scanning = convert(str(FIXTURES / "content-filters" / "configure"), platform="debian").files["MIGRATION.md"]
    assert "redis-server" in scanning


def test_a_catch_all_alias_that_points_at_a_mailbox_leaves_that_mailbox_deliverable() -> None:
    """exim skips the alias router for the catch-all's own target, so anna's mailbox takes it (and ben's mail)."""
    table = _convert("vhost-catchall").policy.table("hosted_users")
    assert table is not None
    mapping = dict(table.mapping)
    assert mapping["anna@shop.example"] == "vmail"  # not anna@shop.example again: smtpd would loop and refuse
    assert mapping["@shop.example"] == "anna@shop.example"
    assert "ben@shop.example" not in mapping  # exim routed ben to anna through the catch-all too


# the rest of a configuration whose local domains come from SQL: accepted and delivered to system users
SQL_REST = (
    "acl_smtp_rcpt = rcpt\nbegin acl\nrcpt:\n  accept domains = +local_domains\n"
    "begin routers\nlocaluser:\n  driver = accept\n  domains = +local_domains\n  check_local_user\n"
    "  transport = local_delivery\n"
    "begin transports\nlocal_delivery:\n  driver = appendfile\n  file = /var/mail/$local_part_data\n"
)


@pytest.mark.parametrize(
    ("servers", "lines", "approximation"),
    [
        ("db.example.org/mail/exim/pw", ["host db.example.org", "username exim", "database mail"], ""),
        ("localhost::3306/mail/exim/pw", ["host localhost", "password pw"], ""),
        ("/mail/exim/pw", ["host localhost", "database mail"], ""),  # an empty host is the local server
        # exim's socket syntax; table-mysql has no socket setting, so it is reported
        ("localhost(/var/run/mysqld/mysqld.sock)/mail/exim/pw", ["host localhost"], "/var/run/mysqld/mysqld.sock"),
    ],
)
def test_mysql_servers_forms_become_table_mysql_settings(
    tmp_path: Path, servers: str, lines: list[str], approximation: str
) -> None:
    config = tmp_path / "configure"
    config.write_text(
        f"hide mysql_servers = {servers}\n"
        "domainlist local_domains = @ : mysql;SELECT d FROM t WHERE d='${quote_mysql:$domain}'\n" + SQL_REST
    )
    result = convert(str(config))
    backend = result.files["local_domains_sql.conf"].splitlines()
    assert all(line in backend for line in lines), backend
    found = [f for f in result.policy.findings if f.rule.id == "EXIM-SQL-SOCKET"]
    assert [approximation in f.message for f in found] == ([True] if approximation else [])


@pytest.mark.parametrize(
    ("servers", "conninfo"),
    [
        ("(/run/postgresql/.s.PGSQL.5433)/mail/exim/pw", "conninfo host='/run/postgresql' port='5433' dbname='mail'"),
        ("db.example.org::5432/mail/exim/pw", "conninfo host='db.example.org' port='5432' dbname='mail'"),
    ],
)
def test_pgsql_servers_sockets_and_ports_become_conninfo(tmp_path: Path, servers: str, conninfo: str) -> None:
    config = tmp_path / "configure"
    config.write_text(
        f"hide pgsql_servers = {servers}\n"
        "domainlist local_domains = @ : pgsql;SELECT d FROM t WHERE d='${quote_pgsql:$domain}'\n" + SQL_REST
    )
    result = convert(str(config))
    assert result.files["local_domains_sql.conf"].startswith(conninfo), result.files["local_domains_sql.conf"]


@pytest.mark.parametrize(
    ("servers", "reason"),
    [
        ("db.example.org::3307/mail/exim/pw", "port 3306"),
        ("localhost[exim]/mail/exim/pw", "option group"),
        ("a/b/c/d : e/b/c/d", "exactly one server"),
    ],
)
def test_mysql_servers_smtpd_cannot_reach_are_reported(tmp_path: Path, servers: str, reason: str) -> None:
    config = tmp_path / "configure"
    config.write_text(
        f"hide mysql_servers = {servers}\n"
        "domainlist local_domains = @ : mysql;SELECT d FROM t WHERE d='${quote_mysql:$domain}'\n" + SQL_REST
    )
    result = convert(str(config))
    finding = next(f for f in result.policy.findings if f.rule.id == "EXIM-LIST-SQL")
    assert reason in finding.message, finding.message


@pytest.mark.parametrize(("kind", "placeholder"), [("mysql", "?"), ("pgsql", "$1"), ("sqlite", "?")])
def test_sql_hosted_users_become_one_query_with_one_parameter(tmp_path: Path, kind: str, placeholder: str) -> None:
    """table-mysql and table-sqlite bind exactly one parameter: the key is read once, in a derived table."""
    text = (FIXTURES / "sql-hosting" / "configure").read_text()
    for form in ("sqlite;", "lookup sqlite{", "quote_sqlite:"):
        text = text.replace(form, form.replace("sqlite", kind))
    if kind != "sqlite":
        text = text.replace("sqlite_dbfile    = /var/lib/exim/mail.sqlite", f"hide {kind}_servers = db/mail/exim/pw")
    config = tmp_path / "configure"
    config.write_text(text)
    result = convert(str(config), root=str(FIXTURES / "sql-hosting" / "root"))
    query = next(line for line in result.files["hosted_users.conf"].splitlines() if line.startswith("query_alias "))
    assert query.count(placeholder) == 1 and "$local_part" not in query and "$domain" not in query, query
    assert {"EXIM-HOSTED-SQL"} <= {f.rule.id for f in result.policy.findings}
    assert 'action "hosted" maildir' in result.files["smtpd.conf"]
    assert "for domain <hosted_domains_sql> action" in result.files["smtpd.conf"]


def test_subaddresses_follow_exim_local_part_suffix(tmp_path: Path) -> None:
    """No suffix router: smtpd strips no tag. '+*' kept as smtpd's '+'; '-*' reported, smtpd has one delimiter."""
    config = tmp_path / "configure"
    base = SQL_REST.replace("  check_local_user\n", "  check_local_user\n  SUFFIX\n")
    config.write_text("domainlist local_domains = @\n" + base.replace("  SUFFIX\n", ""))
    assert 'smtp sub-addr-delim ":"' in convert(str(config)).files["smtpd.conf"]
    config.write_text(
        "domainlist local_domains = @\n"
        + base.replace("  SUFFIX\n", "  local_part_suffix = +* : -*\n  local_part_suffix_optional\n")
    )
    result = convert(str(config))
    assert "sub-addr-delim" not in result.files["smtpd.conf"]
    found = [f for f in result.policy.findings if f.rule.id == "EXIM-SUFFIX-DELIMITER"]
    assert len(found) == 1 and "-*" in found[0].message and "+*" not in found[0].message
