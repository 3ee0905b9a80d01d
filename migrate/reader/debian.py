"""Debian's exim4 setup: what ``update-exim4.conf`` would generate, without running it.

Debian admins have no single ``configure``: debconf answers live in
``update-exim4.conf.conf`` (shell assignments), the configuration in
``exim4.conf.template`` or the split ``conf.d`` tree, and the daemon's ports in
``/etc/default/exim4``.  ``update-exim4.conf`` glues them together with shell
quirks that change what exim reads (values lower-cased and squeezed, ``;``
lists rewritten, loopback added to relay_nets, comments and blank runs
dropped).  We mirror the script of exim4-config (4.96 and 4.100) step by step, keeping for
every generated line the file and line it came from, so the report points at
the admin's own files.  Nothing here runs a shell: the settings are read as
plain assignments and anything else is an error with its location.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from migrate import rules
from migrate.errors import ConfigError, Diagnostic, Span
from migrate.lookups import under
from migrate.reader.lists import split_list
from migrate.reader.parser import read_config
from migrate.reader.source import GeneratedFile
from migrate.reader.tree import EximConfig, Option, Value

SECTIONS = ("main", "acl", "router", "transport", "retry", "rewrite", "auth")
SEMICOLON_FIELDS = ("dc_local_interfaces", "dc_relay_nets", "dc_relay_domains")
MACRO_CONFIGTYPES = ("satellite", "smarthost", "local", "internet")
SCRIPT = "/usr/sbin/update-exim4.conf"
RULE = rules.DEBIAN_SETUP
# The script means "anything but these characters", but in a POSIX bracket
# expression "\[\]" is a backslash, "[", a backslash and the closing "]": the set
# ends there and the pattern is one such character followed by a literal "]".
_ALLOWED = re.compile(r"[^-0-9A-Za-z\\/.!*@_~:;< \[]\]")
_ASSIGNMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
_PART_NAME = re.compile(r"[A-Za-z0-9_-]+")
_RULER = "#" * 53
_MACRO_RULER = "#" * 46


@dataclass(frozen=True)
class Setting:
    """One shell assignment and where it was written."""

    value: str
    line: int


@dataclass(frozen=True)
class DaemonOptions:
    """What the init script passes to the listening daemon (/etc/default/exim4)."""

    file: str
    listens: bool = True
    listen_override: tuple[str, int] | None = None  # the -oX value and its line
    defines: tuple[tuple[str, str], ...] = ()
    notes: tuple[Diagnostic, ...] = ()


@dataclass(frozen=True)
class DebianSetup:
    """The configuration update-exim4.conf would write, held in memory with its origins."""

    name: str
    generated: GeneratedFile
    daemon: DaemonOptions
    notes: tuple[Diagnostic, ...] = ()

    @property
    def text(self) -> str:
        """The generated file as update-exim4.conf writes it."""
        return "".join(line + "\n" for line in self.generated.lines)


@dataclass
class _Output:
    """Lines being generated, each with the file and line it was copied from."""

    lines: list[str] = field(default_factory=list)
    origins: list[tuple[str, int] | None] = field(default_factory=list)

    def add(self, text: str, origin: tuple[str, int] | None = None) -> None:
        self.lines.append(text)
        self.origins.append(origin)


def resolve(confdir: str, root: str = "/") -> DebianSetup:
    """Build what ``update-exim4.conf -d confdir`` writes; mailname and defaults are read under ``root``."""
    base = Path(confdir)
    ue4cc = base / "update-exim4.conf.conf"
    if not ue4cc.is_file():
        raise ConfigError(
            Diagnostic(Span(str(ue4cc), 0, 0, 0, 0), "error", RULE, f"no {ue4cc}: is {confdir} a Debian /etc/exim4?")
        )
    settings, upper_lines = read_settings(ue4cc)
    notes: list[Diagnostic] = []
    originals: dict[str, list[str]] = {str(ue4cc): ue4cc.read_text(errors="replace").splitlines()}
    split = _lower(_get(settings, "dc_use_split_config", "false"))
    configtype = _sanitize(_get(settings, "dc_eximconfig_configtype", ""))
    keep_comments = _get(settings, "ue4c_keepcomments", "") or "no"
    if configtype in MACRO_CONFIGTYPES and split not in ("true", "false"):
        raise _setting_error(ue4cc, settings, "dc_use_split_config", f"must be true or false, not {split!r}")
    body = _Output()
    if split == "true":
        _split_body(base / "conf.d", configtype in MACRO_CONFIGTYPES, body, originals, notes)
    else:
        _template_body(base, body, originals)
    if keep_comments == "no":
        body = _remove_comments(body)
    out = _Output()
    for line in _header(str(base), split == "true"):
        out.add(line)
    if configtype in MACRO_CONFIGTYPES:
        macros = _macros(settings, upper_lines, ue4cc, Path(root), configtype, notes, originals)
        for text, origin in zip(body.lines, body.origins, strict=True):
            out.add(text, origin)
            if text.startswith("UPEX4CmacrosUPEX4C"):
                for macro_text, macro_origin in macros:
                    out.add(macro_text, macro_origin)
    else:
        for text, origin in zip(body.lines, body.origins, strict=True):
            out.add(text, origin)
    name = f"{base}/update-exim4.conf output"
    generated = GeneratedFile(tuple(out.lines), tuple(out.origins), originals)
    return DebianSetup(name, generated, read_daemon_options(Path(root)), tuple(notes))


# -- update-exim4.conf.conf ---------------------------------------------------


def read_settings(path: Path) -> tuple[dict[str, Setting], list[tuple[str, int]]]:
    """The assignments of a debconf settings file, and its lines that start with a capital.

    update-exim4.conf sources the file with the shell; we accept only what a
    shell would treat as plain assignments and refuse anything it would run.
    """
    settings: dict[str, Setting] = {}
    upper: list[tuple[str, int]] = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if line[:1].isupper() and line[:1].isascii() and not line.startswith("CFILEMODE="):
            upper.append((line, number))
        for name, value in _assignments(path, number, line):
            settings[name] = Setting(value, number)
    return settings, upper


def _assignments(path: Path, number: int, line: str) -> list[tuple[str, str]]:
    try:
        words = shlex.split(line, comments=True, posix=True)
    except ValueError as exc:
        raise _line_error(path, number, line, 1, f"cannot read this shell line: {exc}") from None
    found = []
    for word in words:
        if word == "export":
            continue
        if not _ASSIGNMENT.match(word):
            col = line.find(word.split("=", 1)[0]) + 1 or 1
            raise _line_error(
                path, number, line, col, "not a plain VAR=value assignment; the shell would run it as a command"
            )
        name, _, value = word.partition("=")
        found.append((name, value))
    return found


def _get(settings: dict[str, Setting], name: str, default: str) -> str:
    setting = settings.get(name)
    return setting.value if setting is not None and setting.value != "" else default


# -- the shell's text handling --------------------------------------------------


def _lower(value: str) -> str:
    """``echo $*`` splits on blanks and joins with one space; ``tr A-Z a-z`` lowers ASCII only."""
    return " ".join(value.split()).translate(str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz"))


def _sanitize(value: str) -> str:
    """``lowercase`` then ``check_ascii_pipe``, whose sed only replaces a stray byte before a ``]``."""
    as_bytes = _lower(value).encode("utf-8", errors="surrogateescape").decode("latin-1")
    return _ALLOWED.sub("_", as_bytes).encode("latin-1").decode("utf-8", errors="surrogateescape")


# -- the configuration body -----------------------------------------------------


def _template_body(base: Path, out: _Output, originals: dict[str, list[str]]) -> None:
    """Non-split: ``cat exim4.conf.localmacros exim4.conf.template``."""
    template = base / "exim4.conf.template"
    if not template.is_file():
        raise ConfigError(
            Diagnostic(
                Span(str(template), 0, 0, 0, 0), "error", RULE, "non-split configuration selected but no template"
            )
        )
    stream = _Stream()
    localmacros = base / "exim4.conf.localmacros"
    if localmacros.is_file():
        stream.cat(localmacros, originals)
    stream.cat(template, originals)
    stream.finish(out)


def _split_body(
    confd: Path, with_markers: bool, out: _Output, originals: dict[str, list[str]], notes: list[Diagnostic]
) -> None:
    """Split: every section directory's parts, as run-parts orders them, ``.rul`` files winning."""
    stream = _Stream()
    if not confd.is_dir():
        raise ConfigError(Diagnostic(Span(str(confd), 0, 0, 0, 0), "error", RULE, "split configuration but no conf.d"))
    for section in SECTIONS:
        if with_markers:
            stream.text(f"# begin processing {section} #####\n")
        directory = confd / section
        if not directory.is_dir():
            notes.append(
                Diagnostic(Span(str(directory), 0, 0, 0, 0), "warning", RULE, "section directory missing; skipped")
            )
        else:
            for part in _parts(directory):
                stream.text(f"{_RULER}\n### {part}\n{_RULER}\n")
                stream.cat(part, originals)
                stream.text(f"\n{_RULER}\n### end {part}\n{_RULER}\n")
        if with_markers:
            stream.text(f"# end of {section}  #####\n")
    stream.finish(out)


