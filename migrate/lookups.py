"""Read exim lookup files (lsearch and friends, dsearch) as data for smtpd table files.

exim's lsearch format (spec ch. 9): one key per line, ending at the first
colon or blank (or quoted), ``#`` comments, continuation lines starting with a
blank. A domain or host list only needs the keys. dsearch is a directory whose
entry names are the keys. Files are never run.

The mapping stage never opens a file itself: it asks a ``LookupStore``, which
the commands make for ``--root`` (``FileStore``) and tests make from strings
(``MemoryStore``). Each file is read once however often it is named.

A file exim would read but we will not hold (bigger than MAX_FILE_SIZE, a line
longer than MAX_LINE_LENGTH) is refused as an unreadable one is: the caller
reports it at the statement naming it. So is anything but a regular file, as
exim's lsearch refuses it ("is not a regular file"): a FIFO, /dev/zero.
"""

from __future__ import annotations

import codecs
import errno
import io
import locale
import os
import re
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO, TypeVar

MiB = 1024 * 1024
# A 200,000-domain hosting list is about 4 MB and a large alias file 100 MB: a bigger "lookup file" is
# most likely a mistake (a log, a disk image), and would be held in memory several times over.
MAX_FILE_SIZE = 256 * MiB
# exim's lsearch reads a line 4096 bytes at a time and joins the pieces of its data, so it takes any
# length; a line of a megabyte is no key or alias list smtpd's tables would be given.
MAX_LINE_LENGTH = 1 * MiB
_CHUNK = 1 * MiB  # read at a time; never more than MAX_LINE_LENGTH, so a longer line spans a chunk's end
PROGRESS_SIZE = 8 * MiB  # a file bigger than this shows its progress from the start ...
PROGRESS_AFTER = 1.0  # ... any other once it has taken this many seconds
_PROGRESS_EVERY = 0.1  # seconds between two rewrites of the progress line

Progress = Callable[[str], None]
"""Hears one line of progress ("reading FILE: 48 of 120 MB ..."), and "" once the read is over."""


class LookupStore(Protocol):
    """The files a configuration names, as the mapping stage sees them (paths as exim names them)."""

    def read(self, path: str) -> str:
        """The text of a file; OSError when it cannot be read."""
        ...

    def listdir(self, path: str) -> list[str]:
        """The entry names of a directory; OSError when it cannot be read."""
        ...

    def is_file(self, path: str) -> bool:
        """Whether a readable file is there."""
        ...

    def shown(self, path: str) -> str:
        """How to name the file in a message (under --root when there is one)."""
        ...


@dataclass
class FileStore:
    """Files under ``root`` (/ on the server itself), confined to it and read once each.

    ``progress`` hears how far the read of a big or slow file has got (the
    CLI gives it on a terminal only); None: nothing is said.
    """

    root: Path = Path("/")
    _texts: dict[str, str | OSError] = field(default_factory=dict)
    _dirs: dict[str, list[str] | OSError] = field(default_factory=dict)
    progress: Progress | None = None

    def read(self, path: str) -> str:
        if path not in self._texts:
            try:
                self._texts[path] = self._read(path)
            except OSError as exc:
                self._texts[path] = exc
        return _or_raise(self._texts[path])

    def _read(self, path: str) -> str:
        """The text as ``Path.read_text(errors="replace")`` gives it, for a file within the limits."""
        file = under(self.root, path)
        _readable(os.stat(file))  # before opening: opening a FIFO waits for a writer
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        try:
            info = os.fstat(fd)
            _readable(info)  # the file opened, should it have been replaced since
            return _read_text(fd, info.st_size, self.shown(path), self.progress)
        finally:
            os.close(fd)

    def listdir(self, path: str) -> list[str]:
        if path not in self._dirs:
            try:
                self._dirs[path] = [p.name for p in under(self.root, path).iterdir()]
            except OSError as exc:
                self._dirs[path] = exc
        return list(_or_raise(self._dirs[path]))

    def is_file(self, path: str) -> bool:
        try:
            return under(self.root, path).is_file()
        except OSError:
            return False

    def shown(self, path: str) -> str:
        return str(Path(self.root) / path.lstrip("/"))


