#!/usr/bin/env bash
# CPU time per cached hit: what each server spends of the machine per request, for nginx
# (`proxy_cache`, `sendfile on`) and one or two repox binaries (before/after a change), by hand,
# loopback only. Throughput on a machine other work shares swings with that work; the CPU a
# server burns per request moves much less, so this compares hit-path costs where `hit.sh` and
# `request.sh` are too noisy.
#
# An nginx origin serves one generated file of each SIZE (`head -c` sizes); each server caches
# them with one GET. Then wrk loads each file at each of CONNS for SECONDS_PER_RUN, the servers
# in an order that rotates every round, and the server's CPU time (user + system of its
# processes, from /proc, nginx's master and workers added up) over the run is divided by the
# requests wrk completed. Each cell is the median over ROUNDS rounds. Kernel work done for the
# server's socket in softirq context on another task is not counted, alike for all servers.
#
# The user and system parts are given apart: a server's own code is its user time, the kernel's
# socket and file work its system time. SYSCALLS="sendfile64 sendmsg writev recvfrom epoll_wait
# futex" also counts those system calls per request (`perf stat -e syscalls:sys_enter_NAME` on
# the server's processes during each run; the tracepoints add a little to the CPU measured).
#
# ALLOCS=1 then counts each repox binary's allocator calls per request (`malloc`, `mallocx`,
# `calloc`, `realloc`, `rallocx` of its jemalloc, as uprobes: `perf probe -x`) in a pass of its
# own after the CPU rounds, one wrk run of ALLOC_SECONDS (default 3) per size and connection
# count: a uprobe costs a few microseconds, so the CPU rounds run without them. The count is
# exact, not sampled, and does not depend on the machine's load.
#
#   REPOX_BEFORE=/path/to/repox-main REPOX=target/release/repox benches/cpu.sh
#   ALLOCS=1 REPOX_BEFORE=/path/to/repox-main REPOX=target/release/repox benches/cpu.sh
#   REPOX_BEFORE=main REPOX_ALSO=variant-a REPOX=variant-b benches/cpu.sh  # three binaries
#   SIZES="100K" CONNS="32" ROUNDS=5 REPOX=target/release/repox benches/cpu.sh
#   SYSCALLS="sendfile64 sendmsg writev recvfrom epoll_wait futex" SIZES=100K CONNS="32 256" \
#       REPOX=target/release/repox benches/cpu.sh
#
# Needs nginx, wrk, curl and python3 (and perf for SYSCALLS and ALLOCS).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SIZES=(${SIZES:-100K 8K})
CONNS=(${CONNS:-1 32 256})
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-4}

source benches/common.sh
need_tools nginx wrk curl python3
repox_binary
bench_work_dir cpu

G="org/bench/cpu/1.0"
mkdir -p "$WORK/www/$G"
for size in "${SIZES[@]}"; do head -c "$size" /dev/urandom >"$WORK/www/$G/cpu-1.0-$size.jar"; done
start_origin "$WORK/www" 1

declare -A URL PID_OF
port=$(free_ports 1)
nginx_cache nginx "$port" "$ORIGIN"
URL[nginx]="http://127.0.0.1:$port"
PID_OF[nginx]=$NGINX_PID
wait_http "${URL[nginx]}/"
SERVERS=(nginx)
if [ -n "${REPOX_BEFORE:-}" ]; then
    start_repox "$REPOX_BEFORE" before
    URL[before]="$PROXY/maven"
    PID_OF[before]=$REPOX_PID
    SERVERS+=(before)
fi
if [ -n "${REPOX_ALSO:-}" ]; then # a third binary, between before and repox in the rotation
    start_repox "$REPOX_ALSO" also
    URL[also]="$PROXY/maven"
    PID_OF[also]=$REPOX_PID
    SERVERS+=(also)
fi
start_repox "$REPOX" repox
URL[repox]="$PROXY/maven"
PID_OF[repox]=$REPOX_PID
SERVERS+=(repox)

for s in "${SERVERS[@]}"; do
    for size in "${SIZES[@]}"; do
        u="${URL[$s]}/$G/cpu-1.0-$size.jar"
        curl -sf -o /dev/null "$u"
        [ "$(curl -sf "$u" | sha256sum)" = "$(sha256sum <"$WORK/www/$G/cpu-1.0-$size.jar")" ] ||
            { echo "error: $s served other bytes for $size" >&2; exit 1; }
    done
done

