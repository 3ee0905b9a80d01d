"""The line pre-lexer: physical lines in, exim's logical lines out.

exim does all textual work before it parses a statement (readconf.c,
``get_config_line``): macro substitution on each physical line, comment lines
(recognised *after* substitution), ``.ifdef`` and friends, ``.include``,
backslash continuations, and ``begin`` section switches.  Macro definitions take
effect as soon as their logical line is complete, so they are handled here too.
Doing it in the same order as exim is the only way to read hand-grown files the
way exim does; every quirk below is exim's, with the spec chapter noted.

Each logical line keeps a map from its characters back to the file, line and
column the user typed them at, through continuations, includes and macro
replacements, so that every later diagnostic can point at the user's text.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn, TypedDict

from migrate import rules
from migrate.errors import ConfigError, Diagnostic, Span
from migrate.reader.tree import Directive
from migrate.rules import Rule

SPACE = " \t\n\r\f\v"
# exim adds an "s" to the name after ``begin`` and looks it up caselessly.
SECTION_NAMES = {
    "acls": "acl",
    "authenticators": "authenticators",
    "local_scans": "local_scan",
    "retrys": "retry",
    "rewrites": "rewrite",
    "routers": "routers",
    "transports": "transports",
}
SECTIONS = tuple(SECTION_NAMES)
# exim keeps a stack of ten conditional states (CSTATE_STACK_SIZE).
MAX_CONDITIONAL_DEPTH = 10
# exim has no bound; we stop runaway include chains long before the fd limit.
MAX_INCLUDE_DEPTH = 32
MAX_MACRO_NAME = 63
_UPPER = re.compile(r"[A-Z]|_[A-Z]")
_NAME_CHARS = re.compile(r"[A-Za-z0-9_]*")
_NAME_RUN = re.compile(r"[A-Za-z0-9_]+")
_SPACES = re.compile(r"[ \t\n\r\f\v]*")  # SPACE
# Up to this many macros exim's own way (try each on the line) is the fastest.
_FEW_MACROS = 48
_DIRECTIVES = ("ifdef", "ifndef", "elifdef", "elifndef", "else", "endif")
# Transitions of exim's three conditional states; columns: .ifdef-like true,
# .ifdef-like false, .elifdef-like true (or .else), .elifdef-like false.
_NEXT_STATE = ((0, 1, 2, 2), (2, 2, 0, 1), (2, 2, 2, 2))
_DIRECTIVE_ACTIONS = {  # name: (action if a macro matched, action if not, push/pop)
    "ifdef": (0, 1, 1),
    "ifndef": (1, 0, 1),
    "elifdef": (2, 3, 0),
    "elifndef": (3, 2, 0),
    "else": (2, 2, 0),
    "endif": (0, 0, -1),
}


@dataclass(frozen=True, slots=True)
class Macro:
    """A macro as exim holds it: definition order decides substitution order."""

    name: str
    value: str
    builtin: bool = False
    command_line: bool = False


@dataclass(frozen=True, slots=True)
class Segment:
    """One physical line's share of a logical line."""

    start: int  # offset in the logical text where this piece begins
    file: str
    line: int
    col: int  # 1-based column of the piece's first character
    colmap: tuple[int, ...] | None = None  # per-character columns after macro replacement


@dataclass(frozen=True, slots=True)
class LogicalLine:
    """A statement's text as exim sees it, with the way back to the user's lines."""

    text: str
    section: str
    segments: tuple[Segment, ...]
    source: str
    macros: tuple[str, ...] = ()

    def locate(self, offset: int) -> tuple[str, int, int]:
        """Map an offset in ``text`` to the file, line and column the user typed it at."""
        seg = self.segments[0]
        for candidate in self.segments:
            if candidate.start > offset:
                break
            seg = candidate
        rel = offset - seg.start
        if seg.colmap is not None:
            if not seg.colmap:
                return seg.file, seg.line, seg.col
            return seg.file, seg.line, seg.colmap[min(max(rel, 0), len(seg.colmap) - 1)]
        return seg.file, seg.line, seg.col + max(rel, 0)

    def span(self, start: int = 0, end: int | None = None) -> Span:
        """Return the span of ``text[start:end]`` (the whole line by default)."""
        end = len(self.text) if end is None else end
        segments = self.segments
        if len(segments) == 1 and segments[0].colmap is None:  # most statements: one line, no macro in it
            seg = segments[0]  # as locate() finds it for both ends
            last = max(end - 1, start)
            return Span(
                seg.file, seg.line, seg.col + max(start - seg.start, 0), seg.line, seg.col + max(last - seg.start, 0)
            )
        file, line, col = self.locate(start)
        end_file, end_line, end_col = self.locate(max(end - 1, start))
        if end_file != file:
            end_line, end_col = line, col
        return Span(file, line, col, end_line, end_col)


