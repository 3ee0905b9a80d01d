"""exim2smtpd verify: the real exim and the real smtpd, asked the same questions."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from migrate.commands.convert import convert
from migrate.verify import DIFFERS, NOT_COMPARABLE, SAME, VerifyResult, verify
from migrate.verify.cases import ODD_LOCAL_PART, UNKNOWN_DOMAIN
from migrate.verify.exim_side import SideError
from migrate.verify.system import chosen
from tests.conftest import FIXTURES, IN_CI, Corpus, Exim, readable

ARTICLE = FIXTURES / "article-mx" / "configure"
ARTICLE_ROOT = FIXTURES / "article-mx" / "root"


def _processes_and_mounts() -> tuple[str, str]:
    procs = subprocess.run(["pgrep", "-af", "smtpd -d"], capture_output=True, text=True).stdout
    return procs, Path("/proc/mounts").read_text()


@pytest.mark.exim
def test_bundled_example_agrees(exim: Exim, smtpd: str, namespaces: None) -> None:
    before = _processes_and_mounts()
    result = verify(str(ARTICLE), root=str(ARTICLE_ROOT), exim=str(exim.binary), smtpd=smtpd)
    assert result.counts()[DIFFERS] == 0, [o for o in result.outcomes if o.verdict == DIFFERS]
    assert result.return_code == 0
    assert result.counts()[SAME] > 200
    classes = {(o.case.client_class, o.case.recipient_class) for o in result.outcomes if o.verdict == SAME}
    for pair in [
        ("local", "local-domains"),
        ("local", "other-domains"),
        ("relay_from_hosts", "other-domains"),
        ("relay_from_hosts", "relay-domains"),
        ("anyone", "local-domains"),
        ("anyone", "relay-domains"),
        ("anyone", "other-domains"),
        ("anyone", "alias"),
        ("authenticated", "local-domains"),
        ("authenticated", "other-domains"),  # a real STARTTLS and AUTH PLAIN on OpenSMTPD 7.9
    ]:
        assert pair in classes, pair
    relayed = [
        o
        for o in result.outcomes
        if o.case.authenticated and o.case.recipient_class == "other-domains" and ODD_LOCAL_PART not in o.case.recipient
    ]
    # exim's default "Restricted characters" deny refused the odd local part: so does smtpd's rcpt-to regex rule
    odd = [o for o in result.outcomes if o.case.recipient == f"{ODD_LOCAL_PART}@{UNKNOWN_DOMAIN}"]
    assert odd and all(o.verdict == SAME for o in odd), odd
    assert {o.exim.code for o in odd if o.case.client_class != "local"} == {550}, odd
    # the same answer on 25 and 587 (STARTTLS) and 465 (implicit TLS), with AUTH PLAIN and AUTH LOGIN
    assert relayed and all(o.smtpd.code == 250 and o.smtpd.route == "outbound" for o in relayed), relayed
    tried = relayed[0].smtpd.text
    assert all(f"{port} {mech}" in tried for port in (25, 465, 587) for mech in ("PLAIN", "LOGIN")), tried
    ipv6 = [o for o in result.outcomes if ":" in o.case.client and o.verdict == SAME]
    assert ipv6, "IPv6 clients are probed"
    assert _processes_and_mounts() == before, "no smtpd process or mount is left behind"


@pytest.mark.exim
@pytest.mark.parametrize("name", ["internet", "smarthost", "satellite", "local"])
def test_debian_configs_agree(
    exim: Exim, smtpd: str, namespaces: None, debian_corpus: Corpus, tmp_path: Path, name: str
) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "aliases").write_text("postmaster: root\nabuse: root\nfwd: someone@elsewhere.example\n")
    # As on a real Debian host, which has /etc/mailname (this test machine has none, and
    # exim would then qualify bare alias targets with an empty domain).
    defines = {**debian_corpus.defines[name], "ETC_MAILNAME": socket.gethostname()}
    result = verify(str(debian_corpus.files[name]), defines=defines, root=str(root), exim=str(exim.binary), smtpd=smtpd)
    assert [o for o in result.outcomes if o.verdict == DIFFERS] == []
    assert result.counts()[SAME] >= 5, [
        (o.verdict, o.case.client, o.case.recipient, o.exim, o.smtpd.code, o.reason) for o in result.outcomes
    ]


@pytest.mark.exim
def test_an_injected_open_relay_is_a_loud_regression(exim: Exim, smtpd: str, namespaces: None, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    text = convert(str(ARTICLE)).files["smtpd.conf"]
    first = text.index("\nmatch ") + 1
    (out / "smtpd.conf").write_text(text[:first] + 'match from any for any action "outbound"\n' + text[first:])
    result = verify(str(ARTICLE), str(out), root=str(ARTICLE_ROOT), exim=str(exim.binary), smtpd=smtpd)
    assert result.return_code == 2
    assert result.outcomes[0].regression  # regressions are listed first
    assert any(
        o.regression and o.case.recipient.endswith("@elsewhere.example") and o.case.client_class == "anyone"
        for o in result.outcomes
    )


@pytest.mark.exim
def test_a_wrong_password_is_refused_and_compared(
    exim: Exim, smtpd: str, namespaces: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The AUTH cases really log in: with a password smtpd does not know, relaying is refused (a difference)."""
    import migrate.verify
    from migrate.verify import smtpd_side

    real = smtpd_side._auth_listener
    every = migrate.verify.generate
    monkeypatch.setattr(  # smtpd waits after each failed login: ask one case only
        migrate.verify,
        "generate",
        lambda policy, domains: [
            c for c in every(policy, domains) if c.authenticated and ODD_LOCAL_PART not in c.recipient
        ][-1:],
    )

    def wrong(conf: str, workdir: Path) -> dict[str, object] | None:
        found = real(conf, workdir)
        return {**found, "password": "not-the-password"} if found else None

    monkeypatch.setattr(smtpd_side, "_auth_listener", wrong)
    result = verify(str(ARTICLE), root=str(ARTICLE_ROOT), exim=str(exim.binary), smtpd=smtpd)
    refused = [o for o in result.outcomes if o.case.authenticated and o.case.recipient_class == "other-domains"]
    assert refused and all(o.verdict == DIFFERS and o.smtpd.code == 535 for o in refused), refused


