"""Every generated smtpd.conf, for every platform, through the real smtpd that platform ships.

openbsd, freebsd and linux target OpenSMTPD 7.9 (OpenBSD 7.9's); debian
targets Debian 13's 7.6 and debian12 Debian 12's 6.8.
Each check runs that version from its own system root (tools/build-roots.sh),
never the host's. The file is checked as written, except that ``listen on
all`` becomes ``listen on lo`` (Linux has no interface groups) and the files
it names become throw-away copies; only for 6.8 are tables joined onto one
line, as 6.8 requires.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from migrate.commands.convert import convert
from migrate.platforms import PLATFORMS
from migrate.verify import adapt
from migrate.verify.system import version
from tests.conftest import FIXTURES, system_root

CASES = sorted(p.parent.name for p in FIXTURES.glob("*/configure"))
TARGETS = {name: (pack.smtpd_version,) for name, pack in PLATFORMS.items()}


@pytest.mark.parametrize(("platform", "smtpd_version"), [(p, v) for p, vs in TARGETS.items() for v in vs])
@pytest.mark.parametrize("case", CASES)
def test_each_platform_passes_the_smtpd_it_targets(
    case: str, platform: str, smtpd_version: str, tmp_path: Path
) -> None:
    root = FIXTURES / case / "root"
    result = convert(str(FIXTURES / case / "configure"), platform=platform, root=str(root) if root.is_dir() else "/")
    system = system_root(smtpd_version)
    checked = adapt.check(
        result.files["smtpd.conf"], tmp_path, result.files, system=system, join_tables=smtpd_version == "6.8"
    )
    assert checked.returncode == 0, checked.stderr + "\n" + result.files["smtpd.conf"]


@pytest.mark.parametrize(("smtpd_version", "package"), [("7.9", "7.9.0"), ("7.6", "7.6"), ("6.8", "6.8")])
def test_the_roots_hold_the_versions_they_are_named_for(smtpd_version: str, package: str) -> None:
    assert version(system_root(smtpd_version)).startswith(package)


def test_every_platform_names_the_smtpd_it_targets() -> None:
    assert {p.smtpd_version for p in PLATFORMS.values()} <= {"7.9", "7.6", "6.8"}
    assert PLATFORMS["openbsd"].smtpd_version == "7.9" and PLATFORMS["debian12"].smtpd_version == "6.8"
    assert PLATFORMS["debian"].multiline_tables and not PLATFORMS["debian12"].multiline_tables