def _parts(directory: Path) -> list[Path]:
    """run-parts emulation: names of letters, digits, ``_`` and ``-``, byte order, ``NAME.rul`` preferred."""
    chosen = []
    for name in sorted((p.name for p in directory.iterdir()), key=lambda n: n.encode("utf-8", "surrogateescape")):
        if not _PART_NAME.fullmatch(name) or not name.isascii() or not (directory / name).is_file():
            continue
        rul = directory / f"{name}.rul"
        chosen.append(rul if rul.is_file() else directory / name)
    return chosen


@dataclass
class _Stream:
    """Bytes as ``cat`` would concatenate them, each character remembering its file and line."""

    chars: list[str] = field(default_factory=list)
    origins: list[tuple[str, int] | None] = field(default_factory=list)

    def text(self, text: str) -> None:
        self.chars.append(text)
        self.origins.extend([None] * len(text))

    def cat(self, path: Path, originals: dict[str, list[str]]) -> None:
        content = path.read_bytes().decode("utf-8", errors="surrogateescape")
        originals[str(path)] = content.splitlines()
        self.chars.append(content)
        number = 1
        for char in content:
            self.origins.append((str(path), number))
            if char == "\n":
                number += 1

    def finish(self, out: _Output) -> None:
        """Cut into lines; a line joined across files (no final newline) keeps its first origin."""
        joined = "".join(self.chars)
        start = 0
        while start < len(joined):
            end = joined.find("\n", start)
            end = len(joined) if end < 0 else end
            out.add(joined[start:end], self.origins[start])
            start = end + 1