def test_extra_cases_from_a_file(exim: Exim, smtpd: str, namespaces: None, tmp_path: Path) -> None:
    cases = tmp_path / "cases"
    cases.write_text("# client recipient\n192.0.2.9 someone@blug.linux.no\nsocket abuse@bsdly.net\n")
    result = verify(str(ARTICLE), root=str(ARTICLE_ROOT), cases_file=str(cases), exim=str(exim.binary), smtpd=smtpd)
    mine = [o for o in result.outcomes if o.case.note.startswith("from ")]
    assert [(o.case.client, o.verdict) for o in mine] == [("192.0.2.9", SAME), ("socket", SAME)]


def _cli(*args: str, exim: Exim) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "EXIM": str(exim.binary)}
    return subprocess.run(
        [sys.executable, "-m", "migrate", "verify", *args], capture_output=True, text=True, timeout=300, env=env
    )


@pytest.mark.exim
def test_cli_exit_codes_and_json(exim: Exim, smtpd: str, namespaces: None, tmp_path: Path) -> None:
    ok = _cli(str(ARTICLE), "--root", str(ARTICLE_ROOT), "--json", exim=exim)
    assert ok.returncode == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert data["counts"]["differs"] == 0 and data["return_code"] == 0
    plain = _cli(str(ARTICLE), "--root", str(ARTICLE_ROOT), exim=exim)
    assert "0 differ" in plain.stdout


