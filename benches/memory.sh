#!/usr/bin/env bash
# Where repox's memory goes under a hit load, beside nginx in the same run, by hand (never by the
# tests), loopback only.
#
# An nginx "origin" serves generated files of 100 KB, 1 MB and 10 MB; nginx (`proxy_cache`,
# `sendfile on`, as in `hit.sh`) and one or more repox binaries sit in front of it, each with its
# own cache, warmed with one GET of each file. Then wrk loads each file at 32 and 256
# connections, one server at a time, the servers' order rotating every round. For every server
# the script prints its resident memory (MiB), split as the kernel does (`/proc/PID/status`):
#
#   - anon: heap (every malloc arena), thread stacks, anonymous mappings;
#   - file: pages of mapped files, mostly the executable's code and libc (shared with other
#     processes; shared memory such as nginx's cache zone is counted here too);
#
# at four moments: just started (repox only, before any request but its health check), idle
# (warm, before any load), peak under load (VmHWM, reset when the load starts; nginx: master
# and workers added up) and idle after the load (2 s and $SETTLE s after
# the last run: tokio's idle blocking threads exit after 10 s). For each repox it also prints
# where its anonymous memory lies (from `/proc/PID/smaps`: the main heap, other anonymous
# mappings, which are the other malloc arenas and thread stacks, and the executable: its code
# apart from its data) and its
# thread count. Last, the MB/s each server delivered, so a change that saves memory can be
# seen not to cost speed.
#
#   benches/memory.sh                                   # builds with `cargo build --release`
#   benches/memory.sh before=/work/bench/repox-main after=target/release/repox
#   benches/memory.sh 'arenas2=env MALLOC_ARENA_MAX=2 target/release/repox'
#
# Each argument is LABEL=COMMAND (a repox binary, optionally behind `env VAR=VALUE ...`).
# Knobs: SIZES (default "100K 1M 10M"), CONNS ("32 256"), ROUNDS (2), SECONDS_PER_RUN (3),
# SETTLE (15). Needs nginx, wrk, curl and python3. BENCH_DIR keeps the files (about 100 MB per
# server) somewhere other than a fresh temp dir.
#
# The machine's other work moves the figures less than it moves speed, but it does move them
# (a busier machine keeps more connections in flight at once): compare servers within one run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SIZES=(${SIZES:-100K 1M 10M})
CONNS=(${CONNS:-32 256})
ROUNDS=${ROUNDS:-2}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-3}
SETTLE=${SETTLE:-15}
THREADS=${THREADS:-2} # wrk threads

source benches/common.sh
need_tools nginx wrk curl python3