def _remove_comments(body: _Output) -> _Output:
    """``grep -Ev '^[[:space:]]*#' | sed '/^$/N;/\\n$/D'``: no comment lines, no runs of empty lines."""
    out = _Output()
    for text, origin in zip(body.lines, body.origins, strict=True):
        if text.lstrip(" \t\v\f\r").startswith("#"):
            continue
        if text == "" and out.lines and out.lines[-1] == "":
            continue
        out.add(text, origin)
    return out


def _header(confdir: str, split: bool) -> list[str]:
    where = (
        [f"# split config files in the {confdir}/conf.d/ directory."]
        if split
        else [f"# non-split config ({confdir}/exim4.conf.localmacros", f"# and {confdir}/exim4.conf.template)."]
    )
    warning = ["# WARNING WARNING WARNING"] * 5
    return [
        "#########",
        *warning,
        "# This file was generated dynamically from",
        *where,
        "# The config files are supplemented with package installation/configuration",
        "# settings managed by debconf. This data is stored in",
        f"# {confdir}/update-exim4.conf.conf",
        "# Any changes you make here will be lost.",
        "# See /usr/share/doc/exim4-base/README.Debian.gz and update-exim4.conf(8)",
        "# for instructions of customization.",
        *warning,
        "#########",
    ]


# -- the macros update-exim4.conf seeds -------------------------------------------