@dataclass(frozen=True, slots=True)
class PositionMarker:
    """A ``# LINE "FILE"`` line of ``exim -bP config``: where reading moved to."""

    file: str
    line: int


@dataclass(frozen=True)
class GeneratedFile:
    """A configuration that exists only in memory, such as what update-exim4.conf would write.

    ``origins`` gives, per line, the file and line it was copied from (None for
    text the generator made up), so that every statement still points at the
    admin's own file. ``originals`` holds those files' lines for diagnostics.
    """

    lines: tuple[str, ...]
    origins: tuple[tuple[str, int] | None, ...]
    originals: dict[str, list[str]]


@dataclass
class _OpenFile:
    name: str
    real: str
    lines: list[str]
    index: int = 0
    origins: tuple[tuple[str, int] | None, ...] | None = None

    def origin(self, number: int) -> tuple[str, int]:
        """Where line ``number`` of this file came from: itself unless it was generated."""
        if self.origins is not None and self.origins[number - 1] is not None:
            return self.origins[number - 1]  # type: ignore[return-value]
        return self.name, number


STDIN = "<stdin>"  # how findings name a configuration read from standard input ("-")


@dataclass
class PreLexer:
    """Reads one exim configuration the way exim's ``get_config_line`` does."""

    path: str
    defines: dict[str, str] = field(default_factory=dict)
    builtin_macros: dict[str, str] | None = None
    lines: list[LogicalLine] = field(default_factory=list)
    directives: list[Directive] = field(default_factory=list)
    timeline: list[LogicalLine | PositionMarker] = field(default_factory=list)
    macro_definitions: list[tuple[LogicalLine, Macro, str]] = field(default_factory=list)
    files: dict[str, list[str]] = field(default_factory=dict)
    line_kinds: dict[str, list[str]] = field(default_factory=dict)
    generated: dict[str, GeneratedFile] = field(default_factory=dict)
    stdin: bytes | None = None  # the configuration's bytes when it came on standard input (``path`` is STDIN)
    root: str | None = None  # absolute .include paths are read under here, and never outside it

    def __post_init__(self) -> None:
        self._builtins = _exim_builtin_macros() if self.builtin_macros is None else _Builtins(self.builtin_macros)
        self._builtin_order = self._builtins.order
        self._user = [Macro(n, v, command_line=True) for n, v in self.defines.items()]
        self._user_index = {m.name: index for index, m in enumerate(self._user)}
        # The user macros by the first two characters of their names: a line holding none of
        # those pairs holds no user macro. Names start with A-Z and are longer than one letter
        # in any real configuration; otherwise (-D through the API) every macro is tried, as exim does.
        self._heads: dict[str, list[int]] = {}
        for index, macro in enumerate(self._user):
            self._heads.setdefault(macro.name[:2], []).append(index)
        self._heads_exact = all(len(m.name) > 1 and "A" <= m.name[0] <= "Z" for m in self._user)
        self._stack: list[_OpenFile] = []
        self._cstate = 0
        self._cstack: list[tuple[int, Directive]] = []
        self._section = "main"
        self._seen_sections: set[str] = set()

    # -- public -------------------------------------------------------------

    def run(self) -> list[LogicalLine]:
        """Read the whole configuration; raise ConfigError at exim's first fatal error."""
        self._open(self.path, None, None)
        while (line := self._logical_line()) is not None:
            self._handle(line)
        return self.lines

    # -- files --------------------------------------------------------------

    def _open(self, name: str, where: LogicalLine | None, raw: Segment | None) -> None:
        real = os.path.realpath(name)
        if any(f.real == real for f in self._stack):
            chain = " -> ".join(f.name for f in self._stack) + f" -> {name}"
            self._fail_at(raw, f"include loop: {chain}", rules.READ_INCLUDE_LOOP)
        if len(self._stack) >= MAX_INCLUDE_DEPTH:
            self._fail_at(raw, f".include nested deeper than {MAX_INCLUDE_DEPTH} files", rules.READ_INCLUDE_DEPTH)
        made = self.generated.get(name)
        if made is not None:
            self.files[name] = list(made.lines)
            for original, lines in made.originals.items():
                self.files.setdefault(original, lines)
                self.line_kinds.setdefault(original, ["blank"] * len(lines))
            self._stack.append(_OpenFile(name, name, list(made.lines), origins=made.origins))
        else:
            self._stack.append(_OpenFile(name, real, self._read_lines(name, raw)))
        self.line_kinds.setdefault(name, ["blank"] * len(self.files[name]))

    def _read_lines(self, name: str, raw: Segment | None) -> list[str]:
        what = "included configuration file" if raw else "configuration file"
        path = Path(name)
        try:
            if path.is_dir():
                self._fail_at(raw, f"{what} {name} is a directory, not a file", rules.READ_FILE, name)
            data = self.stdin if self.stdin is not None and name == STDIN else path.read_bytes()
        except OSError as exc:
            reason = exc.strerror or str(exc)
            self._fail_at(raw, f"failed to open {what} {name}: {reason}", rules.READ_FILE, name)
        kind = _not_text(data)
        if kind:  # blamed on the file itself, included or not, as exim does
            self._fail_at(None, f"this is {kind}", rules.READ_BINARY, name)
        text = data.decode("utf-8", errors="surrogateescape")
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        self.files[name] = lines
        for number, line in enumerate(lines, 1):
            if "\x00" in line:
                col = line.index("\x00") + 1
                span = Span(name, number, col, number, col)
                if _binary(line):  # exim refuses these at their first line; showing the bytes helps no one
                    message = "binary data (a NUL byte), not an exim configuration"
                    raise ConfigError(Diagnostic(span, "error", rules.READ_BINARY, message))
                raise ConfigError(
                    Diagnostic(
                        span,
                        "error",
                        rules.READ_BINARY,
                        "NUL byte in configuration line (binary data?); exim would silently cut the line here",
                        line.replace("\x00", "\\0"),
                    )
                )
        return lines

    def _next_physical(self) -> tuple[_OpenFile, int, str] | None:
        while self._stack:
            current = self._stack[-1]
            if current.index < len(current.lines):
                current.index += 1
                if current.index == 1:
                    self.timeline.append(PositionMarker(current.name, 1))
                return current, current.index, current.lines[current.index - 1]
            self._stack.pop()
            if self._stack:
                parent = self._stack[-1]
                self.timeline.append(PositionMarker(parent.name, parent.index))
        return None

    # -- logical lines ------------------------------------------------------

    def _logical_line(self) -> LogicalLine | None:
        # Pieces are joined once at the end: a list of 100,000 items continued
        # over 10,000 lines must not be copied once per line.
        pieces: list[str] = []
        length = 0
        segments: list[Segment] = []
        sources: list[str] = []
        used: list[str] = []
        next_physical = self._next_physical
        while True:
            physical = next_physical()
            if physical is None:
                if self._cstack:
                    opened = self._cstack[-1][1]
                    raise ConfigError(
                        Diagnostic(
                            opened.span,
                            "error",
                            rules.READ_ENDIF_MISSING,
                            f"unexpected end of configuration file: .endif missing for this .{opened.kind}",
                            self.physical_text(opened.span.file, opened.span.line),
                        )
                    )
                break
            current, physical_number, raw = physical
            start = _skip_space(raw, 0)
            if start == len(raw):
                continue  # blank: no macro can be in it
            file, number = current.origin(physical_number)
            kinds = self.line_kinds[file]
            piece, colmap, found, names = self._substitute(raw, start, at_line_start=not length)
            if names:
                used.extend(names)
            lead = start if piece is raw else _skip_space(piece, 0)  # no macro: the same line
            if lead >= len(piece):
                continue  # emptied by a macro
            if piece[lead] == "#":
                kinds[number - 1] = "comment"
                continue
            seg_col = colmap[lead] if colmap else lead + 1
            if piece[lead] == "." and self._directive(file, number, raw, piece, lead, seg_col, found):
                continue
            if self._cstate != 0:
                kinds[number - 1] = "skipped"
                continue
            if piece[lead] == "." and self._include(current, file, number, piece, lead, seg_col):
                continue
            kinds[number - 1] = "statement"
            body = piece[lead:].rstrip(SPACE)
            sources.append(raw.strip(SPACE))
            segments.append(
                Segment(length, file, number, seg_col, tuple(colmap[lead : lead + len(body)]) if colmap else None)
            )
            # body is not blank and ends in a non-blank, so the line so far needs no stripping
            pieces.append(body)
            length += len(body)
            if not body.endswith("\\"):
                break
            pieces[-1] = body[:-1]
            length -= 1
        text = "".join(pieces)
        if not text:
            return None
        return LogicalLine(text, self._section, tuple(segments), "\n".join(sources), tuple(dict.fromkeys(used)))

    def _substitute(
        self, raw: str, start: int, *, at_line_start: bool
    ) -> tuple[str, list[int] | None, bool, list[str]]:
        """Apply macros to one physical line exactly as exim orders them."""
        scan_from = start
        if at_line_start and raw[start : start + 1].isupper() and raw[start].isascii():
            end = _name_end(raw, start)
            after = _skip_space(raw, end)
            if raw[after : after + 1] == "=":
                scan_from = after  # a macro definition: its name is not replaced
        first = _UPPER.search(raw, scan_from)
        if first is None:
            return raw, None, False, []
        with_builtins = raw[first.start()] == "_"
        if not with_builtins and self._heads_exact and len(self._user) <= _FEW_MACROS:
            return self._substitute_user(raw, first.start())
        text = raw
        colmap: list[int] | None = None
        names: list[str] = []
        for macro in self._in_order(text, first.start(), with_builtins):
            text, colmap, count = _replace_each(text, colmap, len(raw), macro, first.start())
            if not macro.builtin:
                names += [macro.name] * count
        return text, colmap, colmap is not None, names

    def _substitute_user(self, raw: str, start: int) -> tuple[str, list[int] | None, bool, list[str]]:
        """The user macros alone, in definition order, as exim tries them; but only those whose name can occur.

        A macro is tried when the first two characters of its name occur from
        ``start``; after a replacement the new text is looked at again for the
        later macros (a value may bring in their names).
        """
        text = raw
        colmap: list[int] | None = None
        names: list[str] = []
        candidates = self._candidates(text, start, -1)
        while candidates:
            index = candidates.pop(0)
            macro = self._user[index]
            text, colmap, count = _replace_each(text, colmap, len(raw), macro, start)
            if not count:
                continue
            names += [macro.name] * count
            candidates = self._candidates(text, start, index)
        return text, colmap, colmap is not None, names

    def _candidates(self, text: str, start: int, after: int) -> list[int]:
        """The user macros after ``after`` (in definition order) whose names may occur in ``text`` from ``start``."""
        found = [
            i for head, indices in self._heads.items() if text.find(head, start) >= 0 for i in indices if i > after
        ]
        return sorted(found) if found else found

    def _in_order(self, text: str, start: int, with_builtins: bool) -> Iterator[Macro]:
        """The macros to apply to a line, in exim's order (builtins first, then definitions).

        exim tries every macro on every line. With many macros we try only those
        whose names occur in the line, looking again after each replacement
        (a value may bring in the name of a later macro), which keeps reading
        linear in the number of macros; the result is the same.
        """
        offset = len(self._builtins) if with_builtins else 0
        if offset + len(self._user) <= _FEW_MACROS:
            yield from [*self._builtins, *self._user] if with_builtins else self._user
            return
        applied = -1
        while True:
            found = self._first_present(text, start, applied, with_builtins)
            if found is None:
                return
            applied = found
            macro = self._builtins[found] if found < offset else self._user[found - offset]
            yield macro
            text = text[:start] + text[start:].replace(macro.name, macro.value)

    def _first_present(self, text: str, start: int, after: int, with_builtins: bool) -> int | None:
        """The position (in exim's order) of the first macro after ``after`` whose name is in the text."""
        offset = len(self._builtins) if with_builtins else 0
        best: int | None = None
        for run in _NAME_RUN.finditer(text, start):
            word = run.group()
            for i, char in enumerate(word):
                if not (char.isupper() or char == "_"):
                    continue
                for j in range(i + 1, min(len(word), i + MAX_MACRO_NAME) + 1):
                    piece = word[i:j]
                    if char == "_":
                        index = self._builtin_order.get(piece) if with_builtins else None
                    else:
                        user = self._user_index.get(piece)
                        index = None if user is None else user + offset
                    if index is not None and index > after and (best is None or index < best):
                        best = index
        return best

    # -- directives ---------------------------------------------------------

    def _directive(self, file: str, number: int, raw: str, piece: str, lead: int, col: int, found: bool) -> bool:
        """Handle ``.ifdef``-family lines; return True when the line was one."""
        word = piece[lead + 1 :]
        for name in _DIRECTIVES:
            if not word.startswith(name):
                continue
            follow = word[len(name) : len(name) + 1]
            span = Span(file, number, col, number, col + len(name))
            self.line_kinds[file][number - 1] = "directive"
            # exim 4.96 checks for ' ' (and a literal 't'), so a tab or any
            # other character makes it skip the whole line without a word.
            if follow not in ("", " ", "\n", "t"):
                raise ConfigError(
                    Diagnostic(
                        span,
                        "error",
                        rules.READ_DIRECTIVE,
                        f"'.{name}' must be followed by a space; exim silently ignores this line",
                        raw,
                    )
                )
            action_true, action_false, pushpop = _DIRECTIVE_ACTIONS[name]
            action = action_true if found else action_false
            # The argument as the user wrote it, not after substitution.
            argument = raw.strip(SPACE)[1 + len(name) :].strip(SPACE)
            if pushpop > 0:
                if len(self._cstack) >= MAX_CONDITIONAL_DEPTH:
                    raise ConfigError(
                        Diagnostic(
                            span,
                            "error",
                            rules.READ_NESTING,
                            f".{name} nested too deeply (exim allows {MAX_CONDITIONAL_DEPTH} levels)",
                            raw,
                        )
                    )
                outer = self._cstate
                self._cstate = _NEXT_STATE[outer][action]
                directive = Directive(span, name, argument, outer == 0, self._cstate == 0)
                self._cstack.append((outer, directive))
            else:
                if not self._cstack:
                    raise ConfigError(
                        Diagnostic(span, "error", rules.READ_ENDIF, f".{name} without matching .ifdef", raw)
                    )
                if pushpop < 0:
                    outer, _ = self._cstack.pop()
                    self._cstate = outer
                    directive = Directive(span, name, argument, True, None)
                else:
                    outer = self._cstack[-1][0]
                    self._cstate = _NEXT_STATE[self._cstate][action]
                    directive = Directive(span, name, argument, outer == 0, self._cstate == 0)
            self.directives.append(directive)
            return True
        return False

    def _include(self, current: _OpenFile, file: str, number: int, piece: str, lead: int, col: int) -> bool:
        """Handle ``.include`` and ``.include_if_exists``; return True when the line was one."""
        rest = piece[lead:]
        if rest.startswith(".include_if_exists") and rest[18:19] and rest[18] in SPACE:
            optional, offset = True, 18
        elif rest.startswith(".include") and rest[8:9] and rest[8] in SPACE:
            optional, offset = False, 8
        else:
            return False
        target = rest[offset:].strip(SPACE)
        if len(target) >= 2 and target[0] == '"' and target[-1] == '"':
            target = target[1:-1]
        span = Span(file, number, col, number, col + len(rest.rstrip(SPACE)) - 1)
        self.line_kinds[file][number - 1] = "directive"
        kind = "include_if_exists" if optional else "include"
        if not target:
            raise ConfigError(
                Diagnostic(
                    span, "error", rules.READ_INCLUDE, f".{kind} names no file", self.physical_text(file, number)
                )
            )
        if optional and not target.startswith("/"):
            raise ConfigError(
                Diagnostic(
                    span,
                    "error",
                    rules.READ_INCLUDE,
                    f'.include specifies a non-absolute path "{target}" (exim requires one for .include_if_exists)',
                    self.physical_text(file, number),
                )
            )
        resolved = target if target.startswith("/") else os.path.join(os.path.dirname(file), target)
        if self.root is not None:
            resolved = self._under_root(target if target.startswith("/") else resolved, target, span, kind)
        if optional and not os.path.exists(resolved):
            self.directives.append(Directive(span, kind, target, True, False))
            return True
        self.directives.append(Directive(span, kind, target, True, True))
        self.timeline.append(PositionMarker(current.name, current.index))
        self._open(resolved, None, Segment(0, file, number, col))
        return True

    def _under_root(self, path: str, written: str, span: Span, kind: str) -> str:
        """An include as it lies under --root; refused when it (or a symlink in it) leads out.

        An absolute name is the server's path, read under --root; a relative one
        is already joined to its including file's directory and must stay inside.
        """
        from migrate.lookups import OutsideRoot, under

        try:
            return str(under(Path(self.root or "/"), path)) if written.startswith("/") else self._inside(path)
        except OutsideRoot as exc:
            raise ConfigError(
                Diagnostic(
                    span, "error", rules.READ_INCLUDE_ROOT, f".{kind}: {exc}", self.physical_text(span.file, span.line)
                )
            ) from None

    def _inside(self, target: str) -> str:
        """A relative include (already joined to its file's directory) stays under --root, or beside
        the configuration given on the command line (which may live outside the copy of the server)."""
        from migrate.lookups import OutsideRoot, within

        real = os.path.realpath(target)
        bases = (os.path.realpath(self.root or "/"), os.path.dirname(os.path.realpath(self.path)))
        if not any(within(real, base) for base in bases):
            raise OutsideRoot(f"{target} leads outside --root {self.root} (to {real})")
        return target

    # -- statements that change the reader's state --------------------------

    def _handle(self, line: LogicalLine) -> None:
        self.timeline.append(line)
        text = line.text
        if text[:6].lower() == "begin ":
            self._begin(line)
            return
        if self._is_macro_definition(text):
            self._define(line)
        self.lines.append(line)

    def _begin(self, line: LogicalLine) -> None:
        name = line.text[6:].strip(SPACE)
        plural = name if name[-1:].lower() == "s" else name + "s"
        if plural.lower() not in SECTIONS:
            self._fail(
                line,
                f'"{name}" is not a known configuration section name',
                rules.READ_SECTION,
                notes=["known sections: acl, authenticators, local_scan, retry, rewrite, routers, transports"],
            )
        key = plural.lower()
        if key in self._seen_sections:
            self._fail(line, f'"{plural}" section is repeated in the configuration file', rules.READ_SECTION)
        self._seen_sections.add(key)
        self._section = SECTION_NAMES[key]
        self.lines.append(LogicalLine(line.text, "begin", line.segments, line.source, line.macros))

    def _is_macro_definition(self, text: str) -> bool:
        """exim's rule for which lines define macros differs per section."""
        if not text[0].isupper() or not text[0].isascii():
            return False
        if self._section == "main":
            return True
        if self._section in ("acl", "routers", "transports", "authenticators"):
            end = _name_end(text)
            return text[_skip_space(text, end) :][:1] == "="
        return False

    def _define(self, line: LogicalLine) -> None:
        text = line.text
        end = _name_end(text)
        name = text[:end]
        pos = _skip_space(text, end)
        if text[pos : pos + 1] != "=":
            self._fail(line, "malformed macro definition: expected NAME = value", rules.READ_MACRO, at=pos)
        if len(name) > MAX_MACRO_NAME:
            self._fail(line, f"macro name too long (maximum is {MAX_MACRO_NAME} characters)", rules.READ_MACRO)
        redefine = text[pos + 1 : pos + 2] == "="
        value = text[_skip_space(text, pos + (2 if redefine else 1)) :]
        existing = None
        clash = self._builtin_inside(name)
        if clash is not None:
            self._fail(
                line,
                f'"{name}" cannot be defined as a macro because previously defined macro "{clash}" is a substring',
                rules.READ_MACRO,
            )
        # exim scans the macros in order and stops at the first that is this name
        # or inside it; a dict of positions finds the same one without the scan.
        position = self._user_index.get(name, len(self._user))
        if position <= _FEW_MACROS:  # few macros before it: ask each of them, in order
            inside = [
                m.name
                for m in self._user[:position]
                if len(m.name) < len(name) and m.name[:1].isupper() and m.name in name
            ][:1]
        else:
            inside = [
                name[start:end]
                for start in range(len(name))
                if name[start].isupper()
                for end in range(start + 1, len(name) + 1)
                if end - start < len(name) and self._user_index.get(name[start:end], position) < position
            ]
        if inside:
            first = min(inside, key=self._user_index.__getitem__)
            self._fail(
                line,
                f'"{name}" cannot be defined as a macro because previously defined macro "{first}" is a substring',
                rules.READ_MACRO,
            )
        if name in self._user_index:
            existing = self._user[self._user_index[name]]
        if existing is not None and not existing.command_line and not redefine:
            self._fail(
                line, f'macro "{name}" is already defined (use "==" if you want to redefine it)', rules.READ_MACRO
            )
        if existing is not None and existing.command_line:
            self.macro_definitions.append((line, Macro(name, value), "overridden"))
            return
        if redefine:
            if existing is None:
                self._fail(line, f'can\'t redefine an undefined macro "{name}"', rules.READ_MACRO)
            index = self._user_index[name]
            self._user[index] = Macro(name, value)
            self.macro_definitions.append((line, self._user[index], "redefined"))
            return
        macro = Macro(name, value)
        self._user_index[name] = len(self._user)
        self._user.append(macro)
        self._heads.setdefault(name[:2], []).append(self._user_index[name])
        self._heads_exact = self._heads_exact and len(name) > 1
        self.macro_definitions.append((line, macro, "defined"))

    def _builtin_inside(self, name: str) -> str | None:
        """The first builtin macro (in exim's scan order) whose name is inside ``name``.

        Builtins all start with "_" and user macros with a capital, so only the
        pieces of ``name`` starting at an underscore can be one: a few set
        lookups instead of a scan of several hundred names per definition.
        """
        found = [
            name[start:end]
            for start in range(len(name))
            if name[start] == "_"
            for end in range(start + 2, len(name) + 1)
            if name[start:end] in self._builtin_order
        ]
        return min(found, key=self._builtin_order.__getitem__) if found else None

    # -- errors -------------------------------------------------------------

    def physical_text(self, file: str, line: int) -> str:
        lines = self.files.get(file, [])
        return lines[line - 1] if 0 < line <= len(lines) else ""

    def _fail(
        self, line: LogicalLine, message: str, rule: Rule, *, at: int = 0, notes: list[str] | None = None
    ) -> NoReturn:
        span = line.span(at)
        raise ConfigError(
            Diagnostic(span, "error", rule, message, self.physical_text(span.file, span.line)), notes or []
        )

    def _fail_at(self, where: Segment | None, message: str, rule: Rule, file: str | None = None) -> NoReturn:
        if where is None:
            span = Span(file or self.path, 0, 0, 0, 0)
            raise ConfigError(Diagnostic(span, "error", rule, message))
        span = Span(where.file, where.line, where.col, where.line, where.col)
        raise ConfigError(Diagnostic(span, "error", rule, message, self.physical_text(where.file, where.line)))

    @property
    def macros(self) -> list[Macro]:
        """The user macros in force at the end of the file, in definition order."""
        return list(self._user)


