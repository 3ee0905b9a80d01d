#!/bin/sh
# Runs inside a system root's private mount and network namespaces (see
# test_content.py): rspamd with the generated local.d files, smtpd with the
# generated smtpd.conf and the real filter-rspamd, then one message through
# each listener. Prints "PORT CODE" per message. Nothing outlives the namespace.
set -eu
work=$1 rcpt=$2
shift 2  # then PORT:KIND for each listener (KIND smtps for implicit TLS)
ip link set lo up
for dir in spool run rspamd-db rspamd-run log; do mkdir -p "$work/$dir"; done
chmod 711 "$work/spool"
mount --bind "$work/spool" /var/spool/smtpd
mount --bind "$work/run" /run
mount --bind "$work/local.d" /etc/rspamd/local.d
mount --bind "$work/rspamd-db" /var/lib/rspamd
mkdir -p /run/rspamd
chown _rspamd:_rspamd /var/lib/rspamd /run/rspamd "$work/log"
rspamd_pid= smtpd_pid=
trap 'kill $smtpd_pid $rspamd_pid 2>/dev/null || true; wait 2>/dev/null || true' EXIT  # nothing outlives a failure either
rspamd -u _rspamd -g _rspamd -c /etc/rspamd/rspamd.conf --no-fork >"$work/log/rspamd.out" 2>&1 &
rspamd_pid=$!
i=0
until python3 -c "import socket; socket.create_connection(('127.0.0.1', 11333), 1)" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 150 ] || { echo "rspamd did not start"; tail -20 "$work/log/rspamd.out"; exit 1; }
    sleep 0.2
done
smtpd -d -f "$work/smtpd.conf" -P mta -P mda >"$work/log/smtpd.out" 2>&1 &
smtpd_pid=$!
for listener in "$@"; do
    port=${listener%%:*}
    i=0
    until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { echo "smtpd did not listen on $port"; tail -20 "$work/log/smtpd.out"; exit 1; }
        sleep 0.1
    done
done
ip addr add 198.18.0.77/32 dev lo  # a client from outside every list, added after smtpd started
for listener in "$@"; do
    python3 "$work/send.py" "${listener%%:*}" "${listener#*:}" "$rcpt"
done
