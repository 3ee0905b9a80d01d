"""The password checks exim's server authenticators make, read as sources smtpd's credentials table can hold."""

from __future__ import annotations

from pathlib import Path

import bcrypt
import pytest

from migrate.commands.convert import Result
from migrate.lookups import MemoryStore
from migrate.mapping import dovecot, passwords
from migrate.reader import read_config
from migrate.reader.tree import Driver

LINUX = ("$1$", "$2a$", "$2b$", "$5$", "$6$")
OPENBSD = ("$2a$", "$2b$")
SHA512 = "$6$saltsalt$" + "x" * 86
BCRYPT = "$2y$10$" + "a" * 53


def _auth(tmp_path: Path, *options: str, driver: str = "plaintext") -> Driver:
    body = "\n".join(f"  {o}" for o in options)
    configure = tmp_path / "configure"
    configure.write_text(f"begin authenticators\na:\n  driver = {driver}\n{body}\n")
    return read_config(str(configure), {}).authenticators[0]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        # cleartext in one file, PLAIN ($auth2 user) and LOGIN ($auth1 user)
        ("${if eq{$auth3}{${lookup{$auth2}lsearch{/etc/exim4/passwd}{$value}fail}}}", ("/etc/exim4/passwd", False, 0)),
        ("${if eq{${lookup{$auth1}lsearch{/etc/exim4/passwd}}}{$auth2}{yes}{no}}", ("/etc/exim4/passwd", False, 0)),
        # Debian's example: the first field of a passwd-like line, hashed, "*:*" for a missing user
        (
            "${if crypteq{$auth3}{${extract{1}{:}{${lookup{$auth2}lsearch{/etc/exim4/passwd}{$value}{*:*}}}}}{1}{0}}",
            ("/etc/exim4/passwd", True, 1),
        ),
        # DirectAdmin: one file per domain, keyed by the local part
        (
            "${if crypteq{$auth3}{${extract{1}{:}{${lookup{${local_part:$auth2}}lsearch"
            "{/etc/virtual/${domain:$auth2}/passwd}{$value}fail}}}}}",
            ("/etc/virtual/{domain}/passwd", True, 1),
        ),
    ],
)
def test_password_files_are_recognised(tmp_path: Path, condition: str, expected: tuple[str, bool, int]) -> None:
    source = passwords.recognise(_auth(tmp_path, f"server_condition = {condition}"))
    assert source is not None and source.kind == passwords.FILE
    assert (source.path, source.hashed, source.column) == expected


@pytest.mark.parametrize(
    "condition",
    [
        "${if eq{$auth3}{${lookup{$auth2}lsearch{/etc/exim4/passwd}{$value}{}}}}",  # empty password for the unknown
        "${if eq{$auth3}{${lookup{$auth2}dbm{/etc/exim4/passwd.db}}}}",  # a binary file smtpd cannot read
        "${if eq{$auth2}{${lookup{$auth2}lsearch{/etc/exim4/passwd}}}}",  # the user compared with itself
        "${if eq{$auth3}{${lookup{$auth2}lsearch{/etc/exim4/passwd}}}{no}{yes}}",  # inverted
        "${if !eq{$auth3}{${lookup{$auth2}lsearch{/etc/exim4/passwd}}}}",
        '${if ldapauth{user="uid=${quote_ldap_dn:$auth2},dc=example" pass=${quote:$auth3} ldap:///}}',
        "${if or{{eq{$auth2}{a}}{eq{$auth3}{b}}}}",
    ],
)
def test_other_checks_are_not_taken_for_a_password_file(tmp_path: Path, condition: str) -> None:
    assert passwords.recognise(_auth(tmp_path, f"server_condition = {condition}")) is None


def test_system_and_literal_sources(tmp_path: Path) -> None:
    pam = passwords.recognise(_auth(tmp_path, "server_condition = ${if pam{$auth2:${sg{$auth3}{:}{::}}}}"))
    assert pam is not None and (pam.kind, pam.via) == (passwords.SYSTEM, "PAM")
    sasl = passwords.recognise(_auth(tmp_path, "server_condition = ${if saslauthd{{$auth2}{$auth3}{smtp}}{1}{0}}"))
    assert sasl is not None and (sasl.kind, sasl.via) == (passwords.SYSTEM, "saslauthd")
    pair = passwords.recognise(_auth(tmp_path, "server_condition = ${if and {{eq{$auth3}{s3cret}}{eq{$auth2}{ann}}}}"))
    assert pair is not None and (pair.kind, pair.user, pair.password) == (passwords.LITERAL, "ann", "s3cret")
    assert "s3cret" not in repr(pair)  # kept for hashing, never shown
    cram = passwords.recognise(
        _auth(tmp_path, "server_secret = ${lookup{$auth1}lsearch{/etc/exim4/cram}{$value}fail}", driver="cram_md5")
    )
    assert cram is not None and (cram.path, cram.hashed) == ("/etc/exim4/cram", False)


