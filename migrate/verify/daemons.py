"""Where verify finds the exim and the smtpd it asks, without being told.

In order: what the environment names (``EXIM``, ``EXIM2SMTPD_SMTPD_ROOT``,
``EXIM2SMTPD_ROOTS``), then the system roots ``make test-deps`` built in the
source checkout (``.cache/roots``, exim run there by ``tools/exim-in-root.sh``),
then this machine's PATH. A variable the admin set is taken at its word: when
it names nothing usable that is an error, never a silent fall-back to
another daemon (an answer from the wrong exim would look like a verdict).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from migrate.verify.exim_side import SideError
from migrate.verify.system import ENVIRONMENT as SMTPD_ROOT

EXIM = "EXIM"
ROOTS = "EXIM2SMTPD_ROOTS"
CHECKOUT = Path(__file__).resolve().parents[2]  # the source checkout, for an editable install
RUNNER = Path("tools/exim-in-root.sh")  # runs exim 4.100 from the unstable root (under the checkout)
ROOT_EXIM = Path("unstable/opt/exim4/usr/sbin/exim4")  # under a roots directory
ROOT_SMTPD = Path("unstable")  # the root whose smtpd (OpenSMTPD 7.9) verify asks
SBIN = Path("/usr/sbin")  # looked in after the PATH: root's PATH may lack it
HOW = "run `make test-deps` in the exim2smtpd source checkout, or install {package} on this machine"


@dataclass(frozen=True)
class Daemons:
    """The program verify runs as exim, smtpd's path, and the system root smtpd runs from (None: this machine)."""

    exim: str
    smtpd: str
    system: Path | None = None


def find(
    exim: str | None = None,
    smtpd: str | None = None,
    system: Path | str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    checkout: Path | None = None,
) -> Daemons:
    """Both daemons; what the caller gives wins. Raises SideError naming what is missing and how to get it."""
    env = os.environ if environ is None else environ
    checkout = checkout or CHECKOUT
    try:
        found_exim = exim or _exim(env, checkout)
    except SideError as missing:
        try:
            _smtpd(env, checkout, smtpd, system)
        except SideError as also:
            if missing.args[0].startswith("no exim") and also.args[0].startswith("no smtpd"):
                raise SideError(
                    "exim and smtpd",
                    f"neither found ({EXIM}, {SMTPD_ROOT} and {ROOTS} unset, none on the PATH): "
                    + HOW.format(package="exim and opensmtpd"),
                ) from None
        raise
    return Daemons(found_exim, *_smtpd(env, checkout, smtpd, system))


def find_smtpd(
    smtpd: str | None = None, system: Path | str | None = None, *, environ: Mapping[str, str] | None = None
) -> tuple[str, Path | None]:
    """smtpd alone (``verify --from-log`` asks no exim: the log holds its answers), found as ``find`` finds it."""
    return _smtpd(os.environ if environ is None else environ, CHECKOUT, smtpd, system)


def _smtpd(
    env: Mapping[str, str], checkout: Path, smtpd: str | None, system: Path | str | None
) -> tuple[str, Path | None]:
    if system or smtpd:  # smtpd named by the caller: from the root given, else the one the environment names
        return smtpd or "/usr/sbin/smtpd", Path(system) if system else _smtpd_root(env, None)
    root = _smtpd_root(env, checkout)
    if root is not None:
        return "/usr/sbin/smtpd", root
    found = _on_path(["smtpd"])
    if found is None:
        raise SideError(
            "smtpd",
            f"no smtpd found ({SMTPD_ROOT} and {ROOTS} unset, none on the PATH): {HOW.format(package='opensmtpd')}",
        )
    return found, None


def _exim(env: Mapping[str, str], checkout: Path) -> str:
    if env.get(EXIM):
        named = shutil.which(env[EXIM])
        if named is None:
            raise SideError("exim", f"{EXIM}={env[EXIM]} is not a program: set it to exim's path, or unset it")
        return named
    runner = checkout / RUNNER
    if env.get(ROOTS):
        if not (Path(env[ROOTS]) / ROOT_EXIM).is_file():
            raise SideError(
                "exim",
                f"{ROOTS}={env[ROOTS]}, but {Path(env[ROOTS]) / ROOT_EXIM} does not exist: "
                f"run `make test-deps` in the source checkout, or unset {ROOTS}",
            )
        if not runner.is_file():
            raise SideError("exim", f"{ROOTS} is set, but {runner} (of the source checkout) is not here: set {EXIM}")
        return str(runner)
    if (checkout / ".cache/roots" / ROOT_EXIM).is_file() and runner.is_file():
        return str(runner)
    found = _on_path(["exim", "exim4"])
    if found is None:
        raise SideError(
            "exim",
            f"no exim found ({EXIM} and {ROOTS} unset, none on the PATH): "
            + HOW.format(package="exim (Debian: exim4-daemon-light)"),
        )
    return found


def _smtpd_root(env: Mapping[str, str], checkout: Path | None) -> Path | None:
    """The system root to run smtpd from: the environment's, else the checkout's (with ``checkout``), else None."""
    if env.get(SMTPD_ROOT):
        return _built(SMTPD_ROOT, env[SMTPD_ROOT], Path(env[SMTPD_ROOT]))
    if env.get(ROOTS):
        return _built(ROOTS, env[ROOTS], Path(env[ROOTS]) / ROOT_SMTPD)
    built = checkout / ".cache/roots" / ROOT_SMTPD if checkout is not None else None
    return built if built is not None and (built / "usr/sbin/smtpd").is_file() else None


def _built(name: str, value: str, root: Path) -> Path:
    """``root``, which the variable ``name`` promises holds smtpd; an error saying so when it does not."""
    if not (root / "usr/sbin/smtpd").is_file():
        raise SideError(
            "smtpd",
            f"{name}={value}, but {root}/usr/sbin/smtpd does not exist: "
            f"run `make test-deps` in the source checkout, or unset {name}",
        )
    return root


def _on_path(names: list[str]) -> str | None:
    """The first of ``names`` on the PATH, else in /usr/sbin."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return next((str(SBIN / name) for name in names if (SBIN / name).is_file()), None)
