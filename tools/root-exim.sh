#!/bin/sh
# mmdebstrap customize hook for the unstable root (tools/build-roots.sh):
# exim 4.100, the oracle, unpacked beside OpenSMTPD. exim4-daemon-* and
# opensmtpd conflict as packages, so exim is never installed: its .debs are
# unpacked under /opt/exim4 and only its runtime libraries are installed.
# Also the Debian-exim user exim is compiled to run as.
set -eu
root=${1:?usage: root-exim.sh ROOT}
chroot "$root" sh -eu -c '
cd /tmp
apt-get download -q exim4-base exim4-config exim4-daemon-heavy >/dev/null
libs=$(apt-cache depends --no-recommends --no-suggests exim4-daemon-heavy \
    | sed -n "s/^ *|\{0,1\}Depends: \([a-z0-9][^ <>]*\)\$/\1/p" | grep -v "^exim4\|^debconf" | sort -u)
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $libs >/dev/null
mkdir -p /opt/exim4
for deb in exim4-*.deb; do dpkg-deb -x "$deb" /opt/exim4; done
rm -f exim4-*.deb
getent group Debian-exim >/dev/null || groupadd --system Debian-exim
getent passwd Debian-exim >/dev/null || useradd --system -g Debian-exim -d /var/spool/exim4 -s /usr/sbin/nologin Debian-exim
mkdir -p /var/spool/exim4 /var/log/exim4
chown Debian-exim:Debian-exim /var/spool/exim4 /var/log/exim4
if ldd /opt/exim4/usr/sbin/exim4 | grep "not found"; then exit 1; fi
/opt/exim4/usr/sbin/exim4 --version | head -n 1
'
