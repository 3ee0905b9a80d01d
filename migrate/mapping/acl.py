"""Evaluate exim ACLs for whole classes of clients and recipients (spec ch. 44).

Each condition is True, False or unknown (None) for a class.  The verbs then
follow exim's rules, with one bias: a statement whose outcome depends on an
unknown condition is taken the way that accepts *less*:

- an ``accept`` that might not fire is taken as not firing (the next
  statements decide, exactly as in exim when its conditions are false);
- after ``endpass``, an unknown condition counts as a refusal;
- a ``deny``/``require`` that might fire because of a per-message check
  (sender, content, lookups) is noted as a filter that smtpd does not have
  (rspamd takes those over), and the class is not refused for it: refusing a
  whole class for a per-message check would bounce all its mail;
- but a ``require``, or a ``deny`` of everything except some hosts or domains,
  that depends only on *who* connects or *which* domain is asked for refuses
  the class: skipping it would let the whole class relay (the fuzzer found
  ``require hosts = 127.0.0.1`` followed by ``accept`` doing exactly that);
- a ``deny`` of hosts listed in a file that cannot be read (missing, not a
  regular file, too big to read) refuses every class it may refuse, the open
  ones too: nobody knows whom the file refuses, so nobody it may hold gets
  through (what that loses is reported as lost services).
  All of these are reported, never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from migrate import rules
from migrate.mapping import greylisting, ports
from migrate.mapping.classes import ClassUniverse, Tri
from migrate.mapping.ledger import Claim, claim
from migrate.model import ANYONE, AUTHENTICATED
from migrate.reader.lists import split_list
from migrate.reader.tree import Acl, AclCondition, AclStatement
from migrate.rules import Rule

ACCEPT, REJECT, CONTINUE = "accept", "reject", "continue"
MAX_NESTING = 10


@dataclass
class Verdict:
    """The outcome of one ACL for one class, and the statement that decided it."""

    result: str  # ACCEPT or REJECT
    decided_by: AclStatement | None  # None: the implicit deny at the end
    notes: list[Claim] = field(default_factory=list)


@dataclass
class AclEvaluator:
    """Evaluates named ACLs; ``routable`` says which recipient classes have a route."""

    universe: ClassUniverse
    acls: dict[str, Acl]
    routable: dict[str, bool]
    blocklists: frozenset[int] = frozenset()  # ids of "deny hosts = <networks>" statements smtpd refuses first
    delivered_here: frozenset[str] = frozenset()  # recipient classes exim delivers through local transports
    visited: set[str] = field(default_factory=set)  # every ACL run, nested ones too
    port: int | None = None  # the port the client connected to (None: any; a test of it is then unknown)
    greylist: str = "off"  # who greylists in the output (--greylist): rspamd, or nobody
    # ``hosts =`` conditions (by id) naming files that cannot be read: "ITEM (PATH: REASON)" for each file
    unread: dict[int, tuple[str, ...]] = field(default_factory=dict)
    # what a refusing statement on such hosts does: refuse every class it may refuse (the output), or
    # refuse only the listed hosts, as exim with the file did (what exim provided: mapping.services)
    unread_refuses: bool = True
    # Each answer once: the same ACL is asked about the same classes by several steps. Not copied by
    # dataclasses.replace (a copy for another port starts afresh); ``visited`` already holds what a hit visited.
    _verdicts: dict[tuple[str, str, str | None, int], Verdict] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _greylisters: dict[str, list[AclStatement]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def run(self, name: str, client: str, recipient: str | None, depth: int = 0) -> Verdict:
        """Evaluate ACL ``name`` for one client class (and recipient class, at RCPT)."""
        key = (name, client, recipient, depth)
        verdict = self._verdicts.get(key)
        if verdict is None:
            verdict = self._verdicts[key] = self._run(name, client, recipient, depth)
        return verdict

    def _run(self, name: str, client: str, recipient: str | None, depth: int) -> Verdict:
        acl = self.acls[name]
        self.visited.add(name)
        greylisting_statements = self._greylisters.get(name)
        if greylisting_statements is None:
            greylisting_statements = self._greylisters[name] = greylisting.statements(acl)
        walk = _Walk(greylisting_statements)
        for statement in acl.statements:
            outcome = self._statement(statement, client, recipient, walk, depth)
            if outcome != CONTINUE:
                return Verdict(outcome, statement, walk.notes)
        return Verdict(REJECT, None, walk.notes)

    # -- verbs --------------------------------------------------------------

    def _statement(self, st: AclStatement, client: str, recipient: str | None, walk: _Walk, depth: int) -> str:
        verb = st.verb
        if verb == "warn":
            return CONTINUE
        notes = walk.notes
        before, after = _split_endpass(st.conditions)
        values = [self._condition(c, client, recipient, walk, depth) for c in before]
        if False in values:
            return REJECT if verb == "require" else CONTINUE
        unknown = [c for c, v in zip(before, values, strict=True) if v is None]
        if not after and any(st is g for g in walk.greylisting) and not _splits_class(unknown):
            return self._greylisting(st, unknown, walk)
        unread = [f for c in unknown for f in self.unread.get(id(c), ())]
        if verb in ("accept", "discard"):
            if unknown:
                unreadable = f" ({', '.join(unread)} cannot be read)" if unread else ""
                notes.append(
                    self._note(
                        st,
                        "unmapped",
                        rules.ACL_CONDITIONAL_ACCEPT,
                        f"{verb} only when {_names(unknown)}: smtpd cannot test this{unreadable}, so it is left out",
                        "mail of this kind falls through to the statements after it",
                    )
                )
                return CONTINUE
            post = [self._condition(c, client, recipient, walk, depth) for c in after]
            if False in post or None in post:
                return REJECT
            if verb == "discard":
                notes.append(
                    self._note(
                        st,
                        "approximated",
                        rules.ACL_DISCARD,
                        "discard: smtpd refuses these recipients instead of accepting and dropping them",
                    )
                )
                return REJECT
            return ACCEPT
        if unknown and id(st) in self.blocklists:
            return CONTINUE  # its hosts are refused by a reject rule ahead of every other rule
        if unread and _refuses_listed(verb, unknown):
            # Who is in the file is unknown: whoever it may hold is refused, as exim refused the listed ones.
            if not self.unread_refuses:
                return CONTINUE
            notes.append(
                self._note(
                    st,
                    "unmapped",
                    rules.ACL_DENY_UNREADABLE,
                    f"{verb} when {_names(unknown)}: the hosts it tests are listed in {', '.join(unread)}, which "
                    "cannot be read; smtpd cannot tell them from other clients, so the output refuses every "
                    "client this statement may refuse",
                    rules.ACL_DENY_UNREADABLE.advice,
                )
            )
            return REJECT
        unreadable = f" ({', '.join(unread)} cannot be read)" if unread else ""
        if unknown and _narrows_class(verb, unknown, client):
            notes.append(
                self._note(
                    st,
                    "unmapped",
                    rules.ACL_CLASS_SPLIT,
                    f"{verb} when {_names(unknown)}{unreadable}: exim lets only part of this class of clients or "
                    "domains through, and smtpd cannot tell which part, so the whole class is refused",
                    "give those hosts or domains a named list of their own and an accept statement",
                )
            )
            return REJECT
        if unknown:
            notes.append(
                self._note(
                    st,
                    "unmapped",
                    rules.ACL_FILTER,
                    f"{verb} when {_names(unknown)}{unreadable}: no smtpd match rule can test this",
                    "move the check to rspamd (content, DNSBL, rate limits) or accept the difference",
                )
            )
            return CONTINUE
        if verb == "require":
            return CONTINUE
        return REJECT  # deny, drop, defer with every condition true

    def _note(self, st: AclStatement, severity: str, rule: Rule, message: str, advice: str = "") -> Claim:
        return claim(st, severity, rule, message, advice)

    def _greylisting(self, st: AclStatement, unknown: list[AclCondition], walk: _Walk) -> str:
        """A greylisting statement refuses a class nothing: a retry passes it.

        A ``defer`` that may or may not fire lets the statements after it
        decide, as a retried message finds them. One that fires for the whole
        class accepts it only where an earlier greylisting ``accept`` (the
        retry's pass) could have: otherwise exim never accepts that class.
        """
        walk.notes.append(greylisting.finding(st, self.greylist))
        if st.verb == "accept":
            walk.retry_passes = walk.retry_passes or bool(unknown)
            return CONTINUE if unknown else ACCEPT
        if unknown:
            return CONTINUE
        return ACCEPT if walk.retry_passes else REJECT

    # -- conditions ---------------------------------------------------------

    def _condition(self, cond: AclCondition, client: str, recipient: str | None, walk: _Walk, depth: int) -> Tri:
        if cond.modifier:
            return True
        value = self._positive(cond, client, recipient, walk, depth)
        if value is None:
            return None
        return not value if cond.negated else value

    def _positive(self, cond: AclCondition, client: str, recipient: str | None, walk: _Walk, depth: int) -> Tri:
        text = cond.value.text if cond.value is not None else ""
        if cond.value is not None and cond.value.expansion is not None:
            if cond.name == "condition" and self.port is not None:
                return ports.holds(cond.value.expansion, self.port)  # a test of the port: decided per listener
            return None  # depends on an expansion: decided per message
        name = cond.name
        if name == "hosts":
            return self.universe.hosts_match(text, client)
        if name == "authenticated":
            if client != AUTHENTICATED:
                return False
            return True if text.strip() == "*" else None
        if name == "domains":
            if recipient is None:
                return None
            return self.universe.domains_match(text, recipient)
        if name == "verify":
            if recipient is not None and text.strip() == "recipient":
                # smtpd checks local users and aliases at RCPT itself; other
                # domains verify when they have a route.
                return self.routable.get(recipient, False)
            if recipient in self.delivered_here and _callout_only(text):
                # exim calls out only to remote hosts: an address it delivers here verifies by routing alone
                return self.routable.get(recipient, False)
            return None
        if name == "acl":
            return self._nested(text.strip(), client, recipient, walk, depth)
        if name == "condition":
            lowered = text.strip().lower()
            if lowered in ("true", "yes", "1"):
                return True
            if lowered in ("false", "no", "0", ""):
                return False
        return None

    def _nested(self, name: str, client: str, recipient: str | None, walk: _Walk, depth: int) -> Tri:
        """A sub-ACL's answer; one that accepts whichever way its untestable statements go is an answer too.

        Its conditional accepts (taken as not firing, and the class accepted
        anyway) and its greylisting (which a retry passes) leave the answer
        certain; their findings go up with it.
        """
        if name not in self.acls or depth >= MAX_NESTING:
            return None
        verdict = self.run(name, client, recipient, depth + 1)
        if not verdict.notes:
            return verdict.result == ACCEPT
        if verdict.result == ACCEPT and all(n.rule in PASSED_ON for _, n in verdict.notes):
            walk.notes += verdict.notes
            return True
        return None


@dataclass
class _Walk:
    """One run through one ACL: its findings so far, and whether a greylisting accept could have passed a retry."""

    greylisting: list[AclStatement]
    notes: list[Claim] = field(default_factory=list)
    retry_passes: bool = False


# Findings of a sub-ACL that accepted which do not make its answer uncertain.
PASSED_ON = frozenset((rules.ACL_CONDITIONAL_ACCEPT, rules.GREYLIST_RSPAMD, rules.GREYLIST_LOST))


def _callout_only(text: str) -> bool:
    """``recipient/callout...``: recipient verification whose only options are about callouts."""
    head, *options = [part.strip() for part in text.strip().split("/")]
    return head == "recipient" and bool(options) and all(o.split("=")[0] in ("callout", "defer_ok") for o in options)


# Conditions about who connects or which class a recipient is in: unlike sender
# or content checks, ignoring one of these changes who may relay.
CLASS_CONDITIONS = frozenset(("hosts", "domains", "authenticated", "acl"))


def _narrows_class(verb: str, unknown: list[AclCondition], client: str) -> bool:
    """A statement that decides part of a class on who connects or which domain is asked for,
    which smtpd cannot split: skipping it would let that part through, so the class is refused.

    The one exception is a plain ``deny hosts = ...`` (a blocklist by name or
    lookup) for the open classes, anyone and authenticated users: refusing them
    would refuse all inbound mail, so it stays a reported filter, as sender and
    content checks do. For a trusted network table it refuses: there the
    overlap is part of a finite, known set of hosts (the fuzzer's fourth find).
    """
    if not all(_splits_class([c]) for c in unknown):
        return False  # a per-message check (sender, content, lookups): a filter rspamd may take over
    if verb == "require" or any(c.negated or _has_negated_item(c) for c in unknown):
        return True
    return any(c.name != "hosts" for c in unknown) or client not in (ANYONE, AUTHENTICATED)


def _refuses_listed(verb: str, unknown: list[AclCondition]) -> bool:
    """A deny (drop, defer) of the hosts a list holds, whatever else it tests being about who connects or
    which domain is asked for: what a file of hosts that cannot be read leaves unknown is whom it refuses.

    A ``require``, or a negated list (``!hosts``, ``! item``), lets only the listed hosts through: the
    class split decides those (the whole class is refused).
    """
    if verb == "require" or not all(_splits_class([c]) for c in unknown):
        return False
    return not any(c.negated or _has_negated_item(c) for c in unknown)


def _splits_class(unknown: list[AclCondition]) -> bool:
    """Some untestable condition is about who connects or which domain is asked for, not about the message."""
    return any(c.name in CLASS_CONDITIONS and not (c.value and c.value.expansion) for c in unknown)


def _has_negated_item(cond: AclCondition) -> bool:
    text = cond.value.text if cond.value is not None else ""
    return any(item.text.lstrip().startswith("!") for item in split_list(text)[1])


def _split_endpass(conditions: tuple[AclCondition, ...]) -> tuple[list[AclCondition], list[AclCondition]]:
    for index, cond in enumerate(conditions):
        if cond.name == "endpass":
            return list(conditions[:index]), list(conditions[index + 1 :])
    return list(conditions), []


def _names(conditions: list[AclCondition]) -> str:
    return ", ".join(f"{'!' if c.negated else ''}{c.name}" for c in conditions)
