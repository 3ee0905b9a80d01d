# Shared by build-roots.sh and build-runbook-root.sh (sourced, after each has
# defined fail()): the checks before any root is built, and the mirror it is
# built from. A change here rebuilds every root, as it should: both recipes
# hash this file too.

# mmdebstrap --mode=root, installed on the host if missing (it is no mail package).
prepare_host() {
    [ "$(id -u)" = 0 ] || fail "must run as root (mmdebstrap --mode=root)"
    if ! command -v mmdebstrap >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null; } \
            || fail "installing mmdebstrap with apt-get failed"
    fi
}

# The mirror the machine's apt already uses (deb822 or one-line sources);
# EXIM2SMTPD_MIRROR overrides it. Sets $mirror.
find_mirror() {
    mirror=${EXIM2SMTPD_MIRROR:-}
    [ -n "$mirror" ] || mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n 1)
    [ -n "$mirror" ] || mirror=$(sed -n 's/^deb \(\[[^]]*\] \)\{0,1\}\([^ ]*\) .*/\2/p' /etc/apt/sources.list 2>/dev/null | grep -v security | head -n 1)
    [ -n "$mirror" ] || fail "no Debian mirror found in /etc/apt/sources.list(.d)"
}

# Removes a root, or a half-built one. A build that was killed (Ctrl-C, CI
# timeout) can leave mmdebstrap's proc, sys and dev mounts inside it, and a
# plain rm -rf would walk into them, so they are unmounted first, deepest
# first, and rm never crosses into another filesystem.
remove_root() {
    for path in "$@"; do
        [ -e "$path" ] || continue
        awk -v top="$(cd "$path" && pwd -P)" '$2 == top || index($2, top "/") == 1 { print $2 }' /proc/mounts \
            | sort -r | while read -r mount; do
                umount -l "$mount" || fail "cannot unmount $mount, left inside $path; unmount it, then rerun"
            done
        rm -rf --one-file-system "$path" || fail "cannot remove $path"
    done
}
