"""Mistakes users make today, each answered by one sentence naming their file, exit status 1, nothing half-written.

The output directory (a mount point, an unwritable or full disk, a shared
directory, --force), a --baseline that is no report, compressed or binary
input, a bad -D, and a directory given as CONFIGURE.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from migrate.commands import convert as convert_module
from migrate.commands.check import BaselineError, read_baseline
from migrate.commands.convert import OutputWriteError, convert, write_output
from migrate.errors import ConfigError, caret_lines
from migrate.reader import read_config
from migrate.report.formats import fingerprint, to_json
from tests.conftest import FIXTURES, IN_CI, ROOT, Exim

ARTICLE = FIXTURES / "article-mx" / "configure"
HEAD = "keep_environment =\n"


def _cli(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "migrate", *args], capture_output=True, text=True, timeout=60, cwd=ROOT
    )


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The whole of stderr, which must be one sentence: no traceback, no errno, no staging name."""
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stderr.count("\n") == 1, result.stderr
    for leak in ("Traceback", "Errno", ".exim2smtpd-", "internal error"):
        assert leak not in result.stderr
    return result.stderr.rstrip("\n")


@pytest.fixture
def as_root() -> None:
    """Mount namespaces and another user's identity need root and unshare/setpriv."""
    if os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("setpriv")):
        if IN_CI:
            pytest.fail("needs root, unshare and setpriv; under CI=true that is a failure")
        pytest.skip("needs root, unshare and setpriv")  # only outside CI: CI=true fails above


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A directory another user can reach (pytest's own tmp tree is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="exim2smtpd-input-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _with_tmpfs(disk: Path, options: str, out: Path, listing: Path) -> subprocess.CompletedProcess[str]:
    """Convert into ``out`` with a tmpfs mounted on ``disk`` in a mount namespace of its own.

    What the tmpfs holds afterwards is written to ``listing``: the mount goes with the namespace.
    """
    script = (
        f"mount -t tmpfs -o {options} tmpfs {disk} || exit 99; "
        f"{sys.executable} -m migrate convert {ARTICLE} -o {out}; status=$?; ls -A {disk} > {listing}; exit $status"
    )
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )


# -- the output directory ---------------------------------------------------------------------------


def test_an_output_directory_that_is_a_mount_point_is_written(as_root: None, tmp_path: Path) -> None:
    """The staging directory sits inside the target: the renames never cross filesystems (was EXDEV)."""
    out = tmp_path / "out"
    out.mkdir()
    run = _with_tmpfs(out, "size=1m", out, tmp_path / "listing")
    assert run.returncode == 0, run.stderr
    assert "cross-device" not in run.stderr
    assert (tmp_path / "listing").read_text().split() == ["MIGRATION.md", "rspamd", "smtpd.conf"]


def test_the_staging_directory_is_inside_the_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = convert(str(ARTICLE))
    seen: list[str | None] = []
    real = tempfile.mkdtemp

    def spy(*args: object, **kwargs: object) -> str:
        seen.append(kwargs.get("dir"))  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(convert_module.tempfile, "mkdtemp", spy)
    (tmp_path / "existing").mkdir()
    for out in (tmp_path / "new" / "out", tmp_path / "existing"):
        write_output(result, str(out))
        assert Path(str(seen[-1])) == out
        assert sorted(p.name for p in out.iterdir()) == ["MIGRATION.md", "rspamd", "smtpd.conf"]


def test_permission_denied_is_a_sentence_naming_the_users_file(as_root: None, open_tmp: Path) -> None:
    out = open_tmp / "out"
    out.mkdir()  # root's, 0755: nobody may not write there
    result = _cli(
        "convert",
        str(ARTICLE),
        "-o",
        str(out),
        prefix=("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"),
    )
    assert _one_line_error(result) == f"{out}/smtpd.conf: error: cannot write: permission denied"
    assert list(out.iterdir()) == []


