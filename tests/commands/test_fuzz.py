"""Property-based tests: generated and mutated configurations never crash, hang or widen relaying.

Two sources of input: a grammar of exim configurations (valid, and subtly
invalid through small edits), and raw byte mutations of the fixtures. The
properties: reading gives a tree or a located diagnostic and nothing else,
quickly; a conversion that succeeds yields an smtpd.conf the real smtpd
accepts; and the generated rules never let a client relay where the real exim
refuses. `make test` runs a bounded number of examples (profile "ci"); `make
fuzz` runs a long campaign (profile "fuzz").
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from migrate.commands.convert import convert
from migrate.errors import ConfigError, MigrateError
from migrate.reader import read_config
from migrate.verify import adapt as smtpd_check
from tests.conftest import FIXTURES, ROOT, Exim
from tests.mapping.test_permissiveness import _check

settings.register_profile(
    "ci", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
settings.register_profile("fuzz", max_examples=5000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
CAMPAIGN = os.environ.get("HYPOTHESIS_PROFILE") == "fuzz"
# A generous bound: catastrophic backtracking shows up as seconds, not milliseconds.
SECONDS_PER_READ = 2.0

BUILTINS = json.loads((ROOT / "migrate/reader/exim_builtins.json").read_text())
OPTION_NAMES = [*sorted(BUILTINS["main_options"])[:200], "no_such_option", "daemon_smtp_ports", "local_interfaces"]
FRAGMENTS = [
    "x",
    "example.org",
    "192.0.2.0/24",
    "::1",
    ":",
    "::",
    ";",
    "<;",
    "<,",
    "!",
    "*",
    "@",
    "@[]",
    "+local_domains",
    "${if eq{$a}{b}{yes}{no}}",
    "${lookup{$domain}lsearch{/etc/x}}",
    "$domain",
    "${",
    "}",
    "{",
    "\\",
    '"',
    "'",
    " ",
    "\t",
    "#",
    "lsearch;/etc/x",
    "net-iplsearch;/etc/y",
    "MACRO",
    "_OPT_X",
    "\\N^a.*b$\\N",
    "yes",
    "false",
    "25",
]
TEXT = st.lists(st.sampled_from(FRAGMENTS), max_size=8).map("".join)
MACRO = st.sampled_from(["MACRO", "MAIN_X", "DEBUG", "A_B", "_LOWER"])


@st.composite
def main_lines(draw: st.DrawFn) -> list[str]:
    """Statements of the main section, with macros, conditionals and continuations."""
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["option", "hide", "negated", "macro", "list", "ifdef", "continued", "comment"]))
        name = draw(st.sampled_from(OPTION_NAMES))
        value = draw(TEXT)
        if kind == "option":
            lines.append(f"{name} = {value}")
        elif kind == "hide":
            lines.append(f"hide {name} = {value}")
        elif kind == "negated":
            lines.append(f"no_{name}")
        elif kind == "macro":
            lines.append(f"{draw(MACRO)} {draw(st.sampled_from(['=', '==']))} {value}")
        elif kind == "list":
            kind_word = draw(st.sampled_from(["domainlist", "hostlist", "addresslist", "localpartlist"]))
            lines.append(f"{kind_word} {draw(st.sampled_from(['local_domains', 'relay_from_hosts', 'l']))} = {value}")
        elif kind == "ifdef":
            body = draw(st.lists(st.sampled_from([f"{name} = {value}", ".else", ".elifdef X"]), max_size=2))
            closed = draw(st.booleans())
            lines += [f".{draw(st.sampled_from(['ifdef', 'ifndef']))} {draw(MACRO)}", *body] + (
                [".endif"] if closed else []
            )
        elif kind == "continued":
            lines.append(f"{name} = {value} \\")
            lines.append(f"  {draw(TEXT)}")
        else:
            lines.append(f"# {value}")
    return lines


@st.composite
def sections(draw: st.DrawFn) -> list[str]:
    """ACLs, routers, transports and retry/rewrite sections, loosely shaped."""
    lines: list[str] = []
    if draw(st.booleans()):
        lines += ["begin acl", "acl_check_rcpt:"]
        for _ in range(draw(st.integers(0, 5))):
            verb = draw(st.sampled_from(["accept", "deny", "require", "warn", "drop", "defer", "discard", "bogus"]))
            cond = draw(
                st.sampled_from(["hosts", "domains", "!verify", "condition", "authenticated", "message", "set acl_m_x"])
            )
            lines.append(f"  {verb} {cond} = {draw(TEXT)}")
    if draw(st.booleans()):
        lines += [
            "begin routers",
            "r1:",
            f"  driver = {draw(st.sampled_from(['accept', 'redirect', 'dnslookup', 'x']))}",
        ]
        lines += [
            f"  {draw(st.sampled_from(['domains', 'data', 'transport', 'no_more', 'route_list']))} = {draw(TEXT)}"
        ]
    if draw(st.booleans()):
        lines += ["begin transports", "t1:", "  driver = smtp", f"  port = {draw(TEXT)}"]
    if draw(st.booleans()):
        lines += ["begin retry", f"* * {draw(TEXT)}", "begin rewrite", f"*@x {draw(TEXT)} F"]
    return lines


@st.composite
def configurations(draw: st.DrawFn) -> str:
    """A whole configuration, sometimes subtly broken by a few character edits."""
    text = "\n".join([*draw(main_lines()), *draw(sections())]) + "\n"
    for _ in range(draw(st.integers(0, 3))):
        pos = draw(st.integers(0, len(text)))
        text = text[:pos] + draw(st.sampled_from(["", "\\", "\n", "{", "}", "$", '"', ":", "="])) + text[pos + 1 :]
    return text


FIXTURE_FILES = sorted(p for p in FIXTURES.glob("*/configure"))


@st.composite
def mutated_fixtures(draw: st.DrawFn) -> bytes:
    """A fixture with a few raw byte edits: flips, insertions, deletions, duplicated lines."""
    data = bytearray(draw(st.sampled_from(FIXTURE_FILES)).read_bytes())
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "dupline"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 40))]
        else:
            start = data.rfind(b"\n", 0, pos) + 1
            end = data.find(b"\n", pos)
            data[start:start] = data[start : end + 1 if end >= 0 else len(data)]
    return bytes(data)


def _read(data: bytes) -> None:
    """The property: a tree or a located ConfigError, within the time bound; anything else fails."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "configure"
        path.write_bytes(data)
        start = time.perf_counter()
        try:
            read_config(str(path))
        except ConfigError as exc:
            diagnostic = exc.diagnostic
            assert diagnostic.span.file and diagnostic.span.line >= 0 and diagnostic.rule
            assert diagnostic.message
        assert time.perf_counter() - start < SECONDS_PER_READ


