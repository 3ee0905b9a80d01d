"""What every renderer shares: quoting, citations, the Jinja environment, and the source map.

A renderer emits statements that know the exim statements they carry out
(``origin``) and what they do (``effects``: ``pki``, ``listen:smtps``,
``filter:rspamd_sign``...). Once the file text exists, ``locate`` finds each
statement's line, so the source map points at real lines of the written file.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from migrate import __version__
from migrate.errors import Span
from migrate.model import Policy
from migrate.platforms import platform as get_platform

MAX_CITED = 12


@dataclass(frozen=True, slots=True)
class Target:
    """One output line an exim statement produced, and the effect that line has."""

    file: str  # relative to the output directory
    line: int
    effect: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Rendered:
    """What render wrote: the files, which of them hold secrets, and where each exim statement went."""

    files: dict[str, str]
    secret: frozenset[str]
    source_map: dict[Span, tuple[Target, ...]]

    def targets(self, span: Span) -> tuple[Target, ...]:
        """The output lines produced for one exim statement (none: it produced nothing)."""
        return self.source_map.get(span, ())


Claim = tuple[tuple[Span, ...], tuple[str, ...]]  # exim statements, and the effects this line has for them


@dataclass
class Emitted:
    """One output statement (possibly over several lines) and, per group of exim statements, its effects."""

    lines: list[str]
    claims: list[Claim] = field(default_factory=list)


@dataclass
class Block:
    """Statements of smtpd.conf with the comments that introduce them."""

    comments: list[str] = field(default_factory=list)
    statements: list[Emitted] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        """The block's text lines, as the template writes them."""
        return [line for statement in self.statements for line in statement.lines]

    def add(self, line: str | list[str], origin: tuple[Span, ...] = (), *effects: str) -> Emitted:
        """Append one statement that carries out ``origin`` with these effects."""
        emitted = Emitted([line] if isinstance(line, str) else line, [(origin, effects)])
        self.statements.append(emitted)
        return emitted


def quote(value: str) -> str:
    """Double-quote a name or value for smtpd.conf."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cite(origin: tuple[Span, ...]) -> str:
    """``configure:11, configure:13`` for a block's exim sources (the first dozen; the report has all)."""
    seen = dict.fromkeys(f"{os.path.basename(span.file)}:{span.line}" for span in origin if span.line)
    cited = list(seen)
    if len(cited) > MAX_CITED:
        return ", ".join(cited[:MAX_CITED]) + f" and {len(cited) - MAX_CITED} more"
    return ", ".join(cited)


def locate(name: str, text: str, statements: list[Emitted], source_map: dict[Span, list[Target]]) -> None:
    """Find each statement's first line in the written text, in order, and record its targets."""
    lines = text.splitlines()
    cursor = 0
    for statement in statements:
        if not statement.lines:
            continue
        first = statement.lines[0]
        while cursor < len(lines) and lines[cursor] != first:
            cursor += 1
        if cursor == len(lines):  # the template dropped it: claim nothing for it
            raise AssertionError(f"{name}: rendered text lacks {first!r}")
        for origin, effects in statement.claims:
            for span in origin:
                for effect in effects or ("",):
                    source_map.setdefault(span, []).append(Target(name, cursor + 1, effect))
        cursor += len(statement.lines)


def whole_file(
    name: str, text: str, origin: tuple[Span, ...], effect: str, source_map: dict[Span, list[Target]]
) -> None:
    """A file every line of which carries out ``origin`` (an rspamd module, a table file)."""
    numbers = [n for n, line in enumerate(text.splitlines(), 1) if line.strip() and not line.lstrip().startswith("#")]
    for span in origin:
        source_map.setdefault(span, []).append(Target(name, numbers[0] if numbers else 1, effect))


def _template_dir() -> Path:
    """The templates: packaged in the wheel, else those of the source checkout."""
    checkout = Path(__file__).resolve().parent.parent.parent / "templates"
    package = Path(__file__).parent.parent
    if package.is_dir():  # what importlib.resources would find, without loading it
        return package / "templates" if (package / "templates").is_dir() else checkout
    from importlib import resources  # a package that is not a directory (a zip)

    packaged = resources.files("migrate").joinpath("templates")
    return Path(str(packaged)) if packaged.is_dir() else checkout


@functools.cache
def make_env() -> jinja2.Environment:
    """The one Jinja environment: strict, unescaped, newline-faithful."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_template_dir())),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        bytecode_cache=_bytecode_cache(),
    )
    env.globals["cite"] = cite
    return env


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept in the user's cache directory: compiling them is a tenth of a CLI run.

    Entries are keyed by the template's checksum, so an upgrade never reads a
    stale one; without a writable cache directory templates are compiled each run.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    directory = os.path.join(base, "exim2smtpd", "templates")
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(directory) if os.access(directory, os.W_OK) else None


GENERATED_BY = "generated by exim2smtpd"  # in the first lines of every file convert writes


def generated_by(policy: Policy) -> str:
    """Who wrote a file, from what and for which system: an admin finding it in /etc must be able to redo it.

    No date: the same input gives the same bytes, so ``check`` can compare.
    """
    pack = get_platform(policy.platform)
    given = policy.given or os.path.basename(policy.source)
    if given == "-" or given.startswith("- "):
        given = "standard input" + given[1:]
    return f"{GENERATED_BY} {__version__} from {given} for {pack.label} (--platform {pack.name})"


def finished(text: str) -> str:
    """Every file ends with exactly one newline."""
    return text if text.endswith("\n") else text + "\n"