def test_cleartext_is_hashed_with_bcrypt_the_same_way_each_run() -> None:
    source = passwords.PasswordSource(passwords.FILE, path="/etc/exim4/passwd")
    store = MemoryStore({"/etc/exim4/passwd": "ann@example.org: s3cret\n# a comment\nbob@example.org:  pw two\n"})
    first = passwords.read_file(store, source, [], OPENBSD)
    again = passwords.read_file(store, source, [], OPENBSD)
    assert first.hashes == again.hashes and first.cleartext
    assert bcrypt.checkpw(b"s3cret", first.hashes["ann@example.org"].encode())
    assert bcrypt.checkpw(b"pw two", first.hashes["bob@example.org"].encode())
    assert first.hashes["ann@example.org"].startswith("$2b$")
    changed = MemoryStore({"/etc/exim4/passwd": "ann@example.org: s3cret\n"})
    assert passwords.read_file(changed, source, [], OPENBSD).hashes != {
        "ann@example.org": first.hashes["ann@example.org"]
    }


def test_hashes_the_target_cannot_check_lose_their_users_by_name() -> None:
    source = passwords.PasswordSource(passwords.FILE, path="/p", hashed=True, column=1)
    text = f"ann:{SHA512}:1001\nbob:{BCRYPT}:1002\ncarl:{{md5}}abc:1003\nlocked:*:1004\nann:{BCRYPT}:1\n"
    on_openbsd = passwords.read_file(MemoryStore({"/p": text}), source, [], OPENBSD)
    assert on_openbsd.hashes == {"bob": "$2b$" + BCRYPT[4:]}  # 2y is 2b; the first line for ann wins
    assert set(on_openbsd.lost) == {"ann", "carl"}  # a locked account is refused by both
    assert "$6$" in on_openbsd.lost["ann"] and "{md5}" in on_openbsd.lost["carl"]
    on_linux = passwords.read_file(MemoryStore({"/p": text}), source, [], LINUX)
    assert on_linux.hashes["ann"] == SHA512


def test_per_domain_files_key_the_login_by_address() -> None:
    source = passwords.PasswordSource(
        passwords.FILE, path="/etc/virtual/{domain}/passwd", hashed=True, column=1, by_local_part=True
    )
    store = MemoryStore({"/etc/virtual/example.com/passwd": f"ann:{BCRYPT}:1\n"})
    found = passwords.read_file(store, source, ["example.com", "example.net"], OPENBSD)
    assert list(found.hashes) == ["ann@example.com"] and not found.problems  # a domain without a file has no logins


def test_unreadable_and_malformed_files_are_located_problems() -> None:
    source = passwords.PasswordSource(passwords.FILE, path="/etc/exim4/passwd", hashed=True, column=2)
    missing = passwords.read_file(MemoryStore(), source, [], LINUX)
    assert [(p.file, p.line) for p in missing.problems] == [("/etc/exim4/passwd", 0)]
    short = passwords.read_file(MemoryStore({"/etc/exim4/passwd": "\n\nann:onlyone\n"}), source, [], LINUX)
    assert [(p.file, p.line) for p in short.problems] == [("/etc/exim4/passwd", 3)]
    assert "onlyone" not in short.problems[0].message


def test_dovecot_passwd_file_through_includes(tmp_path: Path) -> None:
    store = MemoryStore(
        {
            "/etc/dovecot/dovecot.conf": "protocols = imap\n!include conf.d/*.conf\n",
            "/etc/dovecot/conf.d/10-auth.conf": "auth_mechanisms = plain login\n!include auth-passwdfile.conf.ext\n",
            "/etc/dovecot/conf.d/auth-passwdfile.conf.ext": (
                "passdb {\n  driver = passwd-file\n  args = scheme=CRYPT username_format=%u /etc/dovecot/users\n}\n"
                "userdb {\n  driver = passwd-file\n  args = /etc/dovecot/users\n}\n"
            ),
            "/etc/dovecot/users": (
                f"ann@example.org:{{SHA512-CRYPT}}{SHA512}::::::\n"
                f"bob@example.org:{{BLF-CRYPT}}{BCRYPT}\n"
                "carl@example.org:{PLAIN}open sesame\n"
                "dora@example.org:{SSHA}abcdef\n"
            ),
        }
    )
    db = dovecot.passdb(store)
    assert isinstance(db, dovecot.Passdb) and (db.driver, db.path) == ("passwd-file", "/etc/dovecot/users")
    found = dovecot.read_passwd_file(store, db, [], OPENBSD)
    assert sorted(found.hashes) == ["bob@example.org", "carl@example.org"]
    assert bcrypt.checkpw(b"open sesame", found.hashes["carl@example.org"].encode())
    assert sorted(found.lost) == ["ann@example.org", "dora@example.org"]


