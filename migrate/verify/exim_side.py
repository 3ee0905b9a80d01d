"""Ask the real exim what it decides for each probe case.

``exim -bh ADDRESS`` runs an SMTP dialogue through the ACLs without
delivering (one process per client, MAIL/RCPT/RSET per recipient so that
per-message counters never carry over; a real login has a session of its
own, ``exim_login``); ``exim -bt`` tells which router and
transport take an address, and stands in for the local socket, where exim
accepts every submission and only routing can refuse it. Both run on the
DNS-free variant of the configuration (see ``oracle``).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from migrate.verify import exim_login
from migrate.verify.cases import Case

EHLO_REFUSED = "refused at EHLO: "
BATCH = 50  # recipients per exim -bh session (the oracle's copy lifts smtp_accept_max_nonmail, 10 by default)
Progress = Callable[[str, int, int], None]  # (who is asked, cases answered, cases in all): verify reports as it goes


def quiet(_who: str, _done: int, _total: int) -> None:
    """No progress shown (verify's default: the library never prints)."""


class SideError(Exception):
    """One daemon could not be asked; ``side`` says which, ``lines`` what it said."""

    def __init__(self, side: str, message: str, lines: list[str] | None = None) -> None:
        super().__init__(message)
        self.side = side
        self.lines = lines or []

    def __str__(self) -> str:
        text = f"{self.side}: {self.args[0]}"
        return text + "".join(f"\n    {line}" for line in self.lines[-15:])


@dataclass(frozen=True)
class Answer:
    """What one daemon did with one case."""

    code: int | None  # SMTP reply code for the RCPT (None: no answer, or deferred by routing)
    text: str
    route: str | None = None  # exim: router name; smtpd: action name ("reject" / None)
    routes: tuple[str, ...] = ()  # smtpd: every action matched, the RCPT's and its expansions' (an alias's targets)
    decided_by_commands: bool = False  # exim: the answer changed with ${run}/${perl} failing or succeeding
    unroutable: bool = False  # exim: its routers fail the address (accepted at RCPT, it bounces later)


def _run(cmd: list[str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, input=stdin, capture_output=True, encoding="utf-8", errors="replace", timeout=120)


def check_config(exim: str, config: Path, defines: dict[str, str]) -> None:
    """Fail with exim's own words when exim rejects the configuration."""
    result = _run([exim, "-C", str(config), *_d(defines), "-bV"])
    if result.returncode != 0:
        lines = [line.strip() for line in result.stderr.splitlines() if line.strip()]
        raise SideError(
            "exim", f"exim rejects {config}", [line for line in lines if not line.startswith("Exim version")]
        )


def _d(defines: dict[str, str]) -> list[str]:
    return [f"-D{k}={v}" for k, v in defines.items()]


def ask(
    exim: str, config: Path, defines: dict[str, str], cases: list[Case], progress: Progress = quiet, who: str = "exim"
) -> dict[Case, Answer]:
    """exim's answer for every case (authenticated cases included); ``progress`` hears of each one, as ``who``."""
    answers: dict[Case, Answer] = {}
    progress(who, 0, len(cases))
    routes = _routes(exim, config, defines, sorted({c.recipient for c in cases}))
    groups: dict[tuple[str, bool, int], list[Case]] = {}
    for case in cases:
        if case.login:  # a real login: a session of its own
            code, text = exim_login.login(exim, str(config), _d(defines), case)
            routed = routes.get(case.recipient)
            router = routed[1] if routed and routed[0] == "routed" and code and code < 300 else None
            answers[case] = Answer(code, text, router, unroutable=routed is not None and routed[0] == "failed")
            progress(who, len(answers), len(cases))
            continue
        groups.setdefault((case.client, case.authenticated, case.port), []).append(case)
    for (client, authenticated, port), group in groups.items():
        if client == "socket":
            for case in group:
                routed = routes.get(case.recipient)
                if routed is None:
                    answers[case] = Answer(None, "routing deferred")
                elif routed[0] == "failed":
                    answers[case] = Answer(550, routed[1])
                elif routed[0] == "discarded":
                    answers[case] = Answer(250, "accepted and discarded (:blackhole:)")
                else:
                    answers[case] = Answer(250, "accepted for delivery", routed[1])
            progress(who, len(answers), len(cases))
            continue
        replies: list[tuple[int | None, str]] = []
        for start in range(0, len(group), BATCH):  # exim drops a session after 10 RSETs
            batch = group[start : start + BATCH]
            replies += _dialogue(exim, config, defines, client, authenticated, [c.recipient for c in batch], port)
            progress(who, len(answers) + len(replies), len(cases))
        for case, (code, text) in zip(group, replies, strict=True):
            routed = routes.get(case.recipient)
            router = routed[1] if routed and routed[0] == "routed" else None
            failed = routed is not None and routed[0] == "failed"
            answers[case] = Answer(code, text, router if code and code < 300 else None, unroutable=failed)
    return answers


def routing_chain(exim: str, config: Path, defines: dict[str, str], address: str) -> list[str]:
    """Every router that took part in routing ``address`` (redirects included), in order."""
    result = _run([exim, "-C", str(config), *_d(defines), "-d+route", "-bt", address])
    return [m.group(1) for m in re.finditer(r"^routed by (\S+) router$", result.stderr, re.MULTILINE)]


def _dialogue(
    exim: str,
    config: Path,
    defines: dict[str, str],
    client: str,
    authenticated: bool,
    recipients: list[str],
    port: int = 0,
) -> list[tuple[int | None, str]]:
    lines = ["EHLO probe.example"]
    for recipient in recipients:
        lines += ["MAIL FROM:<probe@probe.example>", f"RCPT TO:<{recipient}>", "RSET"]
    lines.append("QUIT")
    cmd = [exim, "-C", str(config), *_d(defines), "-bh", client]
    if port:  # $received_port, as on the listener the case is sent to
        cmd += ["-oMi", f"{'::1' if ':' in client else '127.0.0.1'}.{port}"]
    if authenticated:
        cmd += ["-oMaa", "PLAIN", "-oMai", "probe"]
    result = _run(cmd, "\r\n".join(lines) + "\r\n")
    replies = [(int(line[:3]), line[4:]) for line in result.stdout.splitlines() if re.match(r"\d{3} ", line)]
    if replies and replies[0][0] >= 500:  # refused at connect: every recipient with it
        return [replies[0]] * len(recipients)
    if len(replies) > 1 and replies[1][0] >= 400:  # the HELO ACL refused the client: no MAIL gets through
        return [(replies[1][0], f"{EHLO_REFUSED}{replies[1][1]}")] * len(recipients)
    body = replies[2:]  # banner, EHLO
    found: list[tuple[int | None, str]] = []
    for index in range(len(recipients)):
        if len(body) < 3 * index + 2:
            break
        mail, rcpt = body[3 * index], body[3 * index + 1]
        answer = mail if mail[0] >= 400 else rcpt
        found.append(answer)
        if len(body) == 3 * index + 2 and index + 1 < len(recipients) and answer[0] >= 500:
            # a "drop" statement: exim answered and closed the session; the rest get a session of their own
            rest = _dialogue(exim, config, defines, client, authenticated, recipients[index + 1 :], port)
            return found + rest
    if len(found) < len(recipients):
        raise SideError(
            "exim",
            f"exim -bh {client} gave {len(replies)} replies for {len(recipients)} recipients",
            result.stderr.splitlines(),
        )
    return found


def _routes(exim: str, config: Path, defines: dict[str, str], recipients: list[str]) -> dict[str, tuple[str, str]]:
    """``-bt``: recipient -> ("routed", router), ("failed", reason) or ("discarded", ""); deferred ones are absent."""
    result = _run([exim, "-C", str(config), *_d(defines), "-bt", *recipients])
    found: dict[str, tuple[str, str]] = {}
    failures: dict[str, str] = {}  # addresses a failed child came from: failed unless another child routed
    block: list[str] = []  # the address a block routes, and the parents it came from
    failed_block = ""
    for line in result.stdout.splitlines():
        failed = re.match(r"(\S+) is undeliverable: (.*)", line)
        if failed:
            found[failed.group(1)] = ("failed", failed.group(2))
            block, failed_block = [], failed.group(2)
            continue
        discarded = re.match(r"mail to (\S+) is discarded$", line)  # a :blackhole: alias: accepted, nothing delivered
        if discarded:
            found[discarded.group(1)] = ("discarded", "")
            block, failed_block = [], ""
            continue
        if re.match(r"\S+ cannot be resolved", line):
            block, failed_block = [], ""
            continue
        top = re.match(r"(\S+)(\s.*)?$", line)  # "address", "address -> ...", "address   [duplicate, ...]"
        if top:
            block, failed_block = [top.group(1)], ""
            continue
        parent = re.match(r"\s+<-- (\S+)", line)
        if parent and failed_block:
            failures.setdefault(parent.group(1), failed_block)
            continue
        if parent:
            block.append(parent.group(1))
            continue
        router = re.match(r"\s+router = ([^,]+)", line)
        if router:
            for address in block:
                found.setdefault(address, ("routed", router.group(1).strip()))
    for address, reason in failures.items():
        found.setdefault(address, ("failed", reason))
    return found