def test_a_full_disk_leaves_nothing_behind(as_root: None, tmp_path: Path) -> None:
    disk = tmp_path / "disk"
    disk.mkdir()
    for out in (disk, disk / "new" / "out"):  # an existing (empty) directory, and one convert creates
        run = _with_tmpfs(disk, "size=4k", out, tmp_path / "listing")
        message = _one_line_error(run)
        assert message.startswith(f"{out}/") and message.endswith(": error: cannot write: no space left on device")
        assert (tmp_path / "listing").read_text() == ""  # no staging directory, no half of the files, no new directory


def test_a_failed_write_changes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = convert(str(ARTICLE))
    real = os.open
    calls = []

    def failing(path: object, *args: object, **kwargs: object) -> int:
        calls.append(path)
        if len(calls) == 2:
            raise PermissionError(13, "Permission denied", str(path))
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(convert_module.os, "open", failing)
    with pytest.raises(OutputWriteError) as caught:
        write_output(result, str(tmp_path / "new" / "out"))
    second = list(result.files)[1]
    assert str(caught.value) == f"{tmp_path}/new/out/{second}: error: cannot write: permission denied"
    assert list(tmp_path.iterdir()) == []  # the directories it created are gone too
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "smtpd.conf").write_text("mine\n")
    calls.clear()
    with pytest.raises(OutputWriteError):
        write_output(result, str(existing), force=True)
    assert sorted(p.name for p in existing.iterdir()) == ["smtpd.conf"]
    assert (existing / "smtpd.conf").read_text() == "mine\n"


def test_a_directory_holding_other_files_is_refused_without_force(tmp_path: Path) -> None:
    out = tmp_path / "shared"
    out.mkdir()
    (out / "notes.txt").write_text("the admin's\n")
    (out / "aliases").write_text("root: admin\n")
    result = _cli("convert", str(ARTICLE), "-o", str(out))
    assert _one_line_error(result) == (
        f"{out}: error: holds files exim2smtpd did not write (e.g. aliases); give an empty or new directory, or --force"
    )
    assert sorted(p.name for p in out.iterdir()) == ["aliases", "notes.txt"]
    assert _cli("convert", str(ARTICLE), "-o", str(out), "--force").returncode == 0
    assert (out / "smtpd.conf").exists() and (out / "notes.txt").read_text() == "the admin's\n"


def test_tmp_itself_is_refused(open_tmp: Path) -> None:
    assert open_tmp.parent == Path(tempfile.gettempdir())  # so it holds at least that
    result = _cli("convert", str(ARTICLE), "-o", tempfile.gettempdir())
    assert "holds files exim2smtpd did not write" in _one_line_error(result)


