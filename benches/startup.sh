#!/usr/bin/env bash
# Start-up and hit latency over a large cache, run by hand (never by the tests), loopback only.
#
# Generates N cached entries with benches/gen-cache.py (no entry index, like a cache written
# before the index existed; 1,000,000 take about 20 s), then, $START_ROUNDS times (default 2;
# 0 skips it), starts `repox serve --offline` on it twice and measures each time the time from
# launch to the first served hit and to `repox_cache_size_bytes` equal to the bytes of the entry
# files (a poller in Python, every 2 ms until the first hit, then every 20 ms):
#   - without an index: the index is deleted first, so the size comes from the one-time
#     background walk; this is what every start cost before the index (the size came from a
#     walk);
#   - with the index the first start built: the size is read from it at once.
#
# Then the hit latency (wrk --latency for $P99_SECONDS, default 10, at $P99_CONNS connections,
# default 32), $P99_ROUNDS times (default 2), each on a fresh `repox serve --offline` with its
# index built:
#   - 1,000 entries (a separate cache, same generator), requests for random entries;
#   - N entries, requests for random entries over all N (lookups spread over the whole index
#     and directory tree; 200-byte entries, so also past the 2,048 hot files);
#   - N entries, requests for random entries among the first 1,000 only: the same working set
#     as the 1,000-entry cache, so what differs is only the size of the cache.
# A hit over all N whose file is not in the page cache reads the disk, whoever serves it, so
# these rows are measured in two page-cache states (STATES, default "cold warm"):
#   - cold: before each "over all" row the N entry files' pages are dropped from the page cache
#     (posix_fadvise DONTNEED on each file after a `sync -f`: only these files; their inodes
#     stay cached), so every binary starts from the same state and most hits read the disk;
#   - warm: every entry file is read once first (the time it took and the page cache it added
#     are printed), so the rows show what the cache's size costs repox (index, directory tree,
#     hot-set churn) without the disk.
# Before and after each "over all" row, the share of 2,000 random entry files whose pages are
# all cached is printed (fincore). The machine may drop its page cache on its own (a VM's idle
# reclaim): a warm row whose share fell is not a warm row.
# With REPOX_BEFORE=path/to/other/repox, every row is measured for both binaries, alternating
# (the order flips every round), with the ratios after/before. Only ratios within one run mean
# anything: the machine's load moves every figure.
# With nginx installed (NGINX=0 skips it), nginx serves the same entry files as static files
# (`root` on the data directory, `sendfile on`) at random over the first 1,000 and over all N,
# with `open_file_cache` off and on (2,048 files, like repox's hot files), in both states: what
# the kernel and a file per entry cost any server.
# Last, once per binary, N entries over all while the one-time walk of an unindexed cache runs
# (the index is deleted before the start): what the walk costs the hits.
# The issue's goal is the same p99 for N entries as for 1,000.
#
#   benches/startup.sh [N=1000000]     # builds with `cargo build --release`
#   REPOX=target/release/repox REPOX_BEFORE=/path/to/repox-main \
#       BENCH_DIR=/work/bench/million START_ROUNDS=0 benches/startup.sh
#
# Needs curl, wrk, python3 and fincore (util-linux); nginx for its rows. BENCH_DIR keeps the
# files somewhere other than a fresh temp dir (1M entries take about 4.5 GB of disk, mostly
# 4 KiB blocks of small files, and about 4 GB of page cache when warm).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=common.sh
source benches/common.sh
need_tools curl wrk python3 fincore

N="${1:-1000000}"
if [ -z "${REPOX:-}" ]; then
    echo "building repox (cargo build --release)..." >&2
    cargo build --release --quiet -p repox
    REPOX="${CARGO_TARGET_DIR:-target}/release/repox"
fi

WORK="${BENCH_DIR:-$(mktemp -d /tmp/repox-startup.XXXXXX)}"
mkdir -p "$WORK"
if [ ! -s "$WORK/generated-$N.txt" ]; then
    echo "generating $N entries in $WORK/cache..." >&2
    rm -rf "$WORK/cache"
    python3 benches/gen-cache.py "$WORK/cache" "$N" >"$WORK/generated-$N.txt.tmp"
    mv "$WORK/generated-$N.txt.tmp" "$WORK/generated-$N.txt"
fi
summary=$(cat "$WORK/generated-$N.txt")
echo "$summary" >&2
expected=$(echo "$summary" | awk '{print $3}')
PORT=$((20000 + RANDOM % 20000))
: >"$WORK/repox.toml"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"

