"""Read smtpd.conf back into a normalised policy, for ``diff`` and ``check``.

A tokenizer per logical line (``\\`` continuations, 7.x tables over
several lines, quotes, ``<table>`` references, ``{ ... }`` lists), then one
small interpreter per statement: ``table``, ``pki``, ``filter``, ``listen``,
``action``, ``match`` and the global ``smtp``/``queue``/``bounce`` options.
Both sides of a comparison go through this reader (the exim side as
rendered), so two files that say the same thing in another order, with other
comments or other table names compare equal.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from migrate import rules
from migrate.errors import ConfigError, Diagnostic, Span

# One regular expression, not a parser combinator: a 200,000-entry inline table
# is one logical line, and this reads it in one linear pass.
TOKEN = re.compile(r'\s*(?:"((?:[^"\\]|\\.)*)"|(<[^>\s]+>|[{},=]|[^\s"{},=<]+))')
# smtpd's lexer (parse.y) drops a backslash only before the quote, a space or a
# tab; any other backslash stays in the string.
ESCAPE = re.compile(r'\\(["\t ])')
BRACKETED = re.compile(r"^\[([0-9a-f:.]+)\]")
MAPPING_LINE = re.compile(r"^[ \t]*\S+[ \t]+\S", re.MULTILINE)  # a key, blanks, a value


@dataclass
class SmtpdPolicy:
    """What an smtpd.conf says, with table references resolved to their contents."""

    tables: dict[str, object] = field(default_factory=dict)
    pki: dict[str, dict[str, str]] = field(default_factory=dict)
    filters: dict[str, str] = field(default_factory=dict)
    listeners: list[dict[str, object]] = field(default_factory=list)
    actions: dict[str, dict[str, object]] = field(default_factory=dict)
    rules: list[dict[str, object]] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)

    def normalised(self) -> dict[str, object]:
        """The comparable form: names of tables and actions do not matter, contents and order do."""
        actions = {name: self._resolve(a) for name, a in self.actions.items()}
        rules = []
        for rule in self.rules:
            resolved = {k: self._resolve(v) for k, v in rule.items() if k != "action"}
            resolved["action"] = actions.get(str(rule.get("action")), rule.get("action"))
            rules.append(resolved)
        listeners = sorted((self._resolve(li) for li in self.listeners), key=repr)
        return {
            "listeners": listeners,
            "rules": rules,
            "options": dict(sorted(self.options.items())),
            "certificates": sorted(self.pki.values(), key=repr),
            "filters": sorted(self.filters.values()),
        }

    def _resolve(self, value: object) -> object:
        if isinstance(value, str) and value.startswith("<") and value.endswith(">"):
            return self.tables.get(value[1:-1], value)
        if isinstance(value, dict):
            return {k: self._resolve(v) for k, v in sorted(value.items())}
        if isinstance(value, list | tuple):
            return [self._resolve(v) for v in value]
        if isinstance(value, str) and value in self.filters:
            return self.filters[value]
        return value


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Join ``\\`` continuations and brace blocks over several lines; drop comments."""
    found: list[tuple[int, str]] = []
    parts: list[str] = []  # joined once at the end: a table of 200,000 lines is one statement
    start, depth = 0, 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = _without_comment(raw).rstrip()
        if not line.strip() and not parts:
            continue
        if not parts:
            start = number
        continued = line.endswith("\\")
        parts.append(line.rstrip("\\"))
        depth += line.count("{") - line.count("}")
        if continued or depth > 0:
            continue
        _flush(found, start, parts)
        depth = 0
    _flush(found, start, parts)
    return found


def _flush(found: list[tuple[int, str]], start: int, parts: list[str]) -> None:
    joined = " ".join(parts).strip()
    if joined:
        found.append((start, joined))
    parts.clear()


def tokens_of(line: str) -> list[str]:
    """The words of one logical line, quotes removed; ValueError with the column of what is not a token."""
    found, position, end = [], 0, len(line.rstrip())
    while position < end:
        match = TOKEN.match(line, position)
        if match is None:
            column = len(line) - len(line[position:].lstrip()) + 1
            raise ValueError(column, f"unexpected {line[column - 1]!r}")
        quoted, word = match.groups()
        found.append(ESCAPE.sub(r"\1", quoted) if quoted is not None else word)
        position = match.end()
    return found