def test_hidden_entries_and_lost_found_are_not_other_files(tmp_path: Path) -> None:
    out = tmp_path / "repo"
    (out / ".git").mkdir(parents=True)
    (out / "lost+found").mkdir()
    result = _cli("convert", str(ARTICLE), "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert (out / "smtpd.conf").exists()


def test_rerunning_into_its_own_output_needs_force_as_before(tmp_path: Path) -> None:
    out = tmp_path / "mail"
    assert _cli("convert", str(ARTICLE), "-o", str(out), "--report-json", str(out / "report.json")).returncode == 0
    (out / "local-notes.md").write_text("ours, next to the generated files\n")  # its smtpd.conf header says ours
    result = _cli("convert", str(ARTICLE), "-o", str(out))
    assert _one_line_error(result) == (
        f"{out}/smtpd.conf: error: already exists; use --force (keeps NAME.bak) or another directory"
    )


def test_force_backs_up_only_what_changes(tmp_path: Path) -> None:
    out = tmp_path / "mail"
    assert _cli("convert", str(ARTICLE), "-o", str(out)).returncode == 0
    files = [p for p in out.rglob("*") if p.is_file()]
    for path in files:
        os.utime(path, ns=(1, 1))  # an old mtime: kept where a file is left alone
    (out / "MIGRATION.md").write_text("edited by hand\n")
    result = _cli("convert", str(ARTICLE), "-o", str(out), "--force")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"wrote 1 file(s) to {out}: MIGRATION.md"
    assert (out / "MIGRATION.md.bak").read_text() == "edited by hand\n"
    assert list(out.rglob("*.bak")) == [out / "MIGRATION.md.bak"]
    assert len(files) == 6
    assert all(p.stat().st_mtime_ns == 1 for p in files if p.name != "MIGRATION.md")
    again = _cli("convert", str(ARTICLE), "-o", str(out), "--force")
    assert again.stdout.splitlines()[0] == f"{out}: every file was up to date"


def test_a_directory_where_a_file_goes_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    out = tmp_path / "mail"
    (out / "smtpd.conf").mkdir(parents=True)
    result = _cli("convert", str(ARTICLE), "-o", str(out), "--force")
    assert _one_line_error(result) == f"{out}/smtpd.conf: error: cannot write: a directory is in the way"
    assert [p.name for p in out.iterdir()] == ["smtpd.conf"]


# -- check --baseline --------------------------------------------------------------------------------

BASELINES = {
    "passwd": (
        "root:x:0:0:root:/root:/bin/bash\n",
        ":1:1: error: not a JSON report from exim2smtpd (not JSON: expecting value)",
    ),
    "list": (
        "[1, 2]\n",
        ": error: not a JSON report from exim2smtpd (the JSON is a list, where a report is an object)",
    ),
    "empty-object": (
        "{}\n",
        ": error: not a JSON report from exim2smtpd (it has no schema_version, no tool, no statements)",
    ),
    "truncated": (
        '{"schema_version": 2,\n  "tool": {',
        ":2:12: error: not a JSON report from exim2smtpd (not JSON: expecting",
    ),
    "another-tool": (
        json.dumps({"schema_version": 2, "tool": {"name": "eslint"}, "statements": []}),
        ": error: not a JSON report from exim2smtpd (its tool is 'eslint')",
    ),
    "bad-statement": (
        json.dumps({"schema_version": 2, "tool": {"name": "exim2smtpd"}, "statements": [{"rule": "X"}]}),
        ": error: not a JSON report from exim2smtpd (statement 1 has no rule and source)",
    ),
}


@pytest.mark.parametrize("case", sorted(BASELINES))
def test_a_baseline_that_is_no_report_is_named(tmp_path: Path, case: str) -> None:
    text, expected = BASELINES[case]
    baseline = tmp_path / "baseline.json"
    baseline.write_text(text)
    with pytest.raises(BaselineError) as caught:
        read_baseline(str(baseline))
    assert str(caught.value).startswith(f"{baseline}{expected}")
    out = tmp_path / "out"
    assert _cli("convert", str(ARTICLE), "-o", str(out)).returncode == 0
    result = _cli("check", str(ARTICLE), "--against", str(out), "--baseline", str(baseline))
    assert _one_line_error(result).startswith(f"{baseline}{expected}")


def test_etc_passwd_as_baseline() -> None:
    result = _cli("check", str(ARTICLE), "--against", str(ARTICLE), "--baseline", "/etc/passwd")
    assert _one_line_error(result).startswith("/etc/passwd:1:1: error: not a JSON report from exim2smtpd")


def test_a_saved_report_is_a_baseline(tmp_path: Path) -> None:
    report = convert(str(ARTICLE)).report
    baseline = tmp_path / "report.json"
    baseline.write_text(to_json(report))
    assert read_baseline(str(baseline)) == {fingerprint(e.rule.id, e.source) for e in report.entries}
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"schema_version": 2, "tool": {"name": "exim2smtpd"}, "statements": []}))
    assert read_baseline(str(empty)) == set()


# -- compressed and binary input ---------------------------------------------------------------------

