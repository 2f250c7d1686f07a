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
#
#   benches/startup.sh [N=1000000]     # builds with `cargo build --release`
#
# Needs curl and python3. BENCH_DIR keeps the files somewhere other than a fresh temp dir (1M
# entries take about 4.5 GB of disk, mostly 4 KiB blocks of small files).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

N="${1:-1000000}"
echo "building repox (cargo build --release)..." >&2
cargo build --release --quiet
REPOX="${CARGO_TARGET_DIR:-target}/release/repox"

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
[ -n "${BENCH_DIR:-}" ] || rm -rf "$WORK"
