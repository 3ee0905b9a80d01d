"""Parse exim expansion strings (``$var``, ``${item{...}}``) into a small tree.

Later stages must *recognise* expansions — an alias lookup in a redirect router,
a ``${if}`` on ``$received_port`` — but nothing here is ever evaluated: a
``${run}`` or ``${perl}`` is just a node with that name.

A hand-written scanner rather than a pyparsing grammar: exim's own expand.c is
a character scanner with backslash and ``\\N...\\N`` rules that do not fit a
token grammar, this one runs in linear time on hostile input, and it can say
exactly which ``${`` was never closed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

_NAME = re.compile(r"[A-Za-z0-9_]+")
_HEADER_PREFIX = re.compile(r"(?:b|l|r)?h(?:eader)?_|(?:b|l|r)?header_", re.ASCII)
_HEADER_NAME = re.compile(r"[^\s:{}]*:")
_PLAIN = re.compile(r"[^\\$}]+")  # text with no backslash, dollar or closing brace
# exim itself has no limit, but no real configuration nests this deep, and a
# bound keeps hostile input from exhausting Python's stack.
MAX_DEPTH = 100
# conditions whose argument is a brace of further conditions (and, or) or of strings (saslauthd)
_CONDITION_LISTS = ("and", "or", "saslauthd")


@dataclass(frozen=True, slots=True)
class Text:
    """Literal characters (escapes already interpreted)."""

    text: str
    offset: int


@dataclass(frozen=True, slots=True)
class Variable:
    """``$name`` or ``${name}``; header variables keep their trailing colon."""

    name: str
    offset: int


@dataclass(frozen=True, slots=True)
class Word:
    """A bare word between an item's arguments: a lookup type, ``fail``, ``eq``..."""

    text: str
    offset: int


@dataclass(frozen=True, slots=True)
class Group:
    """A brace-delimited argument ``{...}``, itself an expansion."""

    body: Expansion
    offset: int


@dataclass(frozen=True, slots=True)
class Item:
    """``${name ...}`` with its words and groups in order; lookups, ifs, run, perl."""

    name: str
    args: tuple[Word | Group, ...]
    offset: int

    def groups(self) -> list[Expansion]:
        """The brace arguments, in order."""
        return [a.body for a in self.args if isinstance(a, Group)]

    def words(self) -> list[str]:
        """The bare words, in order."""
        return [a.text for a in self.args if isinstance(a, Word)]


@dataclass(frozen=True, slots=True)
class Operator:
    """``${op:argument}`` such as ``${lc:$domain}``."""

    name: str
    arg: Expansion
    offset: int


@dataclass(frozen=True, slots=True)
class Opaque:
    """A string the reader cannot follow as an expansion (exim expands only when it uses a value).

    Kept whole, so that every step treats it as depending on an expansion, and
    reported where it matters; ``reason`` says what the reader could not follow.
    """

    text: str
    offset: int
    reason: str


Part = Text | Variable | Item | Operator | Group | Opaque


@dataclass(frozen=True, slots=True)
class Expansion:
    """A parsed string: literal text interleaved with expansion items."""

    parts: tuple[Part, ...]

    @property
    def is_literal(self) -> bool:
        """True when nothing in the string would be expanded."""
        return all(isinstance(p, Text) for p in self.parts)

    def literal(self) -> str | None:
        """The string's value when it is literal, else None."""
        return "".join(p.text for p in self.parts) if self.is_literal else None  # type: ignore[union-attr]

    @property
    def significant(self) -> tuple[Part, ...]:
        """The parts without blank text between them (``{ $auth3 }`` is ``$auth3``)."""
        return tuple(p for p in self.parts if not (isinstance(p, Text) and not p.text.strip()))

    @property
    def opaque(self) -> str | None:
        """Why the reader could not follow this string, or None when it could."""
        return next((p.reason for p in self.parts if isinstance(p, Opaque)), None)

    def walk(self) -> Iterator[Part]:
        """Every node of the tree, depth first."""
        for part in self.parts:
            yield part
            if isinstance(part, Item):
                for arg in part.args:
                    if isinstance(arg, Group):
                        yield from arg.body.walk()
            elif isinstance(part, Operator):
                yield from part.arg.walk()
            elif isinstance(part, Group):
                yield from part.body.walk()

    def items(self, name: str | None = None) -> list[Item]:
        """All items (optionally of one name) anywhere in the tree."""
        return [p for p in self.walk() if isinstance(p, Item) and (name is None or p.name == name)]

    def variables(self) -> list[str]:
        """Names of all variables referenced anywhere in the tree."""
        return [p.name for p in self.walk() if isinstance(p, Variable)]

    def lookups(self) -> list[Lookup]:
        """Every ``${lookup ...}`` item, decoded into key, type and source."""
        found = []
        for item in self.items("lookup"):
            lookup = Lookup.from_item(item)
            if lookup is not None:
                found.append(lookup)
        return found