@pytest.mark.exim
def test_missing_lookup_file_names_the_exim_line(exim: Exim, namespaces: None) -> None:
    result = _cli(str(ARTICLE), exim=exim)
    assert result.returncode == 1
    assert "lookup file /etc/mail/aliases does not exist" in result.stderr
    assert "configure:114" in result.stderr


@pytest.mark.exim
def test_config_exim_rejects_says_exim_and_quotes_it(exim: Exim, smtpd: str, namespaces: None, tmp_path: Path) -> None:
    # Accepted by our reader, refused by exim itself: a router without a transport.
    path = tmp_path / "configure"
    path.write_text(
        "keep_environment =\nacl_smtp_rcpt = a\nbegin acl\na:\n  accept\nbegin routers\nr:\n  driver = accept\n"
    )
    with pytest.raises(SideError) as caught:
        verify(str(path), exim=str(exim.binary), smtpd=smtpd)
    assert caught.value.side == "exim"
    assert any("a transport is required" in line for line in caught.value.lines)


@pytest.mark.exim
def test_smtpd_refusing_the_config_says_smtpd_and_quotes_it(
    exim: Exim, smtpd: str, namespaces: None, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "smtpd.conf").write_text(
        convert(str(ARTICLE)).files["smtpd.conf"] + 'match from any for any action "nope"\n'
    )
    before = _processes_and_mounts()
    result = _cli(str(ARTICLE), str(out), "--root", str(ARTICLE_ROOT), exim=exim)
    assert result.returncode == 1
    assert result.stderr.startswith("smtpd: smtpd -n rejects")
    assert "no such dispatcher" in result.stderr
    assert _processes_and_mounts() == before


@pytest.mark.exim
def test_smtpd_that_cannot_start_says_why_and_leaves_nothing(
    exim: Exim, smtpd: str, namespaces: None, tmp_path: Path
) -> None:
    # smtpd -n does not bind: two listeners on one port only fail when the daemon starts.
    out = tmp_path / "out"
    out.mkdir()
    text = convert(str(ARTICLE)).files["smtpd.conf"]
    text = text.replace("listen on socket\n", "listen on socket\nlisten on lo port 25\n")
    (out / "smtpd.conf").write_text(text)
    before = _processes_and_mounts()
    with pytest.raises(SideError) as caught:
        verify(str(ARTICLE), str(out), root=str(ARTICLE_ROOT), exim=str(exim.binary), smtpd=smtpd)
    assert caught.value.side == "smtpd"
    assert "did not start" in str(caught.value)
    assert any("Address already in use" in line or "bind" in line for line in caught.value.lines), caught.value.lines
    assert _processes_and_mounts() == before


@pytest.mark.exim
def test_filters_are_stood_in_for_and_policy_still_agrees(exim: Exim, smtpd: str, namespaces: None) -> None:
    """content-filters has filter-rspamd on its listeners and the sign-only one on its socket."""
    result = verify(str(FIXTURES / "content-filters" / "configure"), exim=str(exim.binary), smtpd=smtpd)
    assert result.counts()[DIFFERS] == 0, [o for o in result.outcomes if o.verdict == DIFFERS]
    assert result.counts()[SAME] > 20


@pytest.mark.exim
def test_lookup_file_driven_config_agrees(exim: Exim, smtpd: str, namespaces: None) -> None:
    """verify caught two widenings here while this was built: keep them caught."""
    root = FIXTURES / "lookup-files" / "root"
    result = verify(str(FIXTURES / "lookup-files" / "configure"), root=str(root), exim=str(exim.binary), smtpd=smtpd)
    assert [o for o in result.outcomes if o.verdict == DIFFERS] == []
    assert result.counts()[SAME] > 100


