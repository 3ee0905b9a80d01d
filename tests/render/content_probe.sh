#!/bin/sh
# Runs inside a system root's private mount and network namespaces (see
# rspamd_run.py): rspamd with the generated local.d files, smtpd with the
# generated smtpd.conf and the real filter-rspamd, then "$work/send.py" with
# this script's remaining arguments. Nothing outlives the namespace.
#
#   CLIENTS    client addresses to add to lo, after smtpd started (so that
#              smtpd does not count them as its own, i.e. local)
#   PAUSE      smtpd -P flags (default: no delivery at all)
#   AUTH_USER, AUTH_HASH  a user smtpd can authenticate, added to this
#              namespace's copies of /etc/passwd and /etc/shadow only
set -eu
work=$1
shift
ip link set lo up
for dir in spool run rspamd-db rspamd-run log; do mkdir -p "$work/$dir"; done
chmod 711 "$work/spool"
mount --bind "$work/spool" /var/spool/smtpd
mount --bind "$work/run" /run
mount --bind "$work/local.d" /etc/rspamd/local.d
mount --bind "$work/rspamd-db" /var/lib/rspamd
mkdir -p /run/rspamd
chown _rspamd:_rspamd /var/lib/rspamd /run/rspamd "$work/log"
if [ -n "${AUTH_USER:-}" ]; then
    { cat /etc/passwd; echo "$AUTH_USER:x:64999:64999::/nonexistent:/usr/sbin/nologin"; } > "$work/passwd"
    { cat /etc/shadow; echo "$AUTH_USER:$AUTH_HASH:19000:0:99999:7:::"; } > "$work/shadow"
    chmod 644 "$work/passwd"; chmod 640 "$work/shadow"
    mount --bind "$work/passwd" /etc/passwd
    mount --bind "$work/shadow" /etc/shadow
fi
rspamd_pid= smtpd_pid=
trap 'kill $smtpd_pid $rspamd_pid 2>/dev/null || true; wait 2>/dev/null || true' EXIT  # nothing outlives a failure either
rspamd -u _rspamd -g _rspamd -c /etc/rspamd/rspamd.conf --no-fork >"$work/log/rspamd.out" 2>&1 &
rspamd_pid=$!
i=0
until /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', 11333), 1)" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 150 ] || { echo "rspamd did not start"; tail -20 "$work/log/rspamd.out"; exit 1; }
    sleep 0.2
done
# shellcheck disable=SC2086
smtpd -d -f "$work/smtpd.conf" ${PAUSE--P mta -P mda} >"$work/log/smtpd.out" 2>&1 &
smtpd_pid=$!
for port in $(sed -n 's/^listen on lo port \([0-9a-z]*\).*/\1/p' "$work/smtpd.conf" | sed 's/submission/587/'); do
    i=0
    until /usr/bin/python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "smtpd did not listen on $port"; tail -20 "$work/log/smtpd.out"; exit 1; }
        sleep 0.1
    done
done
for client in ${CLIENTS:-198.18.0.77}; do
    ip addr add "$client/32" dev lo
done
/usr/bin/python3 "$work/send.py" "$@"