# Files given where a configuration belongs that are none: what they are, what to do.
# exim refuses each at its first line ("option setting expected" and the like).
_NOT_TEXT = (
    (re.compile(rb"\x1f\x8b"), "gzip-compressed data, not an exim configuration (gunzip it first)"),
    (
        re.compile(rb"BZh[1-9](?:1AY&SY|\x17rE8P\x90)"),
        "bzip2-compressed data, not an exim configuration (bunzip2 it first)",
    ),
    (re.compile(rb"\xfd7zXZ\x00"), "xz-compressed data, not an exim configuration (unxz it first)"),
    (re.compile(rb"\x28\xb5\x2f\xfd"), "zstd-compressed data, not an exim configuration (unzstd it first)"),
    (
        re.compile(rb"\xff\xfe|\xfe\xff|(?:[^\x00]\x00){4}|(?:\x00[^\x00]){4}"),
        "UTF-16 text, not an exim configuration (convert it to UTF-8 first: iconv -f UTF-16 -t UTF-8)",
    ),
    (re.compile(rb"\xef\xbb\xbf"), "text behind a UTF-8 byte order mark, which exim refuses (remove the mark first)"),
)
_CONTROL = re.compile(r"[\x01-\x08\x0e-\x1f\x7f]")


def _not_text(data: bytes) -> str | None:
    """What a compressed or UTF-16 file is and how to make it text; None for anything else."""
    return next((kind for magic, kind in _NOT_TEXT if magic.match(data)), None)


