"""Regenerate migrate/reader/exim_builtins.json from a real exim binary.

exim's built-in macros (``_HAVE_*``, ``_OPT_*``, ``_DRIVER_*``, ``_ACL_*``) are
both what ``.ifdef _HAVE_TLS`` tests and the only machine-readable list of the
option names a build knows.  The reader needs the same facts without running
exim, so we record them once per exim version.

Usage: python tools/gen_exim_builtins.py EXIM_BINARY > migrate/reader/exim_builtins.json
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

DRIVER_KINDS = {"ROUTER": "router", "TRANSPORT": "transport", "AUTHENTICATOR": "authenticator"}


def read_macros(exim: str) -> dict[str, str]:
    """Ask exim for its built-in macros, using a throw-away minimal config."""
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp, "min.conf")
        conf.write_text(f"keep_environment =\nspool_directory = {tmp}\n")
        out = subprocess.run(
            [exim, "-C", str(conf), "-bP", "macros"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    macros = {}
    for line in out.splitlines():
        found = re.match(r"([A-Za-z0-9_]+[<=>]*)=(.*)", line)  # the condition macros end in <, = or >
        if found:
            macros[found.group(1)] = found.group(2)
    return macros


def main_types(exim: str) -> tuple[list[str], list[str]]:
    """Main options exim prints: (booleans, as ``name``/``no_name``; all printed).

    Hidden options (``daemon_smtp_port``...) are not printed, so their type is
    unknown and the reader does not check it.
    """
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp, "min.conf")
        conf.write_text(f"keep_environment =\nspool_directory = {tmp}\n")
        out = subprocess.run([exim, "-C", str(conf), "-bP"], check=True, capture_output=True, text=True).stdout
    lines = [line for line in out.splitlines() if line]
    booleans = sorted(re.sub(r"^no_", "", line) for line in lines if "=" not in line)
    printed = sorted({re.sub(r"^no_", "", line.split("=")[0].strip()) for line in lines})
    return booleans, printed


# One instance of each driver with just enough options for exim to accept it.
# cyrus_sasl is left out: it needs a working SASL library to initialise.
DRIVER_SAMPLES = """
begin routers
r_accept:
  driver = accept
  transport = t_smtp
r_dnslookup:
  driver = dnslookup
  transport = t_smtp
r_ipliteral:
  driver = ipliteral
  transport = t_smtp
r_iplookup:
  driver = iplookup
  hosts = 127.0.0.1
  port = 1
r_manualroute:
  driver = manualroute
  route_list = * 127.0.0.1
  transport = t_smtp
r_queryprogram:
  driver = queryprogram
  command = /bin/true
  command_user = nobody
r_redirect:
  driver = redirect
  data = x
begin transports
t_smtp:
  driver = smtp
t_appendfile:
  driver = appendfile
  file = /tmp/x
t_autoreply:
  driver = autoreply
t_lmtp:
  driver = lmtp
  socket = /tmp/s
t_pipe:
  driver = pipe
  command = /bin/true
begin authenticators
a_cram_md5:
  driver = cram_md5
  public_name = A1
a_dovecot:
  driver = dovecot
  public_name = A3
a_external:
  driver = external
  public_name = A4
a_plaintext:
  driver = plaintext
  public_name = A5
a_spa:
  driver = spa
  public_name = A6
a_tls:
  driver = tls
  public_name = A7
"""


def driver_types(exim: str) -> tuple[dict[str, dict[str, list[str]]], dict[str, dict[str, list[str]]]]:
    """Per driver: the options exim prints without ``=`` (booleans), and all it prints."""
    found: dict[str, dict[str, list[str]]] = {}
    printed: dict[str, dict[str, list[str]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp, "drivers.conf")
        conf.write_text(f"keep_environment =\nspool_directory = {tmp}\n{DRIVER_SAMPLES}")
        for section, kind in (("routers", "router"), ("transports", "transport"), ("authenticators", "authenticator")):
            out = subprocess.run(
                [exim, "-C", str(conf), "-bP", section], check=True, capture_output=True, text=True
            ).stdout
            per_driver = found.setdefault(kind, {})
            per_driver_printed = printed.setdefault(kind, {})
            current: list[str] = []
            seen: list[str] = []
            for line in out.splitlines():
                header = re.fullmatch(r"[rta]_(\w+) " + kind + ":", line)
                if header:
                    current = per_driver.setdefault(header.group(1), [])
                    seen = per_driver_printed.setdefault(header.group(1), [])
                elif line:
                    seen.append(re.sub(r"^no_", "", line.split("=")[0].strip()))
                    if "=" not in line:
                        current.append(re.sub(r"^no_", "", line))

    def tidy(table: dict[str, dict[str, list[str]]]) -> dict[str, dict[str, list[str]]]:
        return {k: {d: sorted(set(o)) for d, o in sorted(v.items())} for k, v in table.items()}

    return tidy(found), tidy(printed)


def version(exim: str) -> str:
    """Return the version string exim prints for -bV's first line."""
    out = subprocess.run([exim, "--version"], capture_output=True, text=True).stdout
    match = re.search(r"Exim version (\S+)", out)
    return match.group(1) if match else "unknown"


def classify(macros: dict[str, str]) -> dict[str, object]:
    """Split the macro names into option tables per section and driver."""
    drivers: dict[str, list[str]] = {kind: [] for kind in DRIVER_KINDS.values()}
    for name in macros:
        m = re.fullmatch(r"_DRIVER_(ROUTER|TRANSPORT|AUTHENTICATOR)_(\w+)", name)
        if m:
            drivers[DRIVER_KINDS[m.group(1)]].append(m.group(2).lower())
    generic: dict[str, list[str]] = {kind: [] for kind in DRIVER_KINDS.values()}
    private: dict[str, dict[str, list[str]]] = {kind: {d: [] for d in names} for kind, names in drivers.items()}
    main, acl_conditions, acl_modifiers = [], [], []
    for name in macros:
        if name.startswith("_OPT_MAIN_"):
            main.append(name[len("_OPT_MAIN_") :].lower())
        elif name.startswith("_ACL_COND_"):
            acl_conditions.append(name[len("_ACL_COND_") :].lower())
        elif name.startswith("_ACL_MOD_"):
            acl_modifiers.append(name[len("_ACL_MOD_") :].lower())
        for upper, kind in DRIVER_KINDS.items():
            if name.startswith(f"_OPT_{upper}S_"):
                generic[kind].append(name[len(f"_OPT_{upper}S_") :].lower())
            for driver in drivers[kind]:
                prefix = f"_OPT_{upper}_{driver.upper()}_"
                if name.startswith(prefix):
                    private[kind][driver].append(name[len(prefix) :].lower())
    return {
        "main_options": sorted(main),
        "acl_conditions": sorted(acl_conditions),
        "acl_modifiers": sorted(acl_modifiers),
        "driver_generic_options": {k: sorted(v) for k, v in generic.items()},
        "driver_private_options": {k: {d: sorted(o) for d, o in sorted(v.items())} for k, v in private.items()},
    }


def main() -> None:
    """Print the JSON data file for the exim binary named on the command line."""
    exim = sys.argv[1]
    macros = read_macros(exim)
    data = {"exim_version": version(exim), "macros": dict(sorted(macros.items()))}
    data.update(classify(macros))
    data["main_boolean_options"], data["main_typed_options"] = main_types(exim)
    data["driver_boolean_options"], data["driver_typed_options"] = driver_types(exim)
    json.dump(data, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