_TEXT = ARTICLE.read_bytes()
NOT_TEXT = {
    "gzip": (
        gzip.compress(_TEXT),
        ": error: this is gzip-compressed data, not an exim configuration (gunzip it first)",
    ),
    "bzip2": (
        bz2.compress(_TEXT),
        ": error: this is bzip2-compressed data, not an exim configuration (bunzip2 it first)",
    ),
    "xz": (lzma.compress(_TEXT), ": error: this is xz-compressed data, not an exim configuration (unxz it first)"),
    "zstd": (
        b"\x28\xb5\x2f\xfd\x24\x10\x81\x00\x00keep_environment =\n",
        ": error: this is zstd-compressed data, not an exim configuration (unzstd it first)",
    ),
    "utf16": (_TEXT.decode().encode("utf-16"), ": error: this is UTF-16 text, not an exim configuration"),
    "utf16le": (_TEXT.decode().encode("utf-16-le"), ": error: this is UTF-16 text, not an exim configuration"),
    "utf8-bom": (b"\xef\xbb\xbf" + _TEXT, ": error: this is text behind a UTF-8 byte order mark, which exim refuses"),
    "elf": (
        Path(sys.executable).resolve().read_bytes()[:20000],
        ":1:8: error: binary data (a NUL byte), not an exim configuration",
    ),
}


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    tmp_path.chmod(0o755)
    path = tmp_path / name
    path.write_bytes(data)
    path.chmod(0o644)
    return path


@pytest.mark.parametrize("case", sorted(NOT_TEXT))
def test_compressed_or_binary_input_is_one_located_line(tmp_path: Path, case: str) -> None:
    data, expected = NOT_TEXT[case]
    path = _write(tmp_path, "configure", data)
    with pytest.raises(ConfigError) as caught:
        read_config(str(path))
    assert caught.value.diagnostic.rule.id == "EXIM-READ-BINARY"
    message = _one_line_error(_cli("parse", str(path)))
    assert message.startswith(f"{path}{expected}")
    assert len(message) < 300  # never the bytes themselves


def _exim_complaint(exim: Exim, path: Path) -> bytes:
    """exim's -bV complaint, as bytes: it quotes the binary line it choked on ('' when it accepts the file)."""
    run = subprocess.run([str(exim.binary), "-C", str(path), "-bV"], capture_output=True, timeout=60)
    return b"" if run.returncode == 0 else run.stderr


@pytest.mark.exim
@pytest.mark.parametrize("case", sorted(set(NOT_TEXT) - {"utf16le"}))
def test_exim_refuses_the_same_files(exim: Exim, tmp_path: Path, case: str) -> None:
    path = _write(tmp_path, "configure", NOT_TEXT[case][0])
    assert b"configuration error in line 1 of" in _exim_complaint(exim, path)


@pytest.mark.exim
def test_exim_reads_utf16_without_a_mark_as_an_empty_file(exim: Exim, tmp_path: Path) -> None:
    """Each line is cut at its first NUL: '#' and then nothing. The reader refuses it (a NUL byte, README)."""
    path = _write(tmp_path, "configure", NOT_TEXT["utf16le"][0])
    assert _exim_complaint(exim, path) == b""


def test_an_included_gzip_file_is_named(tmp_path: Path) -> None:
    _write(tmp_path, "extra.conf.gz", gzip.compress(b"qualify_domain = example.org\n"))
    path = _write(tmp_path, "configure", f"{HEAD}.include {tmp_path}/extra.conf.gz\n".encode())
    message = _one_line_error(_cli("parse", str(path)))
    assert (
        message
        == f"{tmp_path}/extra.conf.gz: error: this is gzip-compressed data, not an exim configuration (gunzip it first)"
    )


def test_a_stray_nul_in_a_text_line_still_shows_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "configure", HEAD.encode() + b"qualify_domain = a\x00b\n")
    result = _cli("parse", str(path))
    assert result.returncode == 1
    assert result.stderr.splitlines()[0].startswith(f"{path}:2:19: error: NUL byte in configuration line")
    assert result.stderr.splitlines()[1] == "    qualify_domain = a\\0b"


def test_a_long_line_is_cut_in_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "configure", (HEAD + 'qualify_domain = "abc" ' + "x" * 100_000 + "\n").encode())
    result = _cli("parse", str(path))
    assert result.returncode == 1
    shown = result.stderr.splitlines()[1]
    assert shown == '    qualify_domain = "abc" ' + "x" * 177 + "…"
    assert len(result.stderr) < 500


