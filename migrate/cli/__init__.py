"""The ``exim2smtpd`` command: a thin click layer over the library.

Commands call one library function each and turn its result into output and an
exit status: 0 success, 1 error (unreadable input, syntax error, bad usage), 2
findings or drift, 130 interrupted. Results go to stdout; errors to stderr.
"""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from migrate import __version__
from migrate.errors import MigrateError, os_reason
from migrate.options import FAIL_ON, GREYLIST_CHOICES, PLATFORM_CHOICES, Options, default_platform

if TYPE_CHECKING:  # imported when verify runs: a plain convert does not load rich
    from migrate.cli.verify_view import ProgressLine


def _parse_define(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    """Turn ``-D NAME=VALUE`` (or ``-D NAME``) into a macro dict by exim's own rule for -D.

    exim skips blanks around the name and before the value; the name starts
    with an upper-case letter and holds only ASCII letters, digits and ``_``;
    a name given twice is refused. The error names the macro, never its value
    (a value may be a password).
    """
    blanks = " \t\n\r\f\v"
    defines: dict[str, str] = {}
    for item in values:
        name, _, value = item.partition("=")
        name = name.strip(blanks)
        bad = next((ch for ch in name if not (ch.isascii() and (ch.isalnum() or ch == "_"))), "")
        if not name:
            problem = "no macro name before the '='"
        elif not "A" <= name[0] <= "Z":
            problem = f"the macro name {name!r} must start with an upper-case letter (A-Z)"
        elif bad:
            what = "a space" if bad in blanks else f"the character {bad!r}"
            problem = f"the macro name {name!r} holds {what}; a macro name is letters, digits and _ only"
        elif name in defines:
            problem = f"the macro {name} is defined twice (exim refuses a duplicated -D)"
        else:
            defines[name] = value.lstrip(blanks)
            continue
        raise MigrateError(f"-D: error: {problem}")
    return defines


DEFINE = click.option(
    "-D",
    "defines",
    multiple=True,
    callback=_parse_define,
    metavar="NAME=VALUE",
    help="Define a macro as exim's -D does; it wins over the file's own definitions.",
)


def _source(configure: str | None, debian: str | None) -> tuple[str, bool]:
    """The input: an exim configure file, or a Debian /etc/exim4 given with --debian (exactly one)."""
    if (configure is None) == (debian is None):
        raise click.UsageError("give either CONFIGURE or --debian DIR (one of them)")
    if debian is not None:
        return debian, True
    assert configure is not None
    if os.path.isdir(configure):  # most often Debian's /etc/exim4 given without --debian
        import shlex

        debian_like = os.path.exists(os.path.join(configure, "update-exim4.conf.conf")) or os.path.isdir(
            os.path.join(configure, "conf.d")
        )
        advice = f"; for Debian's /etc/exim4 give --debian {shlex.quote(configure)}" if debian_like else ""
        raise MigrateError(f"{configure}: error: this is a directory, not an exim configure file{advice}")
    return configure, False


DEBIAN = click.option(
    "--debian",
    "debian_dir",
    type=click.Path(file_okay=False, exists=True, path_type=str),
    help="Read a Debian /etc/exim4 (update-exim4.conf.conf + template or conf.d) instead of CONFIGURE.",
)
CONFIGURE = click.argument("configure", required=False, type=click.Path(dir_okay=True, path_type=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="exim2smtpd")
def cli() -> None:
    """Migrate an exim 4 configuration to OpenSMTPD (smtpd.conf, rspamd files, a runbook).

    \b
    The workflow:
      exim2smtpd convert /etc/exim/configure -o out      # write out/smtpd.conf, MIGRATION.md
      exim2smtpd report /etc/exim/configure | less       # what carried over, what did not
      exim2smtpd verify /etc/exim/configure out          # ask the real exim and smtpd
      exim2smtpd check /etc/exim/configure --against out # in CI: still the same policy?
    Debian's generated configuration: --debian /etc/exim4 instead of the file.

    Exit status: 0 success, 1 error (unreadable input, syntax error, bad usage),
    2 findings or drift (see each command), 130 interrupted.
    """


def _options(
    configure: str | None,
    debian_dir: str | None,
    defines: dict[str, str],
    root: str,
    platform: str = "openbsd",
    greylist: str = "off",
) -> tuple[str, Options]:
    """The input path and the one options value every command passes to the library."""
    source, debian = _source(configure, debian_dir)
    return source, Options(defines=defines, platform=platform, greylist=greylist, root=root, debian=debian)


ROOT = click.option(
    "--root",
    type=click.Path(file_okay=False, exists=True, path_type=str),
    default="/",
    show_default=True,
    help="Read the files the configuration names (.include, lookups, /etc/mailname) from under here.",
)


@cli.command()
@CONFIGURE
@DEFINE
@DEBIAN
@ROOT
@click.option("--json", "as_json", is_flag=True, help="Print the parse tree as JSON.")
@click.option("--resolved", is_flag=True, help="Print the resolved configuration in the layout of 'exim -bP config'.")
def parse(
    configure: str | None, defines: dict[str, str], debian_dir: str | None, root: str, as_json: bool, resolved: bool
) -> None:
    """Read CONFIGURE (or a Debian /etc/exim4) as exim would and print its parse tree.

    \b
    Examples:
      exim2smtpd parse /etc/exim/configure
      exim2smtpd parse --debian /etc/exim4 --resolved   # like 'exim -bP config'
      exim2smtpd parse configure -D TLS=yes --json | jq '.routers[].name'
    """
    from migrate.commands.convert import read
    from migrate.reader import format_like_exim

    source, options = _options(configure, debian_dir, defines, root)
    config = read(source, options)
    for diagnostic in config.diagnostics:
        click.echo(diagnostic.format(), err=True)
    if resolved:
        text = format_like_exim(config.resolved_lines, hide_secrets=True, secret_macros=config.secret_macros)
        click.echo(text, nl=False)
    elif as_json:
        from migrate.cli.json_view import write_json
        from migrate.reader.tree import json_expander

        write_json(config, sys.stdout, json_expander(config))
    else:
        from migrate.cli.tree_view import print_tree

        print_tree(config)


def _conversion_options(func: Callable[..., None]) -> Callable[..., None]:
    """The options every command that converts takes; they arrive as one ``options`` value."""

    @functools.wraps(func)
    def wrapper(
        configure: str | None,
        debian_dir: str | None,
        defines: dict[str, str],
        root: str,
        platform: str,
        greylist: str,
        **rest: object,
    ) -> None:
        source, options = _options(configure, debian_dir, defines, root, platform, greylist)
        return func(source, options, **rest)

    wrapper = DEFINE(wrapper)
    wrapper = DEBIAN(wrapper)
    wrapper = ROOT(wrapper)
    wrapper = click.option(
        "--platform",
        type=click.Choice(PLATFORM_CHOICES),
        default=default_platform,
        show_default="the system this runs on",
        help="The target and its OpenSMTPD: openbsd 7.9, debian (13) 7.6, debian12 6.8, freebsd 7.9, "
        "linux 7.9 (portable, Debian's names). Every generated file's header names it.",
    )(wrapper)
    wrapper = click.option(
        "--greylist",
        type=click.Choice(GREYLIST_CHOICES),
        default="off",
        show_default=True,
        help="off: OpenBSD spamd in front greylists (rspamd's greylisting is off); rspamd: it does.",
    )(wrapper)
    return CONFIGURE(wrapper)


FAIL_ON_CHOICE = click.Choice(list(FAIL_ON))
FAIL_ON_HELP = (
    "Exit 2 when a statement lands in this bucket or a worse one, or a service is lost: "
    "unmapped (not migrated), approximated (carried over with a difference), info (even ignored ones); "
    "never: exit 0 whatever the findings."
)


@cli.command()
@_conversion_options
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(path_type=str),
    help="Directory to write smtpd.conf (and rspamd/local.d) into; created if missing.",
)
@click.option("--dry-run", is_flag=True, help="Write nothing: show what would change (like 'diff').")
@click.option(
    "--force",
    is_flag=True,
    help="Replace existing files, keeping each changed one as NAME.bak (unchanged ones are left alone).",
)
@click.option("--report-json", type=click.Path(dir_okay=False, path_type=str), help="Also write the JSON report here.")
@click.option("--report-sarif", type=click.Path(dir_okay=False, path_type=str), help="Also write a SARIF report here.")
@click.option(
    "--fail-on",
    type=FAIL_ON_CHOICE,
    default="never",
    show_default=True,
    help=FAIL_ON_HELP,
)
def convert(
    source: str,
    options: Options,
    out_dir: str,
    dry_run: bool,
    force: bool,
    report_json: str | None,
    report_sarif: str | None,
    fail_on: str,
) -> None:
    """Convert CONFIGURE to smtpd.conf (and rspamd files, MIGRATION.md) in OUTPUT, then say what to do next.

    Prints the files written, every statement that did not carry over as it
    was, the services kept or lost, the grade and the next steps.

    \b
    Examples:
      exim2smtpd convert /etc/exim/configure -o /root/smtpd-new
      exim2smtpd convert --debian /etc/exim4 --platform debian -o out
      exim2smtpd convert configure --root /srv/copy-of-server -o out --fail-on unmapped

    Exit status: 0 converted; 1 error; 2 findings at or above --fail-on (with --dry-run: files would change).
    """
    from migrate.commands.convert import convert as run_convert
    from migrate.commands.convert import write_output
    from migrate.lookups import status_line
    from migrate.report.formats import closing_lines, count_line, finding_lines, render

    result = run_convert(source, options, progress=status_line(sys.stderr))  # on a terminal only
    if dry_run:
        sys.exit(_show_drift(result.files, result.secret_files, out_dir))
    written = write_output(result, out_dir, force=force)
    report = result.report
    for path, fmt in ((report_json, "json"), (report_sarif, "sarif")):
        if path:
            Path(path).write_text(render(report, fmt))
    names = ", ".join(str(p.relative_to(out_dir)) for p in written)
    lines = [
        f"wrote {len(written)} file(s) to {out_dir}: {names}" if written else f"{out_dir}: every file was up to date",
        *finding_lines(report),
        count_line(report),
        *closing_lines(report, out_dir, result.policy.given, _platform_label(options.platform)),
    ]
    click.echo("\n".join(lines))
    sys.exit(report.return_code(fail_on))


def _platform_label(name: str) -> str:
    """The platform as convert names it, saying so when it was assumed from the running system."""
    from migrate.platforms import platform

    label = platform(name).label
    if click.get_current_context().get_parameter_source("platform") == click.core.ParameterSource.DEFAULT:
        return f"{label} (assumed from this system; --platform chooses another)"
    return label


def _show_drift(files: dict[str, str], secret_files: frozenset[str], against: str) -> int:
    from migrate.commands.diff import compare_files

    if not Path(against).exists():
        click.echo(f"{against} does not exist: every file would be new", err=True)
        return 2
    drift = compare_files(files, secret_files, Path(against))
    for text in drift.text:
        click.echo(text, nl=False)
    for sentence in drift.semantic:
        click.echo(f"semantic: {sentence}", err=True)
    click.echo(f"{len(drift.text)} file(s) would change; {len(drift.semantic)} semantic difference(s)", err=True)
    return 2 if drift.text else 0


@cli.command()
@_conversion_options
@click.option(
    "--against",
    required=True,
    type=click.Path(exists=True, path_type=str),
    help="The output directory (or smtpd.conf) to compare with.",
)
def diff(source: str, options: Options, against: str) -> None:
    """Show what 'convert' would change in AGAINST, as text and in policy terms; write nothing.

    \b
    Example:
      exim2smtpd diff /etc/exim/configure --against /etc/mail

    Exit status: 0 nothing would change; 2 something would; 1 error.
    """
    from migrate.commands.convert import convert as run_convert
    from migrate.lookups import status_line

    result = run_convert(source, options, progress=status_line(sys.stderr))
    files, secret_files = result.files, result.secret_files
    del result  # the tree and the policy: their memory serves reading the other side back
    sys.exit(_show_drift(files, secret_files, against))


@cli.command()
@_conversion_options
@click.option(
    "--against",
    required=True,
    type=click.Path(exists=True, path_type=str),
    help="The committed output directory (or smtpd.conf).",
)
@click.option(
    "--baseline",
    type=click.Path(exists=True, dir_okay=False, path_type=str),
    help="A JSON report from before: only findings not in it count for --fail-on.",
)
@click.option("--fail-on", type=FAIL_ON_CHOICE, default="unmapped", show_default=True, help=FAIL_ON_HELP)
def check(source: str, options: Options, against: str, baseline: str | None, fail_on: str) -> None:
    """CI check: do the committed files still implement CONFIGURE's policy, with no new finding?

    \b
    Example (a CI job):
      exim2smtpd report exim/configure --format json > baseline.json   # once, committed
      exim2smtpd check exim/configure --against smtpd/ --baseline baseline.json

    Exit status: 0 yes; 2 drift, a lost service, or new findings at or above --fail-on (printed); 1 error.
    """
    from migrate.commands.check import run_check

    outcome = run_check(source, against, options, baseline=baseline, fail_on=fail_on)
    for line in outcome.lines:
        click.echo(line, err=True)
    sys.exit(outcome.return_code)


@cli.command()
@_conversion_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["rich", "text", "json", "sarif", "html"]),
    help="rich: tables (the default on a terminal); text: plain lines, nothing cut (the default when piped); "
    "json / sarif: for tools and code-scanning dashboards; html: one self-contained page.",
)
@click.option("--fail-on", type=FAIL_ON_CHOICE, default="never", show_default=True, help=FAIL_ON_HELP)
@click.option(
    "--verify-json",
    type=click.Path(dir_okay=False, exists=True, path_type=str),
    help="With --format html: the output of 'verify --json' (the matrix) or 'verify --from-log --json' (the traffic).",
)
def report(source: str, options: Options, fmt: str | None, fail_on: str, verify_json: str | None) -> None:
    """The migration report: the services kept or lost, every statement's bucket, and a grade.

    Written to standard output; on a terminal long output goes through a pager.

    \b
    Examples:
      exim2smtpd report /etc/exim/configure
      exim2smtpd report /etc/exim/configure --format json > report.json
      exim2smtpd report /etc/exim/configure --format sarif > exim.sarif
      exim2smtpd report /etc/exim/configure --format html --verify-json v.json > report.html

    Exit status: 0; 2 when a statement lands at or above --fail-on, or a service is lost; 1 error.
    """
    from migrate.commands.convert import convert as run_convert
    from migrate.lookups import status_line
    from migrate.report.formats import render

    result = run_convert(source, options, progress=status_line(sys.stderr))
    built = result.report
    fmt = fmt or ("rich" if sys.stdout.isatty() else "text")
    if fmt == "html":
        from migrate.report.html import to_html

        verify = _verify_result(verify_json) if verify_json else None
        click.echo(to_html(built, verify, policy=result.policy, rendered=result.rendered), nl=False)
    elif fmt == "rich":
        from migrate.cli.report_view import print_rich

        print_rich(built)
    else:
        _page(render(built, fmt))
    sys.exit(built.return_code(fail_on))


