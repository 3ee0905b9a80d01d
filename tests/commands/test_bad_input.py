"""Malformed input: one located error, exit status 1, no traceback — compared with exim."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from migrate.commands.convert import convert
from migrate.errors import ConfigError
from migrate.reader import read_config
from tests.conftest import Exim

HEAD = "keep_environment =\n"

# name: (files, expected line, column, our message, exim's message or None where exim accepts)
CASES: dict[str, tuple[dict[str, bytes | str], int, int, str, str | None]] = {
    "unknown-section": (
        {"configure": HEAD + "begin trans\n"},
        2,
        1,
        '"trans" is not a known configuration section name',
        '"trans" is not a known configuration section name',
    ),
    "endif-without-ifdef": (
        {"configure": HEAD + "  .endif\n"},
        2,
        3,
        ".endif without matching .ifdef",
        ".endif without matching .ifdef",
    ),
    "endif-missing": (
        {"configure": HEAD + ".ifdef FOO\nqualify_domain = x\n"},
        2,
        1,
        ".endif missing",
        ".endif missing",
    ),
    "nested-too-deeply": (
        {"configure": HEAD + ".ifndef A\n" * 11 + ".endif\n" * 11},
        12,
        1,
        "nested too deeply",
        "nested too deeply",
    ),
    "missing-include": (
        {"configure": HEAD + ".include /nonexistent/exim2smtpd.conf\n"},
        2,
        1,
        "failed to open included configuration file /nonexistent/exim2smtpd.conf",
        "failed to open included configuration file /nonexistent/exim2smtpd.conf",
    ),
    "driver-option-in-main": (
        {"configure": HEAD + "driver = smtp\n"},
        2,
        1,
        'main option "driver" unknown',
        'main option "driver" unknown',
    ),
    "misspelt-option": (
        {"configure": HEAD + "primary_hostnam = x\n"},
        2,
        1,
        'main option "primary_hostnam" unknown',
        'main option "primary_hostnam" unknown',
    ),
    "misspelt-acl-condition": (
        {"configure": HEAD + "begin acl\na:\n  accept hosts = :\n\tverfy = recipient\n"},
        5,
        2,
        "unknown ACL condition/modifier",
        "unknown ACL condition/modifier",
    ),
    "option-before-driver-name": (
        {"configure": HEAD + "begin routers\n  driver = accept\n"},
        3,
        3,
        "router name missing",
        "router name missing",
    ),
    "junk-after-driver-name": (
        {"configure": HEAD + "begin routers\nr1: foo\n  driver = accept\n"},
        3,
        5,
        "extra characters follow driver name r1",
        "extra characters follow driver name r1",
    ),
    "driver-string-option-negated": (
        {"configure": HEAD + "begin routers\nr1:\n  driver = accept\n  no_transport\n"},
        5,
        3,
        "negation prefix applied to a non-boolean option",
        "negation prefix applied to a non-boolean option",
    ),
    "driver-option-without-value": (
        {"configure": HEAD + "begin routers\nr1:\n  driver = accept\n  transport\n"},
        5,
        3,
        "data missing) after transport",
        "data missing) after transport",
    ),
    "option-of-another-driver": (
        {"configure": HEAD + "begin routers\nr1:\n  driver = accept\n  route_list = * x\n  transport = t\n"},
        5,
        3,
        'option "route_list" unknown',
        'option "route_list" unknown',
    ),
    "private-option-before-driver": (
        {"configure": HEAD + "begin routers\nr1:\n  route_list = * x\n  driver = manualroute\n  transport = t\n"},
        4,
        3,
        '"driver" must be specified before any private options',
        '"driver" must be specified before any private options',
    ),
    "unknown-driver": (
        {"configure": HEAD + "begin routers\nr1:\n  driver = nosuch\n"},
        4,
        3,
        'cannot find router driver "nosuch"',
        'cannot find router driver "nosuch"',
    ),
    "no-driver": (
        {"configure": HEAD + "begin routers\nr1:\n  transport = t\n"},
        3,
        1,
        'no driver defined for router "r1"',
        'no driver defined for router "r1"',
    ),
    "two-routers-same-name": (
        {"configure": HEAD + "begin routers\nr1:\n  driver = accept\n  transport = t\nr1:\n  driver = accept\n"},
        6,
        1,
        'there are two routers called "r1"',
        'there are two routers called "r1"',
    ),
    "malformed-macro": (
        {"configure": HEAD + "Foo bar\n"},
        2,
        5,
        "malformed macro definition",
        "malformed macro definition",
    ),
    "macro-substring": (
        {"configure": HEAD + "AB = 1\nABC = 2\n"},
        3,
        1,
        'previously defined macro "AB" is a substring',
        'previously defined macro "AB" is a substring',
    ),
    "macro-defined-twice": (
        {"configure": HEAD + "AB = 1\nAB = 2\n"},
        3,
        1,
        'macro "AB" is already defined',
        'macro "AB" is already defined',
    ),
    "repeated-section": (
        {"configure": HEAD + "begin rewrite\nbegin rewrites\n"},
        3,
        1,
        '"rewrites" section is repeated',
        '"rewrites" section is repeated',
    ),
    "negated-string-option": (
        {"configure": HEAD + "no_qualify_domain\n"},
        2,
        1,
        "negation prefix applied to a non-boolean option",
        "negation prefix applied to a non-boolean option",
    ),
    "string-option-without-value": (
        {"configure": HEAD + "tls_advertise_hosts\n"},
        2,
        1,
        "data missing",
        "data missing",
    ),
    "junk-after-quoted-value": (
        {"configure": HEAD + 'qualify_domain = "abc" x\n'},
        2,
        24,
        "extra characters follow string value for qualify_domain",
        "extra characters follow string value for qualify_domain",
    ),
    "bad-retry-error": (
        {"configure": HEAD + "begin retry\n* no_such_error F,2h,15m\n"},
        3,
        3,
        'unknown or malformed retry error "no_such_error"',
        'unknown or malformed retry error "no_such_error"',
    ),
    "include-if-exists-relative": (
        {"configure": HEAD + ".include_if_exists other.conf\n"},
        2,
        1,
        "non-absolute path",
        "non-absolute path",
    ),
    # exim recurses until it runs out of file descriptors, then blames the open.
    "include-loop": (
        {"configure": HEAD + ".include a.conf\n", "a.conf": "# a\n.include b.conf\n", "b.conf": ".include a.conf\n"},
        1,
        1,
        "include loop",
        "failed to open included configuration file",
    ),
    "directive-then-tab": (
        {"configure": HEAD + ".ifdef\tFOO\nqualify_domain = x\n.endif\n"},
        2,
        1,
        "must be followed by a space",
        ".endif without matching .ifdef",
    ),
    "nul-byte": ({"configure": HEAD.encode() + b"qualify_domain = a\x00b\n"}, 2, 19, "NUL byte", None),
    "binary-garbage": (
        {"configure": b"\x89PNG\r\n\x1a\n\xff\xfe binary\n"},
        1,
        1,
        "cannot read main option or named list",
        None,
    ),
    "empty-file": ({"configure": ""}, 0, 0, "no statements", None),
    "only-comments": ({"configure": "# nothing here\n\n   # still nothing\n"}, 0, 0, "no statements", None),
}


def _lay_out(tmp_path: Path, files: dict[str, bytes | str]) -> Path:
    tmp_path.chmod(0o755)
    for name, content in files.items():
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        path.chmod(0o644)
    return tmp_path / "configure"


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migrate", *args], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("case", sorted(CASES))
def test_reader_gives_one_located_error(tmp_path: Path, case: str) -> None:
    files, line, col, message, _ = CASES[case]
    path = _lay_out(tmp_path, files)
    with pytest.raises(ConfigError) as caught:
        read_config(str(path))
    diagnostic = caught.value.diagnostic
    assert message in diagnostic.message
    assert (diagnostic.span.line, diagnostic.span.col) == (line, col)
    if case == "include-loop":
        assert diagnostic.span.file.endswith("b.conf")


@pytest.mark.parametrize("case", sorted(CASES))
def test_cli_reports_file_line_col_with_caret_and_exits_1(tmp_path: Path, case: str) -> None:
    files, line, col, message, _ = CASES[case]
    path = _lay_out(tmp_path, files)
    result = _cli("parse", str(path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    first = result.stderr.splitlines()[0]
    if line:
        expected_file = str(tmp_path / "b.conf") if case == "include-loop" else str(path)
        assert first.startswith(f"{expected_file}:{line}:{col}: error: ")
        assert result.stderr.splitlines()[2].strip() == "^"
    else:
        assert first.startswith(f"{path}: error: ")
    assert message in first


@pytest.mark.exim
@pytest.mark.parametrize("case", sorted(c for c, v in CASES.items() if v[4] is not None))
def test_exim_rejects_the_same_files(exim: Exim, tmp_path: Path, case: str) -> None:
    files, _, _, _, exim_says = CASES[case]
    path = _lay_out(tmp_path, files)
    complaint = exim.error(path)
    assert exim_says in complaint  # type: ignore[operator]


@pytest.mark.exim
@pytest.mark.parametrize("case", ["nul-byte", "empty-file", "only-comments"])
def test_cases_where_we_are_stricter_than_exim(exim: Exim, tmp_path: Path, case: str) -> None:
    """exim -bV accepts these; each hides a mistake, so the reader refuses them (README)."""
    path = _lay_out(tmp_path, CASES[case][0])
    assert exim.error(path) == ""


def test_directory_instead_of_file(tmp_path: Path) -> None:
    result = _cli("parse", str(tmp_path))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{tmp_path}: error: ")
    assert "is a directory" in result.stderr


def test_missing_file(tmp_path: Path) -> None:
    result = _cli("parse", str(tmp_path / "nope"))
    assert result.returncode == 1
    assert "failed to open configuration file" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_file_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    path = tmp_path / "configure"
    path.write_text(HEAD)
    result = _cli("parse", str(path / "child"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr


def test_bad_define_is_a_usage_error_with_status_1(tmp_path: Path) -> None:
    path = _lay_out(tmp_path, {"configure": HEAD})
    result = _cli("parse", str(path), "-D", "lower=1")
    assert result.returncode == 1
    assert "upper-case" in result.stderr


@pytest.mark.exim
def test_an_option_set_twice_is_read_as_exim_reads_it(exim: Exim, tmp_path: Path) -> None:
    """exim 4.97 and later take the later setting (4.96 refused the file): so does the reader, and says so."""
    text = HEAD + "qualify_domain = a.example\nqualify_domain = b.example\nbegin routers\nr:\n  driver = accept\n"
    text += "  transport = t\n  transport = u\nbegin transports\nt:\n  driver = appendfile\n  file = /dev/null\n"
    text += "u:\n  driver = appendfile\n  file = /dev/null\n"
    path = _lay_out(tmp_path, {"configure": text})
    assert exim.error(path) == ""
    assert "qualify_domain = b.example" in exim.run(path, "-bP", "qualify_domain").stdout
    assert "transport = u" in exim.run(path, "-bP", "router", "r").stdout
    result = convert(str(path))
    config = result.config
    assert config.options["qualify_domain"].value.text == "b.example"
    assert config.routers[0].option("transport").value.text == "u"
    overridden = [e for e in result.report.entries if e.rule.id == "EXIM-OVERRIDDEN"]
    assert [(e.span.line, e.severity) for e in overridden] == [(2, "ignored"), (7, "ignored")]


@pytest.mark.exim
def test_a_router_with_two_conditions_needs_both(exim: Exim, tmp_path: Path) -> None:
    """exim ANDs a router's condition lines: neither is overridden, and the router is not taken as routing all."""
    text = HEAD + "domainlist local_domains = example.org\nbegin routers\nr:\n  driver = accept\n"
    text += "  domains = +local_domains\n  condition = ${if eq{$local_part}{a}}\n  condition = ${if eq{$domain}{b}}\n"
    text += "  transport = t\nbegin transports\nt:\n  driver = appendfile\n  file = /dev/null\n"
    path = _lay_out(tmp_path, {"configure": text})
    shown = exim.run(path, "-bP", "router", "r").stdout
    assert "condition = ${if and{{bool_lax{${if eq{$local_part}{a}}}}{bool_lax{${if eq{$domain}{b}}}}}}" in shown
    result = convert(str(path))
    rows = {e.span.line: e for e in result.report.entries}
    assert rows[7].rule.id != "EXIM-OVERRIDDEN" and rows[8].rule.id != "EXIM-OVERRIDDEN"
    assert rows[7].severity == rows[8].severity == "unmapped"


OPAQUE = {
    "unterminated": "  accept  domains = ${lookup{$domain}lsearch{/etc/d}\n",
    "unclosed-item": "  deny condition = ${if eq{$domain}{x}\n",
}


@pytest.mark.exim
@pytest.mark.parametrize("case", sorted(OPAQUE))
def test_an_expansion_the_reader_cannot_follow_is_read_and_reported(exim: Exim, tmp_path: Path, case: str) -> None:
    """exim -bV accepts these (it expands a value only when it uses it): the reader reads on and reports."""
    text = HEAD + "acl_smtp_rcpt = acl_check\nbegin acl\nacl_check:\n" + OPAQUE[case] + "  accept\n"
    path = _lay_out(tmp_path, {"configure": text})
    assert exim.error(path) == ""
    result = convert(str(path))
    assert [d.rule.id for d in result.config.diagnostics] == ["EXIM-READ-EXPANSION"]
    rows = [e for e in result.report.entries if e.rule.id == "EXIM-EXPANSION-OPAQUE"]
    assert rows and {(e.span.line, e.severity) for e in rows} == {(5, "unmapped")}
    assert any(e.span.line == 6 and e.rule.id != "EXIM-EXPANSION-OPAQUE" for e in result.report.entries)  # read on
