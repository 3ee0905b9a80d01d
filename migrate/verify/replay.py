"""``verify --from-log``: the server's own traffic as the questions, exim's logged decisions as its answers.

``verify`` invents its probes from the policy; the exim main log holds the
questions clients really asked and what exim really did with each. Every
recipient in the log becomes a transaction (``mainlog``); identical ones are
counted once, the most frequent are put to the new smtpd (``--sample``, the
most frequent of each client class x recipient class x exim decision first),
and exim's answer is the one it logged: exim is not run, and the traffic's
weight decides how much each difference matters.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import shutil
import socket
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from migrate.commands.convert import convert
from migrate.model import ANYONE, AUTHENTICATED, LOCAL_CLIENT, Policy
from migrate.options import Options
from migrate.verify import (
    DIFFERS,
    NOT_COMPARABLE,
    SAME,
    Outcome,
    asked_output,
    compare,
    daemons,
    helo_checks,
    smtpd_side,
)
from migrate.verify.cases import Case
from migrate.verify.exim_side import Answer, Progress, quiet
from migrate.verify.mainlog import LogSummary, Transaction, read_logs

SAMPLE = 2000  # distinct questions put to smtpd, at most (--sample)
CACHED = 65_536  # client addresses and recipients whose class is remembered
READING = 10_000  # recipients read between two progress reports
DISTINCT = 50_000  # distinct questions kept while reading, at most (memory)
EXAMPLES = 3  # per group of differences


@dataclass(frozen=True)
class Question:
    """One distinct question from the log: the case asked, and each answer exim logged for it, with its count."""

    case: Case
    answers: tuple[tuple[Answer, int], ...]

    @property
    def weight(self) -> int:
        """How many recipients in the log asked this question."""
        return sum(count for _, count in self.answers)


@dataclass(frozen=True)
class Traffic:
    """What the log holds, before any daemon is asked."""

    questions: tuple[Question, ...]  # the sample, most frequent first
    recipients: int  # transactions with a recipient, in all
    not_sampled: int  # recipients whose question is outside the sample
    without_recipient: Counter[str] = field(default_factory=Counter)  # refusals before RCPT, by stage
    summary: LogSummary | None = None


def read_traffic(
    paths: Sequence[str | Path],
    policy: Policy,
    sample: int = SAMPLE,
    *,
    distinct: int = DISTINCT,
    reading: Callable[[int], None] | None = None,
) -> Traffic:
    """The log's recipients as questions for smtpd, deduplicated, counted and sampled.

    At most ``distinct`` different questions are kept while reading (memory
    stays bounded on a month of mail from ever new addresses): past that, a
    question of a kind not yet seen is still kept, any other new one is
    counted as not asked. A frequent question shows up long before the limit.
    ``reading`` hears how many recipients have been read, every ``READING`` of them.
    """
    summary = LogSummary()
    classes = _Classes(policy)
    # keyed by the transaction's own fields, which are cheap to hash: a Case and an Answer are made once per
    # distinct question and answer, not once per recipient (a third of the time on a million-line log)
    grouped: dict[tuple[str, int, bool, str, str], Counter[tuple[str, str, str, str]]] = {}
    cases: dict[tuple[str, int, bool, str, str], Case] = {}
    kinds: set[tuple[str, str, int]] = set()
    without: Counter[str] = Counter()
    recipients = 0
    for transaction in read_logs(paths, summary):
        recipient = transaction.recipient
        if not recipient:
            without[transaction.stage or transaction.decision] += 1
            continue
        recipients += 1
        if reading is not None and recipients % READING == 0:
            reading(recipients)
        asked = (transaction.client, transaction.port, transaction.authenticated, transaction.sender, recipient)
        answers = grouped.get(asked)
        if answers is None:
            kind = classes.kind(transaction)
            if len(grouped) >= distinct and kind in kinds:
                continue  # counted as not asked
            kinds.add(kind)
            cases[asked] = classes.case(transaction)
            answers = grouped[asked] = Counter()
        answers[transaction.decision, transaction.reason, transaction.outcome, transaction.router] += 1
    merged: dict[Case, Counter[Answer]] = {}
    for asked, answered in grouped.items():
        into = merged.setdefault(cases[asked], Counter())  # two spellings of one question (a socket's port)
        for fields, count in answered.items():
            into[_answer(*fields)] += count
    questions = [Question(case, tuple(answers.most_common())) for case, answers in merged.items()]
    chosen = choose(questions, sample)
    return Traffic(tuple(chosen), recipients, recipients - sum(q.weight for q in chosen), without, summary)


def logged_answer(transaction: Transaction) -> Answer:
    """exim's decision as verify's other answers put it: the RCPT's code class, and the router that took it."""
    return _answer(transaction.decision, transaction.reason, transaction.outcome, transaction.router)


