#!/bin/sh
# Install what the tests need, on a fresh Debian machine, as root.
#
# exim is unpacked rather than installed: exim4-daemon-* and opensmtpd both
# provide mail-transport-agent, so apt would remove one to install the other.
# Its runtime libraries do not conflict and are installed normally.
set -eu
dest=${1:?usage: install-test-deps.sh EXIM_ROOT}
exim="$dest/usr/sbin/exim4"

if [ "$(id -u)" != 0 ]; then
    echo "install-test-deps: must run as root (apt-get, the Debian-exim user)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
updated=
need_apt() { [ -n "$updated" ] || { apt-get update -qq && updated=1; }; }

# OpenSMTPD (6.8 in Debian 12): `smtpd -n` checks every smtpd.conf we write,
# and verify runs it. openssl makes the throw-away certificate those need;
# rspamd's `rspamadm configtest` checks the local.d files; iproute2 and
# util-linux give verify its private namespaces.
if ! command -v smtpd >/dev/null || ! command -v openssl >/dev/null || ! command -v rspamadm >/dev/null \
        || ! command -v ip >/dev/null || ! command -v unshare >/dev/null \
        || [ ! -x /usr/libexec/opensmtpd/table-sqlite ]; then
    need_apt
    apt-get install -y -qq --no-install-recommends opensmtpd opensmtpd-extras openssl rspamd iproute2 util-linux >/dev/null
fi

if [ ! -x "$exim" ]; then
    need_apt
    apt-get install -y -qq --no-install-recommends \
        libdb5.3 libgnutls-dane0 libgnutls30 libidn12 libidn2-0 libldap-2.5-0 \
        libmariadb3 libnsl2 libpam0g libpcre2-8-0 libperl5.36 libpq5 libsasl2-2 \
        libspf2-2 libsqlite3-0 >/dev/null
    work=$(mktemp -d)
    (cd "$work" && apt-get download -qq exim4-base exim4-config exim4-daemon-heavy)
    mkdir -p "$dest"
    for deb in "$work"/exim4-*.deb; do dpkg-deb -x "$deb" "$dest"; done
    rm -rf "$work"
fi

# What exim4-base's postinst would create: exim refuses to start without its
# compiled-in user, and -bP/-bh want to write the main log.
getent group Debian-exim >/dev/null || groupadd --system Debian-exim
getent passwd Debian-exim >/dev/null || \
    useradd --system -g Debian-exim -d /var/spool/exim4 -s /usr/sbin/nologin Debian-exim
mkdir -p /var/log/exim4 /var/spool/exim4
chown Debian-exim:Debian-exim /var/log/exim4 /var/spool/exim4
chmod 750 /var/log/exim4

if ldd "$exim" | grep -q 'not found'; then
    echo "install-test-deps: exim is missing libraries:" >&2
    ldd "$exim" | grep 'not found' >&2
    exit 1
fi
"$exim" --version 2>/dev/null | head -1
smtpd -h 2>&1 | head -1
