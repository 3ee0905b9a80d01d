"""The one options value every command takes: what to read, and for which target."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

PLATFORM_CHOICES = ("openbsd", "debian", "debian12", "freebsd", "linux")
GREYLIST_CHOICES = ("off", "rspamd")
# --fail-on: which buckets make convert, report and check exit 2 (a lost service does too, unless "never").
FAIL_ON: dict[str, tuple[str, ...]] = {
    "never": (),
    "unmapped": ("unmapped",),
    "approximated": ("unmapped", "approximated"),
    "info": ("unmapped", "approximated", "ignored"),
}


def default_platform(os_release: str = "/etc/os-release", system: str = sys.platform) -> str:
    """The platform of the machine the tool runs on: an admin converting on the server gets its own smtpd.

    Debian 12 ships OpenSMTPD 6.8 and 13 ships 7.6; a Debian without a release
    number (testing, unstable) has 7.9, which is the portable ``linux`` pack.
    Anything else is assumed to be OpenBSD, the grammar's home.
    """
    if system.startswith("openbsd"):
        return "openbsd"
    if system.startswith("freebsd"):
        return "freebsd"
    fields = _os_release(os_release)
    if fields.get("ID") != "debian":  # derivatives ship other OpenSMTPD versions: say openbsd, the header tells
        return "openbsd"
    return {"12": "debian12", "13": "debian"}.get(fields.get("VERSION_ID", ""), "linux")


def _os_release(path: str) -> dict[str, str]:
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return {}
    pairs = (line.partition("=") for line in text.splitlines() if "=" in line)
    return {key.strip(): value.strip().strip('"') for key, _, value in pairs}


@dataclass(frozen=True)
class Options:
    """How to read the input and what to generate.

    ``debian``: the input is a Debian /etc/exim4 directory, read as
    update-exim4.conf would. ``root``: where the files the configuration names
    are read from (a copy of the server's tree, or / on the server itself).
    """

    defines: dict[str, str] = field(default_factory=dict)
    platform: str = "openbsd"
    greylist: str = "off"
    root: str = "/"
    debian: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "defines", dict(self.defines or {}))
        if self.platform not in PLATFORM_CHOICES:
            raise ValueError(f"unknown platform {self.platform!r}")
        if self.greylist not in GREYLIST_CHOICES:
            raise ValueError(f"unknown greylist choice {self.greylist!r}")
