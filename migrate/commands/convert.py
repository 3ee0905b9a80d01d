"""The library entry point: an exim configure in, the files to write and the report out.

``convert`` does the work and returns a Result; ``write_output`` puts the
files in place so that a failure never leaves a half-written directory.
The CLI is a thin layer over these two.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from migrate import rules
from migrate.errors import ConfigError, Diagnostic, MigrateError, Span, os_reason
from migrate.lookups import FileStore, Progress
from migrate.mapping import build_policy
from migrate.model import Policy
from migrate.options import Options
from migrate.reader import read_config
from migrate.reader.tree import EximConfig
from migrate.render import Rendered, render, render_migration, with_migration
from migrate.render.base import GENERATED_BY
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
    root = None if options.root == "/" else options.root
    if path == "-":  # exim has no such thing; an admin piping a configuration from elsewhere does
        from migrate.reader.source import STDIN

        return read_config(STDIN, options.defines, root=root, stdin=sys.stdin.buffer.read())
    return read_config(path, options.defines, root=root)


def convert(
    path: str, options: Options | None = None, *, progress: Progress | None = None, **settings: object
) -> Result:
    """Read, map and render one exim configuration; files it names are read under ``options.root``.

    ``settings`` (defines, platform, greylist, root, debian) build the options
    when none are given, for callers that want one or two of them. ``progress``
    hears how the read of a big lookup file goes, and what is being done with a
    configuration over BIG_INPUT (nothing is said without it).
    """
    options = options or Options(**settings)  # type: ignore[arg-type]
    say = _for_big_input(path, options, progress)
    say(f"reading {path}")
    config = read(path, options)
    say(f"converting {path}")
    policy = build_policy(config, options.platform, options.greylist, FileStore(Path(options.root), progress=progress))
    policy = replace(policy, given=as_given(path, options))
    rendered = render(policy)
    report = build_report(config, policy, rendered)
    say("")
    manual = [
        f"{os.path.basename(e.span.file)}:{e.span.line} {e.rule.id}: {e.message}"
        for e in report.findings()
        if e.severity == "unmapped"
    ]
    lost = [(f"{s.service.title}: {s.why}", s.steps) for s in report.lost]
    migration = render_migration(policy, report.grade, manual, lost)
    return Result(config, policy, with_migration(rendered, migration), report)


BIG_INPUT = 1 << 20  # a configuration over 1 MB (50,000 inline domains, say) takes a second or more to convert


def _for_big_input(path: str, options: Options, progress: Progress | None) -> Progress:
    """The status line for a configuration big enough to take seconds; silent for the others."""
    try:
        size = 0 if options.debian or path == "-" else os.path.getsize(path)
    except OSError:
        size = 0  # read() says what is wrong with it
    if progress is None or size <= BIG_INPUT:
        return lambda _text: None
    return lambda text: progress(f"{text} ({size / 2**20:.1f} MB)..." if text else "")


def as_given(path: str, options: Options) -> str:
    """The input as command arguments, for the headers: macro names only, their values may be secrets."""
    words = ["--debian", path] if options.debian else [path]
    if options.root != "/":
        words += ["--root", options.root]
    words += [f"-D {name}" for name in sorted(options.defines)]
    return " ".join(words)


class OutputExistsError(MigrateError):
    """Refusing to overwrite files a previous run (or the admin) left there, or to write among others' files."""


class OutputWriteError(MigrateError):
    """The output could not be written; the output directory is as it was."""


def write_output(result: Result, out_dir: str, *, force: bool = False) -> list[Path]:
    """Write every file into ``out_dir``, all or nothing; return the files written.

    Without ``force`` it refuses to replace a file, and to write into a
    directory holding files a conversion did not write (``-o /tmp``). With
    ``force`` a file that changes is kept as ``NAME.bak``; one that would not
    change is left alone, mtime and all.

    The files are written first into a staging directory inside ``out_dir``,
    so that moving them into place is a rename within one filesystem (an
    ``out_dir`` that is a mount point included); a failure before that
    leaves ``out_dir`` as it was, and removes it if this call created it.
    """
    target = Path(out_dir)
    if target.exists() and not target.is_dir():
        raise ConfigError(
            Diagnostic(Span(out_dir, 0, 0, 0, 0), "error", rules.OUTPUT, "output path exists and is not a directory")
        )
    if not force and target.is_dir():
        _refuse_to_overwrite(result, target)
    created = _make_directory(target)
    try:
        return _write_staged(result, target)
    except BaseException:  # Ctrl-C too: nothing half-written
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise


def _refuse_to_overwrite(result: Result, target: Path) -> None:
    """Without --force: neither another program's files nor a file already there are replaced."""
    foreign = _foreign_entries(result, target)
    if foreign:
        raise OutputExistsError(
            f"{target}: error: holds files exim2smtpd did not write (e.g. {foreign[0]}); "
            "give an empty or new directory, or --force"
        )
    clashes = [name for name in result.files if (target / name).exists()]
    if clashes:
        raise OutputExistsError(
            f"{target / clashes[0]}: error: already exists; use --force (keeps NAME.bak) or another directory"
        )


