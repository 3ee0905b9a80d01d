"""dovecot's password database, read from its configuration under --root, for exim's dovecot authenticator.

exim's ``driver = dovecot`` hands the login to dovecot's auth socket; what
dovecot checks it against is in /etc/dovecot. smtpd cannot talk to that
socket, but it can check the same hashes when dovecot reads a passwd-file
(one file, or one per domain with ``%d``), and the same system passwords when
dovecot uses PAM or shadow. Both 2.3's ``passdb { driver = X  args = ... }``
and 2.4's ``passdb NAME { driver = X  passwd_file_path = ... }`` are read.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
from dataclasses import dataclass, field

from migrate.lookups import LookupStore
from migrate.mapping.passwords import Logins, Problem, add_login

CONFIG = "/etc/dovecot/dovecot.conf"
SYSTEM_DRIVERS = ("pam", "shadow", "passwd", "bsdauth")
CRYPT_SCHEMES = ("CRYPT", "MD5-CRYPT", "SHA256-CRYPT", "SHA512-CRYPT", "BLF-CRYPT")
CLEARTEXT_SCHEMES = ("PLAIN", "CLEARTEXT")
MAX_INCLUDES = 50


@dataclass(frozen=True)
class Passdb:
    """dovecot's first password database."""

    driver: str
    path: str = ""  # passwd-file: the file, %d for the login's domain
    scheme: str = "CRYPT"  # the scheme of a password without a {SCHEME} prefix
    username_format: str = "%u"
    more: int = 0  # how many further passdbs dovecot would also try


@dataclass
class _Reader:
    store: LookupStore
    settings: dict[str, str] = field(default_factory=dict)
    passdbs: list[dict[str, str]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    included: int = 0


def passdb(store: LookupStore) -> Passdb | Problem | None:
    """The passdb dovecot tries first, None when dovecot.conf is not under --root."""
    if not store.is_file(CONFIG):
        return None
    reader = _Reader(store)
    _read(reader, CONFIG, [])
    if reader.problems:
        return reader.problems[0]
    if not reader.passdbs:
        return Passdb("pam")  # dovecot's default passdb is PAM (auth-system.conf.ext)
    first = reader.passdbs[0]
    args = first.get("args", "").split()
    path = first.get("passwd_file_path", "") or (args[-1] if args and "=" not in args[-1] else "")
    options = dict(a.split("=", 1) for a in args if "=" in a)
    scheme = (
        options.get("scheme")
        or first.get("default_password_scheme")
        or reader.settings.get("default_pass_scheme", reader.settings.get("passdb_default_password_scheme", "CRYPT"))
    )
    username = options.get("username_format") or first.get("passwd_file_username_format") or "%u"
    return Passdb(first.get("driver", ""), path, scheme.upper(), username, len(reader.passdbs) - 1)


def _read(reader: _Reader, path: str, stack: list[dict[str, str] | None]) -> None:
    try:
        text = reader.store.read(path)
    except OSError as exc:
        reader.problems.append(Problem(path, 0, f"cannot be read: {exc.strerror or exc}"))
        return
    for number, raw in enumerate(text.splitlines(), 1):
        line = _strip_comment(raw).strip()
        if not line:
            continue
        include = re.match(r"!include(_try)?\s+(\S+)$", line)
        if include:
            _include(reader, path, include.group(2), optional=bool(include.group(1)), stack=stack)
            continue
        opened = re.match(r"([\w-]+)(?:\s+(\S+))?\s*\{$", line)
        if opened:
            block: dict[str, str] | None = None
            if opened.group(1) == "passdb":
                block = {"driver": opened.group(2)} if opened.group(2) else {}
                reader.passdbs.append(block)
            stack.append(block)
            continue
        if line == "}":
            if stack:
                stack.pop()
            continue
        setting = re.match(r"([\w-]+)\s*=\s*(.*)$", line)
        if setting is None:
            reader.problems.append(Problem(path, number, "not a dovecot setting"))
            continue
        target = stack[-1] if stack else reader.settings
        if target is not None:
            target[setting.group(1)] = setting.group(2).strip().strip('"')


def _strip_comment(line: str) -> str:
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "#" and not quoted:
            return line[:index]
    return line


def _include(reader: _Reader, base: str, pattern: str, *, optional: bool, stack: list[dict[str, str] | None]) -> None:
    reader.included += 1
    if reader.included > MAX_INCLUDES:
        reader.problems.append(Problem(base, 0, f"more than {MAX_INCLUDES} !include files"))
        return
    full = pattern if pattern.startswith("/") else posixpath.join(posixpath.dirname(base), pattern)
    directory, name = posixpath.split(full)
    if any(c in name for c in "*?["):
        try:
            names = sorted(n for n in reader.store.listdir(directory) if fnmatch.fnmatchcase(n, name))
        except OSError:
            names = []
        for found in names:
            _read(reader, posixpath.join(directory, found), stack)
        return
    if optional and not reader.store.is_file(full):
        return
    _read(reader, full, stack)


def read_passwd_file(store: LookupStore, db: Passdb, domains: list[str], schemes: tuple[str, ...]) -> Logins:
    """The logins of dovecot's passwd-file(s), as hashes smtpd's crypt checks."""
    found = Logins()
    local_part_only = db.username_format in ("%n", "%Ln", "%{user | username}")
    per_domain = "%d" in db.path
    paths = [(db.path.replace("%d", d), d) for d in domains] if per_domain else [(db.path, "")]
    for path, domain in paths:
        try:
            text = store.read(path)
        except OSError as exc:
            if not per_domain:
                found.problems.append(Problem(path, 0, f"cannot be read: {exc.strerror or exc}"))
            continue
        found.files.append(path)
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            user, colon, rest = line.partition(":")
            if not colon or not user.strip():
                found.problems.append(Problem(path, number, "not a 'user:password:...' line"))
                continue
            login = user.strip()
            if local_part_only and domain:
                login = f"{login}@{domain}"
            elif local_part_only or (per_domain and "@" not in login):
                found.lost.setdefault(
                    login, "dovecot adds the domain to this login; smtpd sees only what the client sends"
                )
                continue
            if login in found.hashes or login in found.lost:
                continue
            _add(found, login, rest.split(":", 1)[0], db.scheme, schemes, text)
    return found


def _add(found: Logins, login: str, password: str, default: str, schemes: tuple[str, ...], key: str) -> None:
    scheme, value = default, password
    prefix = re.match(r"\{([A-Za-z0-9.-]+)\}", password)
    if prefix:
        scheme, value = prefix.group(1).upper(), password[prefix.end() :]
    if scheme in CLEARTEXT_SCHEMES or scheme in CRYPT_SCHEMES:
        add_login(found, login, value, hashed=scheme in CRYPT_SCHEMES, schemes=schemes, key=key)
    elif value.lstrip("!*"):  # not a locked one: dovecot would have checked it
        found.lost[login] = f"a {{{scheme}}} password"
