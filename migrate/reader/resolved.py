"""The configuration as exim resolved it, in the layout of ``exim -bP config``.

This is the reader's oracle: macros substituted, ``.ifdef`` resolved, includes
inlined and continuations joined, printed the way exim's ``print_config`` does
(runs of blanks collapsed until a quote or ``$``, blocks indented, position
markers where reading moved between files).  A test compares it byte for byte
with what the real exim prints for the same file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from migrate.reader.source import LogicalLine, PositionMarker, exim_builtins
from migrate.redact import HIDDEN as REDACTED
from migrate.redact import redact_line

_BLANKS = " \t\n\r\f\v"


def resolved_lines(timeline: Iterable[LogicalLine | PositionMarker]) -> Iterator[str]:
    """Yield the saved config lines in reading order (before exim's formatting)."""
    for entry in timeline:
        if isinstance(entry, PositionMarker):
            yield f'# {entry.line} "{entry.file}"'
        else:
            yield entry.text


HIDDEN = "<value not displayable>"


def format_like_exim(
    lines: Iterable[str],
    version: str = "",
    *,
    terse: bool = False,
    hide_secrets: bool = False,
    secret_macros: frozenset[str] = frozenset(),
) -> str:
    """Lay out resolved lines exactly as ``exim -bP config`` prints them (as admin).

    With ``hide_secrets``, ``hide`` lines lose their values as they do for a
    non-admin caller of exim, and so do options that are passwords by nature,
    the macros used in them and credentials inside lookups (exim shows those to
    its admin; we print for whoever reads the terminal or a CI log). Other
    macro lines stay visible, unlike exim's, since a migrating admin needs them.
    """
    step = 0 if terse else 2
    indent = 0
    out = [f"# Exim Configuration ({version or exim_builtins()['exim_version']})"]
    for line in lines:
        current = _collapse(line.lstrip(_BLANKS))
        if not current:
            continue
        if current.startswith("#"):
            out.append(current)
        elif current.startswith("begin") and current[5:6] and current[5] in _BLANKS:
            if not terse:
                out.append("")
            out.append(current)
            indent = step
        elif current.endswith(":") and "=" not in current:
            if not terse:
                out.append("")
            out.append(" " * step + current)
            indent = 2 * step
        elif hide_secrets and current.startswith("hide") and current[4:5] in _BLANKS and current[4:5]:
            name, equals, _ = current.partition("=")
            out.append(" " * indent + (f"{name}= {HIDDEN}" if equals else HIDDEN))
        elif hide_secrets:
            secret = redact_line(current, secret_macros)
            out.append(" " * indent + (secret.replace(REDACTED, HIDDEN) if secret != current else current))
        else:
            out.append(" " * indent + current)
    return "\n".join(out) + "\n"


def _collapse(text: str) -> str:
    """Blanks as exim's ``print_config`` (4.97 and later) leaves them.

    It keeps runs of spaces, turns a tab that follows a non-blank character
    into a space and keeps any other tab; trailing blanks are gone. Measured
    on exim 4.100 (4.96 folded every run of blanks to one space).
    """
    out = []
    previous = ""
    for char in text.rstrip(_BLANKS):
        out.append(" " if char == "\t" and previous and previous not in _BLANKS else char)
        previous = char
    return "".join(out)
