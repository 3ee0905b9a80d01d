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
from migrate.reader.tree import EximConfig, NamedList

NEXT_HOP = "192.0.2.250"
FAIL = "${if eq{0}{1}{}fail}"  # a forced expansion failure
SUCCEED = "yes"
LISTED_IN_FILE = 1000  # literal names in a domain list above which the copy looks them up in a file
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

    ``smtp_accept_max_nonmail_hosts`` is empty (no client is held to
    smtp_accept_max_nonmail): verify asks many recipients in one ``-bh``
    session, each MAIL and RCPT followed by RSET, and exim drops a session
    after ten RSETs by default. The limit decides no ACL's answer, and one
    session instead of six saves exim reading the configuration again (0.3 s
    each with 200,000 domains).

    A domain list of over LISTED_IN_FILE literal names has them in an
    lsearch file beside ``out`` (``_listed_in_file``): the same answers, not
    a scan of the whole list for each address exim routes.

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

    named = {s.name: s for s in config.main if isinstance(s, NamedList) and s.kind == "domain"}
    for line in config.resolved_lines:
        if line.startswith("#"):
            continue
        if section == "main" and line.startswith(("domainlist", "hide domainlist")):
            line = _listed_in_file(line, named, out)
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
        elif section == "main" and re.match(r"smtp_accept_max_nonmail_hosts\s*=", line):
            continue  # set below
        elif not (spool is not None and section == "main" and re.match(r"spool_directory\s*=", line)):
            lines.append(line)
    flush()
    lines.insert(0, "smtp_accept_max_nonmail_hosts =")
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


def _listed_in_file(line: str, named: dict[str, NamedList], out: Path) -> str:
    """A domain list of many literal names, with the names in an lsearch file beside ``out``.

    exim matches a literal domain and an lsearch key alike (whole, caselessly),
    but scans an inline list item by item for every address it routes: 0.1 s
    an address with 200,000 names, against one lookup in a file it caches.
    A list with a negated item, an expansion or a special item holding a colon
    is left as it is (their order, or their parsing, could matter).
    """
    match = re.match(r"(?:hide\s+)?domainlist\s+(\S+?)\s*=", line)
    listed = named.get(match.group(1)) if match else None
    if match is None or listed is None:
        return line
    literal = [i.value for i in listed.items if i.kind == "literal"]
    others = [i.text for i in listed.items if i.kind != "literal"]
    if len(literal) <= LISTED_IN_FILE or any(i.negated or "$" in i.text for i in listed.items):
        return line
    if any(":" in text for text in others):
        return line
    names = out.with_name(f"{out.stem}.{listed.name}.domains")
    names.write_text("".join(f"{name}\n" for name in literal))
    names.chmod(0o644)
    return f"{match.group(0)} {' : '.join([*others, f'lsearch;{names}'])}"


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