_REFUSED = {"rejected": (550, "rejected"), "deferred": (450, "temporarily rejected")}  # code, text without a reason


def _answer(decision: str, reason: str, outcome: str, router: str) -> Answer:
    if decision in _REFUSED:
        code, text = _REFUSED[decision]
        return Answer(code, reason or text)
    if outcome == "failed":  # accepted at RCPT, then its routers (or the remote host) failed it
        return Answer(250, f"accepted, then failed: {reason}", None, unroutable=True)
    return Answer(250, f"accepted ({outcome})", router or None)


def choose(questions: list[Question], most: int) -> list[Question]:
    """At most ``most`` questions: the most frequent of each kind first, then by weight.

    A kind is the client class, the recipient class and exim's first answer's
    code class: a rare open-relay attempt is asked even in a month of inbound mail.
    """
    by_weight = sorted(questions, key=lambda q: (-q.weight, q.case.client, q.case.recipient))
    first: dict[tuple[str, str, int], Question] = {}
    for question in by_weight:
        first.setdefault(_kind(question.case, question.answers[0][0]), question)
    leaders = list(first.values())[:most]
    taken = {id(q) for q in leaders}
    rest = [q for q in by_weight if id(q) not in taken][: max(0, most - len(leaders))]
    return sorted(leaders + rest, key=lambda q: -q.weight)


def _kind(case: Case, answer: Answer) -> tuple[str, str, int]:
    """What the sample keeps one question of at least: client class, recipient class, exim's code class."""
    return case.client_class, case.recipient_class, (answer.code or 0) // 100