@given(configurations())
def test_generated_configurations_read_or_fail_with_a_location(text: str) -> None:
    _read(text.encode("utf-8", "surrogateescape"))


@given(mutated_fixtures())
def test_mutated_fixtures_read_or_fail_with_a_location(data: bytes) -> None:
    _read(data)


@given(st.one_of(configurations().map(str.encode), mutated_fixtures()))
@settings(max_examples=5000 if CAMPAIGN else 25)
def test_every_conversion_passes_smtpd_n(smtpd: str, data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "configure"
        path.write_bytes(data)
        try:
            result = convert(str(path))
        except MigrateError:
            return  # refused with a message: fine
        check = smtpd_check.check(result.files["smtpd.conf"], Path(tmp), result.files)
        assert check.returncode == 0, check.stderr + "\n" + result.files["smtpd.conf"]


HOSTS = [
    "127.0.0.1",
    "192.0.2.0/24",
    "!198.51.100.0/24",
    "198.51.100.0/24",
    "2001:db8::/32",
    "*",
    "+relay_from_hosts",
    ":",
]
DOMAINS = ["+local_domains", "+relay_to_domains", "!+local_domains", "example.org", "*.example.net", "*"]


@st.composite
def relay_policies(draw: st.DrawFn) -> str:
    """RCPT ACLs built from the conditions the mapping understands, in any order."""
    statements = []
    for _ in range(draw(st.integers(1, 5))):
        verb = draw(st.sampled_from(["accept", "deny", "require", "drop"]))
        conditions = draw(
            st.lists(st.sampled_from(["hosts", "domains", "authenticated"]), min_size=1, max_size=2, unique=True)
        )
        parts = []
        for cond in conditions:
            if cond == "hosts":
                parts.append(f"hosts = {' : '.join(draw(st.lists(st.sampled_from(HOSTS), min_size=1, max_size=2)))}")
            elif cond == "domains":
                parts.append(f"domains = {draw(st.sampled_from(DOMAINS))}")
            else:
                parts.append("authenticated = *")
        statements.append(f"  {verb:8}" + "\n          ".join(parts))
    trusted = " : ".join(
        draw(
            st.lists(
                st.sampled_from(["127.0.0.1", "::::1", "192.0.2.0/24", "203.0.113.7"]),
                min_size=1,
                max_size=3,
                unique=True,
            )
        )
    )
    return (
        "primary_hostname = mx.example.org\n"
        "domainlist local_domains = @ : localhost : example.org\n"
        "domainlist relay_to_domains = relay.example.net\n"
        f"hostlist relay_from_hosts = {trusted}\n"
        "acl_smtp_rcpt = acl_check_rcpt\n"
        "begin acl\nacl_check_rcpt:\n" + "\n".join(statements) + "\n"
        "begin routers\n"
        "dnslookup:\n  driver = dnslookup\n  domains = ! +local_domains\n  transport = remote_smtp\n  no_more\n"
        "localuser:\n  driver = accept\n  domains = +local_domains\n  check_local_user\n  transport = local\n"
        "begin transports\nremote_smtp:\n  driver = smtp\n"
        "local:\n  driver = appendfile\n  file = /var/mail/$local_part_data\n"
    )


@pytest.mark.exim
@given(relay_policies())
@settings(max_examples=1000 if CAMPAIGN else 12)
def test_generated_relay_policies_never_widen(exim: Exim, text: str) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="exim2smtpd-fuzz-"))  # exim reads it as its own user
    try:
        workdir.chmod(0o755)
        path = workdir / "configure"
        path.write_text(text)
        path.chmod(0o644)
        assume(exim.error(path) == "")  # only what exim itself accepts
        problems = _check(exim, path, {}, workdir)
        assert not [p for p in problems if p.startswith("MORE PERMISSIVE")], problems
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def test_the_campaign_target_exists() -> None:
    """`make fuzz` runs this file with the long profile."""
    makefile = (ROOT / "Makefile").read_text()
    assert "HYPOTHESIS_PROFILE=fuzz" in makefile and "tests/commands/test_fuzz.py" in makefile
    assert subprocess.run(["make", "-n", "fuzz"], cwd=ROOT, capture_output=True).returncode == 0


