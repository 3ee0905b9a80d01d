"""Run a converted configuration for real: smtpd 7.9, the real filter-rspamd and rspamd 4, in private namespaces.

``stage`` writes the generated smtpd.conf (listening on lo, with throw-away
certificates) and rspamd local.d files into a work directory, made fit for a
machine without DNS; ``run`` starts both daemons in the unstable root (see
content_probe.sh) and runs a probe script there.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from migrate.commands.convert import Result, convert
from migrate.verify import adapt
from migrate.verify.system import inside
from tests.conftest import FIXTURES, system_root

PROBE = Path(__file__).with_name("content_probe.sh")


@dataclass(frozen=True)
class Staged:
    """A converted fixture, ready to run."""

    work: Path
    result: Result
    smtpd_conf: str
    listeners: frozenset[tuple[int, str]]  # (port, "plain" | "tls" | "smtps")

    @property
    def local_domain(self) -> str:
        local = self.result.policy.table("local_domains")
        return next(e for e in (local.entries if local else ()) if "*" not in e and e != "localhost")


@contextmanager
def staged(case: str, rewrite_smtpd=None, root: Path | None = None) -> Iterator[Staged]:
    """The fixture converted for linux and written out; ``rewrite_smtpd`` may change smtpd.conf first.

    With ``root`` (the fixture's copy of the server's files) it is converted with ``--root``, and the
    tables smtpd reads as they are (/etc/aliases) are copied from there.
    """
    result = convert(str(FIXTURES / case / "configure"), platform="linux", root=str(root) if root else "/")
    work = Path(tempfile.mkdtemp(prefix="exim2smtpd-content-"))  # the filters' own users must reach it
    work.chmod(0o755)
    try:
        local_d = work / "local.d"
        for name, text in result.files.items():
            if name.startswith("rspamd/local.d/"):
                path = local_d / name.removeprefix("rspamd/local.d/")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
        local_d.mkdir(exist_ok=True)
        (local_d / "fuzzy_check.conf").write_text("enabled = false;\n")  # offline: no fuzzy servers
        (local_d / "options.inc").write_text(
            'enable_test_patterns = true;\ngtube_patterns = "all";\n'
        )  # GTUBE is off by default
        (local_d / "logging.inc").write_text('type = "console";\nlevel = "info";\n')  # into the test's log
        (local_d / "antivirus.conf").unlink(missing_ok=True)  # no clamd here; GTUBE is the spam check
        text = adapt.adapt(result.files["smtpd.conf"], work, root, result.files, join_tables=False)
        text = re.sub(r'^listen on "(0\.0\.0\.0|::)" ', "listen on lo ", text, flags=re.M)
        lines: list[str] = []
        for line in text.splitlines():
            if not (line.startswith("listen on lo ") and line in lines):  # the two addresses became one lo listener
                lines.append(line)
        text = "\n".join(lines) + "\n"
        if rewrite_smtpd is not None:
            text = rewrite_smtpd(text)
        (work / "smtpd.conf").write_text(text)
        listeners = frozenset(
            (587 if port == "submission" else int(port), kind or "plain")
            for port, kind in re.findall(r"^listen on lo port (\w+)(?: (tls|smtps))?", text, re.M)
        )
        assert listeners, text
        yield Staged(work, result, text, listeners)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(
    stage: Staged, send: str, args: list[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Start rspamd and smtpd in the unstable root's namespaces, then ``send`` (a python script) with ``args``."""
    (stage.work / "send.py").write_text(send)
    return subprocess.run(
        inside(system_root("7.9"), ["sh", str(PROBE), str(stage.work), *args], net=True),
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )


def rspamd_tasks(stage: Staged) -> list[str]:
    """rspamd's one log line per message it was asked about."""
    path = stage.work / "log" / "rspamd.out"
    text = path.read_text(errors="replace") if path.exists() else ""
    return [line for line in text.splitlines() if "rspamd_task_write_log" in line]


def log(stage: Staged) -> str:
    """What smtpd and rspamd said, for a failing assertion."""
    parts = []
    for name in ("smtpd.out", "rspamd.out"):
        path = stage.work / "log" / name
        if path.exists():
            parts.append(f"--- {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-40:]))
    return "\n".join(parts)
