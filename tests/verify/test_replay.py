"""verify --from-log without daemons: how log transactions become questions, answers, samples and groups."""

from __future__ import annotations

import gzip
import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from migrate.cli import cli
from migrate.cli.replay_view import log_lines
from migrate.commands.convert import convert
from migrate.model import ANYONE, AUTHENTICATED, LOCAL_CLIENT
from migrate.options import Options
from migrate.verify import DIFFERS, SAME, Outcome
from migrate.verify.cases import Case
from migrate.verify.exim_side import Answer
from migrate.verify.mainlog import Transaction
from migrate.verify.replay import (
    Question,
    ReplayResult,
    Traffic,
    Weighed,
    _Classes,
    choose,
    hidden,
    logged_answer,
    read_traffic,
    replay,
)
from tests.conftest import Exim
from tests.verify import traffic

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

CONFIG = """\
primary_hostname = mx.example.org
domainlist local_domains = @ : example.org : *.hosted.example
domainlist relay_to_domains = relayed.example
hostlist relay_from_hosts = 127.0.0.1 : 192.0.2.0/24
acl_smtp_rcpt = acl_check_rcpt
begin acl
acl_check_rcpt:
  accept  hosts = :
  accept  hosts = +relay_from_hosts
  accept  authenticated = *
  require verify = recipient
  accept  domains = +local_domains : +relay_to_domains
  deny    message = relay not permitted
begin routers
dnslookup:
  driver = dnslookup
  domains = ! +local_domains
  transport = remote_smtp
  no_more
local_user:
  driver = accept
  check_local_user
  transport = local_delivery
begin transports
remote_smtp:
  driver = smtp
local_delivery:
  driver = appendfile
  file = /var/mail/$local_part
"""


def transaction(**fields: object) -> Transaction:
    values: dict[str, object] = {
        "client": "198.51.100.7",
        "port": 25,
        "authenticated": False,
        "authenticator": "",
        "sender": "someone@elsewhere.example",
        "recipient": "alice@example.org",
        "decision": "accepted",
        "stage": "",
        "router": "local_user",
        "transport": "local_delivery",
        "outcome": "delivered",
        "reason": "",
    }
    values.update(fields)
    return Transaction(**values)  # type: ignore[arg-type]


def classes(tmp_path: object) -> _Classes:
    from pathlib import Path

    path = Path(str(tmp_path)) / "configure"
    path.write_text(CONFIG)
    return _Classes(convert(str(path)).policy)


def test_clients_and_recipients_fall_in_the_policys_classes(tmp_path: object) -> None:
    found = classes(tmp_path)
    assert found.client_class("socket", False) == LOCAL_CLIENT
    assert found.client_class("198.51.100.7", True) == AUTHENTICATED
    assert found.client_class("198.51.100.7", False) == ANYONE
    assert found.client_class("192.0.2.77", False) not in (ANYONE, AUTHENTICATED, LOCAL_CLIENT)
    assert found.recipient("bob@EXAMPLE.org")[1] == "local-domains"
    assert found.recipient("bob@shop.hosted.example")[1] == "local-domains"
    assert found.recipient("bob@hosted.example")[1] == "other-domains"  # *.x is under x, not x
    assert found.recipient("bob@relayed.example")[1] == "relay-domains"
    assert found.recipient("bob@elsewhere.example")[1] == "other-domains"


def test_a_recipient_at_the_servers_own_name_stays_when_the_table_names_it(tmp_path: object) -> None:
    """exim's ``@`` became the literal mx.example.org in local_domains: smtpd is asked that very name."""
    case = classes(tmp_path).case(transaction(recipient="root@mx.example.org"))
    assert case.recipient == "root@mx.example.org"
    assert case.recipient_class == "local-domains"


