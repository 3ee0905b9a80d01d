"""Turn the pre-lexer's logical lines into the parse tree, section by section.

Grouping follows exim's readers: an ACL statement runs from its verb to the
next verb; a macro definition between ACLs or drivers ends the one before it;
a driver's options belong to the last ``name:`` line.  Names are checked
against the option and condition tables of the exim build we mirror
(``exim_builtins.json``), so a typo fails here as it would fail in ``exim -bV``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NoReturn

from migrate import rules
from migrate.errors import ConfigError, Diagnostic, Span
from migrate.reader import grammar
from migrate.reader.expansion import ExpansionSyntaxError, opaque_expansion, parse_expansion
from migrate.reader.grammar import Fields
from migrate.reader.lists import parse_list
from migrate.reader.source import GeneratedFile, LogicalLine, PreLexer, exim_builtins
from migrate.reader.tree import (
    Acl,
    AclCondition,
    AclStatement,
    Driver,
    EximConfig,
    MacroDefinition,
    NamedList,
    Option,
    RetryRule,
    RetryStep,
    RewriteRule,
    SectionStart,
    Value,
)
from migrate.rules import Rule

DRIVER_SECTIONS = {"routers": "router", "transports": "transport", "authenticators": "authenticator"}
_RETRY_ERROR = re.compile(
    r"\*|auth_failed|tls_required|lookup|lost_connection|refused(_A|_MX)?|"
    r"timeout(_connect)?(_A|_MX)?|timeout_DNS|quota(_\d+[smhdw]+)*|"
    r"(mail|rcpt|data)_4(xx|\dx|\d\d)",
    re.IGNORECASE,
)
_TIME = re.compile(r"(\d+[smhdw])+")
_REDEFINE = re.compile(r"[A-Za-z0-9_]+[ \t]*==")


@dataclass
class _Builder:
    lexer: PreLexer
    main: list = field(default_factory=list)
    acls: list[Acl] = field(default_factory=list)
    drivers: dict[str, list[Driver]] = field(default_factory=lambda: {k: [] for k in DRIVER_SECTIONS})
    retry: list[RetryRule] = field(default_factory=list)
    rewrite: list[RewriteRule] = field(default_factory=list)
    section_macros: list[MacroDefinition] = field(default_factory=list)
    warnings: list[Diagnostic] = field(default_factory=list)
    sections: list[SectionStart] = field(default_factory=list)
    _acl: tuple[LogicalLine, str, list[AclStatement]] | None = None
    _statement: tuple[LogicalLine, str, list[AclCondition]] | None = None
    _driver: tuple[LogicalLine, str, list[Option]] | None = None
    _macro_lines: dict[int, tuple] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tables = exim_builtins()
        self._macro_lines = {id(line): (macro, effect) for line, macro, effect in self.lexer.macro_definitions}
        self._sets: dict[object, set[str]] = {}

    def _set(self, key: object, *names: Iterable[str]) -> set[str]:
        """A table of exim's names as a set, made once per read (never changed by the caller)."""
        found = self._sets.get(key)
        if found is None:
            found = self._sets[key] = {name for group in names for name in group}
        return found

    # -- dispatch -----------------------------------------------------------

    def build(self) -> None:
        section = "main"
        for line in self.lexer.lines:
            if line.section == "begin":
                self._finish_block(section)
                section = self.lexer_section_after(line)
                self.sections.append(SectionStart(line.span(), section))
                continue
            if id(line) in self._macro_lines:
                self._macro(line, section)
                continue
            handler = getattr(self, f"_in_{section}")
            handler(line)
        self._finish_block(section)

    @staticmethod
    def lexer_section_after(line: LogicalLine) -> str:
        name = line.text[6:].strip().lower()
        plural = name if name.endswith("s") else name + "s"
        return {"acls": "acl", "retrys": "retry", "rewrites": "rewrite", "local_scans": "local_scan"}.get(
            plural, plural
        )

    def _macro(self, line: LogicalLine, section: str) -> None:
        macro, effect = self._macro_lines[id(line)]
        redefine = _REDEFINE.match(line.text) is not None
        node = MacroDefinition(line.span(), line.source, line.macros, macro.name, macro.value, redefine, effect)
        if section == "main":
            self.main.append(node)
            return
        self._finish_block(section)
        self.section_macros.append(node)

    # -- main ---------------------------------------------------------------

    def _in_main(self, line: LogicalLine) -> None:
        result = self._parse("main", line)
        if "keyword" in result:
            self.main.append(self._named_list(line, result))
            return
        tables = self.tables
        option = self._option(line, result, self._set("main", tables["main_options"]), "main option")
        self._check_type(
            option,
            self._set("main booleans", tables["main_boolean_options"]),
            self._set("main typed", tables["main_typed_options"]),
        )
        self.main.append(option)

    def _named_list(self, line: LogicalLine, result: Fields) -> NamedList:
        keyword = result["keyword"]
        kind = keyword.split("list")[0]
        name = result["name"]
        if any(isinstance(s, NamedList) and s.name == name and s.kind == kind for s in self.main):
            self._fail(line, f'duplicate name "{name}" for a named {kind} list', rules.READ_DUPLICATE)
        value = self._value(line, result["value_at"], result["value"], f'named list "{name}"')
        separator, items = parse_list(value.text, kind)
        return NamedList(
            line.span(),
            line.source,
            line.macros,
            kind,
            name,
            value,
            separator,
            items,
            hidden="hide" in result,
            cached=keyword.endswith("_cache"),
        )

    # -- options (main, drivers, local_scan) --------------------------------

    def _option(self, line: LogicalLine, result: Fields, known: set[str], what: str) -> Option:
        name = result["name"]
        negated = False
        base = name
        for prefix in ("no_", "not_"):
            if name.startswith(prefix) and name[len(prefix) :] in known:
                negated, base = True, name[len(prefix) :]
        if base not in known:
            self._fail(line, f'{what} "{name}" unknown', rules.READ_UNKNOWN_OPTION, at=line.text.find(name))
        value = self._value(line, result["value_at"], result["value"], name) if "equals" in result else None
        return Option(line.span(), line.source, line.macros, base, value, negated, hidden="hide" in result)

    def _check_type(self, option: Option, booleans: set[str], typed: set[str]) -> None:
        """exim's rules for booleans versus options that need a value (readconf.c).

        Only options whose type we recorded are checked: exim does not print
        hidden options such as ``verify``, so we cannot know theirs.
        """
        if option.name not in typed:
            return
        if option.negated and option.name not in booleans:
            self._fail_node(option, "negation prefix applied to a non-boolean option", rules.READ_OPTION)
        if option.negated and option.value is not None:
            self._fail_node(option, f"extra characters follow boolean option no_{option.name}", rules.READ_OPTION)
        if option.value is None and option.name not in booleans:
            self._fail_node(option, f"unexpected end of line (data missing) after {option.name}", rules.READ_OPTION)

    def _value(self, line: LogicalLine, at: int, raw: str, name: str) -> Value:
        quoted = raw.startswith('"')
        text = raw
        if quoted:
            end = grammar.quoted_end(raw)
            if raw[end:].strip():
                junk = end + len(raw[end:]) - len(raw[end:].lstrip())
                self._fail(line, f"extra characters follow string value for {name}", rules.READ_OPTION, at=at + junk)
            text = grammar.dequote(raw[:end])
        return self._expanded(line, at, raw, text, quoted)

    def _expanded(self, line: LogicalLine, at: int, raw: str, text: str, quoted: bool) -> Value:
        expansion = None
        if "$" in text:
            try:
                expansion = parse_expansion(text)
            except ExpansionSyntaxError as exc:  # exim -bV accepts it: it expands a value only when it uses it
                expansion = opaque_expansion(text, exc)
                self.warnings.append(
                    self._diagnostic(
                        line,
                        f"an expansion the reader cannot follow ({exc}); read as opaque text",
                        rules.READ_EXPANSION,
                        at + exc.offset + (1 if quoted else 0),
                        "warning",
                    )
                )
        return Value(raw, text, quoted, line.span(at, at + len(raw)) if raw else line.span(at, at), expansion)

    # -- ACLs ---------------------------------------------------------------

    def _in_acl(self, line: LogicalLine) -> None:
        header = grammar.BLOCK_HEADER.match(line.text)
        if header:
            self._finish_block("acl")
            name = header.group(1)
            if any(a.name == name for a in self.acls):
                self._fail(line, f'there are two ACLs called "{name}"', rules.READ_DUPLICATE)
            if line.text[header.end() :].strip():
                self.warnings.append(
                    self._diagnostic(
                        line, "text after the ACL name is ignored by exim", rules.READ_IGNORED, header.end(), "warning"
                    )
                )
            self._acl = (line, name, [])
            return
        if self._acl is None:
            self._fail(
                line, "missing or malformed ACL name (expected NAME: before the first statement)", rules.READ_ACL
            )
        result = self._parse("acl", line)
        if "verb" in result:
            self._finish_statement()
            self._statement = (line, result["verb"], [])
        elif self._statement is None:
            self._fail(line, f'unknown ACL verb in "{line.text}"', rules.READ_ACL)
        if "condition" in result:
            self._statement[2].append(self._condition(line, result["condition"]))

    def _condition(self, line: LogicalLine, cond: Fields) -> AclCondition:
        name = cond["name"]
        modifiers = self._set("acl modifiers", self.tables["acl_modifiers"])
        if name not in modifiers and name not in self._set("acl conditions", self.tables["acl_conditions"]):
            self._fail(
                line,
                f'error in ACL: unknown ACL condition/modifier in "{line.text}"',
                rules.READ_ACL,
                at=line.text.find(name),
            )
        negated = "negated" in cond and bool(cond["negated"])
        if negated and name in modifiers:
            self._fail(line, f'ACL error: negation is not allowed with "{name}"', rules.READ_ACL)
        verb = self._statement[1] if self._statement else ""
        if name == "endpass" and verb not in ("accept", "discard"):
            self._fail(line, f'ACL error: "endpass" is not allowed with "{verb}"', rules.READ_ACL)
        value = None
        if name != "endpass":
            raw = cond["value"]
            value = self._expanded(line, cond["value_at"], raw, raw, False)
        return AclCondition(
            line.span(), line.source, line.macros, name, value, negated, name in modifiers, cond.get("variable", "")
        )

    def _finish_statement(self) -> None:
        if self._statement is None or self._acl is None:
            return
        line, verb, conditions = self._statement
        self._acl[2].append(AclStatement(line.span(), line.source, line.macros, verb, tuple(conditions)))
        self._statement = None

    # -- drivers ------------------------------------------------------------

    def _in_routers(self, line: LogicalLine) -> None:
        self._driver_line(line, "routers")

    def _in_transports(self, line: LogicalLine) -> None:
        self._driver_line(line, "transports")

    def _in_authenticators(self, line: LogicalLine) -> None:
        self._driver_line(line, "authenticators")

    def _driver_line(self, line: LogicalLine, section: str) -> None:
        kind = DRIVER_SECTIONS[section]
        header = grammar.BLOCK_HEADER.match(line.text)
        if header:
            self._finish_block(section)
            name = header.group(1)
            junk = len(line.text[header.end() :]) - len(line.text[header.end() :].lstrip())
            if line.text[header.end() :].strip():
                self._fail(
                    line, f"extra characters follow driver name {name}", rules.READ_DRIVER, at=header.end() + junk
                )
            if any(d.name == name for d in self.drivers[section]):
                self._fail(line, f'there are two {kind}s called "{name}"', rules.READ_DUPLICATE)
            self._driver = (line, name, [])
            return
        if self._driver is None:
            self._fail(line, f"{kind} name missing (expected NAME: before the first option)", rules.READ_DRIVER)
        result = self._parse("option", line)
        known = self._set(
            ("options", kind),
            self.tables["driver_generic_options"][kind],
            *self.tables["driver_private_options"][kind].values(),
        )
        option = self._option(line, result, known, f"{kind} option")
        self._driver[2].append(option)

    def _finish_driver(self, section: str) -> None:
        if self._driver is None:
            return
        line, name, options = self._driver
        self._driver = None
        kind = DRIVER_SECTIONS[section]
        driver_option = next((o for o in options if o.name == "driver"), None)
        if driver_option is None or driver_option.value is None:
            self._fail(line, f'no driver defined for {kind} "{name}"', rules.READ_DRIVER)
        driver = driver_option.value.text.strip()
        private_tables = self.tables["driver_private_options"][kind]
        if driver not in private_tables:
            self._fail_node(driver_option, f'{kind} {name}: cannot find {kind} driver "{driver}"', rules.READ_DRIVER)
        generic = self._set(("generic", kind), self.tables["driver_generic_options"][kind])
        both = self._set(("generic and private", kind, driver), generic, private_tables[driver])
        booleans = self._set(("booleans", kind, driver), self.tables["driver_boolean_options"][kind].get(driver, ()))
        typed = self._set(("typed", kind, driver), self.tables["driver_typed_options"][kind].get(driver, ()))
        driver_seen = False
        for option in options:
            driver_seen = driver_seen or option.name == "driver"
            if option.name not in both:
                self._fail_node(
                    option,
                    f'{kind} {name}: option "{option.name}" unknown (not an option of the {driver} driver)',
                    rules.READ_UNKNOWN_OPTION,
                )
            if option.name not in generic and not driver_seen:
                self._fail_node(
                    option,
                    f'option "{option.name}" unknown ("driver" must be specified before any private options)',
                    rules.READ_DRIVER,
                )
            self._check_type(option, booleans, typed)
        self.drivers[section].append(Driver(line.span(), line.source, line.macros, kind, name, driver, tuple(options)))

    def _finish_block(self, section: str) -> None:
        if section == "acl":
            self._finish_statement()
            if self._acl is not None:
                line, name, statements = self._acl
                self.acls.append(Acl(line.span(), line.source, line.macros, name, tuple(statements)))
                self._acl = None
        elif section in DRIVER_SECTIONS:
            self._finish_driver(section)

    # -- retry, rewrite, local_scan -----------------------------------------

    def _in_retry(self, line: LogicalLine) -> None:
        result = self._parse("retry", line)
        error = result["error"]
        if not _RETRY_ERROR.fullmatch(error):
            self._fail(line, f'unknown or malformed retry error "{error}"', rules.READ_RETRY, at=line.text.find(error))
        steps = []
        for step in result.get("steps", []):
            letter, *params = [p.strip() for p in step.split(",")]
            expected = 2 if letter.upper() == "F" else 3
            if (
                letter.upper() not in "FGH"
                or len(params) != expected
                or not all(_TIME.fullmatch(p) for p in params[:2])
            ):
                self._fail(
                    line,
                    f'bad retry step "{step}" (expected F,cutoff,interval or G|H,cutoff,start,factor)',
                    rules.READ_RETRY,
                    at=line.text.find(step),
                )
            steps.append(RetryStep(letter.upper(), params[0], tuple(params[1:])))
        senders = result.get("senders", "")
        self.retry.append(
            RetryRule(
                line.span(),
                line.source,
                line.macros,
                _unquote(result["pattern"]),
                error,
                _unquote(senders),
                tuple(steps),
            )
        )

    def _in_rewrite(self, line: LogicalLine) -> None:
        result = self._parse("rewrite", line)
        raw = result["replacement"]
        value = self._expanded(line, result["value_at"], raw, _unquote(raw), raw.startswith('"'))
        flags = "".join(result["flags"].split())
        pattern = _unquote(result["pattern"])
        if "S" in flags and not (pattern.startswith("^") or pattern.startswith("\\N^")):
            self._fail(line, "rewrite rule has the S flag but is not a regular expression", rules.READ_REWRITE)
        self.rewrite.append(RewriteRule(line.span(), line.source, line.macros, pattern, value, flags))

    def _in_local_scan(self, line: LogicalLine) -> None:
        self._fail(
            line,
            "local_scan() options not supported: Debian's exim is built without LOCAL_SCAN_HAS_OPTIONS",
            rules.READ_LOCAL_SCAN,
        )

    # -- errors -------------------------------------------------------------

    def _parse(self, kind: str, line: LogicalLine) -> Fields:
        found = grammar.quick_fields(kind, line.text)
        if found is not None:
            return found
        import pyparsing as pp  # only for a line the regular expressions leave to the full grammar

        try:
            return grammar.pyparsing_fields(kind, line.text)
        except pp.ParseBaseException as exc:
            message = f"expected {exc.msg[len('Expected ') :]}" if exc.msg.startswith("Expected ") else exc.msg
            name = grammar.element(kind).customName or "statement"
            self._fail(line, f"cannot read {name}: {message}", rules.READ_SYNTAX, at=exc.loc)
        raise AssertionError("unreachable")

    def _diagnostic(self, line: LogicalLine, message: str, rule: Rule, at: int, severity: str = "error") -> Diagnostic:
        span = line.span(min(at, max(len(line.text) - 1, 0)) if at < len(line.text) else at)
        return Diagnostic(span, severity, rule, message, self.lexer.physical_text(span.file, span.line))

    def _fail(self, line: LogicalLine, message: str, rule: Rule, at: int = 0) -> NoReturn:
        raise ConfigError(self._diagnostic(line, message, rule, max(at, 0)))

    def _fail_node(self, node: Option, message: str, rule: Rule) -> NoReturn:
        span = node.span
        raise ConfigError(Diagnostic(span, "error", rule, message, self.lexer.physical_text(span.file, span.line)))