def _binary(line: str) -> bool:
    """Whether a line with a NUL byte is binary data rather than a text line with one stray NUL."""
    return line.count("\x00") > 1 or _CONTROL.search(line) is not None


def _name_end(text: str, pos: int = 0) -> int:
    """Where the run of macro-name characters from ``pos`` ends."""
    match = _NAME_CHARS.match(text, pos)
    assert match is not None  # the pattern matches the empty string
    return match.end()


def _skip_space(text: str, pos: int) -> int:
    match = _SPACES.match(text, pos)
    assert match is not None  # the pattern matches the empty string
    return match.end()


class _Builtins:
    """Builtin macros in exim's scan order (``order``: each name's place), made into Macros as lines use them.

    exim has over a thousand and a line rarely names one: most are never made.
    """

    def __init__(self, builtins: dict[str, str]) -> None:
        # exim prepends builtins in alphabetical order, so they scan reverse-sorted.
        self._names = sorted(builtins, reverse=True)
        self._values = builtins
        self._made: dict[int, Macro] = {}
        self.order = {name: index for index, name in enumerate(self._names)}

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, index: int) -> Macro:
        macro = self._made.get(index)
        if macro is None:
            name = self._names[index]
            macro = self._made[index] = Macro(name, self._values[name], builtin=True)
        return macro

    def __iter__(self) -> Iterator[Macro]:
        return (self[index] for index in range(len(self._names)))