@dataclass(frozen=True, slots=True)
class Lookup:
    """``${lookup{KEY}TYPE{SOURCE}{yes}{no}}`` or the query form without a key."""

    key: Expansion | None
    type: str
    source: Expansion
    results: tuple[Expansion | str, ...]

    @classmethod
    def from_item(cls, item: Item) -> Lookup | None:
        """Decode a ``lookup`` item; None when it is not shaped like one."""
        args = list(item.args)
        key = None
        if args and isinstance(args[0], Group):
            key = args.pop(0).body  # type: ignore[union-attr]
        if len(args) < 2 or not isinstance(args[0], Word) or not isinstance(args[1], Group):
            return None
        results: list[Expansion | str] = [a.body if isinstance(a, Group) else a.text for a in args[2:]]
        return cls(key, args[0].text, args[1].body, tuple(results))


class ExpansionSyntaxError(ValueError):
    """The string cannot be an exim expansion; ``offset`` points at the culprit."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


def opaque_expansion(text: str, error: ExpansionSyntaxError) -> Expansion:
    """The whole string as one part the reader could not follow."""
    return Expansion((Opaque(text, 0, f"{error} (at character {error.offset + 1})"),))


def parse_expansion(text: str) -> Expansion:
    """Parse a whole option value; raise ExpansionSyntaxError on unbalanced ``${``."""
    parser = _Parser(text)
    result = parser.sequence(0, closing=False)
    return result


def item_end(text: str, start: int) -> int:
    """One past the closing brace of the ``${...}`` at ``start``, by exim's rules (ExpansionSyntaxError if none)."""
    parser = _Parser(text)
    parser.braced(start)
    return parser.pos


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0

    def sequence(self, opened_at: int, *, closing: bool) -> Expansion:
        """Read parts up to an unescaped ``}`` (when ``closing``) or the end.

        As in exim, a ``{`` that does not open ``${`` is a plain character:
        an argument ends at the first unescaped ``}`` outside ``${...}``
        (``${lc:A{B}C}`` is ``a{b`` followed by ``C}``).
        """
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ExpansionSyntaxError(f"expansion nested more than {MAX_DEPTH} levels deep", opened_at)
        try:
            return self._sequence(opened_at, closing=closing)
        finally:
            self.depth -= 1

    def _sequence(self, opened_at: int, *, closing: bool) -> Expansion:
        parts: list[Part] = []
        buf: list[str] = []
        buf_start = self.pos
        text = self.text

        def flush() -> None:
            if buf:
                parts.append(Text("".join(buf), buf_start))
                buf.clear()

        while self.pos < len(text):
            ch = text[self.pos]
            if ch == "\\":
                if text.startswith("\\N", self.pos):
                    end = text.find("\\N", self.pos + 2)
                    stop = len(text) if end < 0 else end
                    if not buf:
                        buf_start = self.pos
                    buf.append(text[self.pos + 2 : stop])
                    self.pos = stop + 2
                    continue
                if not buf:
                    buf_start = self.pos
                buf.append(text[self.pos + 1 : self.pos + 2])
                self.pos += 2
                continue
            if ch == "$":
                node = self.dollar()
                if node is None:
                    if not buf:
                        buf_start = self.pos
                    buf.append("$")
                    self.pos += 1
                    continue
                flush()
                parts.append(node)
                buf_start = self.pos
                continue
            if closing and ch == "}":
                flush()
                self.pos += 1
                return Expansion(tuple(parts))
            if not buf:
                buf_start = self.pos
            run = _PLAIN.match(text, self.pos)  # the characters up to the next one that means something
            if run is None:
                buf.append(ch)
                self.pos += 1
            else:
                buf.append(run.group())
                self.pos = run.end()
        if closing:
            raise ExpansionSyntaxError("missing } to close this {", opened_at)
        flush()
        return Expansion(tuple(parts))

    def dollar(self) -> Part | None:
        """Parse what follows ``$``; None when it is a literal dollar sign."""
        text = self.text
        start = self.pos
        if text.startswith("${", start):
            return self.braced(start)
        header = _HEADER_PREFIX.match(text, start + 1)
        if header:
            name = _HEADER_NAME.match(text, header.end())
            if name:
                self.pos = name.end()
                return Variable(text[start + 1 : self.pos], start)
        match = _NAME.match(text, start + 1)
        if not match:
            return None
        self.pos = match.end()
        return Variable(match.group(), start)

    def braced(self, start: int) -> Part:
        """Parse ``${...}`` starting at ``start``."""
        text = self.text
        self.pos = start + 2
        header = _HEADER_PREFIX.match(text, self.pos)
        if header:
            header_name = _HEADER_NAME.match(text, header.end())
            if header_name and text.startswith("}", header_name.end()):
                self.pos = header_name.end() + 1
                return Variable(text[start + 2 : header_name.end()], start)
        match = _NAME.match(text, self.pos)
        if not match:
            raise ExpansionSyntaxError("expected a variable or item name after ${", start)
        name = match.group()
        self.pos = match.end()
        if text.startswith("}", self.pos):
            self.pos += 1
            return Variable(name, start)
        if text.startswith(":", self.pos):
            self.pos += 1
            return Operator(name, self.sequence(start, closing=True), start)
        return Item(name, self.arguments(start), start)

    def condition_list(self, start: int, *, sub_conditions: bool) -> Expansion:
        """``and {{c1}{c2}}`` / ``or``: a brace of conditions, each an item without its ``$``
        (``saslauthd {{user}{password}...}``: a brace of strings, each a group)."""
        text = self.text
        self.pos = start + 1
        parts: list[Part] = []
        while True:
            while self.pos < len(text) and text[self.pos] in " \t\n\r":
                self.pos += 1
            if self.pos >= len(text):
                raise ExpansionSyntaxError("missing } to close this {", start)
            if text[self.pos] == "}":
                self.pos += 1
                return Expansion(tuple(parts))
            if text[self.pos] != "{":
                raise ExpansionSyntaxError("expected { to open a condition", self.pos)
            opened = self.pos
            self.pos += 1
            if not sub_conditions:
                parts.append(Group(self.sequence(opened, closing=True), opened))
                continue
            args = self.arguments(opened)
            if not args or not isinstance(args[0], Word):
                raise ExpansionSyntaxError("expected a condition name", opened)
            parts.append(Item(args[0].text, args[1:], opened))

    def arguments(self, start: int) -> tuple[Word | Group, ...]:
        """Read an item's words and ``{...}`` groups up to its closing brace."""
        text = self.text
        args: list[Word | Group] = []
        while True:
            while self.pos < len(text) and text[self.pos] in " \t\n\r":
                self.pos += 1
            if self.pos >= len(text):
                raise ExpansionSyntaxError("missing } to close this ${", start)
            ch = text[self.pos]
            if ch == "}":
                self.pos += 1
                return tuple(args)
            if ch == "{":
                opened = self.pos
                previous = args[-1].text.lstrip("!") if args and isinstance(args[-1], Word) else ""
                if previous in _CONDITION_LISTS:
                    args.append(Group(self.condition_list(opened, sub_conditions=previous != "saslauthd"), opened))
                    continue
                self.pos += 1
                args.append(Group(self.sequence(opened, closing=True), opened))
                continue
            word_start = self.pos
            while self.pos < len(text) and text[self.pos] not in " \t\n\r{}":
                self.pos += 1
            args.append(Word(text[word_start : self.pos], word_start))