def test_dovecot_system_and_sql_passdbs() -> None:
    pam = MemoryStore(
        {"/etc/dovecot/dovecot.conf": "!include_try /etc/dovecot/none.conf\npassdb {\n driver = pam\n}\n"}
    )
    assert dovecot.passdb(pam) == dovecot.Passdb("pam", "", "CRYPT", "%u", 0)
    sql = MemoryStore({"/etc/dovecot/dovecot.conf": "passdb sql {\n  driver = sql\n}\n"})
    found = dovecot.passdb(sql)
    assert isinstance(found, dovecot.Passdb) and found.driver == "sql"
    assert dovecot.passdb(MemoryStore()) is None


FIXTURE = Path(__file__).parents[1].parent / "fixtures" / "auth-passwd-file"


def test_no_hash_leaves_the_credentials_file(tmp_path: Path) -> None:
    """The hashes are in the 0600 credentials file only: not in smtpd.conf, the report or MIGRATION.md."""
    import stat

    from migrate.commands.convert import convert, write_output
    from migrate.report.formats import render

    result = convert(str(FIXTURE / "configure"), root=str(FIXTURE / "root"))
    hashes = [line.split(":")[1] for line in (FIXTURE / "root/etc/exim4/passwd").read_text().splitlines()[1:4]]
    write_output(result, str(tmp_path / "out"))
    written = {p.name: p.read_text() for p in (tmp_path / "out").iterdir()}
    shown = [text for name, text in written.items() if name != "credentials"]
    shown += [render(result.report, fmt) for fmt in ("text", "json", "sarif")]
    for value in hashes:
        assert not any(value in text for text in shown)
    assert stat.S_IMODE((tmp_path / "out" / "credentials").stat().st_mode) == 0o600
    assert "$2b$" in written["credentials"]


def test_a_missing_or_broken_password_file_is_a_located_finding(tmp_path: Path) -> None:
    import shutil

    from migrate.commands.convert import convert

    root = tmp_path / "root"
    shutil.copytree(FIXTURE / "root", root)
    (root / "etc/exim4/passwd").unlink()
    missing = convert(str(FIXTURE / "configure"), root=str(root)).policy
    found = [f for f in missing.findings if f.rule.id == "EXIM-AUTH-PASSWORD-FILE"]
    assert found and all("/etc/exim4/passwd" in f.message and "cannot be read" in f.message for f in found)
    assert not any(t.kind == "logins" for t in missing.tables)
    (root / "etc/exim4/passwd").write_text("anna@example.net\n" + f"carl@example.net:{BCRYPT}:x\n")
    short = convert(str(FIXTURE / "configure"), root=str(root)).policy
    located = [f for f in short.findings if f.rule.id == "EXIM-AUTH-PASSWORD-FILE"]
    assert [(f.span.file, f.span.line) for f in located] == [("/etc/exim4/passwd", 1)]
    assert [k for k, _ in next(t for t in short.tables if t.kind == "logins").mapping] == ["carl@example.net"]


SQL_PLAIN = (
    "${if crypteq{$auth3}{${lookup mysql{SELECT password FROM users WHERE email='${quote_mysql:$auth2}' "
    "AND active=1}{$value}fail}}}"
)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        # PLAIN: $auth2 is the login, quoted into the query once
        (SQL_PLAIN, ("mysql", "SELECT password FROM users WHERE email=exim2smtpd_key AND active=1", True, "")),
        # LOGIN ($auth1 the login), PostgreSQL, crypteq's {crypt} prefix
        (
            "${if crypteq{$auth2}{\\{crypt\\}${lookup pgsql{SELECT pw FROM u WHERE login='${quote_pgsql:$auth1}'}}}}",
            ("pgsql", "SELECT pw FROM u WHERE login=exim2smtpd_key", True, "{crypt}"),
        ),
        # cleartext in the database: recognised, and reported (smtpd checks hashes only)
        (
            SQL_PLAIN.replace("crypteq", "eq"),
            ("mysql", "SELECT password FROM users WHERE email=exim2smtpd_key AND active=1", False, ""),
        ),
    ],
)
def test_sql_password_lookups_are_recognised(
    tmp_path: Path, condition: str, expected: tuple[str, str, bool, str]
) -> None:
    source = passwords.recognise(_auth(tmp_path, f"server_condition = {condition}"))
    assert source is not None and source.kind == passwords.SQL
    assert (source.sql, source.path, source.hashed, source.prefix) == expected