def _unquote(word: str) -> str:
    return grammar.dequote(word) if word.startswith('"') else word


def read_config(
    path: str,
    defines: dict[str, str] | None = None,
    generated: GeneratedFile | None = None,
    root: str | None = None,
    stdin: bytes | None = None,
) -> EximConfig:
    """Read an exim configuration file as exim would; raise ConfigError if it cannot.

    With ``generated``, ``path`` names a configuration held in memory (see
    ``migrate.reader.debian``) whose statements point back at the files it was made from.
    With ``root``, ``.include`` reads absolute paths under it and nothing outside it.
    With ``stdin``, ``path`` is ``STDIN`` and these are the configuration's bytes.
    """
    generated_files = {path: generated} if generated else {}
    lexer = PreLexer(path, dict(defines or {}), generated=generated_files, root=root, stdin=stdin)
    lexer.run()
    if not lexer.lines:
        raise ConfigError(
            Diagnostic(
                Span(path, 0, 0, 0, 0),
                "error",
                rules.READ_EMPTY,
                "the configuration has no statements (empty, or only comments); nothing to migrate",
            )
        )
    builder = _Builder(lexer)
    builder.build()
    from migrate.reader.resolved import resolved_lines

    return EximConfig(
        path=path,
        main=tuple(builder.main),
        acls=tuple(builder.acls),
        routers=tuple(builder.drivers["routers"]),
        transports=tuple(builder.drivers["transports"]),
        authenticators=tuple(builder.drivers["authenticators"]),
        retry=tuple(builder.retry),
        rewrite=tuple(builder.rewrite),
        section_macros=tuple(builder.section_macros),
        sections=tuple(builder.sections),
        directives=tuple(lexer.directives),
        line_kinds=tuple((name, tuple(kinds)) for name, kinds in lexer.line_kinds.items()),
        defines=tuple((defines or {}).items()),
        files=tuple(lexer.files),
        diagnostics=tuple(builder.warnings),
        resolved_lines=tuple(resolved_lines(lexer.timeline)),
    )
