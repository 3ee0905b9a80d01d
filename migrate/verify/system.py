"""Run a program from another Debian system root, in a private mount namespace, without chroot.

The root's ``/usr`` and ``/etc`` are bind-mounted over the host's inside the
namespace only, and its ``/var`` as a private overlay, so the program, its
libraries, helpers (``/usr/libexec``), users and state directories come from
the root while every other path (work directories, fixtures, /proc, /dev)
stays where it is. Both systems must be merged-/usr (Debian 12 and
later are). Nothing outlives the namespace; the host's own packages are not
used, installed or touched. This is how the tests run OpenSMTPD 7.9, 7.6 and
6.8, rspamd and the filters side by side on one machine.
"""

from __future__ import annotations

import os
from pathlib import Path

ENVIRONMENT = "EXIM2SMTPD_SMTPD_ROOT"  # a system root whose smtpd verify asks instead of this machine's
# The root's /etc and /usr over the host's; its /var too, as an overlay whose changes live in a tmpfs of this
# namespace (mounted on the root's own /run, which nothing here uses), with the directories smtpd's processes
# chroot to and queue in: nothing is written to the root or the host. /usr last: mount is the host's.
ENTER = (
    'mount --bind "$0/etc" /etc && mount -t tmpfs exim2smtpd "$0/run" && mkdir "$0/run/upper" "$0/run/work" && '
    'mount -t overlay exim2smtpd -o "lowerdir=$0/var,upperdir=$0/run/upper,workdir=$0/run/work" /var && '
    'mkdir -p /var/empty /var/spool/smtpd && mount --bind "$0/usr" /usr && exec "$@"'
)


def chosen(root: Path | str | None = None) -> Path | None:
    """The system root to run smtpd from: the one given, else $EXIM2SMTPD_SMTPD_ROOT, else none (this machine)."""
    found = root or os.environ.get(ENVIRONMENT)
    return Path(found) if found else None


def inside(root: Path | None, argv: list[str], *, net: bool = False) -> list[str]:
    """The command line that runs ``argv`` from ``root``, or from this machine when root is None.

    ``net`` gives it a private network namespace too (with this machine's programs as well).
    """
    if root is None and not net:
        return argv
    unshare = ["unshare", "--mount", *(["--net"] if net else []), "--propagation", "private", "--"]
    return [*unshare, *(["sh", "-c", ENTER, str(root)] if root is not None else []), *argv]


def version(root: Path) -> str:
    """The OpenSMTPD version a root holds, as its package says (``7.9.0p0-1``)."""
    status = (root / "var/lib/dpkg/status").read_text(errors="replace")
    block = status.split("Package: opensmtpd\n", 1)
    if len(block) < 2:
        return ""
    for line in block[1].splitlines():
        if line.startswith("Version: "):
            return line.split(" ", 1)[1]
        if not line:
            break
    return ""
