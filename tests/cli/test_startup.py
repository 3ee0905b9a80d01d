"""What a plain ``convert`` loads: only what it uses (issue 17), counted, not timed.

Each command imports its machinery on first use; a module imported at the top
of a file it does not need costs every run its import time. These tests run
the CLI in a fresh interpreter and look at ``sys.modules`` after the command.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, ROOT

# Run the CLI's main() in a fresh interpreter, then print the modules it loaded.
_RUN = """
import json, sys
from migrate.cli import main
sys.argv = ["exim2smtpd", *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    code = exc.code
print("\\n" + json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.__stderr__)
"""

# Never loaded by a plain convert: other commands', other inputs' and other formats' machinery.
NOT_FOR_CONVERT = (
    "rich",  # the terminal tables of report and verify
    "deepdiff",  # diff and check
    "pyparsing",  # the statement grammar words syntax errors; well-formed lines are read without it
    "bcrypt",  # only a cleartext password is hashed
    "migrate.verify",
    "migrate.reader.debian",  # --debian only
    "migrate.report.html",
    "migrate.commands.diff",  # --dry-run, diff
    "migrate.commands.check",
    "migrate.cli.report_view",
    "migrate.cli.verify_view",
    "migrate.cli.tree_view",
    "migrate.cli.json_view",
    "migrate.cli.manpage",
)


def _loaded(*args: str, cwd: Path = ROOT) -> tuple[int, set[str]]:
    """The exit status of ``exim2smtpd ARGS`` and the modules loaded by then."""
    done = subprocess.run(
        [sys.executable, "-c", _RUN, *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )
    report = json.loads(done.stderr.rstrip().rsplit("\n", 1)[-1])
    return report["code"], set(report["modules"])


def _debian_like(tmp_path: Path) -> Path:
    """A configuration with the forms Debian's generated one uses: macros, .ifdef, lists, all the sections."""
    config = tmp_path / "configure"
    config.write_text(
        "MAIN_LOCAL_DOMAINS = @:localhost\n"
        ".ifndef MAIN_RELAY_NETS\nMAIN_RELAY_NETS = : 127.0.0.1 : ::::1\n.endif\n"
        "domainlist local_domains = MAIN_LOCAL_DOMAINS\n"
        "hostlist relay_from_hosts = MAIN_RELAY_NETS\n"
        "hide pgsql_servers = localhost/db/user/secret\n"
        "acl_smtp_rcpt = acl_check_rcpt\n"
        "begin acl\n"
        "acl_check_rcpt:\n"
        "  accept  hosts = :\n"
        "  deny    message = restricted characters in address\n"
        "          domains = +local_domains\n"
        "          local_parts = ^[.] : ^.*[@%!/|]\n"
        "  warn    set acl_m_x = ${if eq{$sender_host_address}{}{local}{remote}}\n"
        "  accept  hosts = +relay_from_hosts\n"
        "  require verify = sender\n"
        "  accept  domains = +local_domains\n"
        "begin routers\n"
        "dnslookup:\n  driver = dnslookup\n  domains = ! +local_domains\n  transport = remote_smtp\n  no_more\n"
        "local_user:\n  driver = accept\n  domains = +local_domains\n  check_local_user\n  transport = mail_spool\n"
        "begin transports\n"
        "remote_smtp:\n  driver = smtp\n  hosts_require_tls = ${if eq{1}{1}{*}{}}\n"
        "mail_spool:\n  driver = appendfile\n  file = /var/mail/$local_part_data\n"
        "begin retry\n*   *   F,2h,15m; G,16h,1h,1.5; F,4d,6h\n"
        "begin rewrite\n"
        '*@+local_domains "${lookup{${local_part}}lsearch{/etc/email-addresses}{$value}fail}" Ffrs\n'
        "begin authenticators\n"
        "plain:\n  driver = plaintext\n  public_name = PLAIN\n"
        "  client_send = ^user^${extract{pass}{x}}\n"
    )
    return config


@pytest.mark.parametrize("fixture", ["debian-like", "article-mx", "exim-default"])
def test_a_plain_convert_loads_nothing_it_does_not_use(fixture: str, tmp_path: Path) -> None:
    config = _debian_like(tmp_path) if fixture == "debian-like" else FIXTURES / fixture / "configure"
    code, modules = _loaded("convert", str(config), "-o", str(tmp_path / "out"))
    assert code == 0
    assert "migrate.commands.convert" in modules and "jinja2" in modules  # it did convert
    loaded = sorted(name for name in NOT_FOR_CONVERT if any(m == name or m.startswith(name + ".") for m in modules))
    assert loaded == [], f"a plain convert loaded {loaded}: import them where they are used"


def test_every_statement_of_the_test_configuration_is_read_without_pyparsing(tmp_path: Path) -> None:
    """The configuration above has every kind of statement; none of them needs the full grammar."""
    _, modules = _loaded("parse", str(_debian_like(tmp_path)), "--resolved")
    assert "pyparsing" not in modules


def test_a_syntax_error_is_still_worded_by_the_full_grammar(tmp_path: Path) -> None:
    config = tmp_path / "configure"
    config.write_text("primary_hostname = mx.example.org\nqualify_domain example.org\n")
    done = subprocess.run(
        [sys.executable, "-m", "migrate", "parse", str(config)], capture_output=True, text=True, cwd=ROOT, timeout=60
    )
    assert done.returncode == 1
    assert "2:16: error: cannot read main option or named list: expected end of text" in done.stderr


def test_report_views_load_only_for_their_format(tmp_path: Path) -> None:
    config = FIXTURES / "article-mx" / "configure"
    _, text = _loaded("report", str(config), "--format", "text")
    assert not {"rich", "migrate.report.html", "migrate.cli.report_view"} & text
    _, html = _loaded("report", str(config), "--format", "html")
    assert "migrate.report.html" in html and "rich" not in html


def test_the_statement_grammar_agrees_with_pyparsing_on_every_statement_the_fixtures_hold() -> None:
    """The regular expressions read a statement only as the pyparsing grammar would (the rest goes to it)."""
    import pyparsing as pp

    from migrate.reader import grammar, parser
    from migrate.reader.source import PreLexer

    kinds = {
        "main": "main",
        "acl": "acl",
        "routers": "option",
        "transports": "option",
        "authenticators": "option",
        "retry": "retry",
        "rewrite": "rewrite",
    }
    seen = 0
    for path in sorted(FIXTURES.glob("*/configure")):
        lexer = PreLexer(str(path))
        try:
            lexer.run()
        except Exception:  # a fixture exim refuses: its statements are covered elsewhere
            continue
        macros = {id(line) for line, _, _ in lexer.macro_definitions}
        for line in lexer.lines:
            kind = kinds.get(line.section)
            if kind is None or id(line) in macros or grammar.BLOCK_HEADER.match(line.text):
                continue
            quick = grammar.quick_fields(kind, line.text)
            try:
                full = grammar.pyparsing_fields(kind, line.text)
            except pp.ParseBaseException:
                full = None
            assert quick == full, (path, line.text)
            seen += 1
    assert seen > 300
    assert parser.read_config  # the reader these lines came from


# -- the methods dataclasses writes, compiled once ------------------------------------------

_METHODS = """
import builtins, dataclasses, hashlib, importlib, json, marshal, pkgutil, sys
compiled = []
real_compile = builtins.compile
def counting(source, filename, *args, **kwargs):
    if filename == "<string>" and str(source).startswith("def __create_fn__"):  # what dataclasses writes
        compiled.append(source)
    return real_compile(source, filename, *args, **kwargs)
builtins.compile = counting
import migrate
if sys.argv[1] == "plain":  # dataclasses as it is: exec compiles every text
    vars(dataclasses).pop("exec", None)
found = {}
for module in sorted(m.name for m in pkgutil.walk_packages(migrate.__path__, "migrate.")):
    for name, value in sorted(vars(importlib.import_module(module)).items()):
        if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == module:
            for method, function in sorted(vars(value).items()):
                function = getattr(function, "__wrapped__", function)
                code = getattr(function, "__code__", None)
                if code is not None and code.co_filename == "<string>":
                    key = f"{module}.{name}.{method}"
                    found[key] = [hashlib.sha256(marshal.dumps(code)).hexdigest(), repr(function.__defaults__),
                                  repr(function.__kwdefaults__), repr(function.__annotations__)]
print(json.dumps({"methods": found, "compiled": len(compiled)}))
"""


def _methods(mode: str, cache: Path) -> dict[str, object]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(cache), "XDG_CACHE_HOME": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", _METHODS, mode], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_kept_dataclass_code_makes_the_same_methods_and_a_second_start_compiles_none(tmp_path: Path) -> None:
    plain = _methods("plain", tmp_path / "none")
    first = _methods("kept", tmp_path)
    second = _methods("kept", tmp_path)
    assert plain["methods"] == first["methods"] == second["methods"]
    assert len(plain["methods"]) > 150  # type: ignore[arg-type]
    assert first["compiled"] > 0 and second["compiled"] == 0
    assert [p.name for p in (tmp_path / "exim2smtpd").iterdir()] == [
        f"dataclasses-{sys.implementation.cache_tag}-{'-'.join(map(str, sys.version_info))}-O{sys.flags.optimize}"
    ]
