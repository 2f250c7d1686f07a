#!/usr/bin/env bash
# Where repox spends CPU under a load: `perf record` on the repox process while wrk loads it,
# rendered as an SVG flame graph (inferno) plus a text summary of the top self frames, so that a
# performance note can show a path before and after a change. Run by hand, loopback only.
#
#   REPOX=path/to/repox benches/profile.sh hit 1M 32   # a cached 1 MB file, wrk -c32
#   benches/profile.sh hit 100K 256                     # builds a profiling binary first
#   NAME=before REPOX=/work/bench/repox-main benches/profile.sh hit 1M 32
#
# Scenario `hit`: an nginx origin serves one generated file of SIZE (`head -c` sizes), repox
# caches it with one GET, then wrk loads it at CONNS connections for WARMUP + PROFILE_SECONDS
# seconds while perf samples repox for the last PROFILE_SECONDS (default 2 + 10). Writes
# `flame-NAME.svg` and `flame-NAME.txt` (default NAME: hit-SIZE-CONNS) to OUT (default: the
# current directory).
#
# Stacks: CALL_GRAPH=dwarf (default) unwinds from copies of the stack (`--call-graph dwarf`,
# larger perf.data, works on any binary with symbols, main's release binary included);
# CALL_GRAPH=fp uses frame pointers (`-F 999 -g`, cheap, but the prebuilt standard library has
# none, so stacks through it are cut). Without REPOX the script builds repox with line tables
# and frame pointers (`CARGO_PROFILE_RELEASE_DEBUG=line-tables-only`, `-C
# force-frame-pointers=yes`) in its own target directory (PROFILE_TARGET_DIR, default
# target/profiling): the first build compiles every dependency again. Cargo.toml is untouched.
#
# User space only: EVENT=cpu-clock:u samples repox's own code (and its libraries') and none of
# the kernel's, so the shares are of the user-space time per request (default EVENT=cpu-clock,
# both). The summary also lists the top inclusive (children) frames of the process, which is
# what groups a cost by caller (hyper's parser, axum, repox's handler, tokio's scheduler).
#
# Needs nginx, wrk, curl, python3 and perf (`apt-get install -y nginx wrk curl python3
# linux-perf`); installs inferno (`cargo install inferno`) when inferno-flamegraph is missing.
# perf needs root or `kernel.perf_event_paranoid` <= 1. The machine's other work shows up in
# neither the flame graph nor the summary (only repox is sampled), but it slows repox down:
# compare shares of the profile, not absolute sample counts, across runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SCENARIO=${1:-hit}
SIZE=${2:-1M}
CONNS=${3:-32}
SECONDS_PROFILED=${PROFILE_SECONDS:-10}
WARMUP=${WARMUP:-2}
CALL_GRAPH=${CALL_GRAPH:-dwarf}
EVENT=${EVENT:-cpu-clock}
# PERIOD=N records every Nth event instead of 999 samples a second: for counting events such
# as uprobes on the allocator (`perf probe -x BINARY -a 'grp:malloc=_rjem_malloc'`, then
# EVENT=grp:malloc PERIOD=1), whose call sites are then each allocation's.
if [ -n "${PERIOD:-}" ]; then SAMPLING=(-c "$PERIOD"); else SAMPLING=(-F 999); fi
NAME=${NAME:-$SCENARIO-$SIZE-$CONNS}
OUT=$(realpath "${OUT:-.}")

case $SCENARIO in
hit) ;;
*)
    echo "error: unknown scenario '$SCENARIO' (known: hit)" >&2
    exit 2
    ;;
esac
case $CALL_GRAPH in
dwarf) PERF_CALL_GRAPH=("${SAMPLING[@]}" --call-graph dwarf -m 64M) ;; # a large buffer, or samples are lost
fp) PERF_CALL_GRAPH=("${SAMPLING[@]}" -g) ;;
*)
    echo "error: CALL_GRAPH is dwarf or fp, not '$CALL_GRAPH'" >&2
    exit 2
    ;;
esac

source benches/common.sh
need_tools nginx wrk curl python3 perf
if ! command -v inferno-flamegraph >/dev/null; then
    if [ -x "$HOME/.cargo/bin/inferno-flamegraph" ]; then
        PATH="$HOME/.cargo/bin:$PATH"
    else
        echo "inferno-flamegraph not found: installing it (cargo install inferno)..." >&2
        cargo install --quiet --locked inferno
        PATH="$HOME/.cargo/bin:$PATH"
    fi
fi