@pytest.mark.parametrize(
    "condition",
    [
        # the login unquoted, quoted twice, or the password in the query: smtpd binds one login, nothing else
        SQL_PLAIN.replace("'${quote_mysql:$auth2}'", "${quote_mysql:$auth2}"),
        SQL_PLAIN.replace("AND active=1", "AND alias='${quote_mysql:$auth2}'"),
        SQL_PLAIN.replace("$auth2}", "$auth3}"),
        SQL_PLAIN.replace("quote_mysql", "quote_pgsql"),
    ],
)
def test_other_sql_queries_are_not_taken_for_a_login_lookup(tmp_path: Path, condition: str) -> None:
    assert passwords.recognise(_auth(tmp_path, f"server_condition = {condition}")) is None


def _convert_plain(tmp_path: Path, condition: str, platform: str, main: str = "") -> Result:
    """An MX with TLS whose one PLAIN authenticator checks ``condition``, converted for ``platform``."""
    from migrate.commands.convert import convert
    from tests.mapping.test_mapping import BASE, DNS_ROUTERS, LOCAL_ROUTER, STANDARD_ACL

    main += "\ntls_certificate = /etc/ssl/mx.pem\ntls_privatekey = /etc/ssl/mx.key"
    acl = "  accept  authenticated = *\n" + STANDARD_ACL
    transports = "local_delivery:\n  driver = appendfile\n  file = /var/mail/$local_part_data"
    configure = tmp_path / "configure"
    configure.write_text(
        BASE.format(main=main, acl=acl, routers=f"{DNS_ROUTERS}\n{LOCAL_ROUTER}", transports=transports)
        + "begin authenticators\nplain:\n  driver = plaintext\n  public_name = PLAIN\n"
        + f"  server_condition = {condition}\n"
    )
    return convert(str(configure), platform=platform)


@pytest.mark.parametrize(
    ("kind", "condition", "found"),
    [
        (
            "mysql",
            SQL_PLAIN,
            "query_credentials SELECT exim2smtpd_key, p FROM (SELECT exim2smtpd_key, (SELECT password",
        ),
        ("pgsql", SQL_PLAIN.replace("mysql", "pgsql"), "(SELECT $1::text AS exim2smtpd_key) AS q"),
        ("mysql", SQL_PLAIN.replace("crypteq", "eq"), "cleartext passwords"),
        ("mysql", SQL_PLAIN.replace("{${lookup", "{\\{md5\\}${lookup"), "{md5} digests"),
    ],
)
def test_sql_logins_become_query_credentials_or_say_why_not(
    tmp_path: Path, kind: str, condition: str, found: str
) -> None:
    result = _convert_plain(tmp_path, condition, "linux", f"hide {kind}_servers = db.example.net/mail/exim/Db-Secret")
    table = result.policy.table("credentials")
    findings = {f.rule.id: f for f in result.report.findings()}
    if "query_credentials" in found or "$1::text" in found:
        assert table is not None and table.secret and table.backend == {"mysql": "mysql", "pgsql": "postgres"}[kind]
        assert found in result.files["credentials.conf"]
        assert findings["EXIM-AUTH-SQL"].severity == "approximated"
        assert "auth-optional <credentials>" in result.files["smtpd.conf"]
    else:
        assert table is None and "credentials.conf" not in result.files
        assert findings["EXIM-AUTH-SQL"].severity == "unmapped" and found in findings["EXIM-AUTH-SQL"].message


LDAP_BIND = '${if ldapauth{user="uid=${quote_ldap_dn:$auth2},ou=people,dc=example,dc=org" pass=${quote:$auth3} ldap://ldap.example.org/}}'
LDAP_LOOKUP = (
    "${if crypteq{$auth3}{${lookup ldap{ldap://ldap.example.org/ou=people,dc=example,dc=org"
    "?userPassword?sub?(uid=${quote_ldap:$auth2})}}}}"
)


@pytest.mark.parametrize(
    ("condition", "platform", "step"),
    [
        (LDAP_BIND, "openbsd", "login_ldap"),
        (LDAP_BIND, "linux", "libpam-ldapd or sssd"),
        (LDAP_LOOKUP, "debian", "credentials_filter"),
    ],
)
def test_ldap_logins_are_lost_with_the_steps_for_the_target(
    tmp_path: Path, condition: str, platform: str, step: str
) -> None:
    result = _convert_plain(tmp_path, condition, platform)
    finding = next(f for f in result.report.findings() if f.rule.id == "EXIM-AUTH-LDAP")
    assert finding.severity == "unmapped" and "cannot log in" in finding.message
    assert step in finding.advice
    listeners = [line for line in result.files["smtpd.conf"].splitlines() if line.startswith("listen on")]
    assert listeners and not any(" auth" in line for line in listeners)
    assert result.policy.table("credentials") is None
    assert "submission" in [s.service.name for s in result.report.lost]
