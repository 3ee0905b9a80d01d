"""The report as one self-contained HTML page, for the people who decide whether to switch over.

A reviewer who will not run the tool reads it in a browser or on paper: the
services exim provided (kept or lost, and how to restore a lost one), who may
send mail where (exim's decision against smtpd's, from ``verify`` when its
JSON is given, else from the conversion itself and labelled so), and every
finding with the user's own exim text next to the output lines it became.

The page has inline CSS only and no script, so it reads the same offline, in
a mail attachment or printed. Every value goes through Jinja's autoescape;
secrets were redacted when the report was built and are redacted again here
(verify's JSON and the output files quoted are not the report's). There is no
date in it: the same input gives the same bytes.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jinja2

from migrate import __version__
from migrate.errors import Diagnostic, Span
from migrate.model import (
    ANY_DOMAIN,
    ANYONE,
    AUTHENTICATED,
    HOSTED_DOMAINS,
    LOCAL_CLIENT,
    LOCAL_DOMAINS,
    RECIPIENT_CLASSES,
    RELAY_DOMAINS,
    ClientClass,
    Decision,
    MatchRule,
    Policy,
)
from migrate.platforms import platform as get_platform
from migrate.redact import redact_text
from migrate.render import Rendered
from migrate.render.base import make_env
from migrate.report import Report
from migrate.report.formats import GRADE_REASONS, grade_reason

TEMPLATE = "report/report.html.j2"
NOT_VERIFIED = "from the conversion, not verified"

CLIENT_LABELS = {LOCAL_CLIENT: "local socket", AUTHENTICATED: "authenticated", ANYONE: "outside"}
RECIPIENT_LABELS = {
    LOCAL_DOMAINS: "local domain",
    HOSTED_DOMAINS: "hosted domain",
    RELAY_DOMAINS: "relayed domain",
    ANY_DOMAIN: "outside",
    "alias": "alias",
}
# The smtpd tables whose ``for domain <...>`` covers a whole recipient class (virtual_domains is a subset).
_CLASS_TABLES = {
    LOCAL_DOMAINS: ("local_domains", "local_domains_sql"),
    HOSTED_DOMAINS: ("hosted_domains", "hosted_domains_sql"),
    RELAY_DOMAINS: ("relay_domains", "relay_domains_sql"),
    ANY_DOMAIN: (),
}


@dataclass(frozen=True)
class Cell:
    """One client class and recipient class: what each side did, and whether they agree."""

    exim: tuple[str, ...]
    smtpd: tuple[str, ...]
    verdict: str  # "same" | "differs" | "regression" (smtpd accepts what exim refused) | "not-comparable"
    detail: str = ""


@dataclass(frozen=True)
class Row:
    """A client class (on one port, where exim's policy differs by port) and its cells, one per column."""

    label: str
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Matrix:
    """Who may send mail where, exim against smtpd, and where that came from."""

    verified: bool
    provenance: str
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    cases: tuple[dict[str, str], ...] = ()  # verify: every case that differs, in full
    uncomparable: tuple[tuple[str, int, tuple[str, ...]], ...] = ()  # verify: reason, how many, which cases
    notes: tuple[str, ...] = ()
    counts: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True)
class OutputLine:
    """One output line a statement became: where, and its text (None: a secrets file, never quoted)."""

    target: str
    text: str | None


def to_html(
    report: Report,
    verify: Mapping[str, Any] | None = None,
    *,
    policy: Policy | None = None,
    rendered: Rendered | None = None,
) -> str:
    """The whole page, as ``report --format html`` writes it to standard output.

    ``verify`` is ``exim2smtpd verify --json`` parsed: the matrix then shows what the
    real daemons answered. ``policy`` and ``rendered`` are the conversion's
    (``Result.policy``, ``Result.rendered``): they give the platform, the matrix when
    there is no verify result, and the text of the output lines findings became.
    """
    traffic = replayed_traffic(verify) if verify is not None and verify.get("from_log") else None
    if traffic is not None:
        verify = None  # the log's verdicts are weighted groups, not verify's client x recipient cases
    matrix = verified_matrix(verify) if verify is not None else policy_matrix(policy) if policy else None
    return _template().render(
        version=__version__,
        given=(policy.given if policy and policy.given else report.config_path),
        files=[os.path.relpath(f) if os.path.isabs(f) else f for f in report.files],
        platform=_platform(policy),
        grade=report.grade,
        grade_meaning=GRADE_REASONS[report.grade],
        grade_reason=grade_reason(report, "the findings below"),
        counts=report.counts(),
        services=_services(report),
        lost=len(report.lost),
        matrix=matrix,
        traffic=traffic,
        sections=_sections(report, rendered),
        notes=[_note(n) for n in report.notes],
        statements=_statements(report),
    )


