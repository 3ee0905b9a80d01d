#!/bin/sh
# Install what the tests need on the host, on a fresh Debian machine, as root:
# only tools. exim (4.100), OpenSMTPD, rspamd, redis and the filters live in
# the system roots (tools/build-roots.sh); exim runs there through
# tools/exim-in-root.sh.
set -eu

if [ "$(id -u)" != 0 ]; then
    echo "install-test-deps: must run as root (apt-get, mmdebstrap, namespaces)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive
updated=
need_apt() { [ -n "$updated" ] || { apt-get update -qq && updated=1; }; }

# The host's mail packages must come out of this exactly as they went in: an
# admin may run `make test` on the exim server being migrated. OpenSMTPD,
# rspamd, redis and the filters live only in the system roots
# (tools/build-roots.sh), exim included; here only tools are installed.
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

# chromium (a browser, no mail package) renders the HTML report headless in
# tests/report/test_html.py; DejaVu gives it a font to draw the text with.
if ! command -v chromium >/dev/null || [ ! -d /usr/share/fonts/truetype/dejavu ]; then
    need_apt
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi

after=$(mail_packages)
if [ "$before" != "$after" ]; then
    echo "install-test-deps: the host's mail packages changed, which must never happen:" >&2
    printf '%s\n' "$before" > /tmp/exim2smtpd-before.$$
    printf '%s\n' "$after" | diff /tmp/exim2smtpd-before.$$ - >&2 || true
    rm -f /tmp/exim2smtpd-before.$$
    exit 1
fi