def _macros(
    settings: dict[str, Setting],
    upper_lines: list[tuple[str, int]],
    ue4cc: Path,
    root: Path,
    configtype: str,
    notes: list[Diagnostic],
    originals: dict[str, list[str]],
) -> list[tuple[str, tuple[str, int] | None]]:
    """The ``.ifndef NAME / NAME=value / .endif`` block, in the script's order, with origins."""
    file = str(ue4cc)

    def where(name: str) -> tuple[str, int] | None:
        setting = settings.get(name)
        return (file, setting.line) if setting is not None else None

    raw = {name: setting.value for name, setting in settings.items()}
    for name in SEMICOLON_FIELDS:
        value = raw.get(name, "")
        if ";" in value and not " ".join(value.split()).startswith("<"):
            raw[name] = f"<; {value}"
    other = _sanitize(raw.get("dc_other_hostnames", ""))
    local_domains = re.sub(r"[;: ]*$", "", f"@:localhost:{other}").replace(";", ":")
    smarthost = _sanitize(raw.get("dc_smarthost", "")).replace(";", ":")
    relay_nets = _sanitize(raw.get("dc_relay_nets", ""))
    relay_nets += " ; 127.0.0.1 ; ::1" if relay_nets.startswith("<;") else " : 127.0.0.1 : ::::1"
    readhost = _sanitize(raw.get("dc_readhost", ""))
    mailname, mailname_origin = _mailname(root, notes, originals)
    seeds: list[tuple[str, str, tuple[str, int] | None]] = []
    if raw.get("dc_local_interfaces", ""):
        seeds.append(("MAIN_LOCAL_INTERFACES", raw["dc_local_interfaces"], where("dc_local_interfaces")))
    if raw.get("dc_minimaldns") == "true":
        seeds.append(("DC_minimaldns", "1", where("dc_minimaldns")))
        seeds.extend(_minimaldns_hostname(root, where("dc_minimaldns"), notes))
    hide = _sanitize(raw.get("dc_hide_mailname", "")) == "true" and readhost
    if configtype in ("satellite", "smarthost") and hide:
        seeds.append(("HIDE_MAILNAME", "1", where("dc_hide_mailname")))
    seeds += [
        ("MAIN_PACKAGE_VERSION", _package_version(root), None),
        ("MAIN_LOCAL_DOMAINS", local_domains, where("dc_other_hostnames")),
        ("MAIN_RELAY_TO_DOMAINS", raw.get("dc_relay_domains", ""), where("dc_relay_domains")),
        ("ETC_MAILNAME", mailname, mailname_origin),
        ("LOCAL_DELIVERY", raw.get("dc_localdelivery", "") or "mail_spool", where("dc_localdelivery")),
        ("MAIN_RELAY_NETS", relay_nets, where("dc_relay_nets")),
        ("DCreadhost", readhost, where("dc_readhost")),
        ("DCsmarthost", smarthost, where("dc_smarthost")),
        ("DC_eximconfig_configtype", configtype, where("dc_eximconfig_configtype")),
        (f"DCconfig_{configtype}", "1", where("dc_eximconfig_configtype")),
    ]
    for line, number in upper_lines:
        left, equals, right = _read_builtin(line).partition("=")
        notes.append(
            Diagnostic(
                Span(file, number, 1, number, len(line)),
                "warning",
                RULE,
                f"undocumented line in {ue4cc.name}: update-exim4.conf turns it into the macro {left}",
                line,
            )
        )
        seeds.append((left, right if equals else line, (file, number)))
    block: list[tuple[str, tuple[str, int] | None]] = [
        (_MACRO_RULER, None),
        ("# the following macro definitions were created", None),
        (f"# dynamically by {SCRIPT}", None),
    ]
    for name, value, origin in seeds:
        block += [(f".ifndef {name}", origin), (f"{name}={_sanitize(value)}", origin), (".endif", origin)]
    block += [(_MACRO_RULER, None), ("", None)]
    return block


def _read_builtin(line: str) -> str:
    """What the shell's ``read line`` keeps: outer blanks dropped, backslashes removed."""
    return re.sub(r"\\(.)", r"\1", line.strip(" \t\n"))


def _mailname(
    root: Path, notes: list[Diagnostic], originals: dict[str, list[str]]
) -> tuple[str, tuple[str, int] | None]:
    """The first word of /etc/mailname, as the script's sed expression takes it."""
    path = root / "etc/mailname"
    try:
        first = under(root, "/etc/mailname").read_text(errors="replace").split("\n", 1)[0]
    except OSError:
        notes.append(
            Diagnostic(
                Span(str(path), 0, 0, 0, 0), "warning", RULE, "no /etc/mailname: ETC_MAILNAME is empty, as on the host"
            )
        )
        return "", None
    originals[str(path)] = [first]
    match = re.search(r"[-A-Za-z0-9@.]+", first)
    return (first[: match.start()] + match.group(0) if match else first), (str(path), 1)


def _minimaldns_hostname(
    root: Path, origin: tuple[str, int] | None, notes: list[Diagnostic]
) -> list[tuple[str, str, tuple[str, int] | None]]:
    """``hostname --fqdn`` on the server; we read /etc/hostname, the nearest thing in a file tree."""
    path = root / "etc/hostname"
    try:
        name = _sanitize(under(root, "/etc/hostname").read_text(errors="replace").split("\n", 1)[0])
    except OSError:
        name = ""
    if "." in name:
        return [("MAIN_HARDCODE_PRIMARY_HOSTNAME", name, origin)]
    notes.append(
        Diagnostic(
            Span(str(path), 0, 0, 0, 0),
            "warning",
            RULE,
            "dc_minimaldns is true but /etc/hostname holds no fully qualified name; "
            "update-exim4.conf would use `hostname --fqdn` here",
        )
    )
    return []


# -- /etc/default/exim4 -----------------------------------------------------------


