#!/bin/sh
# Build the Debian 13 (trixie) root the runbook test switches from exim to
# OpenSMTPD for real (tests/render/test_runbook.py): a server with exim4
# installed, on which MIGRATION.md's commands run as an admin would run them,
# with no network.
#
#   installed   exim4-daemon-light (exim4-base, exim4-config), sysvinit-utils
#               for the init scripts' /lib/lsb/init-functions
#   downloaded  opensmtpd, opensmtpd-filter-rspamd, rspamd, redis-server, their
#               dependencies and the Recommends apt installs by default, into the
#               root's apt archive cache (apt-get install --download-only), beside
#               exim's own .debs: the runbook installs from there, and its
#               rollback reinstalls exim from there
#   kept        the package lists and the archive cache (mmdebstrap removes
#               both by default), so apt-get works offline in the root
#
# No daemon runs here: a policy-rc.d that exits 101 keeps package scripts from
# starting any while the root is built, and is removed at the end (the test
# starts exim itself, in private namespaces, and the runbook brings its own).
# The root is built once into DIR/runbook-trixie and again when its recipe
# (this file) changes. Any failure prints one line naming the step and exits
# non-zero. tools/build-roots.sh builds the other roots; this one is apart so
# that changing it rebuilds only this one.
set -eu
dest=${1:?usage: build-runbook-root.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
recipe=$(cat "$0" "$here/roots-common.sh" | sha256sum | cut -c1-16)
name=runbook-trixie
root="$dest/$name"
installed=exim4-daemon-light,sysvinit-utils
downloaded="opensmtpd opensmtpd-filter-rspamd rspamd redis-server"

fail() { echo "build-runbook-root: $*" >&2; exit 1; }
. "$here/roots-common.sh"

[ "$(id -u)" = 0 ] || fail "must run as root (mmdebstrap --mode=root)"
if [ -f "$root/.exim2smtpd-recipe" ] && [ "$(cat "$root/.exim2smtpd-recipe")" = "$recipe" ]; then
    exit 0
fi
prepare_host
find_mirror

remove_root "$root" "$root.new"
mkdir -p "$dest"
echo "build-runbook-root: building $name (trixie) from $mirror" >&2
if ! mmdebstrap --quiet --variant=apt --mode=root --skip=cleanup/apt \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    --setup-hook='mkdir -p "$1/usr/sbin" && printf "#!/bin/sh\nexit 101\n" > "$1/usr/sbin/policy-rc.d" && chmod 755 "$1/usr/sbin/policy-rc.d"' \
    --customize-hook="chroot \"\$1\" apt-get install -y -q --download-only -o APT::Install-Recommends=true $downloaded" \
    --customize-hook='rm -f "$1/usr/sbin/policy-rc.d"' \
    --include="$installed" trixie "$root.new" "$mirror" >"$dest/$name.log" 2>&1; then
    fail "mmdebstrap of $name (trixie) failed; see $dest/$name.log"
fi
for package in exim4-daemon-light $downloaded; do
    ls "$root.new/var/cache/apt/archives/${package}_"*.deb >/dev/null 2>&1 \
        || fail "$name has no $package .deb in its apt archive cache; see $dest/$name.log"
done
[ -x "$root.new/usr/sbin/exim4" ] || fail "$name has no exim4"
[ ! -e "$root.new/usr/sbin/policy-rc.d" ] || fail "$name kept its policy-rc.d"
echo "$recipe" > "$root.new/.exim2smtpd-recipe"
mv "$root.new" "$root"
chroot "$root" exim4 --version | sed -n "1s/^/$name: /p"
