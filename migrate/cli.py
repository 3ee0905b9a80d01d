"""The ``exim2smtpd`` command: a thin click layer over the library.

Commands call one library function each and turn its result into output and an
exit status: 0 success, 1 error (unreadable input, syntax error, bad usage).
Diagnostics go to stderr so that stdout can be piped.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click

from migrate import __version__
from migrate.errors import MigrateError


def _parse_define(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    """Turn ``-D NAME=VALUE`` (or ``-D NAME``) into a macro dict, as exim's -D does."""
    defines: dict[str, str] = {}
    for item in values:
        name, _, value = item.partition("=")
        if not name or not name[0].isupper() or not name.replace("_", "").isalnum():
            raise click.BadParameter(f"{item!r}: a macro name starts with an upper-case letter", param_hint="-D")
        defines[name] = value
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
    return (debian, True) if debian is not None else (configure, False)  # type: ignore[return-value]


DEBIAN = click.option(
    "--debian",
    "debian_dir",
    type=click.Path(file_okay=False, exists=True, path_type=str),
    help="Read a Debian /etc/exim4 (update-exim4.conf.conf + template or conf.d) instead of CONFIGURE.",
)
CONFIGURE = click.argument("configure", required=False, type=click.Path(dir_okay=True, path_type=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="exim2smtpd")
def cli() -> None:
    """Migrate an exim 4 configuration to OpenSMTPD.

    Exit status: 0 success, 1 error (unreadable input, syntax error, bad usage).
    """


@cli.command()
@CONFIGURE
@DEFINE
@DEBIAN
@click.option(
    "--root",
    type=click.Path(file_okay=False, exists=True, path_type=str),
    default="/",
    show_default=True,
    help="With --debian: read /etc/mailname and /etc/default/exim4 from under here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the parse tree as JSON.")
@click.option("--resolved", is_flag=True, help="Print the resolved configuration in the layout of 'exim -bP config'.")
def parse(
    configure: str | None, defines: dict[str, str], debian_dir: str | None, root: str, as_json: bool, resolved: bool
) -> None:
    """Read CONFIGURE (or a Debian /etc/exim4) as exim would and print its parse tree."""
    from migrate.debian import read_debian
    from migrate.reader import format_like_exim, read_config

    source, debian = _source(configure, debian_dir)
    config = read_debian(source, defines, root) if debian else read_config(source, defines)
    for diagnostic in config.diagnostics:
        click.echo(diagnostic.format(), err=True)
    if resolved:
        text = format_like_exim(config.resolved_lines, hide_secrets=True, secret_macros=config.secret_macros)
        click.echo(text, nl=False)
    elif as_json:
        from migrate.reader.tree import to_dict

        json.dump(to_dict(config), sys.stdout, indent=2, sort_keys=False)
        sys.stdout.write("\n")
    else:
        from migrate.view import print_tree

        print_tree(config)


def _converted(
    configure: str | None, debian_dir: str | None, defines: dict[str, str], platform: str, greylist: str, root: str
):  # type: ignore[no-untyped-def]
    """The conversion every converting command starts from: of CONFIGURE, or of --debian DIR."""
    from migrate.convert import convert

    source, debian = _source(configure, debian_dir)
    return convert(source, defines=defines, platform=platform, greylist=greylist, root=root, debian=debian)


def _conversion_options(func):  # type: ignore[no-untyped-def]
    """The options every command that converts takes."""
    func = DEFINE(func)
    func = DEBIAN(func)
    func = click.option(
        "--root",
        type=click.Path(file_okay=False, exists=True, path_type=str),
        default="/",
        show_default=True,
        help="Read the files the configuration names (lookups) from under here.",
    )(func)
    func = click.option(
        "--platform",
        type=click.Choice(["openbsd", "debian", "freebsd", "linux"]),
        default="openbsd",
        show_default=True,
        help="openbsd: OpenBSD 7.9; debian, freebsd: their paths and packages; linux: portable OpenSMTPD.",
    )(func)
    func = click.option(
        "--greylist",
        type=click.Choice(["off", "rspamd"]),
        default="off",
        show_default=True,
        help="off: OpenBSD spamd in front greylists (rspamd's greylisting is off); rspamd: it does.",
    )(func)
    return func


FAIL_ON = click.Choice(["never", "unmapped", "approximated", "info"])


@cli.command()
@CONFIGURE
@click.option(
    "-o",
    "--output",
    "out_dir",
    required=True,
    type=click.Path(path_type=str),
    help="Directory to write smtpd.conf (and rspamd/local.d) into; created if missing.",
)
@_conversion_options
@click.option("--dry-run", is_flag=True, help="Write nothing: show what would change (like 'diff').")
@click.option("--force", is_flag=True, help="Replace existing files, keeping each old one as NAME.bak.")
@click.option("--report-json", type=click.Path(dir_okay=False, path_type=str), help="Also write the JSON report here.")
@click.option("--report-sarif", type=click.Path(dir_okay=False, path_type=str), help="Also write a SARIF report here.")
@click.option(
    "--fail-on",
    type=FAIL_ON,
    default="never",
    show_default=True,
    help="Exit 2 when a statement lands in this bucket or a worse one.",
)
def convert(
    configure: str | None,
    debian_dir: str | None,
    out_dir: str,
    platform: str,
    defines: dict[str, str],
    greylist: str,
    root: str,
    dry_run: bool,
    force: bool,
    report_json: str | None,
    report_sarif: str | None,
    fail_on: str,
) -> None:
    """Convert CONFIGURE to smtpd.conf (and rspamd files) in OUTPUT; list what did not carry over on stderr.

    Exit status: 0 converted; 1 error; 2 findings at or above --fail-on (with --dry-run: files would change).
    """
    from migrate.convert import write_output
    from migrate.report import render
    from migrate.summary import summary_lines

    result = _converted(configure, debian_dir, defines, platform, greylist, root)
    if dry_run:
        sys.exit(_show_drift(result, out_dir))
    written = write_output(result, out_dir, force=force)
    report = result.report
    for path, fmt in ((report_json, "json"), (report_sarif, "sarif")):
        if path:
            Path(path).write_text(render(report, fmt))
    for line in summary_lines(result.policy, written):
        click.echo(line, err=True)
    click.echo(f"readiness grade {report.grade}", err=True)
    sys.exit(report.return_code(fail_on))


def _show_drift(result, against: str) -> int:  # type: ignore[no-untyped-def]
    from migrate.diff import compare

    if not Path(against).exists():
        click.echo(f"{against} does not exist: every file would be new", err=True)
        return 2
    drift = compare(result, Path(against))
    for text in drift.text:
        click.echo(text, nl=False)
    for sentence in drift.semantic:
        click.echo(f"semantic: {sentence}", err=True)
    click.echo(f"{len(drift.text)} file(s) would change; {len(drift.semantic)} semantic difference(s)", err=True)
    return 2 if drift.text else 0


@cli.command()
@CONFIGURE
@click.option(
    "--against",
    required=True,
    type=click.Path(exists=True, path_type=str),
    help="The output directory (or smtpd.conf) to compare with.",
)
@_conversion_options
def diff(
    configure: str | None,
    debian_dir: str | None,
    against: str,
    defines: dict[str, str],
    platform: str,
    greylist: str,
    root: str,
) -> None:
    """Show what 'convert' would change in AGAINST, as text and in policy terms; write nothing.

    Exit status: 0 nothing would change; 2 something would; 1 error.
    """

    result = _converted(configure, debian_dir, defines, platform, greylist, root)
    sys.exit(_show_drift(result, against))


@cli.command()
@CONFIGURE
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
@click.option("--fail-on", type=FAIL_ON, default="unmapped", show_default=True)
@_conversion_options
def check(
    configure: str | None,
    debian_dir: str | None,
    against: str,
    baseline: str | None,
    fail_on: str,
    defines: dict[str, str],
    platform: str,
    greylist: str,
    root: str,
) -> None:
    """CI check: do the committed files still implement CONFIGURE's policy, with no new finding?

    Exit status: 0 yes; 2 drift, or new findings at or above --fail-on (printed); 1 error.
    """
    from migrate.check import run_check

    source, debian = _source(configure, debian_dir)
    outcome = run_check(
        source,
        against,
        debian=debian,
        baseline=baseline,
        fail_on=fail_on,
        defines=defines,
        platform=platform,
        greylist=greylist,
        root=root,
    )
    for line in outcome.lines:
        click.echo(line, err=True)
    sys.exit(outcome.return_code)


@cli.command()
@CONFIGURE
@click.option(
    "--format", "fmt", type=click.Choice(["rich", "text", "json", "sarif"]), default="rich", show_default=True
)
@click.option("--fail-on", type=FAIL_ON, default="never", show_default=True)
@_conversion_options
def report(
    configure: str | None,
    debian_dir: str | None,
    fmt: str,
    fail_on: str,
    defines: dict[str, str],
    platform: str,
    greylist: str,
    root: str,
) -> None:
    """The migration report: every statement mapped, approximated, unmapped or ignored, and a grade.

    Exit status: 0; 2 when a statement lands at or above --fail-on; 1 error.
    """
    from migrate.report import print_rich, render

    built = _converted(configure, debian_dir, defines, platform, greylist, root).report
    if fmt == "rich":
        print_rich(built)
    else:
        click.echo(render(built, fmt), nl=False)
    sys.exit(built.return_code(fail_on))


@cli.command()
@CONFIGURE
@click.argument("outdir", required=False, type=click.Path(file_okay=False, path_type=str))
@DEFINE
@DEBIAN
@click.option(
    "--root",
    type=click.Path(file_okay=False, exists=True, path_type=str),
    help="Read the files the configuration names (aliases...) from under this directory.",
)
@click.option(
    "--cases",
    "cases_file",
    type=click.Path(dir_okay=False, exists=True, path_type=str),
    help="Extra cases, one 'CLIENT RECIPIENT [auth]' per line (CLIENT: an address or 'socket').",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcomes as JSON.")
@click.option("--all", "show_all", is_flag=True, help="List every case, not only those that are not the same.")
def verify(
    configure: str | None,
    outdir: str | None,
    defines: dict[str, str],
    debian_dir: str | None,
    root: str | None,
    cases_file: str | None,
    as_json: bool,
    show_all: bool,
) -> None:
    """Ask the real exim and the real smtpd the same questions and compare.

    Uses OUTDIR/smtpd.conf when given, else converts CONFIGURE afresh. Needs
    root (private namespaces). Exit status: 0 all comparable cases agree,
    2 some differ, 1 error.
    """
    from migrate.verify import verify as run_verify
    from migrate.verify.exim_side import SideError
    from migrate.verify_view import print_outcomes, to_json

    try:
        source, debian = _source(configure, debian_dir)
        result = run_verify(source, outdir, defines=defines, cases_file=cases_file, root=root, debian=debian)
    except SideError as exc:
        raise VerifyFailed(str(exc)) from exc
    except ValueError as exc:
        raise VerifyFailed(f"cases: {exc}") from exc
    if as_json:
        click.echo(to_json(result))
    else:
        print_outcomes(result, show_all=show_all)
    sys.exit(result.return_code)


class VerifyFailed(MigrateError):
    """One side could not be asked."""


def main() -> None:
    """Run the command; map every expected failure to exit status 1 without a traceback."""
    for stream in (sys.stdout, sys.stderr):  # a non-UTF-8 byte from the input must not stop the output
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        cli.main(standalone_mode=False)
    except MigrateError as exc:
        click.echo(str(exc), err=True)
        sys.exit(1)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        # click's own default is 2 for usage errors; 2 is reserved for findings.
        exc.show()
        sys.exit(1)
    except OSError as exc:
        click.echo(f"error: {exc}", err=True)
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
