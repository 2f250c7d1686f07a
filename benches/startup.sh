#!/usr/bin/env bash
# Start-up over a large cache, run by hand (never by the tests), loopback only.
#
# Generates N cached entries with benches/gen-cache.py (no entry index, like a cache written
# before the index existed), then starts `repox serve --offline` on it twice and measures, each
# time: the time from launch to the first served hit, and the time until
# `repox_cache_size_bytes` equals the bytes of the entry files.
#   - first start: the index does not exist yet, so the size comes from the one-time background
#     walk; this is what every start cost before the index (the size came from a walk).
#   - second start: the size is read from the index at once.
# Then the hit latency over the N entries against a cache of 1,000 (same generator), each
# served by a fresh `repox serve --offline` with its index built: wrk --latency for
# $P99_SECONDS (default 10) at $P99_CONNS connections (default 32), every request for a random
# one of the entries (so the lookups spread over the whole index, not one hot entry). The
# issue's goal is the same p99 for both.
#
#   benches/startup.sh [N=1000000]     # builds with `cargo build --release`
#
# Needs curl, wrk and python3. BENCH_DIR keeps the files somewhere other than a fresh temp dir (1M
# entries take about 4.5 GB of disk, mostly 4 KiB blocks of small files).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

N="${1:-1000000}"
if [ -z "${REPOX:-}" ]; then
    echo "building repox (cargo build --release)..." >&2
    cargo build --release --quiet
    REPOX="${CARGO_TARGET_DIR:-target}/release/repox"
fi

WORK="${BENCH_DIR:-$(mktemp -d /tmp/repox-startup.XXXXXX)}"
mkdir -p "$WORK"
if [ ! -s "$WORK/generated-$N.txt" ]; then
    echo "generating $N entries in $WORK/cache..." >&2
    rm -rf "$WORK/cache"
    python3 benches/gen-cache.py "$WORK/cache" "$N" >"$WORK/generated-$N.txt"
fi
summary=$(cat "$WORK/generated-$N.txt")
echo "$summary" >&2
# Every run starts from a cache without an index.
rm -f "$WORK/cache/index-v1.sqlite"*
expected=$(echo "$summary" | awk '{print $3}')
PORT=$((20000 + RANDOM % 20000))
: >"$WORK/repox.toml"

now() { date +%s.%N; }

# One start: prints "first_hit_seconds size_known_seconds".
measure() {
    local start pid first="" sized="" t
    start=$(now)
    "$REPOX" --config "$WORK/repox.toml" serve --offline --listen "127.0.0.1:$PORT" \
        --cache-dir "$WORK/cache" 2>>"$WORK/repox.log" &
    pid=$!
    for _ in $(seq 1 600000); do
        t=$(now)
        if [ -z "$first" ] &&
            curl -fs -o /dev/null "http://127.0.0.1:$PORT/maven/bench/g0/a-0.jar"; then
            first=$(echo "$t - $start" | bc)
        fi
        if [ -z "$sized" ] && curl -fs "http://127.0.0.1:$PORT/-/metrics" 2>/dev/null |
            grep -qx "repox_cache_size_bytes $expected"; then
            sized=$(echo "$(now) - $start" | bc)
        fi
        [ -n "$first" ] && [ -n "$sized" ] && break
        sleep 0.01
    done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    echo "$first $sized"
}

read -r first1 sized1 < <(measure)
read -r first2 sized2 < <(measure)
printf '%-44s %12s %12s\n' "$N entries" "first hit" "size known"
printf '%-44s %11.3fs %11.3fs\n' "no index (one-time walk; every start before)" "$first1" "$sized1"
printf '%-44s %11.3fs %11.3fs\n' "index" "$first2" "$sized2"
printf '%-44s %11.1fx %11.1fx\n' "ratio (no index / index)" \
    "$(echo "$first1 / $first2" | bc -l)" "$(echo "$sized1 / $sized2" | bc -l)"

# Hit latency over a cache of $1 entries in $2: prints wrk's p50 and p99 in ms.
p99() {
    local n="$1" cache="$2" pid
    cat >"$WORK/random-$n.lua" <<EOF
math.randomseed(os.time())
request = function()
    local i = math.random(0, $n - 1)
    return wrk.format("GET", string.format("/maven/bench/g%d/a-%d.jar", math.floor(i / 1000), i))
end
EOF
    "$REPOX" --config "$WORK/repox.toml" serve --offline --listen "127.0.0.1:$PORT" \
        --cache-dir "$cache" 2>>"$WORK/repox.log" &
    pid=$!
    for _ in $(seq 1 3000); do
        curl -fs -o /dev/null "http://127.0.0.1:$PORT/maven/bench/g0/a-0.jar" && break
        sleep 0.01
    done
    wrk -t2 -c"${P99_CONNS:-32}" -d"${P99_SECONDS:-10}s" --latency -s "$WORK/random-$n.lua" \
        "http://127.0.0.1:$PORT/" >"$WORK/wrk-$n.txt"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    if grep -q "Non-2xx" "$WORK/wrk-$n.txt"; then
        echo "error: some hits over $n entries were not 200, see $WORK/wrk-$n.txt" >&2
    fi
    # wrk prints "50%  812.00us" or "99%    2.31ms"; in ms.
    awk '$1 == "50%" || $1 == "99%" {
        v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
        printf "%s ", (u == "us" ? v / 1000 : (u == "s" ? v * 1000 : v))
    }' "$WORK/wrk-$n.txt"
    echo
}
SMALL="$WORK/small-cache"
if [ ! -d "$SMALL/data-v1" ]; then
    python3 benches/gen-cache.py "$SMALL" 1000 >/dev/null
fi
read -r p50_big p99_big < <(p99 "$N" "$WORK/cache")
read -r p50_small p99_small < <(p99 1000 "$SMALL")
echo
printf '%-44s %12s %12s\n' "hits of random entries (wrk --latency)" "p50" "p99"
printf '%-44s %9.3f ms %9.3f ms\n' "1000 entries" "$p50_small" "$p99_small"
printf '%-44s %9.3f ms %9.3f ms\n' "$N entries" "$p50_big" "$p99_big"
printf '%-44s %11.2fx %11.2fx\n' "ratio ($N / 1000)" \
    "$(echo "$p50_big / $p50_small" | bc -l)" "$(echo "$p99_big / $p99_small" | bc -l)"
[ -n "${BENCH_DIR:-}" ] || rm -rf "$WORK"