def test_exims_logged_decision_is_its_answer() -> None:
    assert logged_answer(transaction()).code == 250
    assert logged_answer(transaction()).route == "local_user"
    refused = logged_answer(transaction(decision="rejected", reason="relay not permitted", router="", outcome=""))
    assert (refused.code, refused.text) == (550, "relay not permitted")
    assert logged_answer(transaction(decision="deferred", outcome="")).code == 450
    failed = logged_answer(transaction(outcome="failed", router="", reason="Unrouteable address"))
    assert failed.code == 250 and failed.unroutable and failed.route is None


def question(client: str, recipient: str, client_class: str, code: int, weight: int) -> Question:
    case = Case(client, recipient, client_class, "local-domains")
    return Question(case, ((Answer(code, ""), weight),))


def test_the_sample_holds_the_rare_kind_before_the_frequent_one() -> None:
    frequent = [question("198.51.100.7", f"u{n}@example.org", ANYONE, 250, 1000 - n) for n in range(10)]
    rare = question("198.51.100.9", "x@example.org", ANYONE, 550, 1)  # a refused one, once in the month
    chosen = choose([*frequent, rare], 3)
    assert rare in chosen
    assert frequent[0] in chosen and frequent[1] in chosen
    assert len(chosen) == 3
    assert chosen[0].weight >= chosen[-1].weight


def test_the_sample_is_bounded_and_takes_everything_when_it_is_large() -> None:
    questions = [question("198.51.100.7", f"u{n}@example.org", ANYONE, 250, n + 1) for n in range(50)]
    assert len(choose(questions, 10)) == 10
    assert len(choose(questions, 100)) == 50


def test_verdicts_are_weighted_by_traffic_and_regressions_come_first() -> None:
    inbound = Case("198.51.100.7", "alice@example.org", ANYONE, "local-domains")
    relay = Case("198.51.100.8", "bob@elsewhere.example", ANYONE, "other-domains")
    same = Outcome(inbound, Answer(250, "", "local_user"), Answer(250, "", "local"), SAME, "both accept")
    regression = Outcome(relay, Answer(550, "relay not permitted"), Answer(250, "", "relay"), DIFFERS, "", True)
    traffic = Traffic((), recipients=1005, not_sampled=0)
    result = ReplayResult(traffic, (Weighed(same, 1000), Weighed(regression, 5)))
    totals = result.totals()
    assert (totals["recipients"], totals[SAME], totals[DIFFERS], totals["regressions"]) == (1005, 1000, 5, 5)
    groups = result.groups()
    assert len(groups) == 1 and groups[0].regression and groups[0].count == 5
    assert (groups[0].exim, groups[0].smtpd) == ("refused", "accepted (relay)")
    assert result.return_code == 2


def test_local_parts_are_hidden() -> None:
    assert hidden("alice@example.org") == "***@example.org"
    assert hidden("") == ""
    assert hidden("postmaster") == "***"


# --- the real exim's log, replayed through the real smtpd -------------------------------------------------------

DEFAULT = FIXTURES / "exim-default"