@functools.cache
def _exim_builtin_macros() -> _Builtins:
    """exim's own builtin macros, once per process (no reader changes them)."""
    return _Builtins(load_builtin_macros())


def load_builtin_macros() -> dict[str, str]:
    """exim's built-in macros (4.100, the oracle's), recorded by tools/gen_exim_builtins.py."""
    return exim_builtins()["macros"]


class EximBuiltins(TypedDict):
    """The shape of ``exim_builtins.json`` (written by tools/gen_exim_builtins.py)."""

    exim_version: str
    macros: dict[str, str]
    main_options: list[str]
    main_boolean_options: list[str]
    main_typed_options: list[str]
    acl_conditions: list[str]
    acl_modifiers: list[str]
    # by driver kind (router, transport, authenticator), then by driver name
    driver_generic_options: dict[str, list[str]]
    driver_private_options: dict[str, dict[str, list[str]]]
    driver_boolean_options: dict[str, dict[str, list[str]]]
    driver_typed_options: dict[str, dict[str, list[str]]]


_BUILTINS: EximBuiltins | None = None


def exim_builtins() -> EximBuiltins:
    """Load the recorded facts about the exim build we mirror (cached)."""
    global _BUILTINS
    if _BUILTINS is None:
        beside = Path(__file__).with_name("exim_builtins.json")
        if beside.is_file():
            data = beside.read_text()
        else:  # installed where it is not a file (a zip): importlib.resources, which is slower to load
            from importlib import resources

            data = resources.files("migrate.reader").joinpath("exim_builtins.json").read_text()
        _BUILTINS = json.loads(data)
    return _BUILTINS


def iter_statements(lines: list[LogicalLine]) -> Iterator[LogicalLine]:
    """Yield the logical lines that are statements (not ``begin`` lines)."""
    return (line for line in lines if line.section != "begin")


def _replace_each(
    text: str, colmap: list[int] | None, raw_length: int, macro: Macro, start: int
) -> tuple[str, list[int] | None, int]:
    """Every occurrence of ``macro`` from ``start`` replaced, as exim does, its columns mapped to the name's."""
    count = 0
    pos = text.find(macro.name, start)
    while pos >= 0:
        if colmap is None:
            colmap = list(range(1, len(text) + 1))
        anchor = colmap[pos] if pos < len(colmap) else raw_length
        text = text[:pos] + macro.value + text[pos + len(macro.name) :]
        colmap[pos : pos + len(macro.name)] = [anchor] * len(macro.value)
        count += 1
        pos = text.find(macro.name, pos + len(macro.value))
    return text, colmap, count
