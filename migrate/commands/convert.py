"""The library entry point: an exim configure in, the files to write and the report out.

``convert`` does the work and returns a Result; ``write_output`` puts the
files in place so that a failure never leaves a half-written directory.
The CLI is a thin layer over these two.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from migrate import rules
from migrate.errors import ConfigError, Diagnostic, MigrateError, Span
from migrate.lookups import FileStore
from migrate.mapping import build_policy
from migrate.model import Policy
from migrate.options import Options
from migrate.reader import read_config
from migrate.reader.tree import EximConfig
from migrate.render import Rendered, render, render_migration, with_migration
from migrate.report import Report, build_report


@dataclass(frozen=True)
class Result:
    """What a conversion produced: the tree, the policy, what render wrote, and the report."""

    config: EximConfig
    policy: Policy
    rendered: Rendered
    report: Report

    @property
    def files(self) -> dict[str, str]:
        """Every file convert writes, by its path relative to the output directory."""
        return self.rendered.files

    @property
    def secret_files(self) -> frozenset[str]:
        """Output files holding passwords: written 0600, never shown."""
        return self.rendered.secret


def read(path: str, options: Options) -> EximConfig:
    """Read the input as exim would: a configure file, or Debian's /etc/exim4 with ``options.debian``."""
    if options.debian:
        from migrate.reader.debian import read_debian  # only Debian inputs need it

        return read_debian(path, options.defines, options.root)
    return read_config(path, options.defines, root=None if options.root == "/" else options.root)


def convert(path: str, options: Options | None = None, **settings: object) -> Result:
    """Read, map and render one exim configuration; files it names are read under ``options.root``.

    ``settings`` (defines, platform, greylist, root, debian) build the options
    when none are given, for callers that want one or two of them.
    """
    options = options or Options(**settings)  # type: ignore[arg-type]
    config = read(path, options)
    policy = build_policy(config, options.platform, options.greylist, FileStore(Path(options.root)))
    policy = replace(policy, given=as_given(path, options))
    rendered = render(policy)
    report = build_report(config, policy, rendered)
    manual = [
        f"{os.path.basename(e.span.file)}:{e.span.line} {e.rule.id}: {e.message}"
        for e in report.findings()
        if e.severity == "unmapped"
    ]
    lost = [(f"{s.service.title}: {s.why}", s.steps) for s in report.lost]
    migration = render_migration(policy, report.grade, manual, lost)
    return Result(config, policy, with_migration(rendered, migration), report)


def as_given(path: str, options: Options) -> str:
    """The input as command arguments, for the headers: macro names only, their values may be secrets."""
    words = ["--debian", path] if options.debian else [path]
    if options.root != "/":
        words += ["--root", options.root]
    words += [f"-D {name}" for name in sorted(options.defines)]
    return " ".join(words)


class OutputExistsError(MigrateError):
    """Refusing to overwrite files a previous run (or the admin) left there."""


def write_output(result: Result, out_dir: str, *, force: bool = False) -> list[Path]:
    """Write every file into ``out_dir`` atomically; refuse to overwrite existing files unless ``force``.

    With ``force`` each existing file is kept as ``NAME.bak`` before it is replaced.
    """
    target = Path(out_dir)
    if target.exists() and not target.is_dir():
        raise ConfigError(
            Diagnostic(Span(out_dir, 0, 0, 0, 0), "error", rules.OUTPUT, "output path exists and is not a directory")
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
