"""The parse command as a user runs it; plus the layering rule for the library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import FIXTURES, ROOT

ARTICLE = FIXTURES / "article-mx" / "configure"


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "migrate", *args], capture_output=True, text=True, timeout=60, env=env)


def test_json_tree_has_located_nodes() -> None:
    result = _cli("parse", str(ARTICLE), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["type"] == "EximConfig"
    first = data["main"][0]
    assert (first["name"], first["span"]["line"], first["span"]["col"]) == ("primary_hostname", 8, 1)
    router = data["routers"][0]
    assert (router["name"], router["driver"]) == ("relay_domains", "manualroute")


def test_terminal_view_lists_sections_and_locations() -> None:
    result = _cli("parse", str(ARTICLE), env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    for text in ("main", "acl_check_rcpt", "relay_domains manualroute", "configure:11", "domainlist local_domains"):
        assert text in result.stdout
    assert "\x1b[" not in result.stdout


def test_resolved_view_hides_secrets() -> None:
    result = _cli("parse", str(FIXTURES / "continuations-tabs" / "configure"), "--resolved")
    assert result.returncode == 0
    assert "s3cret" not in result.stdout
    assert "hide client_send = <value not displayable>" in result.stdout


def test_defines_reach_the_reader() -> None:
    path = FIXTURES / "macros-conditionals" / "configure"
    result = _cli("parse", str(path), "--resolved", "-D", "KILO=99M")
    assert "message_size_limit = 99M" in result.stdout


def test_module_and_console_script_agree() -> None:
    script = Path(sys.executable).parent / "exim2smtpd"
    assert script.exists()
    via_script = subprocess.run(
        [str(script), "parse", str(ARTICLE), "--json"], capture_output=True, text=True, timeout=60
    )
    assert via_script.stdout == _cli("parse", str(ARTICLE), "--json").stdout


def test_help_and_version_exit_0() -> None:
    assert _cli("--help").returncode == 0
    version = _cli("--version")
    assert version.returncode == 0 and "exim2smtpd" in version.stdout


def test_unknown_command_is_status_1() -> None:
    result = _cli("frobnicate")
    assert result.returncode == 1
    assert "No such command" in result.stderr


def test_reader_does_not_import_presentation_libraries() -> None:
    code = (
        "import sys, migrate.reader, migrate.reader.tree;"
        "bad = [m for m in ('click', 'rich') if m in sys.modules]; print(bad)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.stdout.strip() == "[]"