class _Classes:
    """The policy's client and recipient classes, for any address the log names.

    A recipient at the server's own name (exim's ``@``, smtpd's ``for local``)
    is asked at the name of the machine smtpd runs on, which ``for local`` means there.
    """

    def __init__(self, policy: Policy) -> None:
        own = policy.identity.hostname or policy.identity.own_name
        self.own_name = own.lower() if own and any(r.destination == "local" for r in policy.rules) else None
        self.here = socket.gethostname().lower()
        # asked once per log line: a busy server's clients and domains repeat
        self.client_class: Callable[[str, bool], str] = functools.lru_cache(maxsize=CACHED)(self._client_class)
        self.recipient: Callable[[str], tuple[str, str]] = functools.lru_cache(maxsize=CACHED)(self._recipient)
        self.networks: list[tuple[str, list[ipaddress.IPv4Network | ipaddress.IPv6Network]]] = []
        for client in policy.clients:
            table = policy.table(client.table or "") if client.table else None
            if table is not None and table.kind == "networks":
                self.networks.append((client.name, [n for e in table.entries if (n := _network(e)) is not None]))
        self.domains = {
            "local-domains": _DomainSet(policy, "local_domains"),
            "hosted-domains": _DomainSet(policy, "hosted_domains"),
            "relay-domains": _DomainSet(policy, "relay_domains"),
        }

    def case(self, transaction: Transaction) -> Case:
        recipient, recipient_class = self.recipient(transaction.recipient)
        return Case(
            transaction.client,
            recipient,
            self.client_class(transaction.client, transaction.authenticated),
            recipient_class,
            authenticated=transaction.authenticated,
            sender=transaction.sender,
            port=0 if transaction.client == "socket" else transaction.port,
        )

    def kind(self, transaction: Transaction) -> tuple[str, str, int]:
        """The case's kind (``_kind``) without making the case: asked of every new question while reading."""
        return (
            self.client_class(transaction.client, transaction.authenticated),
            self.recipient(transaction.recipient)[1],
            _REFUSED.get(transaction.decision, (250,))[0] // 100,
        )

    def _recipient(self, recipient: str) -> tuple[str, str]:
        """The recipient as smtpd is asked it, and its class."""
        local, _, domain = recipient.rpartition("@")
        if self.own_name is not None and domain.lower() == self.own_name:
            return f"{local}@{self.here}", "local-domains"
        return recipient, self._recipient_class(recipient)

    def _client_class(self, client: str, authenticated: bool) -> str:
        if client == "socket":
            return LOCAL_CLIENT
        if authenticated:
            return AUTHENTICATED
        try:
            address = ipaddress.ip_address(client)
        except ValueError:
            return ANYONE
        for name, networks in self.networks:
            if any(address.version == n.version and address in n for n in networks):
                return name
        return ANYONE

    def _recipient_class(self, recipient: str) -> str:
        domain = recipient.rpartition("@")[2].lower()
        for name, domains in self.domains.items():
            if domain in domains:
                return name
        return "other-domains"


class _DomainSet:
    """A domain table's literal entries and ``*.x`` suffixes."""

    def __init__(self, policy: Policy, name: str) -> None:
        table = policy.table(name)
        entries = [e.lower() for e in table.entries] if table is not None else []
        self.exact = {e for e in entries if not e.startswith("*.")}
        self.suffixes = tuple(e[1:] for e in entries if e.startswith("*."))

    def __contains__(self, domain: object) -> bool:
        return isinstance(domain, str) and (domain in self.exact or domain.endswith(self.suffixes))