def _package_version(root: Path) -> str:
    """The exim4-config version update-exim4.conf writes into MAIN_PACKAGE_VERSION: the server's own script says.

    Without the script under ``root`` it is Debian 12's, the version most
    servers being migrated run.
    """
    script = under(root, "/usr/sbin/update-exim4.conf")
    if script.is_file():
        found = re.search(r'^UPEX4C_version="([^"]+)"', script.read_text(errors="replace"), re.M)
        if found:
            return found.group(1)
    return "4.96-15+deb12u11"


def read_daemon_options(root: Path) -> DaemonOptions:
    """Listening ports, interfaces and -D macros the init script gives the daemon."""
    path = root / "etc/default/exim4"
    try:
        if not under(root, "/etc/default/exim4").is_file():
            return DaemonOptions(str(path))
    except OSError as exc:
        raise ConfigError(Diagnostic(Span(str(path), 0, 0, 0, 0), "error", RULE, str(exc))) from None
    settings, _ = read_settings(path)
    notes: list[Diagnostic] = []
    runner = settings.get("QUEUERUNNER")
    listens = runner is None or runner.value not in ("queueonly", "nodaemon")
    if not listens and runner is not None:
        notes.append(
            Diagnostic(
                Span(str(path), runner.line, 1, runner.line, 1),
                "warning",
                RULE,
                f"QUEUERUNNER={runner.value}: exim runs no listening daemon, so no network listener is generated",
            )
        )
    override: tuple[str, int] | None = None
    defines: list[tuple[str, str]] = []
    for name in ("COMMONOPTIONS", "SMTPLISTENEROPTIONS"):
        setting = settings.get(name)
        if setting is None:
            continue
        words = setting.value.split()
        for index, word in enumerate(words):
            if word == "-oX" and index + 1 < len(words):
                override = (words[index + 1], setting.line)
            elif word.startswith("-D") and len(word) > 2:
                key, _, value = word[2:].partition("=")
                defines.append((key, value))
    return DaemonOptions(str(path), listens, override, tuple(defines), tuple(notes))


def _setting_error(path: Path, settings: dict[str, Setting], name: str, message: str) -> ConfigError:
    number = settings[name].line if name in settings else 0
    lines = path.read_text(errors="replace").splitlines()
    return _line_error(path, number, lines[number - 1] if number else "", 1, f"{name} {message}")


def _line_error(path: Path, number: int, line: str, col: int, message: str) -> ConfigError:
    return ConfigError(Diagnostic(Span(str(path), number, col, number, col), "error", RULE, message, line))


# -- reading the result ----------------------------------------------------------------


def read_debian(confdir: str, defines: dict[str, str] | None = None, root: str = "/") -> EximConfig:
    """Read a Debian /etc/exim4 as the running daemon sees it.

    The init script's ``-D`` macros come first and the caller's ``-D`` win over
    them; a ``-oX`` in /etc/default/exim4 replaces the ports or interfaces, and
    a queue-only daemon listens nowhere.
    """
    setup = resolve(confdir, root)
    merged = dict(setup.daemon.defines) | dict(defines or {})
    config = read_config(setup.name, merged, setup.generated, root=None if root == "/" else root)
    overrides = _daemon_overrides(setup.daemon)
    notes = (*setup.notes, *setup.daemon.notes)
    return dataclasses.replace(
        config,
        main=(*config.main, *overrides),
        diagnostics=(*config.diagnostics, *notes),
        defines=tuple(merged.items()),
    )


def _daemon_overrides(daemon: DaemonOptions) -> list[Option]:
    """What -oX (or no daemon at all) does to the listening options, as options placed in /etc/default/exim4."""
    found = []
    if daemon.listen_override is not None:
        value, line = daemon.listen_override
        items = [i.text.strip() for i in split_list(value)[1]]
        ports = [i for i in items if "." not in i and ":" not in i]
        addresses = [i for i in items if "." in i or ":" in i]
        if ports:  # rewritten with ";" so that IPv6 colons need no doubling
            found.append(_synthetic(daemon.file, line, "daemon_smtp_ports", "<; " + " ; ".join(ports), value))
        if addresses:
            found.append(_synthetic(daemon.file, line, "local_interfaces", "<; " + " ; ".join(addresses), value))
    if not daemon.listens:
        found = [o for o in found if o.name != "local_interfaces"]
        found.append(_synthetic(daemon.file, 0, "local_interfaces", "", "QUEUERUNNER"))
    return found


def _synthetic(file: str, line: int, name: str, text: str, source: str) -> Option:
    span = Span(file, line, 1, line, 1)
    return Option(span, source, (), name, Value(text, text, False, span))
