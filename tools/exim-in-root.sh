#!/bin/sh
# exim 4.100, the oracle, from the unstable system root (tools/root-exim.sh
# unpacked it under /opt/exim4): run as if it were installed, with the root's
# /etc, /usr and /var mounted over the host's for this process only (a private
# mount namespace). Nothing of the host's mail system is used or touched.
# Takes exim's own arguments. EXIM2SMTPD_ROOTS: where the roots are.
here=$(cd "$(dirname "$0")" && pwd)
root=${EXIM2SMTPD_ROOTS:-$here/../.cache/roots}/unstable
[ -x "$root/opt/exim4/usr/sbin/exim4" ] || { echo "exim-in-root: no exim under $root/opt/exim4 (run make test-deps)" >&2; exit 127; }
exec unshare --mount --propagation private -- sh -c '
root=$1; shift
for dir in etc usr var; do mount --bind "$root/$dir" "/$dir" || exit 126; done
exec "$root/opt/exim4/usr/sbin/exim4" "$@"' sh "$root" "$@"
