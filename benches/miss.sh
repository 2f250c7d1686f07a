#!/usr/bin/env bash
# Misses: a body streamed through repox while it is downloaded, hashed and written to the cache,
# against the same body fetched straight from the upstream, in the same run, by hand (never by the
# tests), loopback only.
#
# An nginx upstream on 127.0.0.1 serves a 1 GB file under $ROUNDS names (hard links, so every
# round is a cold miss for repox and a page-cache read for nginx). Each round fetches one name
# with curl directly and another through a fresh miss of repox, in an order that turns every
# round. With BEFORE=path/to/other/repox, a second repox (the "before" binary, on its own cache)
# takes part in every round too, so before and after are compared in the same conditions.
# After each miss the script waits until repox has committed the entry (a large miss computes the
# digests it only records after the last byte), so that work does not fall into the next fetch.
# Figures: the median speed of each (target: repox >= 0.9x direct) and the median time to first
# byte of $TTFB_SAMPLES 100 KB misses, direct and through repox (target: <= 1 ms added).
# RATE caps the upstream's speed per response (nginx `limit_rate`, bytes/s): RATE=125m is a
# 1 Gbit/s upstream, RATE=1250m a 10 Gbit/s one; unset, the loopback origin sends as fast as the
# machine lets it, which makes the CPU per byte the bound on a small machine.
#
#   benches/miss.sh                           # builds with `cargo build --release` (~2 min)
#   REPOX=new/repox BEFORE=old/repox SIZE=256M benches/miss.sh
#   REPOX=new/repox BEFORE=old/repox SIZE=256M RATE=125m benches/miss.sh
#   SHA1=1 benches/miss.sh     # the origin publishes `.sha1` files (as Maven Central does): the
#                              # last byte then waits for SHA-1 over the body
#
# Needs nginx, curl and python3. Set CARGO_TARGET_DIR to reuse a target directory, BENCH_DIR to
# keep the files elsewhere (it needs about $SIZE for the file plus $SIZE per repox cache).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROUNDS=${ROUNDS:-5}
SIZE=${SIZE:-1G}
TTFB_SAMPLES=${TTFB_SAMPLES:-31}
RATE=${RATE:-}
SHA1=${SHA1:-} # SHA1=1: the origin publishes a `.sha1` beside each file, as Maven Central does

source benches/common.sh
need_tools nginx curl python3
repox_binary

bench_work_dir miss

G="org/bench/miss/1.0"
WWW="$WORK/www"
mkdir -p "$WWW/$G"
echo "generating a $SIZE file and $TTFB_SAMPLES small ones..." >&2
[ -s "$WWW/$G/big.bin" ] || head -c "$SIZE" /dev/urandom >"$WWW/$G/big.bin"
for i in $(seq "$ROUNDS"); do
    ln -f "$WWW/$G/big.bin" "$WWW/$G/miss-1.0-direct$i.jar"
    ln -f "$WWW/$G/big.bin" "$WWW/$G/miss-1.0-before$i.jar"
    ln -f "$WWW/$G/big.bin" "$WWW/$G/miss-1.0-after$i.jar"
done
for i in $(seq "$TTFB_SAMPLES"); do head -c 100K /dev/urandom >"$WWW/$G/miss-1.0-small$i.jar"; done
if [ -n "$SHA1" ]; then # then repox holds each file's last byte back until SHA-1 matches
    big_sha1=$(sha1sum <"$WWW/$G/big.bin" | cut -d' ' -f1)
    for i in $(seq "$ROUNDS"); do
        for who in direct before after; do echo "$big_sha1" >"$WWW/$G/miss-1.0-$who$i.jar.sha1"; done
    done
    for i in $(seq "$TTFB_SAMPLES"); do
        sha1sum <"$WWW/$G/miss-1.0-small$i.jar" | cut -d' ' -f1 >"$WWW/$G/miss-1.0-small$i.jar.sha1"
    done
