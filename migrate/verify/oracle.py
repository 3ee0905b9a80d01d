"""Make exim a fair oracle for relay policy on a machine without DNS.

The test machine has no DNS, so ``dnslookup`` routers decline and
``verify = recipient`` denies every remote domain: exim would "refuse" mail for
reasons that have nothing to do with its policy. The oracle therefore runs on
the resolved configuration (exactly what exim read) with routing made
DNS-free: each ``dnslookup`` router becomes a ``manualroute`` to an IP literal
and each ``route_list`` host becomes that literal. ACLs, lists and router
preconditions are untouched, so every policy decision is exim's own.
"""

from __future__ import annotations

import re
from pathlib import Path

from migrate.reader import read_config
from migrate.reader.expansion import ExpansionSyntaxError, Group, Item, item_end, parse_expansion
from migrate.reader.source import exim_builtins
from migrate.reader.tree import EximConfig

NEXT_HOP = "192.0.2.250"
FAIL = "${if eq{0}{1}{}fail}"  # a forced expansion failure
SUCCEED = "yes"
COMMAND = re.compile(r"\$\{(run|perl|readsocket|dlfunc)\b")
_PERL_OPTIONS = re.compile(r"^\s*(no_)?perl_(startup|at_start|taintmode)\b.*$", re.M)


def dns_free_config(
    path: Path,
    defines: dict[str, str],
    out: Path,
    relocate: dict[str, str] | None = None,
    spool: Path | None = None,
    hostname: str | None = None,
    root: Path | None = None,
    dropped: list[str] | None = None,
    commands: str = FAIL,
    certificate: tuple[Path, Path] | None = None,
    read: EximConfig | None = None,
) -> Path:
    """Write the DNS-free variant of ``path`` to ``out`` and return it.

    ``read`` is ``path`` already read with these ``defines`` (verify has it):
    a configuration of 200,000 domains is not parsed again for each variant.

    ``relocate`` maps lookup file paths to the copies exim should read instead.
    ``spool`` replaces the spool directory, so that the questions asked leave
    no trace in the server's hints databases (ratelimit counters, for one) and
    earlier questions cannot change later answers. ``hostname`` is the name
    the converter took for a configuration without primary_hostname (the
    server's, from its /etc/hostname): exim here asks this machine otherwise.
    With ``root`` (a copy of the server's files), every path the configuration
    names that exists under it is read from there: lookup files, dsearch
    directories, per-domain files under a directory. Options of one TLS
    library (``openssl_options``, ``gnutls_*``) are left out, since the exim
    asked may be built with the other and would refuse the file; each one is
    appended to ``dropped``.

    exim would run ``${run}``, ``${perl}``, ``${readsocket}`` and ``${dlfunc}``
    while answering; each is replaced by ``commands`` — a forced failure
    (``FAIL``; for ``${readsocket}`` its own fail string, as when the socket is
    down) or a plain ``yes`` (``SUCCEED``) — so nothing is ever executed,
    and Perl is never started. Asking both ways tells which answers they decide.

    ``certificate`` (a throw-away certificate and key) replaces literal
    ``tls_certificate`` and ``tls_privatekey`` files, so that exim can start
    TLS for the logins wherever the server's own files are.
    """
    config = read if read is not None else read_config(str(path), defines)
    tables = exim_builtins()
    allowed = set(tables["driver_generic_options"]["router"]) | set(
        tables["driver_private_options"]["router"]["manualroute"]
    )
    lines: list[str] = []
    section = "main"
    block: list[str] = []

    def flush() -> None:
        if not block:
            return
        if any(re.fullmatch(r"driver\s*=\s*dnslookup", line.strip()) for line in block):
            kept = [block[0]]
            for line in block[1:]:
                name = re.sub(r"^(no_|not_)", "", re.split(r"[\s=]", line.strip(), maxsplit=1)[0])
                if line.strip().startswith("driver"):
                    kept += ["driver = manualroute", f"route_list = * {NEXT_HOP}"]
                elif name in allowed:
                    kept.append(line)
            block[:] = kept
        block[:] = [_literal_routes(line) for line in block]
        lines.extend(block)
        block.clear()

    for line in config.resolved_lines:
        if line.startswith("#"):
            continue
        if line.lower().startswith("begin "):
            flush()
            section = line.split()[1].lower()
            lines.append(line)
            continue
        if section.startswith("router"):
            if re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*\s*:", line) or line[:1].isupper():
                flush()
            block.append(line)
        elif section == "main" and _TLS_LIBRARY_OPTION.match(line):
            if dropped is not None:
                dropped.append(line.split("=")[0].strip())
        elif certificate is not None and section == "main" and (tls := _LITERAL_TLS_FILE.match(line)):
            lines.append(f"{tls.group(1)} = {certificate[0 if tls.group(1) == 'tls_certificate' else 1]}")
        elif not (spool is not None and section == "main" and re.match(r"spool_directory\s*=", line)):
            lines.append(line)
    flush()
    if spool is not None:
        lines.insert(0, f"spool_directory = {spool}")
    if hostname is not None and "primary_hostname" not in config.options:
        lines.insert(0, f"primary_hostname = {hostname}")
    text = "\n".join(lines) + "\n"
    text = without_commands(text, commands)
    moved = relocate or {}
    # one pass, whole paths only: a file whose name starts with another's (vdomains.list, vdomains/) moves once
    text = _ABSOLUTE_PATH.sub(lambda m: moved.get(m.group(0)) or _under(root, m.group(0)), text)
    out.write_text(text, errors="surrogateescape")
    out.chmod(0o644)
    return out


