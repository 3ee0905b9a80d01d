"""The ledger: every statement read lands in exactly one bucket, with at most one finding per rule.

Every step module books into the same ledger, so that a statement's bucket is
decided in one place: a worse bucket wins over a better one (``mark``), unless
a later step settles it for good (``resolve``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migrate.errors import Diagnostic, Span
from migrate.reader.tree import Driver, Statement
from migrate.redact import redact_source, redact_text
from migrate.rules import Rule

ORDER = {"mapped": 0, "ignored": 1, "approximated": 2, "unmapped": 3}

# A finding about a statement that a step has not booked yet (ACL notes are
# gathered per class and booked once per statement).
Claim = tuple[Statement, Diagnostic]


def claim(node: Statement, severity: str, rule: Rule, message: str, advice: str = "") -> Claim:
    """A finding about ``node``, to be booked later."""
    return node, Diagnostic(node.span, severity, rule, message, node.source, advice)


@dataclass
class Ledger:
    """Buckets by statement and findings by (span, rule).

    Findings are kept by (span, rule), and the rules seen per span, so that
    replacing one costs the same with five ACL statements or five thousand.
    """

    status: dict[int, tuple[Statement, str]] = field(default_factory=dict)
    _findings: dict[tuple[Span, Rule], Diagnostic] = field(default_factory=dict)
    _rules_at: dict[Span, set[Rule]] = field(default_factory=dict)

    @property
    def findings(self) -> list[Diagnostic]:
        """Every finding, in the order it was last set."""
        return list(self._findings.values())

    def bucket(self, node: Statement) -> str | None:
        """The bucket a statement is in so far."""
        found = self.status.get(id(node))
        return found[1] if found else None

    def mark(
        self, node: Statement, severity: str, rule: Rule | None = None, message: str = "", advice: str = ""
    ) -> None:
        """Put a statement in a bucket; a worse bucket wins over a better one."""
        previous = self.status.get(id(node))
        if previous is not None and ORDER[previous[1]] >= ORDER[severity]:
            return
        self.status[id(node)] = (node, severity)
        if severity != "mapped" and rule is not None and message:
            self._drop(node.span, rule)
            self._add(node.span, severity, rule, message, node.source, advice)

    def resolve(
        self, node: Statement, severity: str, rule: Rule | None = None, message: str = "", advice: str = ""
    ) -> None:
        """A later step settles a statement: its bucket and finding replace earlier ones.

        Without a rule the statement is settled with its parent (an ACL
        condition with its statement): the parent's finding stands.
        """
        self.status[id(node)] = (node, severity)
        if rule is None:
            return
        self._clear(node.span)
        if severity != "mapped" and message:
            self._add(node.span, severity, rule, message, node.source, advice)

    def settle_mapped(self, node: Statement) -> None:
        """A statement a later step carried over after all: mapped, earlier findings dropped."""
        self.status[id(node)] = (node, "mapped")
        self._clear(node.span)

    def book(self, claimed: Claim, *, final: bool = False) -> None:
        """Book a claim made earlier (``final``: as ``resolve`` does)."""
        node, found = claimed
        (self.resolve if final else self.mark)(node, found.severity, found.rule, found.message, found.advice)

    def mark_driver(
        self, driver: Driver, severity: str, rule: Rule | None = None, message: str = "", advice: str = ""
    ) -> None:
        """A driver and all its options share one bucket and one finding."""
        self.mark(driver, severity, rule, message, advice)
        for option in driver.options:
            self.mark(option, severity)

    def note_span(
        self, span: Span, severity: str, rule: Rule, message: str, source: str = "", advice: str = ""
    ) -> None:
        """A finding that belongs to a span rather than a whole statement (it sets no bucket)."""
        if (span, rule) not in self._findings:
            self._add(span, severity, rule, message, source, advice)

    def absorb_notes(self, statements: list[Statement]) -> None:
        """A note at a statement's own place that is worse than its bucket decides the bucket.

        Steps note details on statements another step books (an approximated
        detail of a router that is used); the statement is then approximated,
        so that every summary says the same.
        """
        for node in statements:
            current = self.bucket(node)
            for rule in self._rules_at.get(node.span, ()):
                note = self._findings[(node.span, rule)]
                if note.severity in ORDER and (current is None or ORDER[note.severity] > ORDER[current]):
                    self.status[id(node)] = (node, note.severity)
                    current = note.severity

    def _add(self, span: Span, severity: str, rule: Rule, message: str, source: str, advice: str) -> None:
        # messages quote list items and sources: never a password (migrate.redact)
        finding = Diagnostic(
            span,
            severity,
            rule,
            redact_text(message),
            redact_source(source),
            redact_text(advice or rule.advice),  # the rule's advice unless the step had better
        )
        self._findings[(span, rule)] = finding
        self._rules_at.setdefault(span, set()).add(rule)

    def _clear(self, span: Span) -> None:
        for old in list(self._rules_at.get(span, ())):
            self._drop(span, old)

    def _drop(self, span: Span, rule: Rule) -> None:
        if self._findings.pop((span, rule), None) is not None:
            self._rules_at[span].discard(rule)
