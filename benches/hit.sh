#!/usr/bin/env bash
# The hit path: cached files served by repox and by nginx, measured in the same run, by hand
# (never by the tests), loopback only.
#
# An nginx "origin" serves generated files of 100 KB, 1 MB, 10 MB, 100 MB and 1 GB. Two caching
# proxies sit in front of it: nginx (`proxy_cache`, `sendfile on`, as in issue 16) and repox.
# Both caches are warmed with one GET of each file, then wrk loads each file at 1, 32 and 256
# connections, nginx and repox alternating (the order flips every round, so a burst of other
# work on the machine hits both alike). Each cell is the median MB/s over $ROUNDS rounds (bytes
# wrk received, including bodies still in flight when a run ends, over the run's duration).
# While the load runs, the RSS of both servers is sampled every 50 ms (nginx: master and workers
# added up); idle RSS is taken after warming, before any load.
#
#   benches/hit.sh              # builds with `cargo build --release`, then measures (~9 min)
#   ROUNDS=1 SECONDS_PER_RUN=3 SIZES="1M 100M" CONNS="32" benches/hit.sh   # a quick look
#   PERF=/tmp/hit SIZES=1M CONNS=32 ROUNDS=1 benches/hit.sh   # also `perf record -g` repox
#       during each of its runs, into /tmp/hit-1M-32.data (`perf report -i ... --no-children`)
#
# Needs nginx, wrk, curl and python3 (`apt-get install -y nginx wrk curl python3`). Set
# CARGO_TARGET_DIR to reuse a target directory; BENCH_DIR to keep the files somewhere other than a
# fresh temp dir (it needs about 3.5 GB free: the files, nginx's cache and repox's cache).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SIZES=(${SIZES:-100K 1M 10M 100M 1G}) # `head -c` sizes
CONNS=(${CONNS:-1 32 256})
ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
THREADS=${THREADS:-2} # wrk threads

source benches/common.sh
need_tools nginx wrk curl python3

repox_binary

bench_work_dir hit

# ---- files -------------------------------------------------------------------------------
G="org/bench/hit/1.0"
WWW="$WORK/www"
mkdir -p "$WWW/$G"
for size in "${SIZES[@]}"; do
    f="$WWW/$G/hit-1.0-$size.jar"
    [ -s "$f" ] || {
        echo "generating a $size file..." >&2
        head -c "$size" /dev/urandom >"$f"
    }
done

mapfile -t PORTS < <(free_ports 3)
ORIGIN="http://127.0.0.1:${PORTS[0]}"
NGINX="http://127.0.0.1:${PORTS[1]}"
PROXY="http://127.0.0.1:${PORTS[2]}"

# ---- nginx: the origin, and the cache in front of it (two instances, so the cache's RSS is its own).
nginx_conf origin "server { listen 127.0.0.1:${PORTS[0]}; root $WWW; }"
nginx_cache nginx "${PORTS[1]}" "$ORIGIN"

maven_toml "$WORK/repox.toml" "$ORIGIN"
"$REPOX" --config "$WORK/repox.toml" serve --listen "127.0.0.1:${PORTS[2]}" \
    --cache-dir "$WORK/cache" 2>"$WORK/repox.log" &
REPOX_PID=$!
PIDS+=("$REPOX_PID")

wait_http "$ORIGIN/"
wait_http "$NGINX/"
wait_http "$PROXY/-/health"

# ---- warm both caches, check the bytes -----------------------------------------------------
echo "warming both caches..." >&2
for size in "${SIZES[@]}"; do
    p="$G/hit-1.0-$size.jar"
    want=$(sha256sum <"$WWW/$p")
    curl -sf -o /dev/null "$NGINX/$p"
    curl -sf -o /dev/null "$PROXY/maven/$p"
    [ "$(curl -sf "$NGINX/$p" | sha256sum)" = "$want" ] || { echo "error: nginx served other bytes for $p" >&2; exit 1; }
    [ "$(curl -sf "$PROXY/maven/$p" | sha256sum)" = "$want" ] || { echo "error: repox served other bytes for $p" >&2; exit 1; }
    curl -sfI "$NGINX/$p" | grep -qi '^x-cache: HIT' || { echo "error: nginx does not cache $p" >&2; exit 1; }
    curl -sfI "$PROXY/maven/$p" | grep -qi '^x-repox-cache: hit' || { echo "error: repox does not cache $p" >&2; exit 1; }
