#!/usr/bin/env bash
# Eviction cost per entry against the number of entries, run by hand (never by the tests).
#
# For each N of $SIZES (default "1000 10000 100000 1000000"): generates N entries
# (benches/gen-cache.py, in $BENCH_DIR/evict-N, deleted afterwards), indexes them with
# `repox cache stats` (the one-time walk, timed), then starts `repox serve --offline` with
# `[storage] max_size` set $EVICT entries (default 10,000; at most N/2) below the cache's size.
# The server evicts the least recently used entries within a second and logs how many and how
# long the collection took (`evicted cache entries over_size=... millis=...`); the script prints
# the time per evicted entry. Each eviction is an index seek for the next page of victims, the
# removal of the file and the removal of its index row (a B-tree delete): O(log n), so the cost
# per entry should hardly move from 1,000 to 1,000,000 entries. The figures are only
# comparable within one run: the machine's load moves them all.
#
#   benches/evict.sh            # builds with `cargo build --release`
#
# Needs python3. 1,000,000 entries take about 4.5 GB of disk while they exist.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ -z "${REPOX:-}" ]; then
    echo "building repox (cargo build --release)..." >&2
    cargo build --release --quiet -p repox
    REPOX="${CARGO_TARGET_DIR:-target}/release/repox"
fi
WORK="${BENCH_DIR:-$(mktemp -d /tmp/repox-evict.XXXXXX)}"
mkdir -p "$WORK"
PORT=$((20000 + RANDOM % 20000))
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%10s %10s %10s %10s %12s %12s\n' entries "index (s)" evicted "ms" "us/entry" "rows after"
for n in ${SIZES:-1000 10000 100000 1000000}; do
    dir="$WORK/evict-$n"
    rm -rf "$dir"
    total=$(python3 benches/gen-cache.py "$dir" "$n" | awk '{print $3}')
    start=$(date +%s.%N)
    "$REPOX" cache stats --cache-dir "$dir" >/dev/null 2>&1
    indexed=$(echo "$(date +%s.%N) - $start" | bc)
    evict=${EVICT:-10000}
    [ "$evict" -le $((n / 2)) ] || evict=$((n / 2))
    # Entries are 470-480 bytes: this is about $evict of them.
    max=$((total - evict * total / n))
    printf '[storage]\nmax_size = "%s"\n' "$max" >"$WORK/evict.toml"
    log="$WORK/evict-$n.log"
    "$REPOX" --config "$WORK/evict.toml" serve --offline --listen "127.0.0.1:$PORT" \
        --cache-dir "$dir" 2>"$log" &
    pid=$!
    for _ in $(seq 1 1200); do
        grep -q "evicted cache entries" "$log" && break
        sleep 0.1
    done
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    line=$(grep -m1 "evicted cache entries" "$log" || true)
    if [ -z "$line" ]; then
        echo "error: no eviction logged for $n entries, see $log" >&2
        continue
    fi
    evicted=$(echo "$line" | grep -o 'over_size=[0-9]*' | cut -d= -f2)
    ms=$(echo "$line" | grep -o 'millis=[0-9]*' | cut -d= -f2)
    after=$("$REPOX" cache stats --cache-dir "$dir" 2>/dev/null | awk '$1 == "total" {print $2}')
    printf '%10s %10.1f %10s %10s %12.1f %12s\n' "$n" "$indexed" "$evicted" "$ms" \
        "$(echo "$ms * 1000 / $evicted" | bc -l)" "$after"
    [ "$after" -eq $((n - evicted)) ] || echo "error: the index holds $after rows" >&2
    rm -rf "$dir"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
[ -n "${BENCH_DIR:-}" ] || rm -rf "$WORK"
