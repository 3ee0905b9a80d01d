"""The installed package must find its templates (they live outside migrate/ in the tree)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def test_wheel_ships_the_templates_and_renders_from_them(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("exim2smtpd-*.whl")
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