drop_index() { rm -f "$1/index-v1.sqlite"*; }

# One start on $1: prints "first_hit_seconds size_known_seconds".
measure() {
    python3 - "$REPOX" "$WORK/repox.toml" "$PORT" "$1" "$expected" "$WORK/repox.log" <<'EOF'
import http.client, subprocess, sys, time
repox, config, port, cache, expected, log = sys.argv[1:]
def get(path):
    try:
        c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=10)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read()
        c.close()
        return r.status, body
    except OSError:
        return None, b""
want = f"\nrepox_cache_size_bytes {expected}\n".encode()
t0 = time.monotonic()
p = subprocess.Popen(
    [repox, "--config", config, "serve", "--offline", "--listen", f"127.0.0.1:{port}",
     "--cache-dir", cache],
    stderr=open(log, "a"),
)
first = sized = None
while sized is None and time.monotonic() - t0 < 900 and p.poll() is None:
    if first is None:
        if get("/maven/bench/g0/a-0.jar")[0] == 200:
            first = time.monotonic() - t0
        else:
            time.sleep(0.002)
            continue
    status, body = get("/-/metrics")
    if status == 200 and want in body:
        sized = time.monotonic() - t0
    else:
        time.sleep(0.02)
p.terminate()
p.wait()
print(f"{first or 'nan'} {sized or 'nan'}")
EOF
}

if [ "${START_ROUNDS:-2}" -gt 0 ]; then
    printf '%-46s %12s %12s\n' "$N entries, start-up" "first hit" "size known"
fi
for round in $(seq 1 "${START_ROUNDS:-2}"); do
    drop_index "$WORK/cache"
    read -r first1 sized1 < <(measure "$WORK/cache")
    read -r first2 sized2 < <(measure "$WORK/cache")
    printf '%-46s %11.3fs %11.3fs\n' "round $round: no index (one-time walk)" "$first1" "$sized1"
    printf '%-46s %11.3fs %11.3fs\n' "round $round: index" "$first2" "$sized2"
done

# ---- the page-cache state of the N entry files ---------------------------------------------
DATA="$WORK/cache/data-v1"
python3 - "$N" >"$WORK/sample.txt" <<'PY'
import random, sys
n = int(sys.argv[1])
for i in random.Random(1).sample(range(n), min(n, 2000)):
    print(f"maven/bench/g{i // 1000}/a-{i}.jar")
