"""What `make test-deps` does to the machine: builds private roots, and leaves the host's mail system alone."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import IN_CI, ROOT, ROOTS, Exim

SCRIPTS = tuple(ROOT / "tools" / name for name in ("install-test-deps.sh", "build-roots.sh", "roots-common.sh"))


def _mail_packages() -> str:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${Status} ${Version}\n", "exim4*", "opensmtpd*", "rspamd*", "redis*"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return "\n".join(sorted(done.stdout.splitlines()))


def test_no_script_asks_apt_for_a_mail_package() -> None:
    for script in SCRIPTS:
        for command in re.findall(r"apt-get install[^\n]*(?:\\\n[^\n]*)*", script.read_text()):
            assert not re.search(r"\b(opensmtpd|exim4-daemon|exim4-base|rspamd|redis)", command), (script, command)


@pytest.fixture
def as_root() -> None:
    if os.geteuid() != 0:
        if IN_CI:
            pytest.fail("installing and building roots need root; under CI=true that is a failure")
        pytest.skip("installing and building roots need root")  # only outside CI: CI=true fails above


def test_installing_leaves_the_hosts_mail_packages_as_they_were(as_root: None) -> None:
    before = _mail_packages()
    ROOTS.mkdir(parents=True, exist_ok=True)  # one build at a time, as make test-deps does
    locked = ["flock", str(ROOTS / ".build.lock")]
    for command in (["sh", str(SCRIPTS[0])], [*locked, "sh", str(SCRIPTS[1]), str(ROOTS)]):
        done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, done.stderr
    assert _mail_packages() == before


def test_exim_is_the_roots_not_the_hosts(exim: Exim) -> None:
    """The oracle is exim 4.100 from the unstable root; the host gets no exim, user or spool from the tests."""
    done = exim.run(ROOT / "fixtures" / "dkim-submission" / "configure", "-bV")
    assert done.returncode == 0 and done.stdout.startswith("Exim version 4.100"), done.stdout + done.stderr
    assert "exim" in str(exim.root) and str(ROOTS) in str(exim.root)
    assert "dpkg-deb" not in SCRIPTS[0].read_text()  # nothing of exim is unpacked on the host


def test_a_root_that_cannot_be_built_fails_with_one_line(as_root: None, tmp_path: Path) -> None:
    env = {**os.environ, "EXIM2SMTPD_MIRROR": "http://127.0.0.1:9/debian"}  # nothing listens there
    done = subprocess.run(
        ["sh", str(SCRIPTS[1]), str(tmp_path / "roots")], capture_output=True, text=True, timeout=600, env=env
    )
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("build-roots: mmdebstrap of unstable (unstable) failed"), done.stderr
    assert not (tmp_path / "roots" / "unstable").exists()  # no half-built root is kept as a good one


def test_a_killed_builds_leftover_mounts_are_unmounted_not_emptied(as_root: None, tmp_path: Path) -> None:
    """A build killed mid-way leaves proc, dev/shm and bind mounts in root.new; removing it must not empty them."""
    half_built, outside = tmp_path / "roots" / "unstable.new", tmp_path / "outside"
    (outside).mkdir()
    (outside / "precious").write_text("kept\n")
    for sub in ("proc", "dev/shm", "keep"):
        (half_built / sub).mkdir(parents=True)
    mounts = (
        ["mount", "-t", "proc", "proc", str(half_built / "proc")],
        ["mount", "-t", "tmpfs", "shm", str(half_built / "dev/shm")],
        ["mount", "--bind", str(outside), str(half_built / "keep")],
    )
    try:
        for command in mounts:
            subprocess.run(command, check=True, timeout=60)
        script = f'fail() {{ echo "$*" >&2; exit 1; }}; . "{SCRIPTS[2]}"; remove_root "$1" "$1.new"'
        done = subprocess.run(
            ["sh", "-c", script, "sh", str(tmp_path / "roots" / "unstable")], capture_output=True, text=True, timeout=60
        )
    finally:
        for line in reversed(Path("/proc/mounts").read_text().splitlines()):
            if str(tmp_path) in line.split()[1]:
                subprocess.run(["umount", "-l", line.split()[1]], check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert not half_built.exists()
    assert (outside / "precious").read_text() == "kept\n"
    assert str(tmp_path) not in Path("/proc/mounts").read_text()
