#!/usr/bin/env bash
# A miss's time to first byte, phase by phase, from packet times (`tcpdump -i lo`, which costs
# repox nothing): sequential 100 KB Maven misses against an nginx origin on 127.0.0.1 (no `.sha1`
# published, keep-alive to the origin), by hand, never by the tests. Four packets per miss: the
# client's request reaching repox (req), repox's GET leaving for the origin (up), the origin's
# first answer bytes (resp), repox's first answer bytes to the client (first). Prints the medians
# of req -> up, up -> resp (the origin), resp -> first and req -> first, in ms. With
# BEFORE=path/to/other/repox, a second repox (own cache) is measured too, the two alternating
# miss by miss behind the same origin.
#
#   REPOX=new/repox BEFORE=old/repox SAMPLES=40 benches/phases.sh     # needs root for tcpdump
#
# Needs nginx, curl, tcpdump and python3.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SAMPLES=${SAMPLES:-40}

source benches/common.sh
need_tools nginx curl tcpdump python3
repox_binary

bench_work_dir phases

G="org/bench/phases/1.0"
WWW="$WORK/www"
mkdir -p "$WWW/$G"
for i in $(seq 0 "$SAMPLES"); do head -c 100K /dev/urandom >"$WWW/$G/phases-1.0-s$i.jar"; done
cat "$WWW/$G"/*.jar >/dev/null

start_origin "$WWW" auto
NAMES=(after)
start_repox "$REPOX" after
PORT_after=${PROXY##*:}
if [ -n "${BEFORE:-}" ]; then
    NAMES=(before after)
    start_repox "$BEFORE" before
    PORT_before=${PROXY##*:}
fi
port() { local v="PORT_$1"; echo "${!v}"; }

# One miss each first: the upstream connection is open and pooled, the code paths are warm.
for n in "${NAMES[@]}"; do
    curl -sf -o /dev/null "http://127.0.0.1:$(port "$n")/maven/$G/phases-1.0-s0.jar"
done

ORIGIN_PORT=${ORIGIN##*:}
FILTER="tcp port $ORIGIN_PORT"
for n in "${NAMES[@]}"; do FILTER="$FILTER or tcp port $(port "$n")"; done
# Only these ports, only the headers: other loopback traffic must not make the kernel drop ours.
tcpdump -i lo --immediate-mode -s 96 -nn -w "$WORK/lo.pcap" "$FILTER" 2>"$WORK/tcpdump.log" &
TCPDUMP=$!
PIDS+=("$TCPDUMP")
sleep 1
: >"$WORK/order"
for i in $(seq "$SAMPLES"); do
    for k in $(seq 0 $((${#NAMES[@]} - 1))); do
        n=${NAMES[$(((i + k) % ${#NAMES[@]}))]}
        curl -sf -o /dev/null "http://127.0.0.1:$(port "$n")/maven/$G/phases-1.0-s$i.jar"
        echo "$n $(port "$n")" >>"$WORK/order"
        sleep 0.05
    done
done
sleep 2
kill -INT "$TCPDUMP"
wait "$TCPDUMP" 2>/dev/null || true

if grep -q '[1-9][0-9]* packets dropped by kernel' "$WORK/tcpdump.log"; then
    echo "warning: $(grep dropped "$WORK/tcpdump.log")" >&2
fi
tcpdump -r "$WORK/lo.pcap" -nn -tt 'tcp' 2>/dev/null >"$WORK/lo.txt"
python3 - "$WORK/lo.txt" "$WORK/order" "$ORIGIN_PORT" <<'PY'
import re, statistics, sys
lines, order, origin = sys.argv[1], sys.argv[2], sys.argv[3]
pkt = re.compile(r'^(\d+\.\d+) IP [\d.]+\.(\d+) > [\d.]+\.(\d+): .* length (\d+)')
packets = []
for line in open(lines):
    m = pkt.match(line)
    if m and int(m.group(4)) > 0:
        packets.append((float(m.group(1)), m.group(2), m.group(3)))
misses = [line.split() for line in open(order)]
phases = {}
at = 0
for name, port in misses:
    def first(pred, start):
        for j in range(start, len(packets)):
            if pred(packets[j]):
                return j
        raise SystemExit(f"error: a packet of a {name} miss is missing from the capture")
    req = first(lambda p: p[2] == port, at)
    up = first(lambda p: p[2] == origin, req)
    resp = first(lambda p: p[1] == origin, up)
    out = first(lambda p: p[1] == port, req)
    t = [packets[j][0] for j in (req, up, resp, out)]
    phases.setdefault(name, []).append((t[1] - t[0], t[2] - t[1], t[3] - t[2], t[3] - t[0]))
    # The next miss starts after this one's last packet to the client.
    at = out + 1
print(f"{'':8} {'req->up':>9} {'up->resp':>9} {'resp->first':>12} {'req->first':>11}  (medians, ms)")
for name, rows in phases.items():
    med = [statistics.median(r[k] for r in rows) * 1000 for k in range(4)]
    print(f"{name:8} {med[0]:9.3f} {med[1]:9.3f} {med[2]:12.3f} {med[3]:11.3f}  ({len(rows)} misses)")
PY