@functools.cache
def _template() -> jinja2.Template:
    """The page template, from the templates the renderers use, with autoescape on (theirs is off)."""
    env = jinja2.Environment(
        loader=make_env().loader,
        undefined=jinja2.StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env.get_template(TEMPLATE)


def _platform(policy: Policy | None) -> str:
    if policy is None:
        return "not given to the HTML report"
    return f"{get_platform(policy.platform).label} (--platform {policy.platform})"


# -- services -------------------------------------------------------------------------


def _services(report: Report) -> list[dict[str, object]]:
    """Lost services first; each with the exim statements it came from, in the user's words."""
    texts = {e.span: e.source for e in report.entries}
    return [
        {
            "title": state.service.title,
            "kept": state.kept,
            "why": redact_text(state.why),
            "origin": [(_where(span), texts.get(span, "")) for span in state.service.origin if span.line],
            "steps": [redact_text(s) for s in state.steps],
        }
        for state in sorted(report.services, key=lambda s: s.kept)
    ]


# -- findings and statements ----------------------------------------------------------


def _sections(report: Report, rendered: Rendered | None) -> list[tuple[str, list[dict[str, object]]]]:
    """The findings (unmapped, then approximated) grouped by the section of the configuration they are in."""
    grouped: dict[str, list[dict[str, object]]] = {name: [] for name in report.sections()}
    for entry in report.findings():
        grouped.setdefault(entry.section, []).append(_finding(entry, rendered))
    return [(name, found) for name, found in grouped.items() if found]


def _finding(entry: Diagnostic, rendered: Rendered | None) -> dict[str, object]:
    return {
        "bucket": entry.severity,
        "rule": entry.rule.id,
        "summary": entry.rule.summary,
        "option": entry.option,
        "where": str(entry.span),
        "message": redact_text(entry.message),
        "advice": redact_text(entry.advice),
        "source": entry.source,
        "became": [_output_line(t, rendered) for t in entry.targets],
    }


def _output_line(target: str, rendered: Rendered | None) -> OutputLine:
    """The text of an output line (``smtpd.conf:14``) and its continuation lines, from what render wrote."""
    name, _, number = target.rpartition(":")
    if rendered is None or name not in rendered.files or not number.isdigit():
        return OutputLine(target, "")
    if name in rendered.secret:
        return OutputLine(target, None)
    lines = rendered.files[name].splitlines()
    at = int(number) - 1
    end = at
    while end + 1 < len(lines) and lines[end].rstrip().endswith("\\"):
        end += 1
    return OutputLine(target, redact_text("\n".join(lines[at : end + 1])))


def _statements(report: Report) -> list[dict[str, object]]:
    """Every statement read and every part of one, in file order: the whole accounting."""
    entries = sorted(report.entries, key=lambda e: (e.span.file, e.span.line, e.span.col, e.rule.id))
    return [
        {
            "where": str(e.span),
            "part": e.parent is not None,
            "section": e.section,
            "bucket": e.severity,
            "rule": e.rule.id,
            "source": e.source,
            "became": _compact(e.targets),
        }
        for e in entries
    ]


def _compact(targets: tuple[str, ...]) -> str:
    """``smtpd.conf:8, 85, 86; rspamd/local.d/rbl.conf:3``: each file named once, its lines in order given."""
    lines: dict[str, list[str]] = {}
    for target in targets:
        name, _, number = target.rpartition(":")
        lines.setdefault(name, []).append(number)
    return "; ".join(f"{name}:{', '.join(numbers)}" for name, numbers in lines.items())


def _note(note: Diagnostic) -> dict[str, str]:
    return {
        "where": str(note.span),
        "severity": note.severity,
        "rule": note.rule.id,
        "message": redact_text(note.message),
        "advice": redact_text(note.advice),
    }


def _where(span: Span) -> str:
    return f"{span.file}:{span.line}"


# -- the server's own traffic, from verify --from-log ------------------------------------


def replayed_traffic(result: Mapping[str, Any]) -> dict[str, Any]:
    """``verify --from-log --json``: its headline and groups, as printed (local parts as hidden there)."""
    groups = []
    for group in result.get("groups", ()):
        examples = [_replayed_example(e) for e in group.get("examples", ())]
        reason = next((str(e.get("reason", "")) for e in group.get("examples", ())), "")
        groups.append(
            {
                "verdict": "regression" if group.get("regression") else str(group.get("verdict", "")).replace(" ", "-"),
                "classes": f"{group.get('client_class', '?')} -> {group.get('recipient_class', '?')}",
                "exim": str(group.get("exim", "")),
                "smtpd": str(group.get("smtpd", "")),
                "recipients": int(group.get("recipients", 0)),
                "reason": reason,
                "examples": examples,
            }
        )
    return {"headline": str(result.get("headline", "")), "groups": groups}


def _replayed_example(example: Mapping[str, Any]) -> str:
    count, client = int(example.get("recipients", 0)), example.get("client", "")
    return f"{count:,}x {client} from {example.get('sender') or '<>'} to {example.get('recipient', '')}"


# -- the matrix from verify -------------------------------------------------------------


def verified_matrix(result: Mapping[str, Any]) -> Matrix:
    """The matrix from ``exim2smtpd verify --json``: each cell sums up the cases of its classes."""
    outcomes = list(result.get("outcomes", ()))
    rows: dict[tuple[str, int, bool], dict[str, list[Mapping[str, Any]]]] = {}
    columns: dict[str, None] = {c: None for c in RECIPIENT_CLASSES if any(_rclass(o) == c for o in outcomes)}
    for outcome in outcomes:
        columns.setdefault(_rclass(outcome), None)
        rows.setdefault(_row_key(outcome), {}).setdefault(_rclass(outcome), []).append(outcome)
    order = sorted(rows, key=lambda k: (_client_rank(k[0]), k[2], k[1]))
    return Matrix(
        verified=True,
        provenance="verified: the real exim and the real smtpd answered the same cases (exim2smtpd verify)",
        columns=tuple(_recipient_label(c) for c in columns),
        rows=tuple(Row(_row_label(key), tuple(_verified_cell(rows[key].get(c, [])) for c in columns)) for key in order),
        cases=tuple(_case_row(o) for o in outcomes if o.get("verdict") == "differs"),
        uncomparable=_uncomparable(outcomes),
        notes=tuple(redact_text(str(n)) for n in result.get("notes", ())),
        counts=tuple((str(k), int(v)) for k, v in dict(result.get("counts", {})).items()),
    )


def _case(outcome: Mapping[str, Any]) -> Mapping[str, Any]:
    return outcome.get("case", {})


def _rclass(outcome: Mapping[str, Any]) -> str:
    return str(_case(outcome).get("recipient_class", "?"))


def _row_key(outcome: Mapping[str, Any]) -> tuple[str, int, bool]:
    case = _case(outcome)
    return str(case.get("client_class", "?")), int(case.get("port") or 0), bool(case.get("login"))


def _row_label(key: tuple[str, int, bool]) -> str:
    client, port, login = key
    label = _client_label(client) + (", logging in with a wrong password" if login else "")
    return label + (f", port {port}" if port else "")


def _client_rank(client: str) -> int:
    return {LOCAL_CLIENT: 0, AUTHENTICATED: 2, ANYONE: 3}.get(client, 1)


def _client_label(client: str) -> str:
    return CLIENT_LABELS.get(client, f"relay net {client}")


def _recipient_label(recipient: str) -> str:
    return RECIPIENT_LABELS.get(recipient, recipient.replace("-", " "))


def _verified_cell(outcomes: list[Mapping[str, Any]]) -> Cell:
    if not outcomes:
        return Cell((), (), "none", "no case asked")
    verdicts = [str(o.get("verdict", "")) for o in outcomes]
    if any(o.get("regression") for o in outcomes):
        verdict = "regression"
    elif "differs" in verdicts:
        verdict = "differs"
    elif "same" in verdicts:
        verdict = "same"
    else:
        verdict = "not-comparable"
    tally = ", ".join(f"{verdicts.count(v)} {v}" for v in dict.fromkeys(verdicts))
    return Cell(
        _tally(_answer(o.get("exim", {}), "router") for o in outcomes),
        _tally(_answer(o.get("smtpd", {}), "action") for o in outcomes),
        verdict,
        f"{len(outcomes)} case{'s' * (len(outcomes) != 1)}: {tally}",
    )


def _tally(answers: Iterable[str]) -> tuple[str, ...]:
    """Each distinct answer once, with how many cases got it when the cases got different ones."""
    found: dict[str, int] = {}
    for answer in answers:
        found[answer] = found.get(answer, 0) + 1
    if len(found) == 1:
        return tuple(found)
    return tuple(f"{answer}, {count} case{'s' * (count != 1)}" for answer, count in found.items())


def _answer(answer: Mapping[str, Any], via: str) -> str:
    """``accepts (250) via router staff``, ``refuses (550)``, ``no answer``."""
    code = answer.get("code")
    if not isinstance(code, int):
        return "no answer"
    verb = "accepts" if 200 <= code < 300 else "defers" if 400 <= code < 500 else "refuses"
    route = answer.get("route")
    return f"{verb} ({code})" + (f" via {via} {route}" if route and verb == "accepts" else "")


def _case_row(outcome: Mapping[str, Any]) -> dict[str, str]:
    """One differing case, with both answers word for word (redacted)."""
    case = _case(outcome)
    exim, smtpd = outcome.get("exim", {}), outcome.get("smtpd", {})
    return {
        "client": _case_client(case),
        "recipient": redact_text(str(case.get("recipient", ""))),
        "classes": f"{_client_label(str(case.get('client_class', '?')))} → {_recipient_label(_rclass(outcome))}",
        "exim": f"{_answer(exim, 'router')}: {redact_text(str(exim.get('text', '')))}",
        "smtpd": f"{_answer(smtpd, 'action')}: {redact_text(str(smtpd.get('text', '')))}",
        "reason": redact_text(str(outcome.get("reason", ""))),
        "regression": "yes" if outcome.get("regression") else "",
    }


def _case_client(case: Mapping[str, Any]) -> str:
    text = str(case.get("client", ""))
    if case.get("port"):
        text += f" on port {case['port']}"
    if case.get("login"):
        text += f", login {case['login']}"
    elif case.get("authenticated"):
        text += ", authenticated"
    return redact_text(text)


def _uncomparable(outcomes: Iterable[Mapping[str, Any]]) -> tuple[tuple[str, int, tuple[str, ...]], ...]:
    """Cases neither side could be held to, by reason, most frequent first; every case named, by client."""
    found: dict[str, dict[str, list[str]]] = {}
    for outcome in outcomes:
        if outcome.get("verdict") == "not comparable":
            case = _case(outcome)
            reason = redact_text(str(outcome.get("reason", "")))
            found.setdefault(reason, {}).setdefault(_case_client(case), []).append(
                redact_text(str(case.get("recipient", "")))
            )
    ranked = sorted(found.items(), key=lambda item: -sum(map(len, item[1].values())))
    return tuple(
        (
            reason,
            sum(map(len, clients.values())),
            tuple(f"{client} → {', '.join(recipients)}" for client, recipients in clients.items()),
        )
        for reason, clients in ranked
    )


# -- the matrix from the conversion -----------------------------------------------------


def policy_matrix(policy: Policy) -> Matrix:
    """The matrix from the conversion: exim's decisions against the match rules written for them.

    Not verified: both sides are the converter's own reading. smtpd's side is
    the first match rule, in order, for a session of that class; rules for some
    addresses only (a recipient regex, the virtual domains) decide no class.
    """
    tags = list(dict.fromkeys(d.tag for d in policy.decisions))
    rows: list[Row] = []
    columns = _policy_columns(policy)
    for client in policy.clients:
        for tag in tags:
            decisions = [d for d in policy.decisions if d.client == client.name and d.tag == tag]
            if decisions:
                label = _client_label(client.name) + _ports(policy, tag)
                rows.append(Row(label, tuple(_policy_cell(policy, client, decisions, r, tag) for r in columns)))
    return Matrix(
        verified=False,
        provenance=f"{NOT_VERIFIED}: exim's decisions as the converter read them, against the match rules it wrote",
        columns=tuple(_recipient_label(c) for c in columns),
        rows=tuple(rows),
    )


def _policy_columns(policy: Policy) -> list[str]:
    """Local domains and outside always; another class only where some client may send to it."""
    return [
        r
        for r in RECIPIENT_CLASSES
        if r in (LOCAL_DOMAINS, ANY_DOMAIN) or any(d.accept and d.recipient == r for d in policy.decisions)
    ]


def _ports(policy: Policy, tag: str | None) -> str:
    ports = sorted({li.port for li in policy.listeners if tag and li.tag == tag})
    return f", port {', '.join(map(str, ports))}" if ports else ""


def _policy_cell(
    policy: Policy, client: ClientClass, decisions: list[Decision], recipient: str, tag: str | None
) -> Cell:
    decision = next((d for d in decisions if d.recipient == recipient), None)
    exim_accepts = decision is not None and decision.accept
    exim = f"accepts via action {decision.action}" if decision and decision.accept else "refuses"
    rule = first_match(policy.rules, client, recipient, tag)
    smtpd_accepts = rule is not None and rule.action is not None
    smtpd = f"accepts via action {rule.action}" if rule and rule.action else "refuses"
    verdict = "same" if smtpd_accepts == exim_accepts else "regression" if smtpd_accepts else "differs"
    origin = ", ".join(
        dict.fromkeys(f"{os.path.basename(s.file)}:{s.line}" for s in (decision.origin if decision else ()))
    )
    return Cell((exim,), (smtpd + ("" if rule else " (no rule matches)"),), verdict, origin and f"exim: {origin}")


def first_match(rules: tuple[MatchRule, ...], client: ClientClass, recipient: str, tag: str | None) -> MatchRule | None:
    """The first match rule that decides a session of this client class for this recipient class."""
    for rule in rules:
        if rule.rcpt_regex_table or rule.destination_table == "virtual_domains":
            continue  # it decides for some addresses only, not for the class
        if rule.tag not in (None, tag):
            continue  # for sessions on another port's listeners
        if _from_matches(rule, client) and _for_matches(rule, recipient):
            return rule
    return None


def _from_matches(rule: MatchRule, client: ClientClass) -> bool:
    session = "auth" if client.name == AUTHENTICATED else "any" if client.name == ANYONE else "src"
    if client.name == LOCAL_CLIENT:
        session = "loopback" if client.table == "loopback" else "socket"
    if rule.source == "any":
        hit = True
    elif rule.source == "auth":
        hit = session == "auth"
    elif rule.source == "local":
        hit = session in ("socket", "loopback")
    elif rule.source == "socket":
        hit = session == "socket"
    else:
        hit = session == "src" and rule.source_table == client.table
    return hit != rule.negate_source


def _for_matches(rule: MatchRule, recipient: str) -> bool:
    if rule.destination == "any":
        hit = True
    elif rule.destination == "local":
        hit = recipient == LOCAL_DOMAINS
    else:
        hit = rule.destination_table in _CLASS_TABLES.get(recipient, ())
    return hit != rule.negate_destination