# Inputs that stress one part of the reader each: a quadratic step shows as a
# time ratio near 100 for 10x the input; linear work stays near 10.
STRESS = {
    "list items": lambda n: "domainlist l = " + " : ".join(f"d{i}.example" for i in range(n)) + "\n",
    "doubled separators": lambda n: "domainlist l = " + "a::b : " * n + "\n",
    "continuation lines": lambda n: "smtp_banner = a \\\n" + "  b \\\n" * n + "  c\n",
    "conditionals": lambda n: ".ifdef X\n.else\n.endif\n" * n,
    "ACL statements": lambda n: "begin acl\na:\n" + "  deny hosts = 192.0.2.1\n" * n,
    "macros": lambda n: "".join(f"MA{i:05d}Z = v{i}\n" for i in range(n)) + "smtp_banner = MA00001Z\n",
    "nested expansions": lambda n: "smtp_banner = " + "${if eq{a}{" * n + "}}" * n + "\n",
    "escaped quotes": lambda n: 'smtp_banner = "' + '\\"a' * n + '"\n',
}


def _best_read_time(text: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "configure"
        path.write_text(text)
        best = float("inf")
        for _ in range(3):
            start = time.perf_counter()
            with contextlib.suppress(ConfigError):
                read_config(str(path))
            best = min(best, time.perf_counter() - start)
        return best


@pytest.mark.parametrize("shape", sorted(STRESS))
def test_reading_time_grows_linearly(shape: str) -> None:
    small, large = (_best_read_time(STRESS[shape](n)) for n in (400, 4000))
    assert large < 25 * max(small, 0.002), f"{shape}: {small:.4f} s -> {large:.4f} s for 10x the input"


def test_a_host_name_smtpd_rejects_does_not_name_the_certificate(smtpd: str, tmp_path: Path) -> None:
    """Found by the campaign: a mutated primary_hostname became smtpd's pki name, which smtpd -n refused."""
    text = (FIXTURES / "article-mx" / "configure").read_text()
    assert "primary_hostname = skapet.bsdly.net" in text
    config = tmp_path / "configure"
    config.write_text(text.replace("primary_hostname = skapet.bsdly.net", "primary_hostname = !skapet.bsdly.net"))
    result = convert(str(config))
    assert 'pki "localhost"' in result.files["smtpd.conf"]
    check = smtpd_check.check(result.files["smtpd.conf"], tmp_path, result.files)
    assert check.returncode == 0, check.stderr
