"""Terminal and JSON output of ``verify --from-log``: traffic-weighted, regressions first, local parts hidden.

Nothing of the log is printed with its local parts unless the admin asks
(``--show-addresses``): the output of a month of mail is pasted into tickets.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape

from migrate.verify import DIFFERS, NOT_COMPARABLE, SAME
from migrate.verify.cases import Case
from migrate.verify.exim_side import Answer
from migrate.verify.mainlog import LogSummary
from migrate.verify.replay import Group, ReplayResult, Weighed, hidden

Shown = Callable[[str], str]  # an address as printed: as it is, or with its local part hidden


def headline(result: ReplayResult) -> str:
    """``of 41,233 recipients in the log, 41,102 would be treated the same (99.7%); 131 differ``."""
    totals = result.totals()
    recipients = totals["recipients"]
    share = f" ({100 * totals[SAME] / recipients:.1f}%)" if recipients else ""
    text = (
        f"of {recipients:,} recipients in the log, {totals[SAME]:,} would be treated the same{share}; "
        f"{totals[DIFFERS]:,} differ"
    )
    if totals[NOT_COMPARABLE]:
        text += f", {totals[NOT_COMPARABLE]:,} not comparable"
    if totals["not asked"]:
        text += (
            f", {totals['not asked']:,} not asked (outside the sample of {len(result.traffic.questions):,} questions)"
        )
    return text


def print_replay(result: ReplayResult, *, show_addresses: bool = False) -> None:
    """Regressions first, then the other differences, then what could not be compared; then how the log read."""
    console = Console(no_color="NO_COLOR" in os.environ or None, soft_wrap=True, highlight=False)
    show = _shown(show_addresses)
    regressions = result.totals()["regressions"]
    if regressions:
        text = f"SECURITY REGRESSION: smtpd accepts {regressions:,} recipient(s) of the log exim refused"
        console.print(f"[bold red]{text}[/bold red]")
    for group in result.groups():
        style = "bold red" if group.regression else "red" if group.verdict == DIFFERS else ""
        line = escape(f"{group.verdict} ({group.count:,}): {_group_title(group)}")
        console.print(f"[{style}]{line}[/{style}]" if style else line)
        for example in group.examples:
            console.print(escape(f"    {_example(example, show)}"))
    console.print(escape(headline(result)))
    for line in log_lines(result):
        console.print(escape(line))


def _group_title(group: Group) -> str:
    reason = group.examples[0].outcome.reason if group.examples else ""
    title = f"{group.client_class} -> {group.recipient_class}: exim {group.exim}, smtpd {group.smtpd}"
    return f"{title}; {reason}" if reason else title


def _example(item: Weighed, show: Shown) -> str:
    case = item.outcome.case
    client = case.client + (" (auth)" if case.authenticated else "") + (f" port {case.port}" if case.port else "")
    sender = show(case.sender) or "<>"
    said = _hiding(item.outcome.exim.text, case, show)
    return f"{item.count:,}x  {client}  from {sender} to {show(case.recipient)}  exim: {said}"


def log_lines(result: ReplayResult) -> list[str]:
    """How the log read: lines, unreadable ones (with where), refusals before RCPT, messages left open."""
    summary = result.traffic.summary or LogSummary()
    lines = [f"log: {summary.lines:,} lines read"]
    if summary.skipped:
        lines.append(
            f"log: not read: {', '.join(summary.skipped)} (exim's reject log: each refusal in it is in the main "
            "log too, and would count twice)"
        )
    if summary.unreadable:
        where = ", ".join(f"{u.file}:{u.line}" for u in summary.examples)
        lines.append(f"log: {summary.unreadable:,} line(s) not understood (not replayed), e.g. {where}")
    without = result.traffic.without_recipient
    if without:
        stages = ", ".join(f"{stage} {count:,}" for stage, count in without.most_common())
        lines.append(f"log: {sum(without.values()):,} refusal(s) before any recipient, not replayed ({stages})")
    if summary.pending:
        lines.append(f"log: {summary.pending:,} message(s) without delivery lines in the log (route unknown)")
    return lines


def replay_json(result: ReplayResult, *, show_addresses: bool = False) -> str:
    """The totals, the groups with their examples, and how the log read."""
    show = _shown(show_addresses)
    summary = result.traffic.summary or LogSummary()
    document = {
        "from_log": True,
        "headline": headline(result),
        "totals": result.totals(),
        "return_code": result.return_code,
        "groups": [
            {
                "verdict": g.verdict,
                "regression": g.regression,
                "client_class": g.client_class,
                "recipient_class": g.recipient_class,
                "exim": g.exim,
                "smtpd": g.smtpd,
                "recipients": g.count,
                "examples": [_example_json(e, show) for e in g.examples],
            }
            for g in result.groups()
        ],
        "log": {
            "lines": summary.lines,
            "unreadable": summary.unreadable,
            "unreadable_examples": [{"file": u.file, "line": u.line} for u in summary.examples],
            "not_read": summary.skipped,
            "refused_before_recipient": dict(result.traffic.without_recipient),
            "messages_without_delivery_lines": summary.pending,
        },
    }
    return json.dumps(document, indent=2)


def _example_json(item: Weighed, show: Shown) -> dict[str, object]:
    case, outcome = item.outcome.case, item.outcome
    return {
        "recipients": item.count,
        "client": case.client,
        "authenticated": case.authenticated,
        "port": case.port,
        "sender": show(case.sender),
        "recipient": show(case.recipient),
        "exim": {
            "code": outcome.exim.code,
            "text": _hiding(outcome.exim.text, case, show),
            "route": outcome.exim.route,
        },
        "smtpd": {
            "code": outcome.smtpd.code,
            "text": _hiding(outcome.smtpd.text, case, show),
            "route": outcome.smtpd.route,
        },
        "reason": outcome.reason,
    }


def _answer_json(answer: Answer, case: Case, show: Shown) -> dict[str, object]:
    return {"code": answer.code, "text": _hiding(answer.text, case, show), "route": answer.route}


def _hiding(text: str, case: Case, show: Shown) -> str:
    """A reply may quote the address it refused."""
    for address in (case.recipient, case.sender):
        if address:
            text = text.replace(address, show(address))
    return text


def _shown(show_addresses: bool) -> Shown:
    return (lambda address: address) if show_addresses else hidden
