"""A hosting provider's scale (issue 17): big tables go to files, and every command grows linearly.

The growth tests count the lines of Python and the calls into C a command
runs on a list of 2,000 and of 20,000 domains: ten times the input may cost
at most eleven times the steps. They do not time anything (timings belong in bench/), so
they fail only when some loop really grows faster than its input.
"""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import pytest

from migrate.cli.json_view import write_json
from migrate.commands.check import run_check
from migrate.commands.convert import convert, read, write_output
from migrate.commands.diff import compare
from migrate.mapping.tables import INLINE_TABLE_LIMIT
from migrate.options import Options
from migrate.reader.lists import ListItem
from migrate.reader.tree import json_expander, to_dict
from migrate.report.formats import to_json
from migrate.verify import _domains
from migrate.verify.cases import SAMPLE, generate
from tests.conftest import FIXTURES

HOSTING = FIXTURES / "hosting-scale"


def domains_config(path: Path, domains: int, networks: int = 2) -> Path:
    """A configuration whose local domains and trusted networks are written inline, as a provisioning script would."""
    names = " : ".join(f"d{n}.example.org" for n in range(domains))
    hosts = " ; ".join(["127.0.0.1"] + [f"10.{n // 250}.{n % 250}.0/24" for n in range(networks - 1)])
    path.write_text(
        "primary_hostname = mx.example.org\n"
        f"domainlist local_domains = {names}\n"
        f"hostlist relay_from_hosts = <; {hosts}\n"
        "acl_smtp_rcpt = acl_check_rcpt\n"
        "begin acl\n"
        "acl_check_rcpt:\n"
        "  accept  hosts = :\n"
        "  accept  hosts = +relay_from_hosts\n"
        "  require domains = +local_domains\n"
        "  accept\n"
        "begin routers\n"
        "dnslookup:\n  driver = dnslookup\n  domains = ! +local_domains\n  transport = remote_smtp\n  no_more\n"
        "localuser:\n  driver = accept\n  domains = +local_domains\n  check_local_user\n  transport = local\n"
        "begin transports\n"
        "remote_smtp:\n  driver = smtp\n"
        "local:\n  driver = appendfile\n  file = /var/mail/$local_part_data\n"
    )
    return path


def test_tables_above_the_limit_are_written_beside_smtpd_conf() -> None:
    result = convert(str(HOSTING / "configure"), root=str(HOSTING / "root"), platform="openbsd")
    conf = result.files["smtpd.conf"]
    assert 'table "local_domains" "file:/etc/mail/local_domains"' in conf
    assert 'table "relay_from_hosts" "file:/etc/mail/relay_from_hosts"' in conf
    assert len(conf.splitlines()) < 60 and "customer150.example" not in conf
    domains = result.files["local_domains"].splitlines()
    assert len(domains) == 302 and domains[0] == "mx.hosting.example" and domains[-1] == "customer300.example"
    networks = result.files["relay_from_hosts"].splitlines()
    assert len(networks) == 262 and "[::1]" in networks and "198.51.0.4/30" in networks
    # the rules name the tables as before: only where the entries live changed
    assert "match from any for domain <local_domains> action" in conf
    assert "match from src <relay_from_hosts> for any action" in conf
    assert result.policy.table("local_domains").origin[0].line == 9  # the report cites the exim list


def test_the_limit_is_a_boundary(tmp_path: Path) -> None:
    # local_domains holds the entries plus nothing else (no @): exactly the limit stays inline
    at_limit = convert(str(domains_config(tmp_path / "at.conf", INLINE_TABLE_LIMIT)), platform="openbsd")
    assert "local_domains" not in at_limit.files and '"d0.example.org"' in at_limit.files["smtpd.conf"]
    above = convert(str(domains_config(tmp_path / "above.conf", INLINE_TABLE_LIMIT + 1)), platform="openbsd")
    assert len(above.files["local_domains"].splitlines()) == INLINE_TABLE_LIMIT + 1
    assert '"d0.example.org"' not in above.files["smtpd.conf"]


def _committed(tmp_path: Path, config: Path, monkeypatch: pytest.MonkeyPatch | None = None) -> Path:
    """The output as written by a run, with the inline-table limit raised when ``monkeypatch`` is given."""
    if monkeypatch is not None:  # an earlier release wrote every table inline
        monkeypatch.setattr("migrate.mapping.tables.INLINE_TABLE_LIMIT", 10**9)
    out = tmp_path / ("inline" if monkeypatch else "files")
    write_output(convert(str(config), platform="openbsd"), str(out))
    if monkeypatch is not None:
        monkeypatch.undo()
    return out