@pytest.mark.exim
def test_debian_directory_agrees(exim: Exim, smtpd: str, namespaces: None, tmp_path: Path) -> None:
    """--debian: exim reads what update-exim4.conf would write; smtpd what we made of it."""
    etc = tmp_path / "etc"
    shutil.copytree(exim.root / "etc/exim4", etc / "exim4")
    (etc / "exim4/update-exim4.conf.conf").write_text(
        # /etc/mailname is one of the host's own names, as on a real server: exim
        # qualifies "admin" in the aliases with it (smtpd with the host name).
        "dc_eximconfig_configtype='internet'\ndc_other_hostnames='example.org;mx.example.org'\n"
        "dc_relay_domains='relay.example.net'\ndc_relay_nets='192.0.2.0/24;2001:db8::/32'\n"
        "dc_use_split_config='true'\n"
    )
    (etc / "mailname").write_text("mx.example.org\n")
    (etc / "aliases").write_text("postmaster: root\nroot: admin\nsales: admin\n")
    tmp_path.chmod(0o755)
    for path in tmp_path.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    result = verify(str(etc / "exim4"), root=str(tmp_path), exim=str(exim.binary), smtpd=smtpd, debian=True)
    assert result.counts()[DIFFERS] == 0, [o for o in result.outcomes if o.verdict == DIFFERS]
    classes = {(o.case.client_class, o.case.recipient_class) for o in result.outcomes if o.verdict == SAME}
    assert ("relay_from_hosts", "other-domains") in classes
    assert ("anyone", "relay-domains") in classes


@pytest.mark.exim
def test_sqlite_domain_list_agrees(exim: Exim, smtpd: str, namespaces: None, shared_tmp: Path) -> None:
    """exim's sqlite lookup and smtpd's table-sqlite answer the same for domains in and out of the file."""
    _sqlite_case(exim, smtpd, shared_tmp)  # exim -bh reads the database as its own user


def _database(path: Path, script: Path) -> None:
    """An SQLite database built from the fixture's SQL, as the server had it."""
    import sqlite3

    path.parent.mkdir(parents=True, exist_ok=True)
    database = sqlite3.connect(path)
    database.executescript(script.read_text())
    database.close()


def _table_sqlite() -> bool:
    """The SQLite table backend of the smtpd verify runs: the system root's (the tests'), else this machine's."""
    return Path(f"{chosen() or ''}/usr/libexec/opensmtpd/table-sqlite").exists()


def _sqlite_case(exim: Exim, smtpd: str, tmp_path: Path) -> None:
    if not _table_sqlite():
        if IN_CI:
            pytest.fail("table-sqlite (opensmtpd-extras) is missing; under CI=true that is a failure")
        pytest.skip("table-sqlite (opensmtpd-extras) is missing")  # only outside CI: CI=true fails above
    fixture = FIXTURES / "sql-lookups"
    root = tmp_path / "root"
    _database(root / "var/db/exim/domains.sqlite", fixture / "root/var/db/exim/domains.sql")
    text = (fixture / "configure").read_text()
    mysql = "mysql;SELECT domain FROM relays WHERE domain='${quote_mysql:$domain}'"
    assert mysql in text  # no MySQL server here: the relay list becomes a literal one
    configure = tmp_path / "configure"
    configure.write_text(text.replace(mysql, "relay.example.net"))
    cases = tmp_path / "cases"
    cases.write_text(
        "".join(
            f"{client} {rcpt}\n"
            for client in ("socket", "198.18.0.77", "127.0.0.1")
            for rcpt in ("root@sql-one.example", "root@SQL-Two.example", "root@not-in-db.example")
        )
    )
    readable(tmp_path)
    result = verify(str(configure), root=str(root), exim=str(exim.binary), smtpd=smtpd, cases_file=str(cases))
    assert result.counts()[DIFFERS] == 0, [o for o in result.outcomes if o.verdict == DIFFERS]
    verdicts = {(o.case.client, o.case.recipient): o for o in result.outcomes if o.case.note.startswith("from")}
    assert verdicts[("198.18.0.77", "root@sql-one.example")].verdict == SAME
    assert verdicts[("198.18.0.77", "root@sql-one.example")].smtpd.code == 250
    assert verdicts[("198.18.0.77", "root@not-in-db.example")].verdict == SAME
    assert verdicts[("198.18.0.77", "root@not-in-db.example")].smtpd.code == 550


