"""The one options value every command takes: what to read, and for which target."""

from __future__ import annotations

from dataclasses import dataclass, field

PLATFORM_CHOICES = ("openbsd", "debian", "debian12", "freebsd", "linux")
GREYLIST_CHOICES = ("off", "rspamd")
# --fail-on: which buckets make convert, report and check exit 2 (a lost service does too, unless "never").
FAIL_ON: dict[str, tuple[str, ...]] = {
    "never": (),
    "unmapped": ("unmapped",),
    "approximated": ("unmapped", "approximated"),
    "info": ("unmapped", "approximated", "ignored"),
}


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
