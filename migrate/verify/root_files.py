"""Files of the server that decide what exim and smtpd say, checked in the ``--root`` copy before anything is asked.

Where such a file is missing from the copy, the two daemons do not see the
same server. Debian's exim takes its qualify domain from /etc/mailname
(``ETC_MAILNAME``, empty without the file): ``root`` in the aliases then
becomes ``root@`` with no domain, which exim refuses as a remote address it
does not relay, while smtpd delivers it locally to root. verify would call
that a security regression; it is a gap in the copy. The same holds for
/etc/hostname when the configuration sets neither ``primary_hostname`` nor
``qualify_domain``: exim then qualifies with the name of the machine verify
runs on. So a missing file stops verify with the file named: a verdict
built on a different server would be worse than none, and which cases it
touches cannot be told in advance (any address an alias or a router
qualifies).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from migrate.reader.tree import EximConfig


@dataclass(frozen=True)
class MissingFile:
    """A server file the copy lacks, and what it decides (the why of the message)."""

    path: Path
    decides: str
    instead: str = ""  # what to do when the server has none either

    def __str__(self) -> str:
        return f"{self.path} is missing: copy it from the server ({self.decides}){self.instead}"


class RootIncomplete(Exception):
    """The ``--root`` copy lacks files exim or smtpd read: verify stops before asking either."""

    def __init__(self, missing: tuple[MissingFile, ...]) -> None:
        super().__init__("; ".join(str(m) for m in missing))
        self.missing = missing


def missing_files(config: EximConfig, root: Path | None, defines: dict[str, str], *, debian: bool) -> list[MissingFile]:
    """The files under ``root`` the comparison depends on that are not there (none without ``root``).

    Without ``root`` exim and smtpd read this machine's own files: they see
    the same server, and a difference found is one the migration would have.
    """
    if root is None:
        return []
    found = []
    mailname = root / "etc/mailname"
    if debian and "ETC_MAILNAME" not in defines and not mailname.exists():
        found.append(
            MissingFile(
                mailname,
                "Debian's exim takes its qualify domain from it, and smtpd its host name",
                "; if the server has none, create an empty one",
            )
        )
    hostname = root / "etc/hostname"
    named = {name for name in ("primary_hostname", "qualify_domain") if name in config.options}
    if not named and not hostname.exists():
        found.append(
            MissingFile(
                hostname,
                "without primary_hostname and qualify_domain, exim qualifies addresses with the host name, "
                "which the conversion reads from it",
            )
        )
    return found