# (client, recipient) → (exim's and smtpd's answer: accept or refuse, smtpd's action when accepted)
SQL_HOSTED = {
    ("198.18.0.77", "anna@bakery.example"): (250, "hosted"),  # a mailbox row
    ("198.18.0.77", "ANNA@Bakery.example"): (250, "hosted"),  # exim and smtpd lowercase the key
    ("198.18.0.77", "orders@bakery.example"): (250, "hosted"),  # two forwards rows, both mailboxes
    ("198.18.0.77", "shop@florist.example"): (250, "outbound"),  # a forward to an outside address
    ("198.18.0.77", "cleo@florist.example"): (250, "hosted"),  # a row forwarding cleo to herself
    ("198.18.0.77", "anyone@florist.example"): (250, "hosted"),  # the @florist.example catch-all row
    ("198.18.0.77", "old@bakery.example"): (550, None),  # a disabled mailbox
    ("198.18.0.77", "gone@bakery.example"): (550, None),  # a disabled forward
    ("198.18.0.77", "nobody@bakery.example"): (550, None),  # no row, no catch-all
    ("198.18.0.77", "x@closed.example"): (550, None),  # a disabled domain
    ("socket", "anna@bakery.example"): (250, "hosted"),
}


def test_sql_hosted_users_agree(exim: Exim, smtpd: str, namespaces: None, shared_tmp: Path) -> None:
    """Hosted mailboxes, forwards and a catch-all in SQLite: exim's lookups and smtpd's one query_alias agree."""
    _sql_hosted_case(exim, smtpd, shared_tmp)


def _sql_hosted_case(exim: Exim, smtpd: str, tmp_path: Path) -> None:
    if not _table_sqlite() and not IN_CI:
        pytest.skip("table-sqlite (opensmtpd-extras) is missing")  # only outside CI: verify fails there
    fixture = FIXTURES / "sql-hosting"
    root = tmp_path / "root"
    shutil.copytree(fixture / "root", root)
    _database(root / "var/lib/exim/mail.sqlite", root / "var/lib/exim/mail.sql")
    cases = tmp_path / "cases"
    cases.write_text("".join(f"{client} {rcpt}\n" for client, rcpt in SQL_HOSTED))
    readable(tmp_path)
    result = verify(
        str(fixture / "configure"), root=str(root), exim=str(exim.binary), smtpd=smtpd, cases_file=str(cases)
    )
    _agrees_on_sql_hosted(result)


def _agrees_on_sql_hosted(result: VerifyResult) -> None:
    """No difference, and each SQL_HOSTED case answered as listed by both daemons."""
    assert result.counts()[DIFFERS] == 0, [o for o in result.outcomes if o.verdict == DIFFERS]
    mine = {(o.case.client, o.case.recipient): o for o in result.outcomes if o.case.note and not o.case.login}
    for key, (code, action) in SQL_HOSTED.items():
        outcome = mine[key]
        assert outcome.verdict == SAME, outcome
        assert (outcome.smtpd.code == 250) == (code == 250), outcome
        if action:
            assert outcome.smtpd.route == action, outcome


# The same hosting in MariaDB and PostgreSQL: exim's server setting, how the script and queries are written there
SQL_SERVERS = {
    "mysql": "hide mysql_servers = localhost(/run/mariadbd/mysqld.sock)/mail/exim/secret",
    "pgsql": "hide pgsql_servers = (/run/postgresql/.s.PGSQL.5432)/mail/exim/secret",
}


