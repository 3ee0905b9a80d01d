"""The installed package must find its templates (they live outside migrate/ in the tree)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def _build_wheel(into: Path) -> Path:
    """The wheel pip builds from this checkout, as the README's install says."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(into), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = into.glob("exim2smtpd-*.whl")
    return wheel


def test_wheel_ships_the_templates_and_renders_from_them(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    assert "migrate/templates/opensmtpd/smtpd.conf.j2" in names
    assert "migrate/reader/exim_builtins.json" in names
    target = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(target)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "from migrate.render.base import _template_dir; print(_template_dir());"
        "from migrate.commands.convert import convert; print(convert(sys.argv[2]).files['smtpd.conf'].count('match '))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(target), str(ROOT / "fixtures/article-mx/configure")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    template_dir, matches = out.stdout.split()
    assert template_dir.startswith(str(target))
    assert int(matches) >= 5


def test_the_built_wheel_installs_and_runs_in_a_fresh_venv(tmp_path: Path) -> None:
    """The README's install from a wheel: build it, install it with its dependencies, convert."""
    wheel = _build_wheel(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    installed = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--quiet", str(wheel)], capture_output=True, text=True, timeout=600
    )
    assert installed.returncode == 0, installed.stderr
    out = tmp_path / "out"
    run = subprocess.run(
        [str(venv / "bin" / "exim2smtpd"), "convert", str(ROOT / "fixtures/article-mx/configure"), "-o", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert (out / "smtpd.conf").read_text().count("match ") >= 5
    assert "next:" in run.stdout
