"""The library entry point: an exim configure in, smtpd.conf text out.

``convert`` does the work and returns a Result; ``write_output`` puts the
files in place so that a failure never leaves a half-written directory.
The CLI is a thin layer over these two.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from migrate.errors import ConfigError, Diagnostic, MigrateError, Span
from migrate.mapping import build_policy
from migrate.model import Policy
from migrate.reader import read_config
from migrate.reader.tree import EximConfig
from migrate.render import render_migration, render_rspamd, render_smtpd_conf, render_table_files
from migrate.report import Report, build_report


@dataclass(frozen=True)
class Result:
    """What a conversion produced: the tree, the policy, the report and the files to write."""

    config: EximConfig
    policy: Policy
    files: dict[str, str]
    report: Report

    @property
    def secret_files(self) -> frozenset[str]:
        """Output files holding passwords: written 0600, never shown."""
        return frozenset(os.path.basename(t.file) for t in self.policy.tables if t.secret)


def convert(
    path: str,
    *,
    defines: dict[str, str] | None = None,
    platform: str = "openbsd",
    greylist: str = "off",
    root: str = "/",
    debian: bool = False,
) -> Result:
    """Read, map and render one exim configuration; files it names are read under ``root``.

    With ``debian``, ``path`` is a Debian /etc/exim4 directory, read as
    update-exim4.conf and the init script would (see ``migrate.debian``).
    """
    if debian:
        from migrate.debian import read_debian  # only Debian inputs need it

        config = read_debian(path, defines, root)
    else:
        config = read_config(path, defines, root=None if root == "/" else root)
    policy = build_policy(config, platform, greylist, root)
    files = {"smtpd.conf": render_smtpd_conf(policy), **render_table_files(policy), **render_rspamd(policy)}
    report = build_report(config, policy, files)
    manual = [
        f"{os.path.basename(e.file)}:{e.line} {e.rule}: {e.message}"
        for e in report.entries
        if e.bucket == "unmapped" and not e.parent
    ]
    files["MIGRATION.md"] = render_migration(policy, report.grade, manual)  # lists the report's manual items
    return Result(config, policy, files, report)


class OutputExistsError(MigrateError):
    """Refusing to overwrite files a previous run (or the admin) left there."""


def write_output(result: Result, out_dir: str, *, force: bool = False) -> list[Path]:
    """Write every file into ``out_dir`` atomically; refuse to overwrite existing files unless ``force``.

    With ``force`` each existing file is kept as ``NAME.bak`` before it is replaced.
    """
    target = Path(out_dir)
    if target.exists() and not target.is_dir():
        raise ConfigError(
            Diagnostic(Span(out_dir, 0, 0, 0, 0), "error", "OUTPUT", "output path exists and is not a directory")
        )
    clashes = [name for name in result.files if (target / name).exists()]
    if clashes and not force:
        raise OutputExistsError(
            f"{target / clashes[0]}: error: already exists; use --force (keeps NAME.bak) or another directory"
        )
    parent = target.parent if str(target.parent) else Path(".")
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".exim2smtpd-", dir=parent))
    try:
        for name, text in result.files.items():
            (staging / name).parent.mkdir(parents=True, exist_ok=True)
            mode = 0o600 if name in result.secret_files else 0o644
            descriptor = os.open(staging / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
            # bytes that were not UTF-8 in the input go out as they came in
            with os.fdopen(descriptor, "w", newline="\n", encoding="utf-8", errors="surrogateescape") as handle:
                handle.write(text)
        if not target.exists():
            os.rename(staging, target)
            return [target / name for name in result.files]
        for name in result.files:
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            if (target / name).exists():
                shutil.copy2(target / name, target / f"{name}.bak")
                if name in result.secret_files:  # the old copy holds a password too
                    (target / f"{name}.bak").chmod(0o600)
            os.replace(staging / name, target / name)
        return [target / name for name in result.files]
    finally:
        shutil.rmtree(staging, ignore_errors=True)