def _dialect(kind: str, text: str) -> str:
    """sql-hosting's configuration or SQL script for another database (``user`` is reserved in PostgreSQL)."""
    text = text.replace("quote_sqlite", f"quote_{kind}").replace("lookup sqlite{", f"lookup {kind}{{")
    text = text.replace("= sqlite;", f"= {kind};").replace("TEXT PRIMARY KEY", "VARCHAR(255) PRIMARY KEY")
    text = "\n".join(SQL_SERVERS[kind] if line.startswith("sqlite_dbfile") else line for line in text.split("\n"))
    return text.replace("(user TEXT", "(local_part TEXT").replace("WHERE user=", "WHERE local_part=")


@pytest.mark.exim
@pytest.mark.parametrize("kind", sorted(SQL_SERVERS))
def test_sql_hosted_users_agree_on_a_database_server(
    kind: str, exim: Exim, smtpd: str, namespaces: None, shared_tmp: Path
) -> None:
    """The query_alias written for table-mysql and table-postgres, asked by smtpd 7.9 of a real server."""
    from tests.conftest import system_root
    from tests.verify import databases

    system = system_root("7.9")
    if not (system / "usr/sbin/mariadbd").exists():
        pytest.fail("the unstable root has no MariaDB server: run make test-deps")
    tmp_path = shared_tmp  # the database servers and exim run as their own users
    fixture = FIXTURES / "sql-hosting"
    root = tmp_path / "root"
    shutil.copytree(fixture / "root", root)
    configure = tmp_path / "configure"
    configure.write_text(_dialect(kind, (fixture / "configure").read_text()))
    assert f"lookup {kind}{{" in configure.read_text() and "sqlite{" not in configure.read_text()
    script = _dialect(kind, (root / "var/lib/exim/mail.sql").read_text())
    cases = tmp_path / "cases"
    cases.write_text("".join(f"{client} {rcpt}\n" for client, rcpt in SQL_HOSTED))
    readable(tmp_path)
    server = databases.mariadb if kind == "mysql" else databases.postgresql
    with server(system, tmp_path / "server", root, script):
        converted = convert(str(configure), root=str(root))
        backend = "mysql" if kind == "mysql" else "postgres"
        assert f'table "hosted_users" "{backend}:' in converted.files["smtpd.conf"]
        result = verify(str(configure), root=str(root), exim=str(exim.binary), smtpd=smtpd, cases_file=str(cases))
    _agrees_on_sql_hosted(result)


# sql-virtual: (client, recipient) → smtpd's code; exim accepts every hosted address smtpd refuses (reported lost)
SQL_VIRTUAL = {
    # a mailbox whose path is in the database: lost, and said so ("not comparable: the converter reports ...")
    ("198.18.0.77", "mia@shop.example"): 550,
    ("198.18.0.77", "sales@shop.example"): 550,
    ("198.18.0.77", "nobody@old.example"): 550,  # a disabled domain: both refuse
    ("198.18.0.77", "someone@elsewhere.example"): 550,  # no relaying for outsiders
    ("127.0.0.1", "someone@elsewhere.example"): 250,
    ("198.18.0.77", "postmaster@mx.example.org"): 250,
}
# logins exim checks with crypteq against the mailboxes table, smtpd with table-mysql's query_credentials:
# (user, password) → smtpd's code for relaying on port 587 (the fixture's SQL script names the passwords)
SQL_LOGINS = {
    ("mia@shop.example", "mia-sql-secret"): 250,  # a SHA-512 crypt hash: Linux's crypt(3) checks it
    ("noah@blog.example", "noah-sql-secret"): 250,  # bcrypt
    ("noah@blog.example", "not-noahs-password"): 535,
    ("left@shop.example", "noah-sql-secret"): 535,  # the right hash, but the row is inactive
}