def _without_comment(line: str) -> str:
    """Cut a ``#`` comment that is not inside quotes."""
    quoted = False
    for index, ch in enumerate(line):
        if ch == '"' and (index == 0 or line[index - 1] != "\\"):
            quoted = not quoted
        elif ch == "#" and not quoted:
            return line[:index]
    return line


MACRO = re.compile(r'^([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|(\S+))\s*$')


def read_smtpd_conf(text: str, name: str = "smtpd.conf", table_files: Mapping[str, str] | None = None) -> SmtpdPolicy:
    """Parse smtpd.conf text; raise ConfigError naming the line on what we cannot read.

    Admins' own additions are understood too: macros (``lan = "10.0.0.0/8"``,
    used as ``$lan`` outside quotes) and ``include`` (refused with a clear
    message: compare the included file's statements in the file itself).
    ``table_files`` are the files beside smtpd.conf by name: a ``file:``
    table found there is read as its entries, so an inline table and the same
    entries in a file compare equal, and a changed file does not.
    """
    policy = SmtpdPolicy()
    macros: dict[str, str] = {}
    for number, line in logical_lines(text):
        macro = MACRO.match(line)
        if macro:
            macros[macro.group(1)] = macro.group(2) if macro.group(2) is not None else macro.group(3)
            continue
        if line.startswith("include "):
            raise ConfigError(
                Diagnostic(
                    Span(name, number, 1, number, 1),
                    "error",
                    rules.SMTPD_INCLUDE,
                    "include is not followed: put the included statements in this file to compare it",
                    line,
                )
            )
        line = re.sub(
            r"\$([A-Za-z_][A-Za-z0-9_]*)",
            lambda m: f'"{macros[m.group(1)]}"' if m.group(1) in macros else m.group(0),
            line,
        )
        try:
            tokens = tokens_of(line)
        except ValueError as exc:
            column, why = exc.args
            raise ConfigError(
                Diagnostic(
                    Span(name, number, column, number, column),
                    "error",
                    rules.SMTPD_SYNTAX,
                    f"cannot read this smtpd.conf line: {why}",
                    line,
                )
            ) from exc
        if tokens:
            _statement(policy, tokens, name, number, line)
    if table_files:
        policy.tables = {k: _file_table(v, table_files) for k, v in policy.tables.items()}
    return policy


def _file_table(value: object, table_files: Mapping[str, str]) -> object:
    """A ``file:`` table's entries, as an inline table with them reads: a sorted list, or a mapping."""
    if not (isinstance(value, str) and value.startswith("file:")):
        return value
    text = table_files.get(os.path.basename(value[len("file:") :]))
    if text is None:
        return value
    if "#" in text:
        text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    if (" " in text or "\t" in text) and MAPPING_LINE.search(text):
        pairs = (line.strip().split(None, 1) for line in text.splitlines() if line.strip())
        return dict(sorted((key.lower(), rest[0].strip() if rest else "") for key, *rest in pairs))
    entries = text.lower().split()  # one entry per line, and no entry holds a blank: 200,000 in one call
    return sorted(_unbracketed(e) for e in entries) if "[" in text else sorted(entries)


def _unbracketed(entry: str) -> str:
    """``[2001:db8::]/32`` as a table file writes an IPv6 network, as inline tables write it."""
    return BRACKETED.sub(r"\1", entry)


def _statement(policy: SmtpdPolicy, t: list[str], name: str, number: int, line: str) -> None:
    keyword = t[0]
    try:
        if keyword == "table":
            policy.tables[t[1]] = _table_value(t[2:])
        elif keyword == "pki":
            policy.pki.setdefault(t[1], {})[t[2]] = t[3]
        elif keyword == "filter":
            policy.filters[t[1]] = " ".join(t[2:])
        elif keyword == "listen":
            policy.listeners.append(_options(t[2:], first="on", value=t[2] if len(t) > 2 else ""))
        elif keyword == "action":
            policy.actions[t[1]] = {"method": t[2], **_pairs(t[3:])}
        elif keyword == "match":
            policy.rules.append(_match(t[1:]))
        elif keyword in ("smtp", "queue", "bounce", "mta", "mda", "srs", "admd", "ca"):
            policy.options[" ".join(t[:2])] = " ".join(t[2:])
        else:
            raise ValueError(f"unknown statement {keyword!r}")
    except (IndexError, ValueError) as exc:
        raise ConfigError(
            Diagnostic(
                Span(name, number, 1, number, 1),
                "error",
                rules.SMTPD_STATEMENT,
                f"cannot read this smtpd.conf statement: {exc}",
                line,
            )
        ) from exc