PY
# The share of the sampled entry files whose pages are all in the page cache, in percent.
cached_share() {
    (cd "$DATA" && xargs fincore -n -b -o PAGES,SIZE <"$WORK/sample.txt") |
        awk '{ n++; if ($1 * 4096 >= $2) c++ } END { printf "%.0f", 100 * c / n }'
}
page_cache_kib() { awk '$1 == "Cached:" { print $2 }' /proc/meminfo; }
# Drops the N entry files' pages from the page cache (only theirs).
evict() {
    sync -f "$DATA" # dirty pages would stay: one sync of the filesystem, not one per file
    python3 - "$DATA" <<'PY'
import os, sys
for d, _, files in os.walk(sys.argv[1]):
    for f in files:
        fd = os.open(os.path.join(d, f), os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
PY
}
# Reads every entry file once; prints the seconds it took and the page cache it added, in MiB.
warm() {
    local t0 kib0
    kib0=$(page_cache_kib)
    t0=$(date +%s.%N)
    (cd "$DATA" && find . -type f -print0 | xargs -0 -P2 -n 2000 cat >/dev/null)
    echo "$(echo "$(date +%s.%N) - $t0" | bc -l) $((($(page_cache_kib) - kib0) / 1024))"
}

# ---- hit latency ---------------------------------------------------------------------------
# wrk --latency at the base URL $1 for random entries in [0, $2) (the generator's keys), its
# output in $3; prints p50 and p99 in ms, and req/s.
load() {
    # Each wrk thread has its own Lua state: seeded alike (os.time() alone), both threads would
    # ask for the same keys in the same order, every key twice within moments, and the second
    # ask would find it hot.
    cat >"$WORK/random-$2.lua" <<LUA
local threads = 0
function setup(thread)
    thread:set("id", threads)
    threads = threads + 1
end
function init(args)
    math.randomseed(os.time() * 16 + id)
end
request = function()
    local i = math.random(0, $2 - 1)
    return wrk.format("GET", string.format("/maven/bench/g%d/a-%d.jar", math.floor(i / 1000), i))
end
LUA
    wrk -t2 -c"${P99_CONNS:-32}" -d"${P99_SECONDS:-10}s" --latency -s "$WORK/random-$2.lua" \
        "$1/" >"$3"
    if grep -q "Non-2xx" "$3"; then
        echo "error: some hits were not 200, see $3" >&2
    fi
    # wrk prints "50%  812.00us" or "99%    2.31ms"; in ms.
    awk '$1 == "50%" || $1 == "99%" {
        v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
        printf "%s ", (u == "us" ? v / 1000 : (u == "s" ? v * 1000 : v))
    }' "$3"
    awk '/Requests\/sec/ {print $2}' "$3"
}
# CPU time (user + system) of process $1 so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# Hit latency of the binary $1 serving the cache $2, requests for entries in [0, $3); wrk's
# output in $WORK/wrk-$4.txt. Prints p50, p99, req/s and repox's CPU per request in µs (its
# user and system time over the run divided by the requests: less moved by the machine's load
# than the latencies, which queue behind other work on the 2 cores).
p99() {
    local pid figures ticks0 requests
    "$1" --config "$WORK/repox.toml" serve --offline --listen "127.0.0.1:$PORT" \
        --cache-dir "$2" 2>>"$WORK/repox.log" &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 1 3000); do
        curl -fs -o /dev/null "http://127.0.0.1:$PORT/maven/bench/g0/a-0.jar" && break
        sleep 0.01
    done
    ticks0=$(cpu_ticks "$pid")
    figures=$(load "http://127.0.0.1:$PORT" "$3" "$WORK/wrk-$4.txt")
    requests=$(awk '/requests in/ { print $1 }' "$WORK/wrk-$4.txt")
    figures="$figures $(echo "($(cpu_ticks "$pid") - $ticks0) * 1000000 / $(getconf CLK_TCK) / $requests" | bc -l)"
    # Printed once the server is gone: the next start may need its cache directory.
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    echo "$figures"
}
SMALL="$WORK/small-cache"
if [ ! -d "$SMALL/data-v1" ]; then
    python3 benches/gen-cache.py "$SMALL" 1000 >/dev/null
fi
BINS=(after)
declare -A BIN=([after]="$REPOX")
if [ -n "${REPOX_BEFORE:-}" ]; then
    BINS=(after before)
    BIN[before]="$REPOX_BEFORE"
fi
row() {
    printf '%-56s %9.3f ms %9.3f ms %8.0f' "$1" "$2" "$3" "$4"
    if [ -n "${5:-}" ]; then printf ' %7.1f\n' "$5"; else echo; fi
}
# ratio LABEL P50_A P99_A P50_B P99_B [CPU_A CPU_B]: A / B.
ratio() {
    printf '%-56s %11.2fx %11.2fx' "$1" "$(echo "$2 / $4" | bc -l)" "$(echo "$3 / $5" | bc -l)"
    if [ -n "${7:-}" ]; then printf ' %17.2fx' "$(echo "$6 / $7" | bc -l)"; fi
    echo
}
declare -A P50 P99 CPU
# Whether the big cache's index is complete (its one-time walk finished).
walked() {
    python3 - "$WORK/cache/index-v1.sqlite" <<'PY'
import sqlite3, sys
try:
    db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
    sys.exit(0 if db.execute("SELECT 1 FROM state WHERE name = 'walked'").fetchone() else 1)
except sqlite3.Error:
    sys.exit(1)
PY
}
# The rows measure hits, not the one-time walk: a start that waits for it.
if ! walked; then
    drop_index "$WORK/cache"
    measure "$WORK/cache" >/dev/null