done

# RSS in KiB of a process and its children.
rss_tree() {
    local total=0 pid kb
    for pid in "$1" $(pgrep -P "$1" || true); do
        kb=$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
        total=$((total + ${kb:-0}))
    done
    echo "$total"
}
sleep 2
IDLE_NGINX=$(rss_tree "$NGINX_PID")
IDLE_REPOX=$(rss_tree "$REPOX_PID")

# Samples the RSS of process tree $1 every 50 ms into file $2 (its peak, KiB) until killed.
sample_rss() {
    local max=0 kb
    while :; do
        kb=$(rss_tree "$1")
        if ((kb > max)); then max=$kb && echo "$max" >"$2"; fi
        sleep 0.05
    done
}
echo 0 >"$WORK/peak-nginx"
echo 0 >"$WORK/peak-repox"
sample_rss "$NGINX_PID" "$WORK/peak-nginx" &
PIDS+=($!)
sample_rss "$REPOX_PID" "$WORK/peak-repox" &
PIDS+=($!)


LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
rm -f "$WORK"/mbs-* # samples of an earlier run in the same BENCH_DIR
for round in $(seq "$ROUNDS"); do
    for size in "${SIZES[@]}"; do
        for c in "${CONNS[@]}"; do
            p="$G/hit-1.0-$size.jar"
            echo "round $round/$ROUNDS: $size at $c connections..." >&2
            if ((round % 2)); then order="nginx repox"; else order="repox nginx"; fi
            for who in $order; do
                if [ "$who" = nginx ]; then url="$NGINX/$p"; else url="$PROXY/maven/$p"; fi
                perf_pid=
                if [ "$who" = repox ] && [ -n "${PERF:-}" ]; then
                    perf record -q -g -o "$PERF-$size-$c.data" -p "$REPOX_PID" \
                        -- sleep "$SECONDS_PER_RUN" 2>/dev/null &
                    perf_pid=$!
                fi
                wrk_mbs "$url" "$c" >>"$WORK/mbs-$who-$size-$c"
                if [ -n "$perf_pid" ]; then wait "$perf_pid" || true; fi
            done
        done
    done
done
kill "${PIDS[-1]}" "${PIDS[-2]}" 2>/dev/null || true
sleep 2
AFTER_NGINX=$(rss_tree "$NGINX_PID")
AFTER_REPOX=$(rss_tree "$REPOX_PID")

# ---- report ------------------------------------------------------------------------------
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
echo
echo "repox hit benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(nginx -v 2>&1 | sed 's/.*: //'), $("$REPOX" --version)"
echo "load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every figure)"
echo "wrk ${SECONDS_PER_RUN}s per run, median of $ROUNDS alternating rounds; MB/s = 10^6 bytes/s"
echo
printf '%-8s %6s %12s %12s %8s\n' size conns "nginx MB/s" "repox MB/s" ratio
for size in "${SIZES[@]}"; do
    for c in "${CONNS[@]}"; do
        n=$(median <"$WORK/mbs-nginx-$size-$c")
        r=$(median <"$WORK/mbs-repox-$size-$c")
        printf '%-8s %6s %12s %12s %7.2fx\n' "$size" "$c" "$n" "$r" "$(awk -v a="$r" -v b="$n" 'BEGIN { print a / b }')"
    done
done
echo
printf '%-30s %12s %12s\n' "RSS, MiB" nginx repox
printf '%-30s %12s %12s\n' "idle (warm, before load)" "$(mib "$IDLE_NGINX")" "$(mib "$IDLE_REPOX")"
printf '%-30s %12s %12s\n' "peak under load" "$(mib "$(cat "$WORK/peak-nginx")")" "$(mib "$(cat "$WORK/peak-repox")")"
printf '%-30s %12s %12s\n' "idle (after load)" "$(mib "$AFTER_NGINX")" "$(mib "$AFTER_REPOX")"