@pytest.mark.exim
def test_sql_virtual_differs_only_where_the_report_says_lost(
    exim: Exim, smtpd: str, namespaces: None, shared_tmp: Path
) -> None:
    """A MariaDB-backed hosting whose mailbox paths live in the database: only the hosted mail differs."""
    from tests.conftest import system_root
    from tests.verify import databases

    system = system_root("7.9")
    tmp_path = shared_tmp
    fixture = FIXTURES / "sql-virtual"
    root = tmp_path / "root"
    shutil.copytree(fixture / "root", root)
    script = (root / "var/lib/mysql-dump/mailserver.sql").read_text()
    cases = tmp_path / "cases"
    cases.write_text(
        "".join(f"{client} {rcpt}\n" for client, rcpt in SQL_VIRTUAL)
        + "".join(f"198.18.0.77 someone@elsewhere.example auth {u} {p} 587\n" for u, p in SQL_LOGINS)
    )
    readable(tmp_path)
    links = ("var/run/mysqld/mysqld.sock",)  # where the configuration's mysql_servers names the socket
    with databases.mariadb(system, tmp_path / "server", root, script, "mailserver", links):
        converted = convert(str(fixture / "configure"), root=str(root))
        result = verify(
            str(fixture / "configure"), root=str(root), exim=str(exim.binary), smtpd=smtpd, cases_file=str(cases)
        )
    assert {s.service.name for s in converted.report.lost} == {"hosted"}
    assert not [o for o in result.outcomes if o.verdict == DIFFERS], [
        (o.case, o.exim, o.smtpd) for o in result.outcomes if o.verdict == DIFFERS
    ]
    logins = {(o.case.login, o.case.password): o for o in result.outcomes if o.case.login and o.case.note}
    assert set(logins) == set(SQL_LOGINS), logins
    for key, code in SQL_LOGINS.items():
        assert logins[key].verdict == SAME and logins[key].smtpd.code == code, logins[key]
    lost = [o for o in result.outcomes if o.verdict == NOT_COMPARABLE and not o.case.authenticated]
    assert lost and all(o.case.recipient.endswith(("@shop.example", "@blog.example")) for o in lost), lost
    assert all(o.exim.code == 250 and o.smtpd.code == 550 and "converter reports" in o.reason for o in lost)
    mine = {(o.case.client, o.case.recipient): o for o in result.outcomes if o.case.note and not o.case.login}
    for key, code in SQL_VIRTUAL.items():
        assert mine[key].smtpd.code == code, mine[key]
    assert mine[("198.18.0.77", "mia@shop.example")].exim.code == 250  # exim found her row
    assert mine[("198.18.0.77", "nobody@old.example")].exim.code == 550


GOOD_LOGINS = (("anna@example.net", "anna-phone-2024"), ("ben@example.net", "ben-laptop-77"))
GOOD_LOGINS += (("carla@example.com", "carla-garden-hose"),)
BAD_LOGINS = (("anna@example.net", "anna-phone-2023"), ("nobody@example.net", "anything"))
# auth-passwd-file's logins moved into PostgreSQL: exim's crypteq reads the hash with a pgsql lookup, smtpd with
# table-postgres's query_credentials. (login, port) → both daemons' answer for someone@elsewhere.example.
PG_LOGINS = {
    **{(login, password, port): 250 for login, password in GOOD_LOGINS for port in (25, 465, 587)},
    **{(login, password, port): 535 for login, password in BAD_LOGINS for port in (25, 465, 587)},
}


def _logins_in_postgresql(configure: str) -> str:
    """auth-passwd-file's authenticators asking PostgreSQL instead of /etc/exim4/passwd."""
    for user in ("auth2", "auth1"):
        lsearch = f"${{extract{{1}}{{:}}{{${{lookup{{${user}}}lsearch{{CONFDIR/passwd}}{{$value}}{{*:*}}}}}}}}"
        query = f"${{lookup pgsql{{SELECT hash FROM logins WHERE address='${{quote_pgsql:${user}}}'}}{{$value}}fail}}"
        assert lsearch in configure
        configure = configure.replace(lsearch, query)
    return "hide pgsql_servers = (/run/postgresql/.s.PGSQL.5432)/mail/exim/secret\n" + configure


