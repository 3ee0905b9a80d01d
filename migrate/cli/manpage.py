"""exim2smtpd(1), written from the click commands so that the man page and --help never disagree.

``python -m migrate.cli.manpage > docs/exim2smtpd.1`` (``make man``); a test
checks that the committed page is what this writes.
"""

from __future__ import annotations

import inspect

import click

from migrate import __version__
from migrate.cli import cli


def _escape(text: str) -> str:
    """roff text: backslashes doubled, a line starting with . or ' guarded."""
    lines = []
    for line in text.replace("\\", "\\e").replace("-", "\\-").splitlines():
        lines.append("\\&" + line if line.startswith((".", "'")) else line)
    return "\n".join(lines)


def _help_body(command: click.Command) -> list[str]:
    """The command's help: paragraphs reflow, \\b blocks stay as typed (examples)."""
    out: list[str] = []
    for block in inspect.cleandoc(command.help or "").split("\n\n"):
        if block.startswith("\b"):
            out += [".PP", ".nf", _escape(block.lstrip("\b").strip("\n")), ".fi"]
        else:
            out += [".PP", _escape(" ".join(block.split()))]
    return out


def _options(ctx: click.Context, command: click.Command) -> list[str]:
    out: list[str] = []
    help_option = command.get_help_option(ctx)
    for param in command.get_params(ctx):
        if isinstance(param, click.Argument) or param is help_option:  # the usage line; help comes last, below
            continue
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, text = record
        out += [".TP", f"\\fB{_escape(names)}\\fR", _escape(text)]
    # from the context, not click's help option: click keeps the first one it built for a command
    return [*out, ".TP", f"\\fB{_escape(', '.join(ctx.help_option_names))}\\fR", "Show the help and exit."]


def manpage() -> str:
    """The whole page: NAME, SYNOPSIS, DESCRIPTION, one section per command, EXIT STATUS, SEE ALSO."""
    group = click.Context(cli, info_name="exim2smtpd", **cli.context_settings)  # -h beside --help
    lines = [
        f'.TH EXIM2SMTPD 1 "" "exim2smtpd {__version__}" "User Commands"',
        ".SH NAME",
        "exim2smtpd \\- migrate an exim 4 configuration to OpenSMTPD",
        ".SH SYNOPSIS",
        "\\fBexim2smtpd\\fR \\fICOMMAND\\fR [\\fIOPTIONS\\fR] [\\fICONFIGURE\\fR]",
        ".SH DESCRIPTION",
        *_help_body(cli)[1:],
        ".SH COMMANDS",
    ]
    for name in sorted(cli.commands):
        command = cli.commands[name]
        ctx = click.Context(command, info_name=name, parent=group)
        usage = " ".join(command.collect_usage_pieces(ctx))
        lines += [".SS " + f"exim2smtpd {name} {_escape(usage)}", *_help_body(command)[1:], *_options(ctx, command)]
    lines += [
        ".SH EXIT STATUS",
        "0 success; 1 an error in the input or its use; 2 findings at or above \\-\\-fail\\-on, a lost service, "
        "or drift; 130 interrupted.",
        ".SH ENVIRONMENT",
        ".TP",
        "\\fBNO_COLOR\\fR",
        "No colour in the rich report.",
        ".TP",
        "\\fBPAGER\\fR, \\fBLESS\\fR",
        "The pager long reports go through on a terminal (less \\-FRX by default).",
        ".SH SEE ALSO",
        "smtpd.conf(5), smtpd(8), smtpctl(8), exim(8)",
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    click.echo(manpage(), nl=False)