SPECS=("$@")
if [ ${#SPECS[@]} -eq 0 ]; then
    echo "building repox (cargo build --release)..." >&2
    cargo build --release --quiet -p repox
    SPECS=("repox=${CARGO_TARGET_DIR:-target}/release/repox")
fi
LABELS=()
for spec in "${SPECS[@]}"; do
    [[ "$spec" == *=* ]] || { echo "error: '$spec' is not LABEL=COMMAND" >&2; exit 1; }
    LABELS+=("${spec%%=*}")
done

bench_work_dir memory

# ---- files -------------------------------------------------------------------------------
G="org/bench/mem/1.0"
WWW="$WORK/www"
mkdir -p "$WWW/$G"
for size in "${SIZES[@]}"; do
    f="$WWW/$G/mem-1.0-$size.jar"
    [ -s "$f" ] || head -c "$size" /dev/urandom >"$f"
done

mapfile -t PORTS < <(free_ports $((2 + ${#SPECS[@]})))
ORIGIN="http://127.0.0.1:${PORTS[0]}"

# ---- nginx: the origin, and the cache in front of it (as in hit.sh) ---------------------------
nginx_conf origin "server { listen 127.0.0.1:${PORTS[0]}; root $WWW; }"
nginx_cache nginx "${PORTS[1]}" "$ORIGIN"
declare -A PID URL
PID[nginx]=$NGINX_PID
URL[nginx]="http://127.0.0.1:${PORTS[1]}"

maven_toml "$WORK/repox.toml" "$ORIGIN"
i=2
for spec in "${SPECS[@]}"; do
    label=${spec%%=*}
    rm -rf "$WORK/cache-$label"
    # Word splitting is wanted: the command may be `env VAR=VALUE path`; `env` execs, so $! is
    # repox's own pid.
    ${spec#*=} --config "$WORK/repox.toml" serve --listen "127.0.0.1:${PORTS[$i]}" \
        --cache-dir "$WORK/cache-$label" 2>"$WORK/repox-$label.log" &
    PIDS+=($!)
    PID[$label]=$!
    URL[$label]="http://127.0.0.1:${PORTS[$i]}/maven"
    i=$((i + 1))
done
SERVERS=(nginx "${LABELS[@]}")

wait_http "$ORIGIN/"
wait_http "${URL[nginx]}/"
for label in "${LABELS[@]}"; do wait_http "${URL[$label]%/maven}/-/health"; done

# Just started: one health request answered, nothing else asked yet.
sleep 1
declare -A START
for label in "${LABELS[@]}"; do
    START[$label]=$(awk '$1 == "RssAnon:" { a = $2 } $1 == "RssFile:" || $1 == "RssShmem:" { f += $2 }
        $1 == "VmRSS:" { t = $2 } $1 == "Threads:" { th = $2 } END { print a + 0, f + 0, t + 0, th + 0 }' \
        "/proc/${PID[$label]}/status")
done

# ---- warm every cache, check the bytes -----------------------------------------------------
echo "warming the caches..." >&2
for size in "${SIZES[@]}"; do
    p="$G/mem-1.0-$size.jar"
    want=$(sha256sum <"$WWW/$p")
    for who in "${SERVERS[@]}"; do
        curl -sf -o /dev/null "${URL[$who]}/$p"
        [ "$(curl -sf "${URL[$who]}/$p" | sha256sum)" = "$want" ] ||
            { echo "error: $who served other bytes for $p" >&2; exit 1; }
    done
    curl -sfI "${URL[nginx]}/$p" | grep -qi '^x-cache: HIT' || { echo "error: nginx does not cache $p" >&2; exit 1; }
    for label in "${LABELS[@]}"; do
        curl -sfI "${URL[$label]}/$p" | grep -qi '^x-repox-cache: hit' ||
            { echo "error: $label does not cache $p" >&2; exit 1; }
    done
done

# mem WHO: "anon file total threads" in KiB of the server's processes (nginx: master and workers)
# now; `mem WHO peak` gives the peak total since the last `reset WHO` instead of the total.
tree() { echo "$1" $(pgrep -P "$1" || true); }
mem() {
    local pid field=VmRSS
    [ "${2:-}" = peak ] && field=VmHWM
    for pid in $(tree "${PID[$1]}"); do cat "/proc/$pid/status" 2>/dev/null || true; done |
        awk -v f="$field:" '$1 == "RssAnon:" { a += $2 } $1 == "RssFile:" || $1 == "RssShmem:" { fl += $2 }
            $1 == f { t += $2 } $1 == "Threads:" { th += $2 } END { print a + 0, fl + 0, t + 0, th + 0 }'
}
reset() { # reset WHO: start the peak (VmHWM) afresh (`5` to clear_refs, see proc(5))
    local pid
    for pid in $(tree "${PID[$1]}"); do echo 5 >"/proc/$pid/clear_refs"; done
}
# smaps WHO: the repox process's resident KiB by kind of mapping: "heap arenas+stacks code
# exe-data other", where code is the executable's executable mapping and exe-data its others
# (read-only data, relocated data: `.data.rel.ro` is anonymous once relocated).
smaps() {
    python3 - "${PID[$1]}" <<'PY'
import os, sys
pid = sys.argv[1]
exe = os.path.realpath(f"/proc/{pid}/exe")
kinds = {"heap": 0, "anon": 0, "code": 0, "exe": 0, "other": 0}
kind = "other"
for line in open(f"/proc/{pid}/smaps"):
    parts = line.split()
    if "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
        name = parts[5] if len(parts) > 5 else ""
        kind = ("heap" if name == "[heap]" else "anon" if name == "" else
                ("code" if "x" in parts[1] else "exe") if name == exe else "other")
    elif parts[0] == "Rss:":
        kinds[kind] += int(parts[1])
print(kinds["heap"], kinds["anon"], kinds["code"], kinds["exe"], kinds["other"])
PY
}

# The peak of RssAnon is not kept by the kernel: sample it every 100 ms during the load.
sample_anon() { # sample_anon: until killed, the highest RssAnon of every server into $WORK/anon-WHO
    local who kb
    declare -A max
    for who in "${SERVERS[@]}"; do max[$who]=0; done
    while :; do
        for who in "${SERVERS[@]}"; do
            read -r kb _ < <(mem "$who")
            if ((kb > max[$who])); then max[$who]=$kb && echo "$kb" >"$WORK/anon-$who"; fi
        done
        sleep 0.1
    done
}

sleep 2
declare -A IDLE PEAK AFTER2 AFTER SMAPS_IDLE SMAPS_PEAK SMAPS_AFTER
for who in "${SERVERS[@]}"; do
    IDLE[$who]=$(mem "$who")
    [ "$who" = nginx ] || SMAPS_IDLE[$who]=$(smaps "$who")
    reset "$who"
    echo 0 >"$WORK/anon-$who"
done
sample_anon &
SAMPLER=$!
PIDS+=("$SAMPLER")


LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
rm -f "$WORK"/mbs-* # samples of an earlier run in the same BENCH_DIR
for round in $(seq "$ROUNDS"); do
    # Rotate the order every round, so no server always follows the same one.
    n=${#SERVERS[@]}
    order=()
    for ((k = 0; k < n; k++)); do order+=("${SERVERS[$(((k + round - 1) % n))]}"); done
    for size in "${SIZES[@]}"; do
        for c in "${CONNS[@]}"; do
            echo "round $round/$ROUNDS: $size at $c connections..." >&2
            for who in "${order[@]}"; do
                wrk_mbs "${URL[$who]}/$G/mem-1.0-$size.jar" "$c" >>"$WORK/mbs-$who-$size-$c"
                [ "$who" = nginx ] || SMAPS_PEAK[$who]=$(smaps "$who") # kept: the last run's
            done
        done
    done
done
kill "$SAMPLER" 2>/dev/null || true
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
for who in "${SERVERS[@]}"; do PEAK[$who]=$(mem "$who" peak); done
sleep 2
for who in "${SERVERS[@]}"; do AFTER2[$who]=$(mem "$who"); done
sleep "$((SETTLE > 2 ? SETTLE - 2 : 0))"
for who in "${SERVERS[@]}"; do
    AFTER[$who]=$(mem "$who")
    [ "$who" = nginx ] || SMAPS_AFTER[$who]=$(smaps "$who")
done

# ---- report ------------------------------------------------------------------------------
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
echo
echo "repox memory benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(nginx -v 2>&1 | sed 's/.*: //')"
echo "load average before: $LOAD_BEFORE, after: $LOAD_AFTER (other work on the machine moves every figure)"
echo "files ${SIZES[*]} at ${CONNS[*]} connections, wrk ${SECONDS_PER_RUN}s per run, $ROUNDS rounds"
for label in "${LABELS[@]}"; do
    for spec in "${SPECS[@]}"; do [ "${spec%%=*}" = "$label" ] && echo "  $label: ${spec#*=}"; done
done
echo
echo "RSS, MiB (anon + file = total; peak: VmHWM while loaded, anon peak sampled every 100 ms)"
printf '%-10s | %-18s | %-18s | %-18s | %-18s | %-18s | %s\n' server "just started" "idle" "peak under load" \
    "idle 2 s after" "idle ${SETTLE} s after" "threads idle/after"
split() { # split "anon file total threads": "anon+file=total"
    read -r a f t _ <<<"$1"
    printf '%s+%s=%s' "$(mib "$a")" "$(mib "$f")" "$(mib "$t")"
}
for who in "${SERVERS[@]}"; do
    read -r _ _ peak _ <<<"${PEAK[$who]}"
    start=-
    [ "$who" = nginx ] || start=$(split "${START[$who]}")
    printf '%-10s | %-18s | %-18s | %-18s | %-18s | %-18s | %s/%s\n' "$who" "$start" "$(split "${IDLE[$who]}")" \
        "anon $(mib "$(cat "$WORK/anon-$who")"), $(mib "$peak")" "$(split "${AFTER2[$who]}")" \
        "$(split "${AFTER[$who]}")" "$(cut -d' ' -f4 <<<"${IDLE[$who]}")" "$(cut -d' ' -f4 <<<"${AFTER[$who]}")"
done
echo
echo "repox resident memory by mapping, MiB: main heap / other anonymous (malloc arenas, thread stacks) / executable's code / its data / other files"
printf '%-10s | %-30s | %-30s | %-30s\n' server idle "end of the last run" "idle ${SETTLE} s after"
parts() { read -r h a c e o <<<"$1"; printf '%s / %s / %s / %s / %s' "$(mib "$h")" "$(mib "$a")" "$(mib "$c")" "$(mib "$e")" "$(mib "$o")"; }
for label in "${LABELS[@]}"; do
    printf '%-10s | %-30s | %-30s | %-30s\n' "$label" "$(parts "${SMAPS_IDLE[$label]}")" \
        "$(parts "${SMAPS_PEAK[$label]}")" "$(parts "${SMAPS_AFTER[$label]}")"
done
echo
echo "Throughput while measured, MB/s (median of $ROUNDS; a change of allocator must not cost speed)"
printf '%-8s %6s' size conns
for who in "${SERVERS[@]}"; do printf ' %10s' "$who"; done
echo
for size in "${SIZES[@]}"; do
    for c in "${CONNS[@]}"; do
        printf '%-8s %6s' "$size" "$c"
        for who in "${SERVERS[@]}"; do printf ' %10s' "$(median <"$WORK/mbs-$who-$size-$c")"; done
        echo
    done
done