def _foreign_entries(result: Result, target: Path) -> list[str]:
    """The entries of ``target`` no conversion wrote: none when its smtpd.conf carries our header.

    Otherwise only the names this conversion writes and their ``.bak`` are
    ours; hidden entries (``.git``, a staging directory left by a killed run)
    and a fresh filesystem's ``lost+found`` never count.
    """
    if _has_our_header(target / "smtpd.conf"):
        return []
    ours = {name.split("/")[0] for name in result.files}
    ours |= {f"{name}.bak" for name in ours}
    try:
        names = sorted(entry.name for entry in target.iterdir())
    except OSError as exc:
        raise OutputWriteError(f"{target}: error: cannot list the directory: {os_reason(exc)}") from exc
    return [name for name in names if not name.startswith(".") and name not in ours | {"lost+found"}]


def _has_our_header(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            head = handle.read(4096).split("\n")[:3]
    except OSError:
        return False
    return any(GENERATED_BY in line for line in head)


def _make_directory(target: Path) -> Path | None:
    """Create ``target`` and missing parents; return the topmost directory created, None when it existed."""
    if target.is_dir():
        return None
    top = target.absolute()
    while not top.parent.exists():
        top = top.parent
    try:
        target.mkdir(parents=True)
    except OSError as exc:
        chain = [target.absolute(), *target.absolute().parents]
        for made in chain[: chain.index(top) + 1]:  # the parents it made before it failed: empty
            with contextlib.suppress(OSError):
                made.rmdir()
        raise OutputWriteError(f"{target}: error: cannot create the directory: {os_reason(exc)}") from exc
    return top


def _write_staged(result: Result, target: Path) -> list[Path]:
    """Stage every file that changes (and its backup), then move each into place."""
    changed = [name for name in result.files if not _unchanged(result, target, name)]
    if not changed:
        return []
    for name in changed:
        _check_room(target, name)
    try:
        staging = Path(tempfile.mkdtemp(prefix=".exim2smtpd-", dir=target))
    except OSError as exc:
        raise OutputWriteError(f"{target / changed[0]}: error: cannot write: {os_reason(exc)}") from exc
    try:
        for name in changed:
            _stage(result, staging, target, name)
        for name in changed:
            try:
                (target / name).parent.mkdir(parents=True, exist_ok=True)
                if (staging / f"{name}.bak").exists():
                    os.replace(staging / f"{name}.bak", target / f"{name}.bak")
                os.replace(staging / name, target / name)
            except OSError as exc:
                raise OutputWriteError(f"{target / name}: error: cannot write: {os_reason(exc)}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [target / name for name in changed]


def _unchanged(result: Result, target: Path, name: str) -> bool:
    """Whether ``target/name`` already holds these bytes (and, for a secret, is readable by its owner only)."""
    path = target / name
    try:
        mode = path.stat().st_mode
        if not stat.S_ISREG(mode) or (name in result.secret_files and mode & 0o077):
            return False
        return path.read_bytes() == result.files[name].encode("utf-8", errors="surrogateescape")
    except OSError:
        return False


def _check_room(target: Path, name: str) -> None:
    """Refuse before writing anything when a directory stands where a file goes, or a file where a directory does."""
    path = target / name
    if path.is_dir():
        raise OutputWriteError(f"{path}: error: cannot write: a directory is in the way")
    for parent in path.relative_to(target).parents:
        if (target / parent).exists() and not (target / parent).is_dir():
            raise OutputWriteError(f"{path}: error: cannot write: {target / parent} is a file, not a directory")


def _stage(result: Result, staging: Path, target: Path, name: str) -> None:
    """Write one file into the staging directory, and a copy of the one it replaces as ``NAME.bak``."""
    secret = name in result.secret_files
    try:
        (staging / name).parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(staging / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if secret else 0o644)
        # bytes that were not UTF-8 in the input go out as they came in
        with os.fdopen(descriptor, "w", newline="\n", encoding="utf-8", errors="surrogateescape") as handle:
            handle.write(result.files[name])
    except OSError as exc:
        raise OutputWriteError(f"{target / name}: error: cannot write: {os_reason(exc)}") from exc
    if not (target / name).exists():
        return
    try:
        shutil.copy2(target / name, staging / f"{name}.bak")
        if secret:  # the old copy holds a password too
            (staging / f"{name}.bak").chmod(0o600)
    except OSError as exc:
        raise OutputWriteError(f"{target / name}.bak: error: cannot keep the old file: {os_reason(exc)}") from exc


def _reason(exc: OSError) -> str:
    """The system's reason as part of a sentence: "permission denied", never "[Errno 13] ..."."""
    return (exc.strerror or type(exc).__name__).lower()