def test_a_table_moved_into_a_file_is_no_drift(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = domains_config(tmp_path / "c.conf", 400)
    inline = _committed(tmp_path, config, monkeypatch)
    assert '"d399.example.org"' in (inline / "smtpd.conf").read_text()
    drift = compare(convert(str(config), platform="openbsd"), inline)
    assert drift.text and not drift.semantic  # the layout changed; what smtpd decides did not


def test_a_changed_table_file_is_drift(tmp_path: Path) -> None:
    config = domains_config(tmp_path / "c.conf", 400)
    out = _committed(tmp_path, config)
    assert run_check(str(config), str(out)).return_code == 0
    table = out / "local_domains"
    table.write_text(table.read_text().replace("d123.example.org\n", ""))
    outcome = run_check(str(config), str(out))
    assert outcome.return_code == 2
    assert any("d123.example.org" in line for line in outcome.lines if line.startswith("drift:")), outcome.lines


def test_verify_asks_about_a_sample_of_a_long_list() -> None:
    result = convert(str(HOSTING / "configure"), root=str(HOSTING / "root"), platform="openbsd")
    cases = generate(result.policy, _domains(result.policy))
    local = sorted({c.recipient.split("@")[1] for c in cases if c.recipient_class == "local-domains"})
    assert len(local) == SAMPLE and "customer300.example" in local and "mx.hosting.example" in local
    trusted = {c.client for c in cases if c.client_class == "relay_from_hosts"}
    assert len(trusted) <= 2 * SAMPLE and "2001:db8:3b::1" in trusted  # the last network, at its first address
    assert len(cases) < 1000


# -- growth: count-based --------------------------------------------------------------------------


def _steps(run: Callable[[], object]) -> int:
    """Lines of Python run (loop iterations included) plus calls into C: a count no machine's speed changes.

    Work inside one C call (copying a long string, ``in`` on a list) is not
    seen; bench/ measures the time.
    """
    count = 0

    def line(frame: FrameType, event: str, arg: object) -> object:
        nonlocal count
        count += 1
        return line

    def call(frame: FrameType, event: str, arg: object) -> object:
        return line

    def c_call(frame: FrameType, event: str, arg: object) -> None:
        nonlocal count
        if event == "c_call":
            count += 1

    sys.settrace(call)
    sys.setprofile(c_call)
    try:
        run()
    finally:
        sys.settrace(None)
        sys.setprofile(None)
    return count


def _commands(config: Path, out: Path) -> dict[str, Callable[[], object]]:
    options = Options(platform="openbsd")

    def parse_json() -> None:
        tree = read(str(config), options)
        write_json(tree, io.StringIO(), json_expander(tree))

    return {
        "convert": lambda: convert(str(config), options),
        "parse --json": parse_json,
        "report --format json": lambda: to_json(convert(str(config), options).report),
        "diff": lambda: compare(convert(str(config), options), out),
        "check": lambda: run_check(str(config), str(out), options),
    }


@pytest.fixture(scope="module")
def growth(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, int]]:
    """Steps per command at 2,000 and 20,000 domains (and networks a tenth of that)."""
    counts: dict[str, list[int]] = {}
    for size in (2_000, 20_000):
        work = tmp_path_factory.mktemp(f"growth{size}")
        config = domains_config(work / "configure", size, networks=size // 10)
        out = work / "out"
        write_output(convert(str(config), platform="openbsd"), str(out))
        for name, run in _commands(config, out).items():
            counts.setdefault(name, []).append(_steps(run))
        shutil.rmtree(work)
    return {name: (small, big) for name, (small, big) in counts.items()}


@pytest.mark.parametrize("command", ["convert", "parse --json", "report --format json", "diff", "check"])
def test_ten_times_the_input_costs_at_most_eleven_times_the_steps(
    growth: dict[str, tuple[int, int]], command: str
) -> None:
    small, big = growth[command]
    assert big <= 11 * small, f"{command}: {small:,} steps at 2,000 domains, {big:,} at 20,000 ({big / small:.1f}x)"


def test_verify_asks_as_many_questions_of_ten_times_the_domains(tmp_path: Path) -> None:
    """verify's cost is its questions to two daemons: bounded by the sample, not by the lists' length."""
    asked = []
    for size in (2_000, 20_000):
        policy = convert(str(domains_config(tmp_path / f"{size}.conf", size, networks=size // 10))).policy
        asked.append(len(generate(policy, _domains(policy))))
    assert asked[0] == asked[1] < 1000, asked


def test_parse_json_writes_a_list_item_with_every_field_on_one_line() -> None:
    """parse --json's fast path for list items (200,000 of them) must not lose a field ListItem gains."""
    item = ListItem("pass=secret.example", 4, False, "literal", "pass=secret.example")
    data = to_dict(item)
    assert isinstance(data, dict) and list(data) == ["type", *(f.name for f in dataclasses.fields(ListItem))]
    assert data["text"] == data["value"] == "pass=<hidden>"
    written = io.StringIO()
    write_json({"items": [item, item]}, written, json_expander(item))
    assert written.getvalue().count("\n") == 6 and json.loads(written.getvalue())["items"][1] == data


def test_a_big_configuration_says_what_is_being_done(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Over BIG_INPUT (a second or more of work) the status line names the step; a small one says nothing."""
    config = domains_config(tmp_path / "configure", 2_000)
    heard: list[str] = []
    convert(str(config), progress=heard.append)
    assert heard == []  # 70 KB: under a second
    monkeypatch.setattr("migrate.commands.convert.BIG_INPUT", 1000)
    convert(str(config), progress=heard.append)
    size = config.stat().st_size / 2**20
    assert heard == [f"reading {config} ({size:.1f} MB)...", f"converting {config} ({size:.1f} MB)...", ""]