def without_commands(text: str, replacement: str) -> str:
    """``text`` with each command expansion (read as exim reads its braces) replaced, and no Perl options."""
    out: list[str] = []
    index = 0
    while (found := COMMAND.search(text, index)) is not None:
        out.append(text[index : found.start()])
        try:
            index = item_end(text, found.start())
        except ExpansionSyntaxError:
            index = len(text)  # unterminated: nothing after it is exim's to run either
        out.append(_failed(text[found.start() : index]) if replacement == FAIL else replacement)
    out.append(text[index:])
    return _PERL_OPTIONS.sub("", "".join(out))


def _failed(command: str) -> str:
    """What exim makes of a command that cannot run: ``${readsocket}``'s own fail string, else a forced failure.

    A greylisting daemon's socket asked with ``{...}{false}`` answers "false"
    when the daemon is down, exactly as on the retry that passes.
    """
    try:
        parts = parse_expansion(command).parts
    except ExpansionSyntaxError:
        return FAIL
    item = parts[0] if parts else None
    if not isinstance(item, Item) or item.name != "readsocket":
        return FAIL
    groups = [a for a in item.args if isinstance(a, Group)]
    if len(groups) < 5:
        return FAIL
    body = command[groups[4].offset + 1 :].rstrip()
    return body.removesuffix("}").rstrip().removesuffix("}")


_LITERAL_TLS_FILE = re.compile(r"(tls_certificate|tls_privatekey)\s*=\s*[^$\s]+\s*$")
_TLS_LIBRARY_OPTION = re.compile(r"(openssl_options|gnutls_[a-z0-9_]+)\s*=")
_ABSOLUTE_PATH = re.compile(r"(?<![\w./])/[A-Za-z0-9_.+-]+(?:/[A-Za-z0-9_.+-]+)+")


def _under(root: Path | None, path: str) -> str:
    """``path`` read from ``root`` when it, or a directory holding it (two levels at least), is there."""
    if root is None or path.startswith(str(root)):
        return path  # relocated already
    parts = path.split("/")
    for end in range(len(parts), 2, -1):
        if Path(str(root) + "/".join(parts[:end])).exists():
            return str(root) + path
    return path


def _literal_routes(line: str) -> str:
    match = re.fullmatch(r"route_list\s*=\s*(.*)", line.strip())
    if not match:
        return line
    items = [item.split() for item in match.group(1).split(";") if item.strip()]
    return "route_list = " + " ; ".join(f"{words[0]} {NEXT_HOP}" for words in items if words)