@dataclass
class MemoryStore:
    """Files given as strings: for tests and for one-statement mapping cases."""

    files: dict[str, str] = field(default_factory=dict)

    def read(self, path: str) -> str:
        if path not in self.files:
            raise FileNotFoundError(2, "No such file or directory", path)
        return self.files[path]

    def listdir(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        names = {p[len(prefix) :].split("/", 1)[0] for p in self.files if p.startswith(prefix)}
        if not names:
            raise FileNotFoundError(2, "No such file or directory", path)
        return sorted(names)

    def is_file(self, path: str) -> bool:
        return path in self.files

    def shown(self, path: str) -> str:
        return path


class LookupRefused(OSError):
    """A file exim2smtpd does not read: not a regular file, too big, or a line too long.

    Its ``strerror`` is the reason, as the callers put an unreadable file's in their findings.
    """


def _readable(info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise LookupRefused(errno.EINVAL, f"not a regular file ({_kind(info.st_mode)})")
    if info.st_size > MAX_FILE_SIZE:
        raise LookupRefused(errno.EFBIG, f"{_size(info.st_size)}, above the {_size(MAX_FILE_SIZE)} exim2smtpd reads")


def _kind(mode: int) -> str:
    kinds = {"a directory": stat.S_ISDIR, "a FIFO": stat.S_ISFIFO, "a character device": stat.S_ISCHR}
    kinds |= {"a block device": stat.S_ISBLK, "a socket": stat.S_ISSOCK}
    return next((name for name, test in kinds.items() if test(mode)), "of another kind")


def _size(size: int) -> str:
    if size >= 1024 * MiB:
        return f"{size / (1024 * MiB):.1f} GB"
    return f"{size // MiB} MB" if size % MiB == 0 else f"{size / MiB:.1f} MB"


def _read_text(fd: int, size: int, shown: str, progress: Progress | None) -> str:
    """Read and decode ``fd`` a chunk at a time, stopping at once at a line over MAX_LINE_LENGTH.

    Decoded as ``read_text`` does (the locale's encoding, bad bytes replaced,
    newlines translated). Lines are counted at ``\n`` as exim's lsearch does.
    """
    decoder = io.IncrementalNewlineDecoder(
        codecs.getincrementaldecoder(locale.getpreferredencoding(False))(errors="replace"), translate=True
    )
    pieces: list[str] = []
    chunk_size = min(_CHUNK, MAX_LINE_LENGTH)  # a line within one chunk is never too long
    done = 0
    newlines = 0  # before the line being read
    line = 0  # bytes of that line read so far
    started = shown_at = time.monotonic()
    showing = False
    try:
        while chunk := os.read(fd, chunk_size):
            done += len(chunk)
            if done > MAX_FILE_SIZE:  # it grew since its size was looked at
                raise LookupRefused(errno.EFBIG, f"over the {_size(MAX_FILE_SIZE)} exim2smtpd reads")
            first = chunk.find(b"\n")
            line += len(chunk) if first < 0 else first
            if line > MAX_LINE_LENGTH:
                raise LookupRefused(errno.EFBIG, f"line {newlines + 1} is over {_size(MAX_LINE_LENGTH)} long")
            if first >= 0:
                newlines += chunk.count(b"\n")
                line = len(chunk) - chunk.rfind(b"\n") - 1
            pieces.append(decoder.decode(chunk))
            now = time.monotonic()
            late = size > PROGRESS_SIZE or now - started >= PROGRESS_AFTER
            if progress is not None and late and (not showing or now - shown_at >= _PROGRESS_EVERY):
                total = f" of {size // MiB}" if size >= done else ""
                progress(f"reading {shown}: {done // MiB}{total} MB ...")
                showing, shown_at = True, now
        pieces.append(decoder.decode(b"", final=True))
    finally:
        if showing and progress is not None:
            progress("")
    return "".join(pieces)


class StatusLine:
    """One line of a terminal rewritten in place, as verify shows its progress; "" blanks it.

    Padded rather than cleared with an escape, so any terminal shows it, and
    cut to the terminal's width so that it never wraps.
    """

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.width = 0

    def __call__(self, text: str) -> None:
        if not text and not self.width:
            return
        text = text[: self._columns() - 1]
        self.stream.write("\r" + text.ljust(self.width) + ("" if text else "\r"))
        self.stream.flush()
        self.width = max(self.width, len(text)) if text else 0

    def _columns(self) -> int:
        """The terminal's width; a wide one when it does not say (a pty nobody sized)."""
        try:
            columns = os.get_terminal_size(self.stream.fileno()).columns
        except (AttributeError, OSError, ValueError):
            columns = 0
        return columns if columns >= 20 else 1000


def status_line(stream: TextIO) -> StatusLine | None:
    """A status line on ``stream`` when it is a terminal; None (nothing shown) when piped or redirected."""
    try:
        terminal = stream.isatty()
    except (AttributeError, ValueError):  # closed, or replaced by something that is not a file
        terminal = False
    return StatusLine(stream) if terminal else None


_T = TypeVar("_T")


def _or_raise(value: _T | OSError) -> _T:
    if isinstance(value, OSError):
        raise value
    return value


def lsearch_keys(text: str) -> list[str]:
    """The keys of an lsearch file's text, in order."""
    return [key for key, _ in lsearch_entries(text)]


def lsearch_entries(text: str) -> list[tuple[str, str]]:
    """Key and data of each lsearch item, in file order."""
    return [(key, data) for _, key, data in lsearch_lines(text)]


def lsearch_lines(text: str) -> list[tuple[int, str, str]]:
    """Line number, key and data of each lsearch item, in file order.

    The data is the rest of the line after the key and an optional colon;
    continuation lines (leading blanks) join it with a single space. Empty and
    ``#`` lines are skipped even inside an item, as exim does.
    """
    entries: list[tuple[int, str, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[:1] in (" ", "\t"):
            if entries:
                first, key, data = entries[-1]
                entries[-1] = (first, key, f"{data} {line.strip()}".strip())
            continue
        key, rest = _split_key(line)
        if key:
            entries.append((number, key, rest))
    return entries


def _split_key(line: str) -> tuple[str, str]:
    if line.startswith('"'):
        end = line.find('"', 1)
        key, rest = (line[1:end], line[end + 1 :]) if end > 0 else (line[1:], "")
    else:
        cut = len(line)
        for index, char in enumerate(line):
            if char == ":" or char.isspace():
                cut = index
                break
        key, rest = line[:cut], line[cut:]
    rest = rest.strip()
    if rest.startswith(":"):
        rest = rest[1:].strip()
    return key, rest


def dsearch_keys(names: list[str]) -> list[str]:
    """The keys of a dsearch directory: its entry names, sorted, without hidden ones."""
    return sorted(n for n in names if not n.startswith("."))


class OutsideRoot(OSError):
    """A path that leads out of --root, directly or through a symlink."""


def under(root: Path, path: str) -> Path:
    """``path`` as it lies under ``root`` (which is / on the server itself).

    Raises OutsideRoot when ``..`` or a symlink leads out of ``root``: a copy of
    a server's tree must not make us read this machine's files.
    """
    joined = Path(root) / path.lstrip("/")
    real = os.path.realpath(joined)
    if not within(real, os.path.realpath(root)):
        raise OutsideRoot(f"{path} leads outside --root {root} (to {real})")
    return joined


def within(real: str, base: str) -> bool:
    """Whether a resolved path is ``base`` or lies below it."""
    return base == "/" or real == base or real.startswith(base.rstrip("/") + "/")


_DOMAIN_LOOKUP = re.compile(r"(?:partial(?P<min>\d*)-)?(?P<type>[a-z0-9_]+)(?P<affix>\*@?)?(?:,.*)?")
TEXT_FILE_TYPES = ("lsearch", "wildlsearch", "nwildlsearch")
BUILT_TYPES = ("dbm", "dbmnz", "dbmjz", "cdb")  # binary files built from an lsearch-format text file
BUILT_SUFFIXES = (".db", ".dbm", ".cdb")


@dataclass(frozen=True)
class DomainKeys:
    """What one lookup item of a domain list contributes to an smtpd table."""

    entries: tuple[str, ...]
    problems: tuple[str, ...]  # keys or items smtpd cannot hold (reported unmapped)
    source: str  # the file actually read
    note: str = ""  # something the admin should know (reported approximated)


def domain_keys(lookup_type: str, store: LookupStore, path: str) -> DomainKeys | None:
    """Turn a domain-list lookup into smtpd domain-table entries with exim's own matching rules.

    None when the lookup type is not one we can read as a file. ``shown`` is
    the file as the configuration names it, for messages.
    """
    shown = path
    parsed = _DOMAIN_LOOKUP.fullmatch(lookup_type)
    if parsed is None:
        return None
    base, affix = parsed.group("type"), parsed.group("affix") or ""
    partial = None if parsed.group("min") is None else int(parsed.group("min") or 2)
    note = ""
    if base == "dsearch":
        keys = dsearch_keys(store.listdir(path))
    elif base in TEXT_FILE_TYPES:
        keys = lsearch_keys(store.read(path))
    elif base in BUILT_TYPES:
        text = text_source(store, path)
        if text is None:
            raise FileNotFoundError(f"no text source beside {shown} to read (a {base} file is binary)")
        keys = lsearch_keys(store.read(text))
        note = (
            f"{shown} read from its text source {os.path.basename(text)}: "
            "rebuild or check it is current before switching"
        )
        path = text
    else:
        return None
    entries: list[str] = []
    problems: list[str] = []
    for written in keys:
        key = written.lower()  # exim compares caselessly; messages show the key as written
        if affix and key in ("*", "*@"):
            problems.append(f"{written} in {shown} (with {lookup_type} it matches every domain)")
        elif base in ("wildlsearch", "nwildlsearch"):
            _wild_key(written, base, shown, entries, problems)
        elif partial is not None and key.startswith("*."):
            _partial_key(key, partial, shown, entries, problems)
        elif "*" in key or key.startswith("^"):
            problems.append(f"{written} in {shown} (a literal key: exim's {base} never matched it as a pattern)")
        else:
            entries.append(key)
    return DomainKeys(tuple(entries), tuple(problems), store.shown(path), note)


def _wild_key(key: str, base: str, shown: str, entries: list[str], problems: list[str]) -> None:
    """(n)wildlsearch: ``*.rest`` ends-with keys map to smtpd's ``*.`` wildcard; regexes do not."""
    if key.startswith("^") or (base == "wildlsearch" and ("$" in key or "\\N" in key)) or ";" in key:
        problems.append(f"{key} in {shown} (a pattern smtpd tables cannot hold)")
    elif key.startswith("*.") and "*" not in key[2:]:
        entries.append(key.lower())
    elif "*" in key:
        problems.append(f"{key} in {shown} (exim's '*' here means 'ends with'; smtpd's wildcard differs)")
    else:
        entries.append(key.lower())


def _partial_key(key: str, minimum: int, shown: str, entries: list[str], problems: list[str]) -> None:
    """partial-: ``*.rest`` matches ``rest`` and its subdomains when ``rest`` has enough components."""
    rest = key[2:]
    if "*" in rest or len(rest.split(".")) < minimum:
        problems.append(f"{key} in {shown} (never matched: partial matching needs {minimum} components)")
        return
    entries += [rest, key]


def text_source(store: LookupStore, path: str) -> str | None:
    """The lsearch text a dbm/cdb file is built from: the same name without .db/.dbm/.cdb."""
    name = os.path.basename(path)
    for suffix in BUILT_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            candidate = path[: -len(suffix)]
            if store.is_file(candidate):
                return candidate
    return None


# -- SQL lookups → OpenSMTPD's table-sqlite / table-mysql / table-postgres ------------------

SQL_BACKENDS = {"sqlite": "sqlite", "mysql": "mysql", "pgsql": "postgres"}
_QUOTED_DOMAIN = re.compile(r"""(['"]?)\$\{quote_(?:mysql|pgsql|sqlite):\$\{?domain\}?\}\1""")


@dataclass(frozen=True)
class SqlTable:
    """The configuration file of one smtpd SQL table backend (opensmtpd-extras)."""

    backend: str  # sqlite | mysql | postgres
    config: str  # the backend's configuration file
    source: str  # the sqlite database file exim read, "" for a server
    secret: bool  # the file holds a password
    approximation: str = ""  # what the backend does differently from exim's connection, "" when nothing


def sql_domain_table(item: str, options: dict[str, str]) -> SqlTable | str:
    """Translate ``TYPE;QUERY`` keyed on ``$domain`` into a table backend configuration.

    Returns the reason as a string when it cannot be translated exactly: a
    query using anything but the domain, several servers, options we do not read.
    """
    kind, _, rest = item.partition(";")
    kind = kind.strip()
    if "," in kind:
        return "lookup options are not translated"
    if kind not in SQL_BACKENDS:
        return f"no SQL table backend for {kind}"
    dbfile = ""
    query = rest.strip()
    if kind == "sqlite":
        if query.startswith("/"):
            dbfile, _, query = query.partition(" ")
            query = query.strip()
        else:
            dbfile = options.get("sqlite_dbfile", "")
        if not dbfile:
            return "no database file (neither in the lookup nor sqlite_dbfile)"
    placeholder = "$1" if kind == "pgsql" else "?"
    translated, count = _QUOTED_DOMAIN.subn(placeholder, query)
    if count != 1 or "$" in translated.replace("$1", ""):
        return "the query must use the domain exactly once, quoted with quote_" + kind
    lines = [f"query_domain {translated}"]
    if kind == "sqlite":
        return SqlTable("sqlite", f"dbpath {dbfile}\n" + "\n".join(lines) + "\n", dbfile, False)
    connection = server_connection(kind, options)
    if isinstance(connection, str):
        return connection
    connecting, approximation, secret = connection
    return SqlTable(SQL_BACKENDS[kind], "\n".join(connecting + lines) + "\n", "", secret, approximation)


def server_connection(kind: str, options: dict[str, str]) -> tuple[list[str], str, bool] | str:
    """The first of ``mysql_servers``/``pgsql_servers`` as backend lines, what they approximate, and whether
    they hold a password; or why they cannot be written."""
    servers = options.get(f"{kind}_servers", "")
    first = [s for s in servers.replace("::", "\0").split(":") if s.strip()]
    if len(first) != 1:
        return f"{kind}_servers must name exactly one server (exim fails over; smtpd's backend does not)"
    server = _server(first[0].replace("\0", ":").strip())
    if server is None:
        return f"{kind}_servers is not [host][:port][(socket)]/database/user/password"
    connection = _connection(kind, server)
    if isinstance(connection, str):
        return connection
    return connection[0], connection[1], bool(server.password)


@dataclass(frozen=True)
class SqlServer:
    """One item of ``mysql_servers`` / ``pgsql_servers``: ``host:port(socket)[group]/database/user/password``."""

    host: str
    port: str
    socket: str
    group: str
    database: str
    user: str
    password: str


_SERVER = re.compile(
    r"(?P<host>[^:/()\[\]]*)(?::(?P<port>\d*))?(?:\((?P<socket>[^)]*)\))?(?:\[(?P<group>[^\]]*)\])?"
    r"/(?P<database>[^/]*)/(?P<user>[^/]*)/(?P<password>.*)"
)


def _server(item: str) -> SqlServer | None:
    found = _SERVER.fullmatch(item)
    if found is None:
        return None
    return SqlServer(
        *(found.group(k) or "" for k in ("host", "port", "socket", "group", "database", "user", "password"))
    )


def _connection(kind: str, server: SqlServer) -> tuple[list[str], str] | str:
    """The backend's connection lines and an approximation to report ("" when exact), or why there are none."""
    if server.group:
        return f"the MySQL option group [{server.group}] has no table-mysql equivalent"
    if kind == "mysql":
        if server.port and server.port != "3306":
            return f"table-mysql always connects to port 3306, not {server.port}"
        host = server.host or "localhost"
        note = ""
        if server.socket:
            if host != "localhost":
                return "a socket is only used for localhost"
            note = (
                f"table-mysql connects through the MySQL client library's default socket, not {server.socket} "
                "(Debian's is /run/mysqld/mysqld.sock, OpenBSD's /var/run/mysql/mysql.sock): check they are the same"
            )
        return [
            f"host {host}",
            f"username {server.user}",
            f"password {server.password}",
            f"database {server.database}",
        ], note
    fields = {"dbname": server.database, "user": server.user, "password": server.password}
    if server.socket:  # libpq names the socket's directory and takes the port from ".s.PGSQL.PORT"
        directory, _, name = server.socket.rpartition("/")
        port = name.removeprefix(".s.PGSQL.")
        if not directory or not port.isdigit():
            return f"{server.socket} is not a PostgreSQL socket (DIR/.s.PGSQL.PORT)"
        fields = {"host": directory, "port": port, **fields}
    else:
        fields = {"host": server.host or "localhost", **({"port": server.port} if server.port else {}), **fields}
    return ["conninfo " + " ".join(f"{k}='{v}'" for k, v in fields.items())], ""


# -- hosted users in SQL → one table-* ``query_alias`` ----------------------------------------

# The key smtpd looks up, named so that no column of the admin's tables hides it in a subquery.
KEY = "exim2smtpd_key"
_SQL_VARIABLE = re.compile(
    r"\$\{quote_(?:mysql|pgsql|sqlite):(?P<q>\$\{?(?:local_part|domain)(?:_data)?\}?)\}"
    r"|(?P<bare>\$\{?(?:local_part|domain)(?:_data)?\}?)"
)
_SQL_STRING = re.compile(r"'(?:[^'\\]|\\.)*'")
_SELECT_ONE = re.compile(r"\s*SELECT\s+(?P<column>[A-Za-z_][\w.]*)\s+FROM\s+(?P<rest>.+)", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class SqlKeyed:
    """An exim query that reads the recipient: which parts it uses, and its text over smtpd's key ``k``."""

    uses_local_part: bool
    uses_domain: bool
    query: str  # the same query reading KEY (the address smtpd looks up, or ``@domain``)


def sql_keyed(kind: str, query: str) -> SqlKeyed | str:
    """Rewrite ``'${quote_K:$local_part}@${quote_K:$domain}'`` and its parts as expressions of the key.

    Each SQL string literal holding exim variables becomes an expression of the
    key; a variable outside a string literal, or any other ``$``, is a reason
    (returned as a string). The key is bound by smtpd's backend: an unquoted
    ``${domain}`` that was injectable in exim is not in smtpd.
    """
    parts = {"local_part": False, "domain": False}

    def literal(match: re.Match[str]) -> str:
        text = match.group(0)[1:-1]
        if "$" not in text:
            return match.group(0)
        pieces: list[str] = []
        pos = 0
        for var in _SQL_VARIABLE.finditer(text):
            if var.start() > pos:
                pieces.append("'" + text[pos : var.start()] + "'")
            name = "local_part" if "local_part" in var.group(0) else "domain"
            parts[name] = True
            pieces.append(_key_part(kind, name))
            pos = var.end()
        if pos < len(text):
            pieces.append("'" + text[pos:] + "'")
        if pieces == [_key_part(kind, "local_part"), "'@'", _key_part(kind, "domain")]:
            return KEY
        return pieces[0] if len(pieces) == 1 else _concat(kind, pieces)

    translated = _SQL_STRING.sub(literal, query.strip())
    if "$" in translated:
        return "the query uses exim variables outside SQL string literals, or others than $local_part and $domain"
    if not parts["domain"]:
        return "the query does not read the domain"
    return SqlKeyed(parts["local_part"], parts["domain"], translated)


def _key_part(kind: str, name: str) -> str:
    local = name == "local_part"
    if kind == "mysql":
        return f"SUBSTRING_INDEX({KEY}, '@', {1 if local else -1})"
    if kind == "pgsql":
        return f"split_part({KEY}, '@', {1 if local else 2})"
    return f"substr({KEY}, 1, instr({KEY}, '@') - 1)" if local else f"substr({KEY}, instr({KEY}, '@') + 1)"


def _concat(kind: str, pieces: list[str]) -> str:
    return f"CONCAT({', '.join(pieces)})" if kind == "mysql" else "(" + " || ".join(pieces) + ")"


def sql_aggregate(kind: str, query: str) -> str | None:
    """``SELECT col FROM ...`` as one value, its rows joined by ", " (exim joins them by newlines).

    None when the query does not select exactly one column.
    """
    found = _SELECT_ONE.fullmatch(query)
    if found is None:
        return None
    column, rest = found.group("column"), found.group("rest").strip()
    joined = {
        "mysql": f"GROUP_CONCAT({column} SEPARATOR ', ')",
        "pgsql": f"string_agg({column}, ', ')",
        "sqlite": f"group_concat({column}, ', ')",
    }[kind]
    return f"SELECT {joined} FROM {rest}"


def sql_alias_query(kind: str, by_address: list[str], by_domain: list[str]) -> str:
    """One ``query_alias`` answering smtpd's virtual lookups as exim's routers did, in their order.

    ``by_address`` are scalar subqueries over KEY for an address (alias
    destinations, or the account of a mailbox), first non-empty one wins;
    ``by_domain`` answer the ``@domain`` key smtpd asks last (catch-alls).
    smtpd also asks for the bare local part: nothing answers that.
    """
    placeholder = {"mysql": "?", "pgsql": "$1::text", "sqlite": "?"}[kind]
    address = "COALESCE(" + "".join(f"({q}), " for q in by_address) + "NULL)"  # sqlite wants two arguments
    domain = "COALESCE(" + "".join(f"({q}), " for q in by_domain) + "NULL)"
    return (
        f"SELECT v FROM (SELECT CASE WHEN {KEY} LIKE '_%@_%' THEN {address} WHEN {KEY} LIKE '@_%' THEN {domain} "
        f"END AS v FROM (SELECT {placeholder} AS {KEY}) AS q) AS r WHERE v IS NOT NULL"
    )


def sql_credentials_query(kind: str, query: str) -> str | None:
    """``query_credentials``: the login and what exim's query (reading KEY) selected for it; None unless one column.

    The login is bound once and read as KEY; a login without a row answers
    no row, as smtpd wants, never a NULL password.
    """
    if _SELECT_ONE.fullmatch(query) is None:
        return None
    placeholder = {"mysql": "?", "pgsql": "$1::text"}[kind]
    return (
        f"SELECT {KEY}, p FROM (SELECT {KEY}, ({query}) AS p FROM (SELECT {placeholder} AS {KEY}) AS q) AS r "
        "WHERE p IS NOT NULL"
    )


def sql_connection(kind: str, options: dict[str, str]) -> list[str] | str:
    """The backend's connection lines (``dbpath`` for sqlite) from exim's options, or why there are none."""
    if kind == "sqlite":
        dbfile = options.get("sqlite_dbfile", "")
        return [f"dbpath {dbfile}"] if dbfile else "no database file (sqlite_dbfile)"
    connection = server_connection(kind, options)
    return connection if isinstance(connection, str) else connection[0]