else
    rm -f "$WWW/$G"/*.sha1 # a kept BENCH_DIR from a SHA1=1 run
fi
cat "$WWW/$G/big.bin" >/dev/null # the upstream reads from the page cache, as a warm server does

start_origin "$WWW" auto "$RATE"
NAMES=(after)
start_repox "$REPOX" after
URL_after=$PROXY
if [ -n "${BEFORE:-}" ]; then
    NAMES=(before after)
    start_repox "$BEFORE" before
    URL_before=$PROXY
fi
proxy_url() { local v="URL_$1"; echo "${!v}"; }

speed() { curl -sf -o /dev/null -w '%{speed_download}\n' "$1"; } # bytes/s
committed() { # committed NAME FILE: waits until repox NAME has the entry (at most 60 s)
    local f="$WORK/cache-$1/data-v1/maven/$G/$2" i
    for i in $(seq 1200); do
        [ -e "$f" ] && return 0
        sleep 0.05
    done
    echo "error: $f was never committed" >&2
    exit 1
}
fetch() { # fetch WHO ROUND: one big download by direct, before or after
    if [ "$1" = direct ]; then
        speed "$ORIGIN/$G/miss-1.0-direct$2.jar" >>"$WORK/direct"
    else
        speed "$(proxy_url "$1")/maven/$G/miss-1.0-$1$2.jar" >>"$WORK/$1"
        committed "$1" "miss-1.0-$1$2.jar"
    fi
}
WHO=(direct "${NAMES[@]}")
: >"$WORK/direct"
for n in "${NAMES[@]}"; do : >"$WORK/$n"; done
for i in $(seq "$ROUNDS"); do
    echo "round $i/$ROUNDS: $SIZE direct and through a repox miss (${NAMES[*]})..." >&2
    for k in $(seq 0 $((${#WHO[@]} - 1))); do
        fetch "${WHO[$(((i + k) % ${#WHO[@]}))]}" "$i"
    done
    for n in "${NAMES[@]}"; do
        rm -rf "$WORK/cache-$n/data-v1/maven" # keep the disk from filling; later rounds are misses anyway
    done
done
want=$(sha256sum <"$WWW/$G/big.bin")
for n in "${NAMES[@]}"; do
    [ "$(curl -sf "$(proxy_url "$n")/maven/$G/miss-1.0-${n}1.jar" | sha256sum)" = "$want" ] || {
        echo "error: repox ($n) served other bytes" >&2
        exit 1
    }
    # That was a miss too: its digests and commit must not fall into the first samples below.
    committed "$n" "miss-1.0-${n}1.jar"
done

# The large file just cached is still being written to disk by the kernel: wait for it here, or
# the samples below measure that writeback's CPU (both ways, repox's more: each miss writes).
sync -f "$WORK"

ttfb() { curl -sf -o /dev/null -w '%{time_starttransfer}\n' "$1"; } # seconds
: >"$WORK/ttfb-direct"
for n in "${NAMES[@]}"; do : >"$WORK/ttfb-$n"; done
for i in $(seq "$TTFB_SAMPLES"); do
    ttfb "$ORIGIN/$G/miss-1.0-small$i.jar" >>"$WORK/ttfb-direct"
    for n in "${NAMES[@]}"; do
        ttfb "$(proxy_url "$n")/maven/$G/miss-1.0-small$i.jar" >>"$WORK/ttfb-$n"
    done
done

D=$(median <"$WORK/direct")
TD=$(median <"$WORK/ttfb-direct")
LIMIT="not limited"
[ -z "$RATE" ] || LIMIT="limited to $RATE bytes/s per response"
[ -z "$SHA1" ] || LIMIT="$LIMIT, publishing .sha1 files"
echo
echo "repox miss benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), upstream $LIMIT"
printf '%-46s %12s %12s   %s\n' "" direct "via repox" comparison
for n in "${NAMES[@]}"; do
    R=$(median <"$WORK/$n")
    printf '%-46s %12.0f %12.0f   %.2fx (target >= 0.9x)\n' "$SIZE miss, MB/s (median of $ROUNDS), $n" \
        "$(awk -v s="$D" 'BEGIN { print s / 1e6 }')" "$(awk -v s="$R" 'BEGIN { print s / 1e6 }')" \
        "$(awk -v a="$R" -v b="$D" 'BEGIN { print a / b }')"
done
for n in "${NAMES[@]}"; do
    TR=$(median <"$WORK/ttfb-$n")
    printf '%-46s %9.2f ms %9.2f ms   added %.2f ms (target <= 1 ms)\n' \
        "100 KB miss, time to first byte (median), $n" "$(awk -v s="$TD" 'BEGIN { print s * 1000 }')" \
        "$(awk -v s="$TR" 'BEGIN { print s * 1000 }')" "$(awk -v a="$TR" -v b="$TD" 'BEGIN { print (a - b) * 1000 }')"
done