fi
for state in ${STATES:-cold warm}; do
    echo
    if [ "$state" = warm ]; then
        read -r secs mib < <(warm)
        printf 'warm: read all %s entry files in %.1f s, the page cache grew by %s MiB\n' \
            "$N" "$secs" "$mib"
    else
        echo "cold: the $N entry files' pages dropped before each 'over all' row (their inodes stay cached)"
    fi
    printf '%-56s %12s %12s %8s %7s\n' "hits of random entries, $state (wrk --latency)" "p50" "p99" "req/s" "µs/req"
    for round in $(seq 1 "${P99_ROUNDS:-2}"); do
        order=("${BINS[@]}")
        if ((round % 2 == 0)) && [ "${#BINS[@]}" -gt 1 ]; then order=(before after); fi
        for who in "${order[@]}"; do
            read -r p50_small p99_small rps_small cpu_small < <(p99 "${BIN[$who]}" "$SMALL" 1000 "$state-$who-1000")
            if [ "$state" = cold ]; then evict; fi
            share0=$(cached_share)
            read -r p50_big p99_big rps_big cpu_big < <(p99 "${BIN[$who]}" "$WORK/cache" "$N" "$state-$who-$N")
            share1=$(cached_share)
            read -r p50_sub p99_sub rps_sub cpu_sub < <(p99 "${BIN[$who]}" "$WORK/cache" 1000 "$state-$who-sub")
            row "round $round $who: 1000 entries" "$p50_small" "$p99_small" "$rps_small" "$cpu_small"
            row "round $round $who: $N, over all ($share0% -> $share1% cached)" "$p50_big" "$p99_big" "$rps_big" "$cpu_big"
            row "round $round $who: $N, over 1000 of them" "$p50_sub" "$p99_sub" "$rps_sub" "$cpu_sub"
            ratio "round $round $who: ratio all $N / 1000" "$p50_big" "$p99_big" "$p50_small" "$p99_small" "$cpu_big" "$cpu_small"
            ratio "round $round $who: ratio 1000 of $N / 1000" "$p50_sub" "$p99_sub" "$p50_small" "$p99_small" "$cpu_sub" "$cpu_small"
            P50[$round-$who-small]=$p50_small P99[$round-$who-small]=$p99_small CPU[$round-$who-small]=$cpu_small
            P50[$round-$who-big]=$p50_big P99[$round-$who-big]=$p99_big CPU[$round-$who-big]=$cpu_big
            P50[$round-$who-sub]=$p50_sub P99[$round-$who-sub]=$p99_sub CPU[$round-$who-sub]=$cpu_sub
        done
        if [ "${#BINS[@]}" -gt 1 ]; then
            for what in small big sub; do
                ratio "round $round: after / before, $what" \
                    "${P50[$round-after-$what]}" "${P99[$round-after-$what]}" \
                    "${P50[$round-before-$what]}" "${P99[$round-before-$what]}" \
                    "${CPU[$round-after-$what]}" "${CPU[$round-before-$what]}"
            done
        fi
    done
done

# ---- nginx serving the same files as static files ------------------------------------------
if [ "${NGINX:-1}" != 0 ] && command -v nginx >/dev/null; then
    echo
    printf '%-56s %12s %12s %8s\n' "nginx, the entry files as static files" "p50" "p99" "req/s"
    for state in ${STATES:-cold warm}; do
        # The warm rows follow the cold ones, which left most files out of the page cache.
        if [ "$state" = warm ]; then warm >/dev/null; fi
        for ofc in off on; do
            if [ "$ofc" = on ]; then files="open_file_cache max=2048 inactive=60s;"; else files="open_file_cache off;"; fi
            nginx_conf "nginx-$ofc" "$files
    server { listen 127.0.0.1:$PORT; root $DATA; }"
            wait_http "http://127.0.0.1:$PORT/maven/bench/g0/a-0.jar"
            read -r p50_sub p99_sub rps_sub < <(load "http://127.0.0.1:$PORT" 1000 "$WORK/wrk-nginx-$state-$ofc-1000.txt")
            if [ "$state" = cold ]; then evict; fi
            share0=$(cached_share)
            read -r p50_big p99_big rps_big < <(load "http://127.0.0.1:$PORT" "$N" "$WORK/wrk-nginx-$state-$ofc-$N.txt")
            share1=$(cached_share)
            kill "$NGINX_PID"
            wait "$NGINX_PID" 2>/dev/null || true
            row "$state, open_file_cache $ofc: 1000 of $N" "$p50_sub" "$p99_sub" "$rps_sub"
            row "$state, open_file_cache $ofc: all $N ($share0% -> $share1%)" "$p50_big" "$p99_big" "$rps_big"
            ratio "$state, open_file_cache $ofc: ratio all / 1000" "$p50_big" "$p99_big" "$p50_sub" "$p99_sub"
        done
    done
fi

echo
for who in "${BINS[@]}"; do
    drop_index "$WORK/cache"
    read -r p50_walk p99_walk rps_walk cpu_walk < <(p99 "${BIN[$who]}" "$WORK/cache" "$N" "walk-$who")
    row "$who: $N entries, over all, during the walk" "$p50_walk" "$p99_walk" "$rps_walk" "$cpu_walk"
done
# Leave the index complete for the next run.
measure "$WORK/cache" >/dev/null
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -n "${BENCH_DIR:-}" ] || rm -rf "$WORK"
