"""MIGRATION.md: the ordered steps for this configuration on this platform.

Its first item is what the conversion loses (services exim provided that the
output does not keep), then what was not migrated, then install, stop, place,
check and start.
"""

from __future__ import annotations

import os

from migrate.model import Content, Policy
from migrate.platforms import platform as get_platform
from migrate.render.base import finished, generated_by, make_env
from migrate.render.rspamd import render_rspamd
from migrate.render.tables import render_table_files


def render_migration(policy: Policy, grade: str, manual: list[str], lost: list[tuple[str, tuple[str, ...]]]) -> str:
    """MIGRATION.md: the ordered steps for this configuration on this platform.

    ``lost``: each lost service's headline and the steps that restore it.
    """
    pack = get_platform(policy.platform)
    content = policy.content
    rspamd = content.needs_rspamd
    redis = content.scans  # signing alone needs no Redis (the DKIM test runs rspamd without one)
    redis_name = "redis-server" if pack.system == "debian" else "redis"
    packages = list(pack.packages_base)
    if rspamd:
        packages += [p for p in pack.packages_rspamd if redis or p != redis_name]
    for backend in sorted({t.backend for t in policy.tables if t.backend}):
        package = _backend_package(pack.name, pack.system, backend)
        if package not in packages:
            packages.append(package)
    scanners = []
    if content.antivirus:
        scanners.append(
            "clamd" if pack.name == "openbsd" else "clamav-daemon" if pack.system == "debian" else "clamav_clamd"
        )
    if content.spam:
        scanners.append("spamassassin" if pack.name != "freebsd" else "sa-spamd")
    start = ["opensmtpd" if pack.system == "debian" else "smtpd"]
    if rspamd:
        start = [*([redis_name] if redis else []), "rspamd", *start]
    aliases = next((t.file for t in policy.tables if t.kind == "aliases"), "")
    text = (
        make_env()
        .get_template("docs/MIGRATION.md.j2")
        .render(
            source=os.path.basename(policy.source),
            generated=generated_by(policy),
            args=policy.given or os.path.basename(policy.source),
            p=pack,
            grade=grade,
            manual=manual,
            lost=lost,
            rcvar=_rcvar,
            table_files=sorted(render_table_files(policy)),
            secret_files={os.path.basename(t.file) for t in policy.tables if t.secret},
            packages=packages,
            scanners=scanners,
            stop_services=[pack.exim_service, *scanners],
            rspamd_files=sorted(n for n in render_rspamd(policy) if n.endswith(".conf")) if rspamd else [],
            aliases=aliases,
            dkim_key=content.dkim.key if content.dkim else "",
            start_services=start,
            remove_packages=tuple(_scanner_packages(pack.name, content)),
        )
    )
    return finished(text)


def _backend_package(platform: str, system: str, backend: str) -> str:
    """The package with an SQL table backend: OpenBSD splits opensmtpd-extras by database, Debian 13 ships one each."""
    if platform == "openbsd" and backend in ("mysql", "postgres"):
        return {"mysql": "opensmtpd-extras-mysql", "postgres": "opensmtpd-extras-pgsql"}[backend]
    if system == "debian" and platform != "debian12":
        return f"opensmtpd-table-{backend}"
    return "opensmtpd-extras"


def _scanner_packages(platform: str, content: Content) -> list[str]:
    """The scanner packages exim used, by their name on the platform."""
    names = {"openbsd": ("clamav", "p5-Mail-SpamAssassin"), "freebsd": ("clamav", "spamassassin")}
    clamav, spamassassin = names.get(platform, ("clamav-daemon", "spamassassin"))
    return ([clamav] if content.antivirus else []) + ([spamassassin] if content.spam else [])


def _rcvar(service: str) -> str:
    """FreeBSD's rc.conf variable for a service (sa-spamd's is spamd)."""
    return {"sa-spamd": "spamd"}.get(service, service).replace("-", "_")