cpu_ticks() { # cpu_ticks PID: user and system clock ticks of PID and its children's threads
    local user=0 sys=0 p u s
    for p in "$1" $(pgrep -P "$1" || true); do
        read -r u s < <(awk '{ print $14, $15 }' "/proc/$p/stat")
        user=$((user + u))
        sys=$((sys + s))
    done
    echo "$user $sys"
}
HZ=$(getconf CLK_TCK)
SYSCALLS=(${SYSCALLS:-})
if ((${#SYSCALLS[@]})); then
    need_tools perf
    EVENTS=$(printf 'syscalls:sys_enter_%s,' "${SYSCALLS[@]}")
fi

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A CELLS USER RPS CALLS
for round in $(seq 1 "$ROUNDS"); do
    for size in "${SIZES[@]}"; do
        for c in "${CONNS[@]}"; do
            echo "round $round/$ROUNDS: $size at $c connections..." >&2
            order=("${SERVERS[@]:round % ${#SERVERS[@]}}" "${SERVERS[@]:0:round % ${#SERVERS[@]}}")
            for s in "${order[@]}"; do
                if ((${#SYSCALLS[@]})); then
                    pids=$(echo "${PID_OF[$s]}" $(pgrep -P "${PID_OF[$s]}" || true) | tr ' ' ,)
                    perf stat -x, -e "${EVENTS%,}" -p "$pids" -o "$WORK/perf.txt" &
                    PERF_PID=$!
                    sleep 0.3
                fi
                read -r u0 s0 < <(cpu_ticks "${PID_OF[$s]}")
                out=$(wrk -t"$((c < 2 ? 1 : 2))" -c"$c" -d"${SECONDS_PER_RUN}s" --timeout 10s "${URL[$s]}/$G/cpu-1.0-$size.jar")
                read -r u1 s1 < <(cpu_ticks "${PID_OF[$s]}")
                if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
                    echo "error: wrk saw failures against $s:" >&2
                    echo "$out" >&2
                    exit 1
                fi
                requests=$(awk '/requests in/ { print $1 }' <<<"$out")
                CELLS[$size,$c,$s]+="$(python3 -c "print(($u1 + $s1 - $u0 - $s0) / $HZ * 1e6 / $requests)") "
                USER[$size,$c,$s]+="$(python3 -c "print(($u1 - $u0) / $HZ * 1e6 / $requests)") "
                if ((${#SYSCALLS[@]})); then
                    kill -INT "$PERF_PID"
                    wait "$PERF_PID" || true
                    for call in "${SYSCALLS[@]}"; do
                        CALLS[$size,$c,$s,$call]+="$(awk -F, -v e="syscalls:sys_enter_$call" -v n="$requests" \
                            '$3 == e { printf "%.3f", $1 / n }' "$WORK/perf.txt") "
                    done
                fi
                RPS[$size,$c,$s]+="$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out") "
            done
        done
    done
done

echo
echo "repox CPU per hit: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, nginx $(nginx -v 2>&1 | sed 's/.*\///')"
echo "load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "wrk ${SECONDS_PER_RUN}s per run, median of $ROUNDS rotating rounds; CPU = user + system of the server"
echo
printf '%-6s %5s %-8s %10s %7s %9s %9s' size conns server "µs CPU/req" "user" req/s "/nginx"
if ((${#SYSCALLS[@]})); then printf ' %11s' "${SYSCALLS[@]}"; fi
echo
cell() { tr ' ' '\n' <<<"$1" | grep . | median; }
for size in "${SIZES[@]}"; do
    for c in "${CONNS[@]}"; do
        base=$(cell "${CELLS[$size,$c,nginx]}")
        for s in "${SERVERS[@]}"; do
            us=$(cell "${CELLS[$size,$c,$s]}")
            printf '%-6s %5s %-8s %10.1f %7.1f %9.0f %8.2fx' "$size" "$c" "$s" "$us" \
                "$(cell "${USER[$size,$c,$s]}")" "$(cell "${RPS[$size,$c,$s]}")" \
                "$(python3 -c "print($us / $base)")"
            for call in "${SYSCALLS[@]}"; do printf ' %11.3f' "$(cell "${CALLS[$size,$c,$s,$call]}")"; done
            echo
        done
    done
done
echo "user: the user-space part of the µs CPU/req${SYSCALLS[*]:+; then system calls per request}"

if [ -n "${ALLOCS:-}" ]; then
    need_tools perf
    declare -A ALLOC
    echo
    echo "allocator calls per request (uprobes on jemalloc, one ${ALLOC_SECONDS:-3}s wrk run each):"
    printf '%-6s %5s %-8s %10s\n' size conns server "allocs/req"
    for s in "${SERVERS[@]}"; do
        [ "$s" = nginx ] && continue
        bin=$(readlink -f "/proc/${PID_OF[$s]}/exe")
        group="repoxalloc$s"
        perf probe -q -d "$group:*" 2>/dev/null || true
        for f in malloc mallocx calloc realloc rallocx; do
            perf probe -q -x "$bin" -a "$group:$f=_rjem_$f"
        done
        for size in "${SIZES[@]}"; do
            for c in "${CONNS[@]}"; do
                pids=$(echo "${PID_OF[$s]}" $(pgrep -P "${PID_OF[$s]}" || true) | tr ' ' ,)
                perf stat -x, -e "$group:*" -p "$pids" -o "$WORK/allocs.txt" &
                PERF_PID=$!
                sleep 0.3
                out=$(wrk -t"$((c < 2 ? 1 : 2))" -c"$c" -d"${ALLOC_SECONDS:-3}s" --timeout 10s "${URL[$s]}/$G/cpu-1.0-$size.jar")
                kill -INT "$PERF_PID"
                wait "$PERF_PID" || true
                requests=$(awk '/requests in/ { print $1 }' <<<"$out")
                printf '%-6s %5s %-8s %10.2f\n' "$size" "$c" "$s" "$(awk -F, -v n="$requests" \
                    '$1 ~ /^[0-9]+$/ { t += $1 } END { print t / n }' "$WORK/allocs.txt")"
            done
        done
        perf probe -q -d "$group:*" || true
    done
fi
