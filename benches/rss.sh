#!/usr/bin/env bash
# repox's memory while $CLIENTS clients download one cached 2 GB file at once, by hand (never by
# the tests), loopback only: RSS sampled every 100 ms, printed as idle, then at each tenth of the
# run, then the peak. "Flat" means the peak stays near the first samples under load and does not
# grow with the bytes served.
#
#   benches/rss.sh             # builds with `cargo build --release`, then measures (~1-3 min)
#
# Needs nginx (the upstream), curl and python3. Set CARGO_TARGET_DIR to reuse a target directory,
# BENCH_DIR to keep the files elsewhere (it needs about 4 GB).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CLIENTS=${CLIENTS:-100}
SIZE=${SIZE:-2G}

source benches/common.sh
need_tools nginx curl python3
repox_binary

bench_work_dir rss

P="org/bench/rss/1.0/rss-1.0.jar"
mkdir -p "$WORK/www/$(dirname "$P")"
[ -s "$WORK/www/$P" ] || truncate -s "$SIZE" "$WORK/www/$P" # sparse: nginx reads zeros
start_origin "$WORK/www" 1
start_repox "$REPOX" rss

echo "caching the $SIZE file..." >&2
curl -sf -o /dev/null "$PROXY/maven/$P"
sleep 2
rss() { awk '$1 == "VmRSS:" { print $2 }' "/proc/$REPOX_PID/status"; }
IDLE=$(rss)

echo "$CLIENTS clients downloading it at once..." >&2
CURLS=()
for _ in $(seq "$CLIENTS"); do
    curl -sf -o /dev/null "$PROXY/maven/$P" &
    CURLS+=($!)
done
: >"$WORK/samples"
while kill -0 "${CURLS[@]}" 2>/dev/null; do
    rss >>"$WORK/samples"
    sleep 0.1
done
for pid in "${CURLS[@]}"; do wait "$pid" || { echo "error: a download failed" >&2; exit 1; }; done
sleep 2
AFTER=$(rss)

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
echo
echo "repox RSS benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $CLIENTS clients x $SIZE, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "RSS, MiB: idle $(mib "$IDLE"); after $(mib "$AFTER"); peak $(mib "$(sort -n "$WORK/samples" | tail -1)")"
echo -n "at each tenth of the run:"
n=$(wc -l <"$WORK/samples")
for t in 1 2 3 4 5 6 7 8 9 10; do
    echo -n " $(mib "$(sed -n "$(((n * t + 9) / 10))p" "$WORK/samples")")"
done
echo