def _verify_result(path: str) -> dict[str, object]:
    """A saved 'verify --json': refused in one sentence when it is something else."""
    try:
        data = json.loads(Path(path).read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise MigrateError(f"{path}: error: not the JSON output of 'exim2smtpd verify --json' ({exc})") from exc
    if not isinstance(data, dict):
        raise MigrateError(f"{path}: error: not the JSON output of 'exim2smtpd verify --json'")
    return data


def _page(text: str) -> None:
    """Standard output as it is when piped; through a pager on a terminal when it does not fit."""
    if sys.stdout.isatty() and text.count("\n") >= shutil.get_terminal_size().lines:
        os.environ.setdefault("LESS", "FRX")  # colours kept, and less exits when it fits after all
        click.echo_via_pager(text)
    else:
        click.echo(text, nl=False)


@cli.command(name="rules")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "markdown"]),
    default="text",
    show_default=True,
    help="text: for reading here; markdown: the page docs/rules.md is made of.",
)
def rules_command(fmt: str) -> None:
    """Every rule exim2smtpd can report, by area, with what it means and what to do.

    \b
    Example:
      exim2smtpd rules | grep -A3 EXIM-QUALIFY-DOMAIN
    """
    from migrate.rules import reference_markdown, reference_text

    click.echo(reference_markdown() if fmt == "markdown" else reference_text(), nl=False)