def _table_value(tokens: list[str]) -> object:
    if tokens and tokens[0] == "{":
        body = [x for x in tokens[1:-1] if x != ","]
        if "=" in body:
            pairs = {}
            for index in range(0, len(body), 3):
                pairs[body[index].lower()] = body[index + 2]
            return dict(sorted(pairs.items()))
        return sorted(_unbracketed(v.lower()) for v in body)
    return " ".join(tokens)


def _options(tokens: list[str], first: str, value: str) -> dict[str, object]:
    found: dict[str, object] = {"on": value}
    rest = tokens[1:]
    flags = {"tls", "smtps", "tls-require", "auth", "auth-optional", "mask-src", "no-dsn", "received-auth", "verify"}
    index = 0
    while index < len(rest):
        word = rest[index]
        if word in ("auth", "auth-optional") and index + 1 < len(rest) and rest[index + 1].startswith("<"):
            found[word] = rest[index + 1]  # auth <credentials>: the table, not the next option's name
            index += 2
        elif word in flags:
            found[word] = True
            index += 1
        else:
            found[word] = rest[index + 1] if index + 1 < len(rest) else True
            index += 2
    if found.get("port") == "submission":
        found["port"] = "587"
    return found


def _pairs(tokens: list[str]) -> dict[str, object]:
    found: dict[str, object] = {}
    index = 0
    while index < len(tokens):
        word = tokens[index]
        if index + 1 < len(tokens) and word in (
            "alias",
            "virtual",
            "userbase",
            "domain",
            "host",
            "helo",
            "src",
            "auth",
            "mail-from",
            "user",
            "wrapper",
            "ttl",
            "pki",
            "ca",
        ):
            found[word] = tokens[index + 1]
            index += 2
        elif word in ("maildir", "lmtp", "mda") or (index == 0 and not word.startswith(("<", "{"))):
            found["path"] = word
            index += 1
        else:
            found[word] = True
            index += 1
    return found


def _match(tokens: list[str]) -> dict[str, object]:
    found: dict[str, object] = {}
    index = 0
    negate = False
    while index < len(tokens):
        word = tokens[index]
        if word == "!":
            negate = True
            index += 1
            continue
        prefix = "!" if negate else ""
        negate = False
        if word == "action":
            found["action"] = tokens[index + 1]
            index += 2
        elif word == "tag" and index + 1 < len(tokens):
            found[prefix + "tag"] = tokens[index + 1].strip('"')
            index += 2
        elif word == "reject":
            found["action"] = "reject"
            index += 1
        elif word == "rcpt-to" or (word == "for" and tokens[index + 1 : index + 2] == ["rcpt-to"]):
            index += 1 if word == "rcpt-to" else 2  # only some recipients: kept as the table it names
            if tokens[index : index + 1] == ["regex"]:
                index += 1
            found[prefix + "rcpt-to"] = tokens[index] if index < len(tokens) else ""
            index += 1
        elif word in ("from", "for"):
            kind = tokens[index + 1]
            if (
                kind in ("src", "domain", "rcpt-to", "mail-from", "rdns", "auth")
                and index + 2 < len(tokens)
                and tokens[index + 2].startswith(("<", '"'))
            ):
                found[prefix + word] = (kind, tokens[index + 2])
                index += 3
            else:
                found[prefix + word] = kind
                index += 2
        else:
            found[prefix + word] = True
            index += 1
    if "!from" not in found:
        found.setdefault("from", "local")
    if "!for" not in found:
        found.setdefault("for", "local")
    return found
