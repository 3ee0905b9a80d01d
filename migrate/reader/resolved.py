"""The configuration as exim resolved it, in the layout of ``exim -bP config``.

This is the reader's oracle: macros substituted, ``.ifdef`` resolved, includes
inlined and continuations joined, printed the way exim's ``print_config`` does
(runs of blanks collapsed until a quote or ``$``, blocks indented, position
markers where reading moved between files).  A test compares it byte for byte
with what the real exim prints for the same file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from migrate.reader.source import LogicalLine, PositionMarker

_BLANKS = " \t\n\r\f\v"


def resolved_lines(timeline: Iterable[LogicalLine | PositionMarker]) -> Iterator[str]:
    """Yield the saved config lines in reading order (before exim's formatting)."""
    for entry in timeline:
        if isinstance(entry, PositionMarker):
            yield f'# {entry.line} "{entry.file}"'
        else:
            yield entry.text


def format_like_exim(lines: Iterable[str], version: str = "4.96", *, terse: bool = False) -> str:
    """Lay out resolved lines exactly as ``exim -bP config`` prints them (as admin)."""
    step = 0 if terse else 2
    indent = 0
    out = [f"# Exim Configuration ({version})"]
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
        else:
            out.append(" " * indent + current)
    return "\n".join(out) + "\n"


def _collapse(text: str) -> str:
    """Fold each run of blanks to one space, stopping before a quote or ``$``."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch not in _BLANKS:
            out.append(ch)
            i += 1
            continue
        j = i
        while j < n and text[j] in _BLANKS:
            j += 1
        out.append(" ")
        if j < n and text[j] in "\"'$":
            out.append(text[j:])
            return "".join(out)
        i = j
    return "".join(out)
