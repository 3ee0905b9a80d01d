"""The user's documentation: --help with examples, a current man page, shell completion, a short README."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from migrate.cli import cli
from migrate.cli.manpage import manpage
from tests.conftest import ROOT


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_help_has_an_example_and_explains_its_options(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "migrate", name, "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"^  Examples?( \(.*\))?:$", result.stdout, re.M), result.stdout
    assert f"exim2smtpd {name} " in result.stdout
    for param in cli.commands[name].params:
        if param.param_type_name == "option" and param.name != "help":
            assert param.help, f"{name} {param.opts}: no help"  # type: ignore[attr-defined]


def test_the_committed_man_page_is_the_one_the_commands_write() -> None:
    committed = (ROOT / "docs" / "exim2smtpd.1").read_text()
    assert committed == manpage(), "run `make man` and commit docs/exim2smtpd.1"


def test_the_man_page_renders_without_warnings() -> None:
    result = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", "-z", str(ROOT / "docs" / "exim2smtpd.1")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    shown = subprocess.run(
        ["man", "-l", str(ROOT / "docs" / "exim2smtpd.1")],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MANPAGER": "cat", "MANWIDTH": "100"},
    )
    assert "exim2smtpd convert" in shown.stdout and "EXIT STATUS" in shown.stdout


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_shell_completion_scripts_come_from_the_command(shell: str) -> None:
    script = ROOT / ".venv" / "bin" / "exim2smtpd"
    command = str(script) if script.exists() else "exim2smtpd"
    result = subprocess.run(
        [command],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "_EXIM2SMTPD_COMPLETE": f"{shell}_source"},
    )
    assert result.returncode == 0, result.stderr
    assert "_EXIM2SMTPD_COMPLETE" in result.stdout


def test_bash_completion_offers_the_commands() -> None:
    script = ROOT / ".venv" / "bin" / "exim2smtpd"
    result = subprocess.run(
        [str(script) if script.exists() else "exim2smtpd"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "_EXIM2SMTPD_COMPLETE": "bash_complete", "COMP_WORDS": "exim2smtpd con", "COMP_CWORD": "1"},
    )
    assert "plain,convert" in result.stdout.splitlines()


def test_the_readme_is_for_users_and_short() -> None:
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 250
    for heading in ("## Install", "## Quick start", "## Workflow", "## Commands"):
        assert heading in readme, heading
    assert not re.search(r"pip install exim2smtpd\b(?!-)", readme)  # not on PyPI: a clone or a built wheel
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).exists(), link
