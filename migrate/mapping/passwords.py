"""Where exim's server authenticators find passwords, and the crypt(3) hashes smtpd checks instead.

smtpd checks a login against the system's passwords (``auth``) or a table of
crypt(3) hashes (``auth <table>``). The exim idioms that carry over: a ``pam``
or ``saslauthd`` condition (system passwords), a password compared with the
value an lsearch file holds for the user (``eq``: cleartext, hashed here with
bcrypt; ``crypteq``: the hash itself, in one file or one file per domain), a
literal user and password, and dovecot's passwd-file where its configuration
is under --root. A hash the target's crypt(3) cannot check loses that user,
by name, never silently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from migrate.lookups import KEY, LookupStore, lsearch_lines
from migrate.reader.expansion import Expansion, Group, Item, Lookup, Operator, Text, Variable, Word
from migrate.reader.tree import Driver

SYSTEM, FILE, LITERAL, DOVECOT, SQL = "system", "file", "literal", "dovecot", "sql"
DOMAIN = "{domain}"  # where a per-domain file's name holds the login's domain
YES = ("yes", "true", "1")
NO = ("no", "false", "0", "")
BCRYPT_COST = 10
_STANDARD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BCRYPT = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True)
class PasswordSource:
    """What an authenticator checks a password against."""

    kind: str  # SYSTEM | FILE | LITERAL | DOVECOT
    path: str = ""  # FILE: the lsearch file, DOMAIN in it for one file per domain; DOVECOT: the auth socket
    hashed: bool = False  # crypteq: the file holds crypt hashes, not cleartext
    by_local_part: bool = False  # the file is keyed by the login's local part (one file per domain)
    prefix: str = ""  # crypteq's scheme written before the looked-up value: {crypt}, {md5}, {sha1}
    column: int = 0  # ${extract{N}{:}{...}}: the Nth colon-separated field of the value (0: all of it)
    user: str = ""  # LITERAL
    password: str = field(default="", repr=False)  # LITERAL (never shown)
    via: str = ""  # SYSTEM: what checked the system passwords in exim (pam, saslauthd)
    sql: str = ""  # SQL: the lookup type (mysql, pgsql); ``path`` is then its query, the login read as KEY


@dataclass(frozen=True)
class Problem:
    """A password file that cannot be read, or a line of one exim would not read as meant."""

    file: str
    line: int  # 0: the file as a whole
    message: str


@dataclass
class Logins:
    """The users smtpd can check, and those it cannot, with why (never a password)."""

    hashes: dict[str, str] = field(default_factory=dict)  # login -> crypt(3) hash
    lost: dict[str, str] = field(default_factory=dict)  # login -> why smtpd cannot check it
    problems: list[Problem] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    cleartext: bool = False  # some passwords were hashed here


def recognise(auth: Driver) -> PasswordSource | None:
    """The password source of a server authenticator; None when smtpd cannot check the same thing."""
    if auth.driver == "dovecot":
        socket = auth.option("server_socket")
        return PasswordSource(DOVECOT, path=socket.value.text.strip() if socket and socket.value else "")
    if auth.driver == "cram_md5":
        return _cram_secret(auth)
    condition = auth.option("server_condition")
    if auth.driver != "plaintext" or condition is None or condition.value is None:
        return None
    expansion = condition.value.expansion
    return _condition(expansion) if expansion is not None else None


LDAP_BIND, LDAP_LOOKUP = "bind", "lookup"
_LDAPAUTH = re.compile(r"\bldapauth\s*\{")
_LDAP_LOOKUP = re.compile(r"\blookup\s*(ldap|ldapm|ldapdn)\s*\{")


def ldap_check(auth: Driver) -> str:
    """How an authenticator asks LDAP: LDAP_BIND (ldapauth binds as the user), LDAP_LOOKUP (reads an attribute), or ''.

    Neither carries over by itself; each has its own way back (PAM or
    bsd_auth over LDAP, table-ldap's credentials), which the finding names.
    """
    condition = auth.option("server_condition")
    text = condition.value.text if condition is not None and condition.value is not None else ""
    if _LDAPAUTH.search(text):
        return LDAP_BIND
    return LDAP_LOOKUP if _LDAP_LOOKUP.search(text) else ""


def _condition(expansion: Expansion) -> PasswordSource | None:
    check = _only_item(expansion, "if")
    if check is None or not check.args or not isinstance(check.args[0], Word):
        return None
    test = check.args[0].text
    groups = [a.body for a in check.args[1:] if isinstance(a, Group)]
    if test == "pam":
        return PasswordSource(SYSTEM, via="PAM") if _sense(groups[1:]) else None
    if test == "saslauthd":
        return PasswordSource(SYSTEM, via="saslauthd") if groups and _sense(groups[1:]) else None
    if test == "and" and groups and _sense(groups[1:]):
        return _literal(groups[0])
    if test in ("eq", "crypteq") and len(groups) >= 2 and _sense(groups[2:]):
        return _compared(groups[0], groups[1], hashed=test == "crypteq") or (
            _compared(groups[1], groups[0], hashed=False) if test == "eq" else None
        )
    return None


def _sense(branches: list[Expansion]) -> bool:
    """The condition's own truth is the answer: no branches, or {yes}{no}."""
    values = [b.literal() for b in branches]
    if not values:
        return True
    return (
        values[0] is not None
        and values[0].strip() in YES
        and all(v is not None and v.strip() in NO for v in values[1:2])
    )


def _only_item(expansion: Expansion, name: str) -> Item | None:
    parts = expansion.significant
    return parts[0] if len(parts) == 1 and isinstance(parts[0], Item) and parts[0].name == name else None


def _auth_variable(expansion: Expansion) -> int | None:
    """N for ``$authN`` alone."""
    parts = expansion.significant
    if len(parts) == 1 and isinstance(parts[0], Variable) and re.fullmatch(r"auth[1-3]", parts[0].name):
        return int(parts[0].name[-1])
    return None


def _literal(conditions: Expansion) -> PasswordSource | None:
    """``and {{eq{$authU}{user}}{eq{$authP}{password}}}``: the user precedes the password in both mechanisms."""
    pairs: dict[int, str] = {}
    for item in conditions.parts:
        if not isinstance(item, Item):
            continue
        groups = item.groups()
        if item.name != "eq" or len(groups) != 2:
            return None
        for variable, value in ((groups[0], groups[1]), (groups[1], groups[0])):
            number, text = _auth_variable(variable), value.literal()
            if number is not None and text is not None:
                pairs[number] = text
                break
        else:
            return None
    if len(pairs) != 2:
        return None
    (_, user), (_, password) = sorted(pairs.items())
    return PasswordSource(LITERAL, user=user, password=password) if user and password else None


def _compared(password: Expansion, looked_up: Expansion, *, hashed: bool) -> PasswordSource | None:
    """``{$authP}{LOOKUP}``: the password against what an lsearch file holds for the user."""
    number = _auth_variable(password)
    if number is None:
        return None
    prefix = ""
    head = looked_up.parts[0] if looked_up.parts else None
    if hashed and isinstance(head, Text) and re.fullmatch(r"\{[a-z0-9]+\}", head.text.strip().lower()):
        prefix, looked_up = head.text.strip(), Expansion(looked_up.parts[1:])  # crypteq's {md5}, {sha1}, {crypt}
    found = _lookup_of(looked_up)
    if found is None:
        return None
    lookup, fieldno = found
    if lookup.type in SQL_LOGIN_LOOKUPS and lookup.key is None and fieldno == 0:
        source = _sql_source(lookup, number, hashed)
    else:
        source = _file_source(lookup, number, hashed, fieldno)
    return replace(source, prefix=prefix) if source is not None else None


def _lookup_of(expansion: Expansion) -> tuple[Lookup, int] | None:
    """``${lookup...}`` or ``${extract{N}{:}{${lookup...}}}``."""
    extract = _only_item(expansion, "extract")
    if extract is not None:
        groups = extract.groups()
        number, separator = (groups[0].literal(), groups[1].literal()) if len(groups) == 3 else (None, None)
        if number is None or not number.strip().isdigit() or separator != ":":
            return None
        inner = _lookup_of(groups[2])
        return (inner[0], int(number)) if inner is not None and inner[1] == 0 else None
    item = _only_item(expansion, "lookup")
    lookup = Lookup.from_item(item) if item is not None else None
    return (lookup, 0) if lookup is not None else None


def _file_source(lookup: Lookup, password: int, hashed: bool, fieldno: int) -> PasswordSource | None:
    if lookup.type != "lsearch" or lookup.key is None or not _yields_value(lookup.results, hashed, fieldno):
        return None
    user = _auth_variable(lookup.key)
    by_local_part = False
    if user is None:
        user = _operand(lookup.key, "local_part")
        by_local_part = True
    if user is None or user == password:
        return None
    path = ""
    for part in lookup.source.parts:
        if isinstance(part, Text):
            path += part.text
        elif by_local_part and isinstance(part, Operator) and _operand(Expansion((part,)), "domain") == user:
            path += DOMAIN
        else:
            return None
    if not path.startswith("/") or by_local_part != (DOMAIN in path):
        return None
    return PasswordSource(FILE, path=path, hashed=hashed, by_local_part=by_local_part, column=fieldno)


SQL_LOGIN_LOOKUPS = ("mysql", "pgsql")
_USER = "\0user\0"


def _sql_source(lookup: Lookup, password: int, hashed: bool) -> PasswordSource | None:
    """``${lookup mysql{SELECT pw FROM t WHERE login='${quote_mysql:$authU}'}{$value}fail}``: one quoted login."""
    if not _yields_value(lookup.results, hashed, 0):
        return None
    pieces: list[str] = []
    for part in lookup.source.parts:
        if isinstance(part, Text):
            pieces.append(part.text)
        elif isinstance(part, Operator) and part.name == f"quote_{lookup.type}":
            user = _auth_variable(part.arg)
            if user is None or user == password:
                return None
            pieces.append(_USER)
        else:
            return None
    query = "".join(pieces)
    quoted = f"'{_USER}'"
    if query.count(quoted) != 1 or _USER in query.replace(quoted, ""):
        return None
    return PasswordSource(SQL, path=query.replace(quoted, KEY).strip(), hashed=hashed, sql=lookup.type)


def _operand(expansion: Expansion, operator: str) -> int | None:
    """N for ``${operator:$authN}`` alone."""
    parts = expansion.significant
    if len(parts) == 1 and isinstance(parts[0], Operator) and parts[0].name == operator:
        return _auth_variable(parts[0].arg)
    return None


def _yields_value(results: tuple[Expansion | str, ...], hashed: bool, column: int) -> bool:
    """No result strings, or ``{$value}`` then ``fail`` or a string no password matches.

    Debian's example answers a missing user with ``{*:*}``: ``crypteq``
    against ``*`` fails for every password, as a failed lookup does.
    """
    if not results:
        return True
    first = results[0]
    if isinstance(first, str) or _only_variable(first) != "value":
        return False
    if len(results) == 1 or results[1:] == ("fail",):
        return True
    failure = results[1].literal() if len(results) == 2 and not isinstance(results[1], str) else None
    if failure is None or not hashed:
        return False
    unmatched = failure.split(":")[column - 1] if column and len(failure.split(":")) >= column else failure
    return column <= len(failure.split(":")) and unmatched in ("*", "!")


def _only_variable(expansion: Expansion) -> str | None:
    parts = expansion.significant
    return parts[0].name if len(parts) == 1 and isinstance(parts[0], Variable) else None


def _cram_secret(auth: Driver) -> PasswordSource | None:
    """cram_md5's ``server_secret = ${lookup{$auth1}lsearch{FILE}{$value}fail}``: cleartext secrets."""
    secret = auth.option("server_secret")
    if secret is None or secret.value is None or secret.value.expansion is None:
        return None
    found = _lookup_of(secret.value.expansion)
    if found is None or found[1] != 0:
        return None
    lookup = found[0]
    key = _auth_variable(lookup.key) if lookup.key is not None else None
    if key != 1:
        return None
    return _file_source(lookup, 2, hashed=False, fieldno=0)


# -- reading the passwords ----------------------------------------------------------------


def read_file(store: LookupStore, source: PasswordSource, domains: list[str], schemes: tuple[str, ...]) -> Logins:
    """Every login of an lsearch password file (or of each domain's file), as hashes smtpd's crypt checks."""
    found = Logins()
    paths = [(source.path.replace(DOMAIN, d), d) for d in domains] if source.by_local_part else [(source.path, "")]
    for path, domain in paths:
        try:
            text = store.read(path)
        except OSError as exc:
            if not source.by_local_part:  # a domain without a file has no logins; the one file must be readable
                found.problems.append(Problem(path, 0, f"cannot be read: {exc.strerror or exc}"))
            continue
        found.files.append(path)
        for number, key, value in lsearch_lines(text):
            login = f"{key}@{domain}" if domain else key
            if login in found.hashes or login in found.lost:
                continue  # lsearch: the first line for a key wins
            password = value
            if source.column:
                fields = value.split(":")
                if len(fields) < source.column:
                    found.problems.append(Problem(path, number, f"{key}: no field {source.column} in its value"))
                    continue
                password = fields[source.column - 1]
            if not password.strip():  # exim refuses the login too; the admin should know the line is empty
                found.problems.append(Problem(path, number, f"{key}: no password where exim looks"))
                continue
            add_login(found, login, source.prefix + password, hashed=source.hashed, schemes=schemes, key=text)
    return found


def literal(source: PasswordSource, schemes: tuple[str, ...]) -> Logins:
    """The one user a literal condition lets in."""
    found = Logins()
    add_login(found, source.user, source.password, hashed=False, schemes=schemes, key=source.user + source.password)
    return found


def add_login(found: Logins, login: str, password: str, *, hashed: bool, schemes: tuple[str, ...], key: str) -> None:
    """One login as smtpd will check it: cleartext hashed with bcrypt, a hash kept where crypt(3) reads it."""
    if not password or password.lstrip("!*") == "":  # a locked account: exim refuses it too
        return
    if not hashed:
        try:
            found.hashes[login] = bcrypt_hash(password, key, login)
            found.cleartext = True
        except ValueError:
            found.lost[login] = "longer than bcrypt's 72 bytes"
        return
    checkable = crypt_hash(password, schemes)
    if checkable is None:
        found.lost[login] = f"a {_scheme_name(password)} hash"
    else:
        found.hashes[login] = checkable


def crypt_hash(value: str, schemes: tuple[str, ...]) -> str | None:
    """The hash as smtpd's crypt(3) checks it, or None: exim's ``{crypt}`` prefix dropped, bcrypt's 2y named 2b."""
    if value.lower().startswith("{crypt}"):
        value = value[len("{crypt}") :]
    if value.startswith("$2y$"):  # the same algorithm; OpenBSD's bcrypt reads 2a and 2b only
        value = "$2b$" + value[4:]
    return value if any(value.startswith(s) for s in schemes) else None


def _scheme_name(value: str) -> str:
    if value.startswith("{"):
        return value[: value.find("}") + 1] if "}" in value else "{...}"
    if value.startswith("$"):
        return "$" + value[1:].split("$", 1)[0] + "$"
    return "DES crypt" if len(value) == 13 else "unknown"


def bcrypt_hash(password: str, key: str, login: str) -> str:
    """bcrypt of a cleartext password, its salt drawn from the source's own (secret) text and the login.

    The same input converts to the same table, so a committed output stays
    unchanged when nothing changed; another file, another user or another
    password gives another salt.
    """
    import base64  # here, not at the top: only a cleartext password needs them (and bcrypt is slow to load)
    import hashlib
    import hmac

    import bcrypt

    digest = hmac.new(hashlib.sha256(key.encode()).digest(), login.encode(), hashlib.sha256).digest()[:16]
    salt = base64.b64encode(digest)[:22].translate(bytes.maketrans(_STANDARD, _BCRYPT))
    return bcrypt.hashpw(password.encode(), b"$2b$%02d$" % BCRYPT_COST + salt).decode()