if [ -z "${REPOX:-}" ]; then
    target="${PROFILE_TARGET_DIR:-target/profiling}"
    echo "building repox with line tables and frame pointers in $target..." >&2
    CARGO_TARGET_DIR="$target" CARGO_PROFILE_RELEASE_DEBUG=line-tables-only \
        RUSTFLAGS="${RUSTFLAGS:-} -C force-frame-pointers=yes" \
        cargo build --release --quiet -p repox
    REPOX="$target/release/repox"
fi
bench_work_dir profile

# ---- origin and repox, the file cached ---------------------------------------------------
G="org/bench/profile/1.0"
FILE="$G/profile-1.0-$SIZE.jar"
mkdir -p "$WORK/www/$G"
head -c "$SIZE" /dev/urandom >"$WORK/www/$FILE"
mapfile -t PORTS < <(free_ports 2)
ORIGIN="http://127.0.0.1:${PORTS[0]}"
PROXY="http://127.0.0.1:${PORTS[1]}"
nginx_origin "${PORTS[0]}" "$WORK/www"
maven_toml "$WORK/repox.toml" "$ORIGIN"
rm -rf "$WORK/cache" # the file above is new on every run, under the same release path
repox_serve "$WORK/repox.toml" "${PORTS[1]}" "$WORK/cache" "$WORK/repox.log"
wait_http "$ORIGIN/"
wait_http "$PROXY/-/health"

URL="$PROXY/maven/$FILE"
curl -sf -o /dev/null "$URL"
[ "$(curl -sf "$URL" | sha256sum)" = "$(sha256sum <"$WORK/www/$FILE")" ] ||
    { echo "error: repox served other bytes for $FILE" >&2; exit 1; }
curl -sfI "$URL" | grep -qi '^x-repox-cache: hit' ||
    { echo "error: repox does not cache $FILE" >&2; exit 1; }

# ---- load and record ---------------------------------------------------------------------
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
echo "wrk -c$CONNS on a cached $SIZE file for $((WARMUP + SECONDS_PROFILED))s, perf on repox for the last ${SECONDS_PROFILED}s..." >&2
wrk -t2 -c"$CONNS" -d"$((WARMUP + SECONDS_PROFILED + 1))s" --timeout 30s "$URL" >"$WORK/wrk.txt" &
WRK_PID=$!
PIDS+=("$WRK_PID")
sleep "$WARMUP"
perf record -e "$EVENT" "${PERF_CALL_GRAPH[@]}" -p "$REPOX_PID" -o "$WORK/perf.data" \
    -- sleep "$SECONDS_PROFILED" 2>"$WORK/perf-record.log" ||
    { cat "$WORK/perf-record.log" >&2; exit 1; }
wait "$WRK_PID"
if grep -qE 'Non-2xx|Socket errors' "$WORK/wrk.txt"; then
    echo "error: wrk saw failures:" >&2
    cat "$WORK/wrk.txt" >&2
    exit 1
fi

# ---- render ------------------------------------------------------------------------------
echo "rendering (perf script | inferno)..." >&2
perf script -i "$WORK/perf.data" --no-inline 2>/dev/null |
    inferno-collapse-perf >"$WORK/collapsed.txt"
inferno-flamegraph --title "repox $SCENARIO $SIZE, wrk -c$CONNS, ${SECONDS_PROFILED}s ($NAME)" \
    <"$WORK/collapsed.txt" >"$OUT/flame-$NAME.svg"
{
    echo "repox profile $NAME: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $("$REPOX" --version), call graph $CALL_GRAPH, event $EVENT"
    echo "load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "wrk: $(awk '/Requests\/sec|Transfer\/sec/ { printf "%s %s  ", $1, $2 }' "$WORK/wrk.txt")"
    echo
    perf report -i "$WORK/perf.data" --no-children --no-inline --percent-limit 2 --stdio \
        --sort dso,symbol -g none 2>/dev/null | grep -v -e "^$" -e "^# *$" -e "^# (Tip" -e "perf.data header" |
        sed -E "s/ +IPC +\\[IPC Coverage\\]//; s/[[:space:]]+-[[:space:]]+-[[:space:]]*$//; s/[[:space:]]+$//" | cut -c1-160 | head -40
    echo
    echo "inclusive (children) share of the top frames:"
    perf report -i "$WORK/perf.data" --children --no-inline --percent-limit 3 --stdio \
        --sort symbol -g none 2>/dev/null | grep -v -e "^$" -e "^#" | cut -c1-160 | head -"${CHILDREN_TOP:-60}"
} >"$OUT/flame-$NAME.txt"
cat "$OUT/flame-$NAME.txt"
echo
echo "wrote $OUT/flame-$NAME.svg and $OUT/flame-$NAME.txt" >&2