def _network(entry: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        return None


def hidden(address: str) -> str:
    """An address with its local part hidden: what is printed unless --show-addresses."""
    local, at, domain = address.rpartition("@")
    if not at:
        return "***" if address else address
    return f"***@{domain}" if local else address


@dataclass(frozen=True)
class Weighed:
    """One answer exim logged for a question, smtpd's answer, the verdict, and how many recipients it stands for."""

    outcome: Outcome
    count: int


@dataclass(frozen=True)
class ReplayResult:
    """The sample's verdicts weighted by traffic, regressions first."""

    traffic: Traffic
    weighed: tuple[Weighed, ...]

    @property
    def return_code(self) -> int:
        """As verify's: 0 when every comparable recipient agrees, 2 when any differs."""
        return 2 if any(w.outcome.verdict == DIFFERS for w in self.weighed) else 0

    def totals(self) -> dict[str, int]:
        """Recipients by verdict; ``not asked``: outside the sample."""
        totals = {"recipients": self.traffic.recipients, SAME: 0, DIFFERS: 0, NOT_COMPARABLE: 0}
        for item in self.weighed:
            totals[item.outcome.verdict] += item.count
        totals["not asked"] = self.traffic.not_sampled
        totals["regressions"] = sum(w.count for w in self.weighed if w.outcome.regression)
        return totals

    def groups(self) -> list[Group]:
        """The differences and the not-comparable, grouped by what differs, security regressions first."""
        found: dict[tuple[object, ...], list[Weighed]] = {}
        for item in self.weighed:
            outcome = item.outcome
            if outcome.verdict == SAME:
                continue
            key = (
                outcome.verdict,
                outcome.regression,
                outcome.case.client_class,
                outcome.case.recipient_class,
                _decision(outcome.exim),
                _decision(outcome.smtpd),
                outcome.reason if outcome.verdict == NOT_COMPARABLE else "",
            )
            found.setdefault(key, []).append(item)
        groups = [
            Group(
                verdict=str(key[0]),
                regression=bool(key[1]),
                client_class=str(key[2]),
                recipient_class=str(key[3]),
                exim=str(key[4]),
                smtpd=str(key[5]),
                count=sum(i.count for i in items),
                examples=tuple(sorted(items, key=lambda i: -i.count)[:EXAMPLES]),
            )
            for key, items in found.items()
        ]
        return sorted(groups, key=lambda g: (not g.regression, g.verdict != DIFFERS, -g.count))


@dataclass(frozen=True)
class Group:
    """Recipients that differ alike: one client class, one recipient class, one pair of decisions."""

    verdict: str
    regression: bool
    client_class: str
    recipient_class: str
    exim: str
    smtpd: str
    count: int
    examples: tuple[Weighed, ...]


# exim's logged refusal reasons, and the ACL condition that gives each one
REFUSED_BY = (
    ("sender verify failed", re.compile(r"\bverify\s*=\s*sender\b")),
    ("unrouteable address", re.compile(r"\bverify\s*=\s*recipient\b")),
    ("unknown user", re.compile(r"\bverify\s*=\s*recipient\b")),
    ("listed at", re.compile(r"\bdnslists\s*=")),
    ("is listed", re.compile(r"\bdnslists\s*=")),
)


def _with_finding(policy: Policy, outcome: Outcome) -> Outcome:
    """A regression whose refusal the converter reported as not carried over names that finding.

    It stays a regression (smtpd does accept it), but the admin reads at once
    which exim statement is missing: the log names exim's reason, not its line.
    """
    if not outcome.regression:
        return outcome
    said = outcome.exim.text.lower()
    for reason, condition in REFUSED_BY:
        if reason not in said:
            continue
        for finding in policy.findings:
            if finding.severity in ("unmapped", "approximated") and condition.search(finding.source):
                where = f"[{finding.rule.id}] {finding.span.file}:{finding.span.line}"
                return replace(
                    outcome, reason=f"{outcome.reason}; the converter reports it: {where}: {finding.message}"
                )
    return outcome


def _decision(answer: Answer) -> str:
    if answer.code is None or answer.code // 100 == 4:
        return "deferred"
    if answer.code < 300:
        return f"accepted ({answer.route})" if answer.route else "accepted"
    return "refused"


def replay(
    configure: str,
    logs: Sequence[str | Path],
    out_dir: str | None = None,
    options: Options | None = None,
    *,
    sample: int = SAMPLE,
    smtpd: str | None = None,
    system: str | None = None,
    progress: Progress | None = None,
    reading: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Put the log's questions to the smtpd of ``out_dir`` (or of a fresh conversion) and weigh the verdicts.

    Raises OSError for a log that cannot be opened and SideError when smtpd cannot be asked.
    """
    options = options or Options()
    result = convert(configure, options)
    text, files = asked_output(result.files, out_dir)
    policy = result.policy
    traffic = read_traffic(logs, policy, sample, reading=reading)
    root = Path(options.root).resolve() if options.root != "/" else None
    binary, system_root = daemons.find_smtpd(smtpd, system)
    cases = [q.case for q in traffic.questions]
    workdir = Path(tempfile.mkdtemp(prefix="exim2smtpd-replay-"))
    try:
        workdir.chmod(0o700)  # the log's addresses: no one else's to read
        answers = smtpd_side.ask(binary, text, cases, workdir / "smtpd", root, files, system_root, progress or quiet)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    helo = helo_checks(result.config, policy)
    weighed = [
        Weighed(_with_finding(policy, compare(policy, q.case, exim, answers[q.case], helo)), count)
        for q in traffic.questions
        for exim, count in q.answers
    ]
    weighed.sort(key=lambda w: (not w.outcome.regression, w.outcome.verdict != DIFFERS, -w.count))
    return ReplayResult(traffic, tuple(weighed))
