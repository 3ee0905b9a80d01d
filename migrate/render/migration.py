"""MIGRATION.md: the ordered steps that switch this server from exim to OpenSMTPD on its platform.

Its first item is what the conversion loses (services exim provided that the
output does not keep), then what was not migrated, then the switch: stop exim
and empty its queue, back up what will be replaced, install, put the files in
place, check them with ``smtpd -n``, restart what the output uses, watch; and
how to put exim back. Two rules hold on every platform: a daemon the output
uses (rspamd, Redis, clamd) is never stopped or removed, and every daemon that
reads a generated file is restarted, not started, so that one already running
reads it. tests/render/test_runbook.py checks both by reading, and runs the
Debian runbook for real.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from migrate.model import Policy
from migrate.platforms import Platform
from migrate.platforms import platform as get_platform
from migrate.render.base import finished, generated_by, make_env
from migrate.render.rspamd import render_rspamd
from migrate.render.tables import render_table_files

BACKUP = "/var/backups/exim2smtpd"  # exists on Debian, OpenBSD and FreeBSD; the runbook refuses to reuse it


@dataclass(frozen=True)
class Daemon:
    """A daemon the output uses, in the order the runbook starts them."""

    service: str
    verb: str  # "restart": it reads a generated file; "start": it ran for exim, its configuration unchanged
    ours: bool  # installed or enabled by the runbook: the rollback stops it unless it ran before
    package: str = ""  # Debian: the package the rollback removes with it


def render_migration(policy: Policy, grade: str, manual: list[str], lost: list[tuple[str, tuple[str, ...]]]) -> str:
    """MIGRATION.md: the ordered steps for this configuration on this platform.

    ``lost``: each lost service's headline and the steps that restore it.
    """
    pack = get_platform(policy.platform)
    content = policy.content
    packages = _packages(policy, pack)
    rspamd_files = sorted(render_rspamd(policy)) if content.needs_rspamd else []
    table_files = sorted(render_table_files(policy))
    args = policy.given or os.path.basename(policy.source)
    daemons = _daemons(policy, pack, packages)
    text = (
        make_env()
        .get_template("docs/MIGRATION.md.j2")
        .render(
            source=os.path.basename(policy.source),
            generated=generated_by(policy),
            args=args,
            report_args=_report_args(args, policy),
            verify_args=f"{args} .",
            defines="-D " in args,
            p=pack,
            debian=pack.system == "debian",
            backup=BACKUP,
            grade=grade,
            manual=manual,
            lost=lost,
            rcvar=_rcvar,
            table_files=table_files,
            secret_files={os.path.basename(t.file) for t in policy.tables if t.secret},
            packages=packages,
            rspamd_files=rspamd_files,
            rspamd_dirs=sorted({os.path.dirname(_rspamd_target(pack, n)) for n in rspamd_files}),
            rspamd_target=lambda name: _rspamd_target(pack, name),
            daemons=daemons,
            follow_log=pack.follow_log.format(units=" ".join(f"-u {d.service}" for d in daemons)),
            clamd_socket=_clamd_socket(policy),
            spamd=bool(content.spam),
            aliases=next((t.file for t in policy.tables if t.kind == "aliases"), ""),
            aliases_source=next(
                (t.sources[0] for t in policy.tables if t.kind == "aliases" and t.generated and t.sources), ""
            ),
            dkim_key=content.dkim.key if content.dkim else "",
            still_read=_still_read(policy, pack),
        )
    )
    return finished(text)


def _packages(policy: Policy, pack: Platform) -> list[str]:
    """What the runbook installs: OpenSMTPD where it is not in the base system, the filter, rspamd,
    Redis when rspamd scans (signing alone needs none), and the table backends."""
    content = policy.content
    packages = list(pack.packages_base)
    if content.needs_rspamd:
        packages += [p for p in pack.packages_rspamd if content.scans or p != pack.redis_service]
    for backend in sorted({t.backend for t in policy.tables if t.backend}):
        package = _backend_package(pack.name, pack.system, backend)
        if package not in packages:
            packages.append(package)
    return packages


def _daemons(policy: Policy, pack: Platform, packages: list[str]) -> list[Daemon]:
    """The daemons the output uses, each before those that talk to it, smtpd last."""
    content = policy.content
    debian = pack.system == "debian"
    daemons = []
    if content.needs_rspamd and content.scans:
        daemons.append(Daemon(pack.redis_service, "restart", True, pack.redis_service if debian else ""))
    if content.antivirus:
        daemons.append(Daemon(pack.clamd_service, "start", False))  # exim used it: it stays as it is
    if content.needs_rspamd:
        daemons.append(Daemon("rspamd", "restart", True, "rspamd" if debian else ""))
    daemons.append(Daemon(pack.smtpd_service, "restart", True, "opensmtpd" if "opensmtpd" in packages else ""))
    return daemons


def _still_read(policy: Policy, pack: Platform) -> list[str]:
    """Files under exim's configuration directory the output reads (certificates, keys, tables, aliases)."""
    paths = {t.file for t in policy.tables if t.file}
    paths |= {path for c in policy.certificates for path in (c.cert, c.key)}
    if policy.content.dkim:
        paths.add(policy.content.dkim.key)
    return sorted(path for path in paths if path.startswith(pack.exim_etc + "/"))


def _clamd_socket(policy: Policy) -> str:
    """The clamd socket rspamd's antivirus.conf names, when it is a local socket the runbook can check."""
    antivirus = policy.content.antivirus
    return antivirus.servers if antivirus and antivirus.servers.startswith("/") else ""


def _report_args(args: str, policy: Policy) -> str:
    """The report command's arguments for this very output: the input, the platform and the greylisting."""
    words = [args, f"--platform {policy.platform}"]
    if policy.content.greylist != "off":
        words.append(f"--greylist {policy.content.greylist}")
    return " ".join(words)


def _rspamd_target(pack: Platform, name: str) -> str:
    """Where a generated rspamd file goes (maps.d/ included)."""
    return f"{pack.rspamd_local_d}/{name.removeprefix('rspamd/local.d/')}"


def _backend_package(platform: str, system: str, backend: str) -> str:
    """The package with an SQL table backend: OpenBSD splits opensmtpd-extras by database, Debian 13 ships one each."""
    if platform == "openbsd" and backend in ("mysql", "postgres"):
        return {"mysql": "opensmtpd-extras-mysql", "postgres": "opensmtpd-extras-pgsql"}[backend]
    if system == "debian" and platform != "debian12":
        return f"opensmtpd-table-{backend}"
    return "opensmtpd-extras"


def _rcvar(service: str) -> str:
    """FreeBSD's rc.conf variable for a service (sa-spamd's is spamd)."""
    return {"sa-spamd": "spamd"}.get(service, service).replace("-", "_")
