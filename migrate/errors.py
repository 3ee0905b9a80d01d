"""Source locations, diagnostics and the exception family shared by all stages.

Diagnostics are values (collected, sorted, reported); exceptions are kept for
the one case where a stage cannot go on.  Every message names a place in the
user's own files, because an admin fixing a 20-year-old config needs the line,
not our internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migrate.redact import redact_line, redact_text
from migrate.rules import Rule


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A region of one source file; lines and columns are 1-based, end inclusive."""

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def __str__(self) -> str:
        if self.line == 0:  # the file as a whole: missing, unreadable, empty
            return self.file
        return f"{self.file}:{self.line}:{self.col}"

    def to_dict(self) -> dict[str, object]:
        """Return the JSON form used by ``parse --json`` and the reports."""
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "end_line": self.end_line,
            "end_col": self.end_col,
        }


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding about the input, located in the user's file: from the reader, the mapping or the report.

    ``severity`` is the reader's ``error``/``warning``/``info`` or the mapping's
    bucket (``mapped``, ``approximated``, ``unmapped``, ``ignored``). ``source``
    is the user's own text: the physical line for a reader error (shown under a
    caret), the statement for a mapping finding.
    """

    span: Span
    severity: str
    rule: Rule
    message: str
    source: str = ""
    advice: str = ""
    # Set by the report for the row of one statement:
    option: str = ""  # the option, verb or list kind as the user spelled it
    section: str = ""
    targets: tuple[str, ...] = ()  # FILE:LINE of the output lines produced for it
    parent: Span | None = None  # the ACL statement or driver this is part of

    def format(self) -> str:
        """Render as ``FILE:LINE:COL: severity: message`` plus the line and a caret."""
        text = f"{self.span}: {self.severity}: {redact_text(self.message)}"
        if self.source:
            text += "\n" + caret_lines(redact_line(self.source), self.span.col)
        return text

    def line(self) -> str:
        """``FILE:LINE:COL: bucket[RULE] message``: the one-line form of the text report."""
        return f"{self.span}: {self.severity}[{self.rule.id}] {redact_text(self.message)}"

    def to_dict(self) -> dict[str, object]:
        """Return the JSON form of the finding."""
        return {
            "rule": self.rule.id,
            "severity": self.severity,
            "message": redact_text(self.message),
            "advice": self.advice,
            **self.span.to_dict(),
        }


def caret_lines(source_line: str, col: int, width: int = 200) -> str:
    """Show a source line and a caret under column ``col``, keeping tabs aligned.

    At most ``width`` characters of the line are shown (around the caret when
    it lies beyond), "…" marking each cut end: a binary or minified file given
    by mistake must not fill the terminal with one "line".
    """
    line = source_line.rstrip("\n")
    at = max(col - 1, 0)
    start = at - width // 2 if len(line) > width and at >= width else 0
    shown = line[start : start + width]
    head = "…" if start else ""
    tail = "…" if start + width < len(line) else ""
    pad = " " * len(head) + "".join("\t" if ch == "\t" else " " for ch in shown[: at - start])
    return f"    {head}{shown}{tail}\n    {pad}^"


def os_reason(exc: OSError) -> str:
    """The system's reason as part of a sentence: "permission denied", never "[Errno 13] ..."."""
    return (exc.strerror or str(exc) or type(exc).__name__).lower()


class MigrateError(Exception):
    """Base of every error this package raises on purpose."""


@dataclass
class ConfigError(MigrateError):
    """The input cannot be read: the one located error that stops a stage."""

    diagnostic: Diagnostic
    notes: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = self.diagnostic.format()
        for note in self.notes:
            text += f"\n{note}"
        return text
