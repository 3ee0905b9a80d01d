"""SMTP AUTH as a server: exim's server authenticators → what smtpd's listeners check a login against.

Only where smtpd can check the same passwords: the system's (PAM, saslauthd,
dovecot over PAM), or a 0600 credentials table of the hashes exim or dovecot
read (``passwords``, ``dovecot``). smtpd has one source per listener and
offers AUTH over TLS only; whatever does not carry over is booked with why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migrate import rules
from migrate.errors import Span
from migrate.lookups import SQL_BACKENDS, sql_connection, sql_credentials_query
from migrate.mapping import dovecot, passwords
from migrate.mapping.context import Context
from migrate.mapping.passwords import Logins
from migrate.model import Table
from migrate.platforms import platform as get_platform
from migrate.reader.tree import Driver


@dataclass(frozen=True)
class SqlLogins:
    """Logins smtpd asks exim's database for: a table backend's configuration (it holds the database password)."""

    backend: str
    config: str = field(repr=False)
    origin: tuple[Span, ...] = ()  # the server option the connection came from


@dataclass(frozen=True)
class ServerAuth:
    """What smtpd checks logins against: the system passwords, or the credentials table (``table``)."""

    origin: tuple[Span, ...]  # the authenticators (and their options) that the AUTH listeners carry
    table: Table | None = None


def server_auth(ctx: Context, domains: list[str]) -> ServerAuth | None:
    """The server authenticators smtpd can reproduce, and the one password source they share; None if none.

    ``domains`` are the local and hosted domains a password file per domain
    is read for.
    """
    schemes = get_platform(ctx.platform).crypt_schemes
    chosen: str | None = None  # "system", "table" or "sql": smtpd has one source per listener
    usable: list[Span] = []
    logins = Logins()
    database: SqlLogins | None = None
    for auth in ctx.config.authenticators:
        if not is_server(auth):
            _client_only(ctx, auth)
            continue
        found = _password_source(ctx, auth, domains, schemes)
        if found is None:
            continue
        kind = "system" if found == passwords.SYSTEM else "sql" if isinstance(found, SqlLogins) else "table"
        if chosen is not None and (kind != chosen or (isinstance(found, SqlLogins) and found != database)):
            ctx.ledger.mark_driver(
                auth,
                "unmapped",
                rules.AUTH_ONE_SOURCE,
                f"authenticator {auth.name}: smtpd checks every login against "
                f"{'the system passwords' if chosen == 'system' else 'one credentials table'}, as an earlier "
                "authenticator asked; this one used another source, so its users cannot log in",
            )
            continue
        chosen = kind
        usable += [auth.span, *(o.span for o in auth.options)]
        if isinstance(found, Logins):
            _merge(logins, found)
        if isinstance(found, SqlLogins):
            database = found
    if chosen is None:
        return None
    if chosen == "system":
        return ServerAuth(tuple(usable))
    origin = tuple(a.span for a in ctx.config.authenticators if a.span in usable)
    if database is not None:
        file = f"{ctx.table_file('credentials')}.conf"
        table = Table(
            "credentials",
            "logins",
            file=file,
            origin=origin + database.origin,
            generated=True,
            secret=True,
            backend=database.backend,
            backend_config=database.config,
        )
        return ServerAuth(tuple(usable), table)
    table = Table(
        "credentials",
        "logins",
        mapping=tuple(sorted(logins.hashes.items())),
        file=ctx.table_file("credentials"),
        origin=origin,
        generated=True,
        secret=True,
        sources=tuple(logins.files),
    )
    return ServerAuth(tuple(usable), table)


def _password_source(
    ctx: Context, auth: Driver, domains: list[str], schemes: tuple[str, ...]
) -> Logins | SqlLogins | str | None:
    """The logins an authenticator checks, booked in the ledger; passwords.SYSTEM for the system passwords."""
    source = passwords.recognise(auth)
    if source is not None and source.kind == passwords.DOVECOT:
        return _dovecot(ctx, auth, domains, schemes)
    if source is None and (how := passwords.ldap_check(auth)):
        _ldap(ctx, auth, how)
        return None
    if source is None:
        ctx.ledger.mark_driver(
            auth,
            "unmapped",
            rules.AUTH_SERVER,
            f"authenticator {auth.name}: its password check is not one smtpd can make (system passwords, an "
            "lsearch file of passwords or hashes, a literal user and password, dovecot's passwd-file, "
            "a MySQL or PostgreSQL query of hashes)",
        )
        return None
    if source.kind == passwords.SQL:
        return _sql(ctx, auth, source)
    if source.kind == passwords.SYSTEM:
        if source.via == "PAM" and _in_clear(ctx, auth) is None:
            ctx.ledger.mark_driver(auth, "mapped")
        elif source.via == "PAM":
            _approximate(ctx, auth, rules.AUTH_CLEAR, f"authenticator {auth.name}: system passwords, as exim checked")
        else:
            _approximate(
                ctx,
                auth,
                rules.AUTH_SYSTEM_VIA,
                f"authenticator {auth.name}: exim asked saslauthd, "
                "which checks whatever it was started with (-a pam, shadow, ldap...); smtpd checks the "
                "system passwords itself",
            )
        return passwords.SYSTEM
    if source.kind == passwords.LITERAL:
        found = passwords.literal(source, schemes)
        where = "the user and password written in the configuration"
    else:
        found = passwords.read_file(ctx.store, source, domains, schemes)
        shown = source.path.replace(passwords.DOMAIN, "DOMAIN")
        where = f"{shown}{' (one file per domain)' if source.by_local_part else ''}"
    return _book_logins(ctx, auth, found, where)


def _sql(ctx: Context, auth: Driver, source: passwords.PasswordSource) -> SqlLogins | None:
    """exim's crypteq against a hash its database holds → the same query as the backend's query_credentials."""
    backend = SQL_BACKENDS[source.sql]
    options = {k: o.value.text for k, o in ctx.config.options.items() if o.value is not None}
    connection = sql_connection(source.sql, options)
    query = sql_credentials_query(source.sql, source.path)
    why = ""
    if not source.hashed:
        why = "the database holds cleartext passwords (eq), and smtpd checks only crypt(3) hashes"
    elif source.prefix and source.prefix.lower() != "{crypt}":
        why = f"the database holds {source.prefix} digests, which smtpd's crypt(3) does not check"
    elif query is None:
        why = "its query does not select exactly one column"
    elif isinstance(connection, str):
        why = connection
    if why or query is None or isinstance(connection, str):
        ctx.ledger.mark_driver(
            auth,
            "unmapped",
            rules.AUTH_SQL,
            f"authenticator {auth.name}: its logins are in a {source.sql} database smtpd cannot ask the same way: "
            f"{why}",
            rules.AUTH_SQL.advice,
        )
        return None
    servers = ctx.config.options.get(f"{source.sql}_servers")
    if servers is not None:
        ctx.ledger.mark(servers, "mapped")  # carried into the backend's configuration
    schemes = get_platform(ctx.platform).crypt_schemes
    _approximate(
        ctx,
        auth,
        rules.AUTH_SQL,
        f"authenticator {auth.name}: smtpd asks the same {source.sql} database for the login's hash "
        f"(query_credentials of table-{backend}, exim's query), as exim's crypteq did, and checks it with crypt(3), "
        f"which on this target checks {', '.join(schemes)} hashes only: a user whose row holds another kind "
        "cannot log in until the password is stored again in one of those",
    )
    config = "\n".join([*connection, f"query_credentials {query}"]) + "\n"
    return SqlLogins(backend, config, (servers.span,) if servers is not None else ())


def _ldap(ctx: Context, auth: Driver, how: str) -> None:
    """exim asked LDAP, which smtpd cannot: the steps that give smtpd the same users, for this target."""
    system = get_platform(ctx.platform).system
    if system == "openbsd":
        through = (
            "install login_ldap and make ldap the auth-smtp style of the users' login class in /etc/login.conf "
            "(smtpd checks logins with bsd_auth's auth-smtp)"
        )
    else:
        through = "make PAM check LDAP for smtpd's logins (libpam-ldapd or sssd)"
    if how == passwords.LDAP_BIND:
        what = "binds to LDAP as the user (ldapauth), so the directory checks the password and smtpd never sees a hash"
        steps = f"{through}, then give the submission listeners 'auth'"
    else:
        what = "reads the password from LDAP with a lookup"
        steps = (
            "if the entries hold crypt(3) hashes the target checks, serve them with opensmtpd-table-ldap "
            "(credentials_filter for the user's entry, credentials_attributes uid,userPassword) and give the "
            f"listeners 'auth <table>'; otherwise {through}, then give them 'auth'"
        )
    ctx.ledger.mark_driver(
        auth,
        "unmapped",
        rules.AUTH_LDAP,
        f"authenticator {auth.name}: exim {what}; smtpd has no LDAP check of its own, so these users cannot log in",
        steps,
    )
    for name, option in ctx.config.options.items():
        if name.startswith("ldap_"):  # the directory exim asked: smtpd does not ask it
            ctx.ledger.mark(
                option,
                "unmapped",
                rules.AUTH_LDAP,
                f"{name}: how exim reached the LDAP directory its logins were checked against; smtpd does not ask it",
                f"give the LDAP client of the way back (see authenticator {auth.name}) the same setting",
            )


def no_tls(ctx: Context) -> None:
    """smtpd offers AUTH only over TLS: with no TLS listener, no server authenticator carries over."""
    for auth in ctx.config.authenticators:
        if is_server(auth) and ctx.ledger.bucket(auth) in ("mapped", "approximated"):
            ctx.ledger.resolve(
                auth,
                "unmapped",
                rules.AUTH_NO_TLS,
                f"authenticator {auth.name}: smtpd offers AUTH only over TLS, and no listener has TLS "
                "(no certificate was migrated), so nobody can log in",
            )
            for option in auth.options:
                ctx.ledger.resolve(option, "unmapped")


def _book_logins(ctx: Context, auth: Driver, found: Logins, where: str, extra: tuple[str, ...] = ()) -> Logins | None:
    """One finding for the authenticator: where its logins went, and the ones that could not go."""
    for problem in found.problems:
        ctx.ledger.note_span(
            Span(problem.file, problem.line, 1, problem.line, 1),
            "unmapped",
            rules.AUTH_PASSWORD_FILE,
            f"{problem.file}{':' + str(problem.line) if problem.line else ''}: {problem.message} "
            f"(authenticator {auth.name})",
        )
    schemes = get_platform(ctx.platform).crypt_schemes
    if not found.hashes:
        unreadable = "; ".join(f"{p.file} {p.message}" for p in found.problems if not p.line)
        if unreadable or not found.lost:
            why = unreadable or "it holds no login"
            rule = rules.AUTH_PASSWORD_FILE if unreadable else rules.AUTH_SERVER
            ctx.ledger.mark_driver(auth, "unmapped", rule, f"authenticator {auth.name}: {where}: {why}")
        else:
            ctx.ledger.mark_driver(
                auth,
                "unmapped",
                rules.AUTH_SERVER,
                f"authenticator {auth.name}: no login from {where}: {_lost(found, schemes)}",
                rules.AUTH_LOGIN_LOST.advice,
            )
        return None
    hashed = " (cleartext passwords hashed with bcrypt)" if found.cleartext else ""
    count = len(found.hashes)
    parts = [
        f"authenticator {auth.name}: {count} login{'s' * (count != 1)} from {where} "
        f"{'are' if count != 1 else 'is'} in the credentials table"
        f"{hashed}, written 0600 and never shown; a password changed there later is not seen until you convert again"
    ]
    if auth.driver == "cram_md5":
        parts.append(rules.AUTH_CRAM.summary)
    parts += [_lost(found, schemes)] if found.lost else []
    parts += extra
    rule = rules.AUTH_CREDENTIALS
    if found.lost:
        rule = rules.AUTH_LOGIN_LOST
    elif auth.driver == "cram_md5":
        rule = rules.AUTH_CRAM
    _approximate(ctx, auth, rule, "; ".join(parts))
    return found


def _lost(found: Logins, schemes: tuple[str, ...]) -> str:
    """The logins smtpd cannot check, by name (never a password), ten at most."""
    names = ", ".join(f"{login} ({why})" for login, why in sorted(found.lost.items())[:10])
    more = f" and {len(found.lost) - 10} more" if len(found.lost) > 10 else ""
    count = len(found.lost)
    return (
        f"{count} login{'s' * (count != 1)} exim accepted cannot log in to smtpd: {names}{more}; the target's "
        f"crypt(3) checks {', '.join(schemes)} hashes"
    )


def _dovecot(ctx: Context, auth: Driver, domains: list[str], schemes: tuple[str, ...]) -> Logins | str | None:
    """exim's dovecot authenticator: what dovecot's first passdb under --root checks."""
    db = dovecot.passdb(ctx.store)
    steps = (
        "put dovecot's configuration (/etc/dovecot) and its password files under --root and convert again, or "
        "give the listeners 'auth <table>' with an opensmtpd-table-* backend that reads dovecot's users"
    )
    if db is None or isinstance(db, passwords.Problem):
        why = "dovecot's configuration is not under --root" if db is None else f"{db.file}: {db.message}"
        ctx.ledger.mark_driver(
            auth,
            "unmapped",
            rules.AUTH_SERVER,
            f"authenticator {auth.name}: exim asked dovecot's auth socket, which smtpd cannot use, and {why}",
            steps,
        )
        return None
    if db.driver in dovecot.SYSTEM_DRIVERS:
        _approximate(
            ctx,
            auth,
            rules.AUTH_SYSTEM_VIA,
            f"authenticator {auth.name}: dovecot's passdb is "
            f"{db.driver} (system passwords); smtpd checks the system passwords itself",
        )
        return passwords.SYSTEM
    if db.driver != "passwd-file" or not db.path.startswith("/"):
        ctx.ledger.mark_driver(
            auth,
            "unmapped",
            rules.AUTH_SERVER,
            f"authenticator {auth.name}: dovecot checks passwords with its {db.driver or 'unnamed'} passdb, "
            "which smtpd cannot read",
            "serve the same users to smtpd with opensmtpd-table-mysql, -postgres or -ldap (their credentials "
            "query) and give the listeners 'auth <table>'",
        )
        return None
    found = dovecot.read_passwd_file(ctx.store, db, domains, schemes)
    where = f"dovecot's passwd-file {db.path.replace('%d', 'DOMAIN')}"
    more = (f"dovecot would also try {db.more} further passdb(s); only the first is read",) if db.more else ()
    return _book_logins(ctx, auth, found, where, more)


def _approximate(ctx: Context, auth: Driver, rule: rules.Rule, message: str) -> None:
    clear = _in_clear(ctx, auth)
    ctx.ledger.mark_driver(auth, "approximated", rule, f"{message}; {clear}" if clear else message)


def _in_clear(ctx: Context, auth: Driver) -> str | None:
    """What changes for clients that logged in without TLS: exim offered them AUTH, smtpd never does."""
    conditions = [ctx.config.options.get("auth_advertise_hosts"), auth.option("server_advertise_condition")]
    texts = [o.value.text for o in conditions if o is not None and o.value is not None]
    if any("tls_in_cipher" in t or "tls_cipher" in t for t in texts):
        return None
    return (
        "exim offered AUTH without TLS too; smtpd offers it only after STARTTLS (or on smtps), so a client "
        "that logs in without TLS is refused"
    )


def _merge(into: Logins, found: Logins) -> None:
    """Two authenticators (PLAIN and LOGIN, say) on the same users: the first hash for a login stays."""
    for login, value in found.hashes.items():
        into.hashes.setdefault(login, value)
    for login, why in found.lost.items():
        if login not in into.hashes:
            into.lost.setdefault(login, why)
    into.cleartext = into.cleartext or found.cleartext


def is_server(auth: Driver) -> bool:
    """An authenticator that lets clients log in (it has server_* options, or a server driver)."""
    return auth.driver in ("dovecot", "cyrus_sasl", "heimdal_gssapi", "gsasl") or any(
        o.name.startswith("server_") for o in auth.options
    )


def _client_only(ctx: Context, auth: Driver) -> None:
    ctx.ledger.mark_driver(
        auth,
        "unmapped",
        rules.AUTH_CLIENT,
        f"authenticator {auth.name}: no migrated relay authenticates with it (no smarthost whose "
        "transport names hosts for AUTH, or no user and password found for that host)",
        "put passwd.client under --root, or add 'auth <secrets>' to the relay action by hand",
    )