@pytest.fixture(scope="module")
def default_log(exim: Exim) -> Iterator[traffic.Traffic]:
    """exim-default's log as the real exim 4.100 wrote it for the default script (rotated once)."""
    workdir = Path(tempfile.mkdtemp(prefix="exim2smtpd-replay-test-"))
    try:
        yield traffic.write_mainlog(
            exim, DEFAULT / "configure", workdir, traffic.default_script(), aliases=traffic.EXTRA_ALIASES
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def default_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """exim-default's root with the aliases exim was given for the traffic: smtpd must see the same ones."""
    root = tmp_path_factory.mktemp("replay-root") / "root"
    shutil.copytree(DEFAULT / "root", root, symlinks=True)
    aliases = root / "etc/aliases"
    aliases.write_text((aliases.read_text() if aliases.exists() else "") + traffic.EXTRA_ALIASES)
    return root


def _converted(tmp_path: Path, root: Path) -> Path:
    out = tmp_path / "out"
    result = convert(str(DEFAULT / "configure"), Options(root=str(root)))
    out.mkdir()
    for name, text in result.files.items():
        (out / name).write_text(text)
    return out


def _replayed(log: traffic.Traffic, out: Path, root: Path) -> ReplayResult:
    return replay(str(DEFAULT / "configure"), [log.rotated, log.current], str(out), Options(root=str(root)))


def test_a_faithful_conversion_treats_the_logged_traffic_the_same(
    default_log: traffic.Traffic, default_root: Path, smtpd: str, namespaces: None, tmp_path: Path
) -> None:
    result = _replayed(default_log, _converted(tmp_path, default_root), default_root)
    totals = result.totals()
    assert totals["recipients"] == sum(1 for s in default_log.sent if s.recipient)
    differing = [w.outcome for w in result.weighed if w.outcome.verdict == DIFFERS]
    # the one difference: a forged local sender exim's `require verify = sender` refused, which the report lists
    assert {o.exim.text for o in differing} == {"Sender verify failed"}, [(o.case, o.exim, o.smtpd) for o in differing]
    assert all("the converter reports it: [EXIM-ACL-FILTER]" in o.reason for o in differing)
    assert totals[SAME] > totals["recipients"] // 2
    assert result.return_code == 2  # smtpd does take that forged sender: verify says so, the report already did


def test_an_open_relay_is_caught_with_the_logs_counts(
    default_log: traffic.Traffic, default_root: Path, smtpd: str, namespaces: None, tmp_path: Path
) -> None:
    out = _converted(tmp_path, default_root)
    conf = out / "smtpd.conf"
    text = conf.read_text()
    relay = re.search(r'^match .*action "([^"]+)"$', text, re.M)
    outbound = next(m.group(1) for m in re.finditer(r'^action "([^"]+)" relay', text, re.M))
    assert relay is not None
    conf.write_text(text.replace(relay.group(0), f'match from any for any action "{outbound}"\n{relay.group(0)}', 1))
    result = _replayed(default_log, out, default_root)
    refused_relay = [
        s
        for s in default_log.sent
        if s.decision == "rejected" and s.stage == "rcpt" and s.recipient.endswith("@far.example")
    ]
    assert refused_relay
    relayed = [g for g in result.groups() if g.regression and g.recipient_class == "other-domains"]
    assert [g.count for g in relayed] == [len(refused_relay)]
    assert result.totals()["regressions"] >= len(refused_relay)  # and every refused local recipient, now taken
    assert result.return_code == 2


def test_a_dropped_local_domain_loses_the_inbound_mail_it_had(
    default_log: traffic.Traffic, default_root: Path, smtpd: str, namespaces: None, tmp_path: Path
) -> None:
    out = _converted(tmp_path, default_root)
    conf = out / "smtpd.conf"
    conf.write_text(conf.read_text().replace(f'"{traffic.HOSTNAME}"', '"gone.example"'))
    result = _replayed(default_log, out, default_root)
    inbound = [  # what exim took from the internet for its own name (the trusted host may still relay it)
        s
        for s in default_log.sent
        if s.decision == "accepted"
        and s.recipient.endswith("@" + traffic.HOSTNAME)
        and s.client not in ("socket", "127.0.0.1")
        and not s.authenticated
    ]
    lost = [
        g for g in result.groups() if g.verdict == DIFFERS and g.exim.startswith("accepted") and g.smtpd == "refused"
    ]
    assert inbound
    assert sum(g.count for g in lost) == len(inbound)
    assert {g.client_class for g in lost} == {ANYONE} and {g.recipient_class for g in lost} == {"local-domains"}


def test_the_cli_hides_local_parts_prints_json_and_feeds_the_html_report(
    default_log: traffic.Traffic, default_root: Path, smtpd: str, namespaces: None, tmp_path: Path
) -> None:
    out = _converted(tmp_path, default_root)
    args = ["verify", str(DEFAULT / "configure"), str(out), "--root", str(default_root)]
    logs = ["--from-log", str(default_log.rotated), "--from-log", str(default_log.current)]
    runner = CliRunner()
    text = runner.invoke(cli, [*args, *logs])
    assert text.exit_code == 2, text.output
    assert "recipients in the log" in text.output and "SECURITY REGRESSION" in text.output
    assert "***@mx.example.org" in text.output and "nosuch@" not in text.output
    shown = runner.invoke(cli, [*args, *logs, "--show-addresses"])
    assert "nosuch@mx.example.org" in shown.output
    as_json = runner.invoke(cli, [*args, *logs, "--json"])
    document = json.loads(as_json.output)
    assert document["from_log"] and document["totals"]["recipients"] == sum(1 for s in default_log.sent if s.recipient)
    assert "nosuch@" not in as_json.output
    saved = tmp_path / "replay.json"
    saved.write_text(as_json.output)
    html = runner.invoke(
        cli,
        [
            "report",
            str(DEFAULT / "configure"),
            "--root",
            str(default_root),
            "--format",
            "html",
            "--verify-json",
            str(saved),
        ],
    )
    assert html.exit_code == 0, html.output
    assert "The server's own traffic, replayed" in html.output and "recipients in the log" in html.output
    assert "nosuch@" not in html.output


def test_a_missing_log_is_named_and_exits_1(smtpd: str, namespaces: None, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-mainlog"
    args = [str(DEFAULT / "configure"), "--root", str(DEFAULT / "root"), "--from-log", str(missing)]
    result = subprocess.run(
        [sys.executable, "-m", "migrate", "verify", *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 1
    assert result.stderr.strip() == f"{missing}: error: cannot read this log (no such file or directory)"


def test_reading_keeps_a_bounded_number_of_questions_and_every_kind(tmp_path: Path) -> None:
    log = tmp_path / "mainlog"
    log.write_text("\n".join(traffic.synthetic_log(400)) + "\n")
    policy = convert(str(DEFAULT / "configure"), Options(root=str(DEFAULT / "root"))).policy
    everything = read_traffic([log], policy, sample=10_000)
    bounded = read_traffic([log], policy, sample=10_000, distinct=20)
    assert bounded.recipients == everything.recipients  # every recipient is counted, asked or not
    assert 20 <= len(bounded.questions) < len(everything.questions)
    assert sum(q.weight for q in bounded.questions) + bounded.not_sampled == bounded.recipients

    def kinds(found: Traffic) -> set[tuple[str, str, int | None]]:
        return {(q.case.client_class, q.case.recipient_class, q.answers[0][0].code) for q in found.questions}

    assert kinds(bounded) == kinds(everything)  # the refused relay attempts too


def test_reading_a_long_log_reports_how_far_it_got(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "mainlog"
    log.write_text("\n".join(traffic.synthetic_log(400)) + "\n")
    policy = convert(str(DEFAULT / "configure"), Options(root=str(DEFAULT / "root"))).policy
    monkeypatch.setattr("migrate.verify.replay.READING", 100)
    heard: list[int] = []
    found = read_traffic([log], policy, reading=heard.append)
    assert heard == list(range(100, found.recipients + 1, 100))


def test_a_reject_log_given_with_the_main_log_is_said_not_read(tmp_path: Path) -> None:
    """Its refusals are in the main log: not read twice, and the admin is told which file was left."""
    log, rejectlog = tmp_path / "mainlog", tmp_path / "rejectlog.1.gz"
    log.write_text("\n".join(traffic.synthetic_log(8)) + "\n")
    rejectlog.write_bytes(gzip.compress(log.read_bytes()))
    policy = convert(str(DEFAULT / "configure"), Options(root=str(DEFAULT / "root"))).policy
    found = read_traffic([log, rejectlog], policy)
    assert found.recipients == read_traffic([log], policy).recipients
    assert found.summary is not None and found.summary.skipped == [str(rejectlog)]
    shown = log_lines(ReplayResult(found, ()))
    assert f"log: not read: {rejectlog} (exim's reject log: each refusal in it is in the main log too" in shown[1]
