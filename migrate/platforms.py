"""Platform packs: where things live and how services are run on each target system.

One table per platform instead of conditionals scattered through the
renderer: config and aliases paths, whether ``listen on all`` exists, whether
tables may span lines, package names, the filter users, service commands, and
how to take exim out of service, who signs DKIM, and the OpenSMTPD each ships (the tests check
every output with that version). ``debian`` is Debian 13 (7.6), ``debian12``
Debian 12 (6.8, which reads a table on one line only); ``linux`` is portable
OpenSMTPD 7.9 on any Linux, with Debian's names.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Platform:
    """Facts about one target system."""

    name: str
    label: str
    smtpd_conf: str
    tables_dir: str  # where table files converted from lookup files go
    aliases: str
    rspamd_local_d: str
    listen_on_all: bool  # an interface group "all" (OpenBSD only)
    multiline_tables: bool  # OpenSMTPD 7.5+ reads a table over several lines; 6.8 does not
    install: str  # command prefix to install packages
    packages_base: tuple[str, ...]
    packages_rspamd: tuple[str, ...]
    rspamd_user: str  # who signs, and so must read the DKIM keys
    enable: str  # "{service}" is replaced
    start: str
    stop: str
    disable: str
    exim_service: str
    remove: str  # command prefix to remove packages
    exim_packages: tuple[str, ...]
    mailer_switch: str
    mail_log: str
    family: str = ""  # the system its names and commands come from (debian12 and linux: debian)
    smtpd_version: str = ""  # the OpenSMTPD this platform ships, which its output is checked with
    # the crypt(3) hashes smtpd's credentials check reads there: OpenBSD's crypt_checkpass reads bcrypt only
    crypt_schemes: tuple[str, ...] = ("$1$", "$2a$", "$2b$", "$5$", "$6$")
    sni: bool = True  # a listener takes several pki and picks one by the name the client asks for (7.x)
    # The runbook (MIGRATION.md): what the switch from exim names on this system.
    restart: str = "service {service} restart"  # a running daemon reads its configuration again only so
    status: str = "service {service} status"  # exits non-zero when the daemon is not running
    smtpd_service: str = "opensmtpd"
    redis_service: str = "redis-server"
    clamd_service: str = "clamav-daemon"
    spamd_service: str = "spamd"
    spamd_packages: tuple[str, ...] = ("spamd", "spamassassin")
    exim: str = "exim4"  # exim's command
    exim_etc: str = "/etc/exim4"  # exim's configuration directory, backed up whole
    smtpctl: str = "/usr/sbin/smtpctl"
    mailer_conf: str = ""  # mailwrapper's table, pointed at smtpctl (Debian: the package provides sendmail)
    mailer_names: tuple[str, ...] = ()  # the mailer.conf entries smtpctl takes over
    enabled_list: str = ""  # prints the daemons enabled at boot, one a line (Debian records packages instead)
    exim_package_list: str = ""  # prints the exim packages installed
    follow_log: str = "journalctl -f {units}"  # "{units}": -u for each daemon the output uses

    @property
    def system(self) -> str:
        """``openbsd``, ``debian`` or ``freebsd``: whose packages and commands apply."""
        return self.family or self.name


PLATFORMS: dict[str, Platform] = {
    "openbsd": Platform(
        "openbsd",
        "OpenBSD 7.9",
        "/etc/mail/smtpd.conf",
        "/etc/mail",
        "/etc/mail/aliases",
        "/etc/rspamd/local.d",
        True,
        True,
        "pkg_add",
        (),
        ("opensmtpd-filter-rspamd", "rspamd", "redis"),
        "_rspamd",
        "rcctl enable {service}",
        "rcctl start {service}",
        "rcctl stop {service}",
        "rcctl disable {service}",
        "exim",
        "pkg_delete",
        ("exim",),
        "/usr/local/sbin/exim-disable   # restores /etc/mailer.conf to smtpd",
        "/var/log/maillog",
        smtpd_version="7.9",
        crypt_schemes=("$2a$", "$2b$"),
        restart="rcctl restart {service}",
        status="rcctl check {service}",
        smtpd_service="smtpd",
        redis_service="redis",
        clamd_service="clamd",
        spamd_service="spamassassin",
        spamd_packages=("p5-Mail-SpamAssassin",),
        exim="exim",
        exim_etc="/etc/exim",
        mailer_conf="/etc/mailer.conf",
        mailer_names=("sendmail", "send-mail", "mailq", "makemap", "newaliases"),  # OpenBSD's own mailer.conf
        enabled_list="rcctl ls on",
        exim_package_list="pkg_info -q | grep '^exim-'",
        follow_log="tail -f /var/log/maillog",
    ),
    "debian": Platform(
        "debian",
        "Debian 13 (OpenSMTPD 7.6)",
        "/etc/smtpd.conf",
        "/etc/smtpd",
        "/etc/aliases",
        "/etc/rspamd/local.d",
        False,
        True,
        "apt-get install",
        ("opensmtpd",),
        ("opensmtpd-filter-rspamd", "rspamd", "redis-server"),
        "_rspamd",
        # update-rc.d and service run systemctl under systemd and the init script otherwise
        "update-rc.d {service} enable",
        "service {service} start",
        "service {service} stop",
        "update-rc.d {service} disable",
        "exim4",
        "apt-get purge",
        ("exim4-base", "exim4-config"),
        "# the opensmtpd package provides /usr/sbin/sendmail",
        "/var/log/mail.log",
        smtpd_version="7.6",
        crypt_schemes=("$1$", "$2a$", "$2b$", "$5$", "$6$", "$y$", "$gy$", "$7$"),  # libxcrypt
        exim_package_list="dpkg-query -W -f '${db:Status-Abbrev} ${Package}\\n' 'exim4*'"
        " | awk '$1 == \"ii\" { print $2 }'",
    ),
    "freebsd": Platform(
        "freebsd",
        "FreeBSD",
        "/usr/local/etc/mail/smtpd.conf",
        "/usr/local/etc/mail",
        "/etc/mail/aliases",
        "/usr/local/etc/rspamd/local.d",
        False,
        True,
        "pkg install",
        ("opensmtpd",),
        ("opensmtpd-filter-rspamd", "rspamd", "redis"),
        "rspamd",
        "sysrc {rcvar}_enable=YES",
        "service {service} start",
        "service {service} stop",
        "sysrc {rcvar}_enable=NO",
        "exim",
        "pkg delete",
        ("exim",),
        "edit /etc/mail/mailer.conf to point sendmail, send-mail and mailq at /usr/local/sbin/smtpctl",
        "/var/log/maillog",
        smtpd_version="7.9",
        smtpd_service="smtpd",
        redis_service="redis",
        clamd_service="clamav-clamd",
        spamd_service="sa-spamd",
        spamd_packages=("spamassassin",),
        exim="exim",
        exim_etc="/usr/local/etc/exim",
        smtpctl="/usr/local/sbin/smtpctl",
        mailer_conf="/etc/mail/mailer.conf",
        mailer_names=("sendmail", "send-mail", "mailq"),
        enabled_list="service -e | sed 's|.*/||'",
        exim_package_list="pkg query %n exim",
        follow_log="tail -f /var/log/maillog",
    ),
}
PLATFORMS["debian12"] = replace(
    PLATFORMS["debian"],
    name="debian12",
    label="Debian 12 (OpenSMTPD 6.8)",
    multiline_tables=False,
    family="debian",
    smtpd_version="6.8",
    sni=False,
)
PLATFORMS["linux"] = replace(
    PLATFORMS["debian"],
    name="linux",
    label="portable OpenSMTPD on Linux (Debian names)",
    family="debian",
    smtpd_version="7.9",
)


def platform(name: str) -> Platform:
    """The pack for a platform name; ValueError for an unknown one."""
    if name not in PLATFORMS:
        raise ValueError(f"unknown platform {name!r}; known: {', '.join(sorted(PLATFORMS))}")
    return PLATFORMS[name]
