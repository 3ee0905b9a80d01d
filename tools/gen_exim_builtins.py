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
            check=True, capture_output=True, text=True,
        ).stdout
    macros = {}
    for line in out.splitlines():
        name, _, value = line.partition("=")
        macros[name] = value
    return macros


def main_booleans(exim: str) -> list[str]:
    """Main options that exim prints as ``name``/``no_name``: the booleans."""
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp, "min.conf")
        conf.write_text(f"keep_environment =\nspool_directory = {tmp}\n")
        out = subprocess.run(
            [exim, "-C", str(conf), "-bP"], check=True, capture_output=True, text=True
        ).stdout
    return sorted(
        re.sub(r"^no_", "", line) for line in out.splitlines() if line and "=" not in line
    )


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
    private: dict[str, dict[str, list[str]]] = {
        kind: {d: [] for d in names} for kind, names in drivers.items()
    }
    main, acl_conditions, acl_modifiers = [], [], []
    for name in macros:
        if name.startswith("_OPT_MAIN_"):
            main.append(name[len("_OPT_MAIN_"):].lower())
        elif name.startswith("_ACL_COND_"):
            acl_conditions.append(name[len("_ACL_COND_"):].lower())
        elif name.startswith("_ACL_MOD_"):
            acl_modifiers.append(name[len("_ACL_MOD_"):].lower())
        for upper, kind in DRIVER_KINDS.items():
            if name.startswith(f"_OPT_{upper}S_"):
                generic[kind].append(name[len(f"_OPT_{upper}S_"):].lower())
            for driver in drivers[kind]:
                prefix = f"_OPT_{upper}_{driver.upper()}_"
                if name.startswith(prefix):
                    private[kind][driver].append(name[len(prefix):].lower())
    return {
        "main_options": sorted(main),
        "acl_conditions": sorted(acl_conditions),
        "acl_modifiers": sorted(acl_modifiers),
        "driver_generic_options": {k: sorted(v) for k, v in generic.items()},
        "driver_private_options": {
            k: {d: sorted(o) for d, o in sorted(v.items())} for k, v in private.items()
        },
    }


def main() -> None:
    """Print the JSON data file for the exim binary named on the command line."""
    exim = sys.argv[1]
    macros = read_macros(exim)
    data = {"exim_version": version(exim), "macros": dict(sorted(macros.items()))}
    data.update(classify(macros))
    data["main_boolean_options"] = main_booleans(exim)
    json.dump(data, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