@cli.command()
@CONFIGURE
@click.argument("outdir", required=False, type=click.Path(file_okay=False, path_type=str))
@DEFINE
@DEBIAN
@ROOT
@click.option(
    "--cases",
    "cases_file",
    type=click.Path(dir_okay=False, exists=True, path_type=str),
    help="Extra cases, one 'CLIENT RECIPIENT [auth]' per line (CLIENT: an address or 'socket').",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
@click.option("--all", "show_all", is_flag=True, help="List every case, not only those that are not the same.")
@click.option(
    "--from-log",
    "logs",
    multiple=True,
    type=click.Path(dir_okay=False, allow_dash=True, path_type=str),
    help="Replay this exim main log (plain, gzipped or syslog's; repeat, oldest first) instead of verify's probes.",
)
@click.option(
    "--sample",
    type=click.IntRange(min=1),
    default=2000,
    show_default=True,
    help="With --from-log: distinct questions put to smtpd, at most (the most frequent of each kind first).",
)
@click.option("--show-addresses", is_flag=True, help="With --from-log: print local parts (hidden by default).")
def verify(
    configure: str | None,
    outdir: str | None,
    defines: dict[str, str],
    debian_dir: str | None,
    root: str,
    cases_file: str | None,
    as_json: bool,
    show_all: bool,
    logs: tuple[str, ...],
    sample: int,
    show_addresses: bool,
) -> None:
    """Ask the real exim and the real smtpd the same questions and compare.

    Uses OUTDIR/smtpd.conf when given, else converts CONFIGURE afresh. Needs
    root (private namespaces). The daemons: $EXIM and $EXIM2SMTPD_SMTPD_ROOT
    (or $EXIM2SMTPD_ROOTS) when set, else the roots `make test-deps` built in
    the source checkout, else exim (exim4) and smtpd on the PATH. On a
    terminal, progress is shown on stderr.

    \b
    Examples:
      exim2smtpd verify /etc/exim/configure
      exim2smtpd verify /etc/exim/configure out --root /srv/copy-of-server
      exim2smtpd verify --debian /srv/copy/etc/exim4 --root /srv/copy --json > verify.json
      exim2smtpd verify /etc/exim/configure out --from-log mainlog.1.gz --from-log mainlog

    With --from-log, the questions are the log's own recipients and exim's
    answers the ones it logged (exim is not run); the verdicts are weighted
    by traffic.

    Exit status: 0 all comparable cases agree, 2 some differ, 1 error.
    """
    from migrate.cli.verify_view import print_outcomes, progress_line, to_json
    from migrate.verify import RootIncomplete, SideError
    from migrate.verify import verify as run_verify

    progress = progress_line(sys.stderr)  # on a terminal only: piped, verify prints nothing extra
    configure, outdir = verify_arguments(configure, outdir, debian_dir)
    if logs:
        _replay(configure, outdir, debian_dir, defines, root, logs, sample, as_json, show_addresses, progress)
    try:
        source, options = _options(configure, debian_dir, defines, root)
        result = run_verify(source, outdir, options, cases_file=cases_file, progress=progress)
    except (SideError, RootIncomplete) as exc:
        raise VerifyFailed(str(exc)) from exc
    except ValueError as exc:
        raise VerifyFailed(f"cases: {exc}") from exc
    finally:
        if progress is not None:
            progress.clear()
    if as_json:
        click.echo(to_json(result))
    else:
        print_outcomes(result, show_all=show_all)
    sys.exit(result.return_code)


def _replay(
    configure: str | None,
    outdir: str | None,
    debian_dir: str | None,
    defines: dict[str, str],
    root: str,
    logs: tuple[str, ...],
    sample: int,
    as_json: bool,
    show_addresses: bool,
    progress: ProgressLine | None,
) -> None:
    """verify --from-log: the log's traffic put to smtpd; exits with verify's status."""
    from migrate.cli.replay_view import print_replay, replay_json
    from migrate.verify import SideError
    from migrate.verify.replay import replay

    try:
        source, options = _options(configure, debian_dir, defines, root)
        reading = (lambda n: progress.line(f"verify: reading the log, {n:,} recipients")) if progress else None
        result = replay(source, logs, outdir, options, sample=sample, progress=progress, reading=reading)
    except SideError as exc:
        raise VerifyFailed(str(exc)) from exc
    except OSError as exc:
        cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
        raise VerifyFailed(f"{exc.filename or '--from-log'}: error: cannot read this log ({os_reason(cause)})") from exc
    finally:
        if progress is not None:
            progress.clear()
    if as_json:
        click.echo(replay_json(result, show_addresses=show_addresses))
    else:
        print_replay(result, show_addresses=show_addresses)
    sys.exit(result.return_code)


def verify_arguments(
    configure: str | None, outdir: str | None, debian_dir: str | None
) -> tuple[str | None, str | None]:
    """CONFIGURE and OUTDIR; with --debian the one argument given is OUTDIR (`verify --debian DIR OUTDIR`)."""
    if debian_dir is not None and configure is not None and outdir is None:
        return None, configure
    return configure, outdir


class VerifyFailed(MigrateError):
    """One side could not be asked (not found, or it refused), or the --root copy lacks a file both must read."""


# One line each in `exim2smtpd --help`; click would cut the docstrings' first sentences.
for _name, _text in {
    "parse": "Print the configuration as exim reads it (tree, JSON, or like exim -bP).",
    "convert": "Write smtpd.conf, rspamd files and MIGRATION.md for the configuration.",
    "report": "What carried over, what did not, the services kept or lost (text/json/sarif).",
    "diff": "Show what convert would change in a directory written before.",
    "check": "CI: do committed files still implement the configuration, with no new finding?",
    "verify": "Ask the real exim and the real smtpd the same questions and compare.",
    "rules": "Every rule the report can name, with what it means and what to do.",
}.items():
    cli.commands[_name].short_help = _text


class _PipeSafeOutput(io.FileIO):
    """Standard output whose reader may leave (``| head``): the rest of the output is dropped, not an error.

    The command then ends with its own exit status, as a shell user expects
    of a filter whose reader has seen enough.
    """

    def write(self, data: Any) -> int:
        try:
            return super().write(data) or 0
        except BrokenPipeError:
            return len(data)


def _guard_stdout() -> None:
    """Put the pipe-safe stream in place of sys.stdout; a non-UTF-8 byte from the input must not stop output."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by a test harness: leave it
        descriptor = -1
    if descriptor >= 0:
        sys.stdout.flush()
        raw = _PipeSafeOutput(descriptor, "wb", closefd=False)
        sys.stdout = io.TextIOWrapper(
            io.BufferedWriter(raw), encoding="utf-8", errors="backslashreplace", line_buffering=raw.isatty()
        )
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def main() -> None:
    """Run the command; map every expected failure to exit status 1 without a traceback (Ctrl-C: 130)."""
    _guard_stdout()
    try:
        cli.main(standalone_mode=False)
    except KeyboardInterrupt:
        _interrupted()
    except MigrateError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):
            _interrupted()
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        # click's own default is 2 for usage errors; 2 is reserved for findings.
        exc.show()
        sys.exit(1)
    except OSError as exc:  # a file the user named (--report-json, --cases...): their path, in words
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"{where}error: {os_reason(exc)}", err=True)
        sys.exit(1)
    except Exception as exc:  # a user must never see a traceback, even for our bugs
        if os.environ.get("EXIM2SMTPD_DEBUG"):
            raise
        click.echo(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in exim2smtpd: please report it with the input "
            "(EXIM2SMTPD_DEBUG=1 shows the traceback).",
            err=True,
        )
        sys.exit(1)
    sys.exit(0)


def _interrupted() -> NoReturn:
    """Ctrl-C: say so, and exit 128 + SIGINT as shells do; write_output has removed its staging files."""
    click.echo("interrupted", err=True)
    sys.exit(130)