def test_the_caret_stays_under_its_column_in_a_cut_line() -> None:
    line = "a" * 500 + "X" + "b" * 500
    shown, caret = caret_lines(line, 501).splitlines()
    assert shown.startswith("    …") and shown.endswith("…") and len(shown) == 4 + 1 + 200 + 1
    assert shown[caret.index("^")] == "X"
    assert caret_lines("short", 3) == "    short\n      ^"


# -- -D ----------------------------------------------------------------------------------------------

DEFINES = {
    "A B=x": "-D: error: the macro name 'A B' holds a space; a macro name is letters, digits and _ only",
    "a=x": "-D: error: the macro name 'a' must start with an upper-case letter (A-Z)",
    "_A=x": "-D: error: the macro name '_A' must start with an upper-case letter (A-Z)",
    "A.B=s3cret": "-D: error: the macro name 'A.B' holds the character '.'; a macro name is letters, digits and _ only",
    "=x": "-D: error: no macro name before the '='",
}


@pytest.mark.parametrize("define", sorted(DEFINES))
def test_a_bad_define_says_what_is_wrong(define: str) -> None:
    message = _one_line_error(_cli("parse", str(ARTICLE), "-D", define))
    assert message == DEFINES[define]
    assert "s3cret" not in message


def test_a_define_given_twice_is_refused_as_exim_does() -> None:
    message = _one_line_error(_cli("parse", str(ARTICLE), "-D", "KILO=1", "-DKILO=2"))
    assert message == "-D: error: the macro KILO is defined twice (exim refuses a duplicated -D)"


def test_blanks_around_a_define_are_skipped_as_exim_does() -> None:
    result = _cli("parse", str(FIXTURES / "macros-conditionals" / "configure"), "--resolved", "-D", " KILO = 99M")
    assert result.returncode == 0, result.stderr
    assert "message_size_limit = 99M" in result.stdout


@pytest.mark.exim
def test_exim_refuses_the_same_defines(exim: Exim, tmp_path: Path) -> None:
    config = _write(tmp_path, "configure", (HEAD + "qualify_domain = KILO\n").encode())
    for define in (*DEFINES, "KILO=1 -DKILO=2"):
        args = [f"-D{d}" for d in define.split(" -D")]
        run = subprocess.run([str(exim.binary), "-C", str(config), *args, "-bV"], capture_output=True, text=True)
        assert run.returncode != 0, define
    accepted = subprocess.run(
        [str(exim.binary), "-C", str(config), "-D KILO = 99M", "-bP", "qualify_domain"], capture_output=True, text=True
    )
    assert accepted.stdout.strip() == "qualify_domain = 99M"


# -- a directory as CONFIGURE ------------------------------------------------------------------------


@pytest.mark.parametrize("marker", ["update-exim4.conf.conf", "conf.d"])
def test_debians_directory_without_debian_says_to_give_it(tmp_path: Path, marker: str) -> None:
    etc = tmp_path / "exim4"
    etc.mkdir()
    if marker == "conf.d":
        (etc / marker).mkdir()
    else:
        (etc / marker).write_text("dc_eximconfig_configtype='local'\n")
    message = _one_line_error(_cli("convert", str(etc), "-o", str(tmp_path / "out")))
    assert message == (
        f"{etc}: error: this is a directory, not an exim configure file; for Debian's /etc/exim4 give --debian {etc}"
    )
    assert not (tmp_path / "out").exists()


def test_another_directory_is_not_a_configure_file(tmp_path: Path) -> None:
    message = _one_line_error(_cli("parse", str(tmp_path)))
    assert message == f"{tmp_path}: error: this is a directory, not an exim configure file"


def test_a_missing_configure_file_is_one_sentence(tmp_path: Path) -> None:
    message = _one_line_error(_cli("parse", str(tmp_path / "configure")))
    path = tmp_path / "configure"
    assert message == f"{path}: error: failed to open configuration file {path}: No such file or directory"