@pytest.mark.exim
def test_sql_logins_agree_on_postgresql(exim: Exim, smtpd: str, namespaces: None, shared_tmp: Path) -> None:
    """Good and wrong passwords on 25, 465 and 587, checked by exim and smtpd 7.9 against one real PostgreSQL."""
    from tests.conftest import system_root
    from tests.verify import databases

    system = system_root("7.9")
    fixture = FIXTURES / "auth-passwd-file"
    root = shared_tmp / "root"
    shutil.copytree(fixture / "root", root)
    configure = shared_tmp / "configure"
    configure.write_text(_logins_in_postgresql((fixture / "configure").read_text()))
    rows = [line.split(":")[:2] for line in (root / "etc/exim4/passwd").read_text().splitlines() if ":" in line]
    values = ", ".join(f"('{address}', '{hashed}')" for address, hashed in rows if not address.startswith("#"))
    script = f"CREATE TABLE logins (address VARCHAR(255), hash VARCHAR(255));\nINSERT INTO logins VALUES {values};\n"
    (root / "etc/exim4/passwd").unlink()  # nothing may read the file any more
    cases = shared_tmp / "cases"
    cases.write_text((fixture / "cases").read_text())
    readable(shared_tmp)
    with databases.postgresql(system, shared_tmp / "server", root, script):
        converted = convert(str(configure), root=str(root), platform="linux")
        assert 'table "credentials" "postgres:' in converted.files["smtpd.conf"]
        assert "submission" not in {s.service.name for s in converted.report.lost}
        result = verify(str(configure), root=str(root), exim=str(exim.binary), smtpd=smtpd, cases_file=str(cases))
    assert not [o for o in result.outcomes if o.verdict == DIFFERS], [
        (o.case, o.exim, o.smtpd) for o in result.outcomes if o.verdict == DIFFERS
    ]
    logins = {(o.case.login, o.case.password, o.case.port): o for o in result.outcomes if o.case.login and o.case.note}
    assert set(logins) == set(PG_LOGINS)
    for key, code in PG_LOGINS.items():
        assert logins[key].verdict == SAME and logins[key].exim.code == logins[key].smtpd.code == code, logins[key]


def test_a_missing_sqlite_database_is_named_before_exim_is_asked(tmp_path: Path) -> None:
    """SQLite creates a database it cannot find: exim must not leave an empty one in the admin's copy."""
    root = tmp_path / "root"
    shutil.copytree(FIXTURES / "sql-lookups" / "root", root)
    database = root / "var/db/exim/domains.sqlite"
    assert not database.exists()
    with pytest.raises(SideError) as caught:
        verify(str(FIXTURES / "sql-lookups" / "configure"), root=str(root), exim="/nonexistent/exim")
    assert "sqlite_dbfile /var/db/exim/domains.sqlite" in str(caught.value) and "configure:8" in str(caught.value)
    assert not database.exists()


def test_an_alias_whose_targets_go_two_ways_is_the_same_when_smtpd_took_exims_route() -> None:
    """exim names the route of one target (the mailbox), smtpd logs the last expansion (the outside one)."""
    from migrate.verify import compare
    from migrate.verify.cases import Case
    from migrate.verify.exim_side import Answer

    policy = convert(str(FIXTURES / "cpanel-like" / "configure"), root=str(FIXTURES / "cpanel-like" / "root")).policy
    case = Case("198.18.0.77", "sales@shop.example", "anyone", "hosted-domains")
    exim = Answer(250, "Accepted", "virtual_user")
    both = Answer(250, "ok", "outbound", routes=("hosted", "hosted", "outbound"))
    assert compare(policy, case, exim, both).verdict == SAME
    alone = Answer(250, "ok", "outbound", routes=("outbound",))  # no expansion: smtpd relayed the address itself
    assert compare(policy, case, exim, alone).verdict == DIFFERS
