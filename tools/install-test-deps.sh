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

# The host's mail packages must come out of this exactly as they went in: an
# admin may run `make test` on the exim server being migrated. OpenSMTPD,
# rspamd, redis and the filters live only in the system roots
# (tools/build-roots.sh); here only tools and exim's runtime libraries are
# installed, and exim itself is unpacked, never installed.
mail_packages() {
    dpkg-query -W -f='${Package} ${Status} ${Version}\n' 'exim4*' 'opensmtpd*' 'rspamd*' 'redis*' 2>/dev/null | sort
}
before=$(mail_packages)

# openssl makes the throw-away certificates; iproute2 and util-linux give the
# harness its private namespaces.
if ! command -v openssl >/dev/null || ! command -v ip >/dev/null || ! command -v unshare >/dev/null; then
    need_apt
    apt-get install -y -qq --no-install-recommends openssl iproute2 util-linux >/dev/null
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

after=$(mail_packages)
if [ "$before" != "$after" ]; then
    echo "install-test-deps: the host's mail packages changed, which must never happen:" >&2
    printf '%s\n' "$before" > /tmp/exim2smtpd-before.$$
    printf '%s\n' "$after" | diff /tmp/exim2smtpd-before.$$ - >&2 || true
    rm -f /tmp/exim2smtpd-before.$$
    exit 1
fi
