#!/bin/sh
# Build the private system roots the tests run real daemons from, so that
# nothing of the host's mail system is installed, removed or started: an admin
# may run `make test` on the very exim server being migrated, and opensmtpd
# conflicts with exim as a package.
#
#   unstable  OpenSMTPD 7.9 (the target: OpenBSD 7.9's), its filters and table
#             backends, rspamd 4, redis, swaks, python3 (and dkimpy) for the
#             probe harness, MariaDB and PostgreSQL servers (started only by
#             the tests, on sockets in their own temporary directories), and
#             exim 4.100 unpacked under /opt/exim4 (tools/root-exim.sh)
#   trixie    OpenSMTPD 7.6 (Debian 13), its table backends
#   bookworm  OpenSMTPD 6.8 (Debian 12), the table backends of opensmtpd-extras
#
# Each root is built once with mmdebstrap and kept under DIR/NAME; it is built
# again when its recipe (this file) changes. A policy-rc.d that exits 101 keeps
# package scripts from starting daemons. Any failure prints one line naming
# the step and exits non-zero: there is no fallback to the host's packages.
set -eu
dest=${1:?usage: build-roots.sh DIR}
here=$(cd "$(dirname "$0")" && pwd)
recipe=$(cat "$0" "$here/root-exim.sh" "$here/roots-common.sh" | sha256sum | cut -c1-16)

fail() { echo "build-roots: $*" >&2; exit 1; }
. "$here/roots-common.sh"
prepare_host
find_mirror

build() {
    name=$1 suite=$2 packages=$3 hook=${4:-true}
    root="$dest/$name"
    if [ -f "$root/.exim2smtpd-recipe" ] && [ "$(cat "$root/.exim2smtpd-recipe")" = "$recipe" ]; then
        return 0
    fi
    remove_root "$root" "$root.new"
    mkdir -p "$dest"
    echo "build-roots: building $name ($suite) from $mirror" >&2
    if ! mmdebstrap --quiet --variant=apt --mode=root \
        --aptopt='Acquire::Check-Valid-Until "false"' \
        --setup-hook='mkdir -p "$1/usr/sbin" && printf "#!/bin/sh\nexit 101\n" > "$1/usr/sbin/policy-rc.d" && chmod 755 "$1/usr/sbin/policy-rc.d"' \
        --customize-hook="$hook" \
        --include="$packages" "$suite" "$root.new" "$mirror" >"$dest/$name.log" 2>&1; then
        fail "mmdebstrap of $name ($suite) failed; see $dest/$name.log"
    fi
    echo "$recipe" > "$root.new/.exim2smtpd-recipe"
    mv "$root.new" "$root"
}

tables=opensmtpd-table-sqlite,opensmtpd-table-mysql,opensmtpd-table-postgres
build unstable unstable \
    opensmtpd,opensmtpd-filter-rspamd,opensmtpd-filter-dkimsign,$tables,rspamd,redis-server,openssl,swaks,iproute2,mount,netbase,python3,python3-dkim,mariadb-server,postgresql \
    "sh $here/root-exim.sh \"\$1\""
build trixie trixie opensmtpd,$tables,openssl,netbase
build bookworm bookworm opensmtpd,opensmtpd-extras,openssl,iproute2,mount,netbase,python3

for name in unstable trixie bookworm; do
    [ -x "$dest/$name/usr/sbin/smtpd" ] || fail "$name root has no smtpd"
    chroot "$dest/$name" smtpd -h 2>&1 | sed -n "s/^version: /$name: /p"
done
[ -x "$dest/unstable/opt/exim4/usr/sbin/exim4" ] || fail "unstable root has no exim under /opt/exim4"
