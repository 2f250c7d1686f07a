#!/usr/bin/env bash
# The S3 backend against the local store and nginx, in one run, loopback only, run by hand
# (never by the tests).
#
# nginx serves a directory of generated files: it is the baseline and the upstream of three
# repox servers that differ only in their storage:
#   fs        the local store (`FsStore`, the default)
#   s3+local  `[storage] url = "s3://..."` on a moto server, with the local hot copy (default
#             `local_cache_size`, 1 GiB: immutable entries up to 16 MiB are also kept on disk)
#   s3        the same bucket (another prefix) with `local_cache_size = "0"`: every hit reads S3
# Figures: cached small files (req/s), a cached 100 MB file (MB/s), and the time to first byte
# a miss adds to the upstream's own.
#
#   benches/s3.sh               # builds with `cargo build --release`, then measures (~5 min)
#   LOAD_ROUNDS=1 LOAD_SECONDS=2 MISS_SAMPLES=3 benches/s3.sh   # a quick look
#
# REPOX=path/to/repox uses that binary instead of building one. Knobs: SMALL_FILES, LOAD_SECONDS,
# LOAD_ROUNDS, CONNECTIONS, MISS_SAMPLES.
#
# Needs nginx, wrk, curl, python3 and moto (`apt-get install -y nginx wrk curl python3`,
# `python3 -m pip install 'moto[server]'`). moto is an S3 written in Python for tests: the "s3"
# column measures moto as much as repox (MinIO or S3 itself answer a GET far faster). Set
# CARGO_TARGET_DIR to reuse a target directory; BENCH_DIR to keep the files somewhere other
# than a fresh temp dir (it needs about 1 GB free).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SMALL_FILES=${SMALL_FILES:-200}  # 1-10 KB files for the req/s figures
LOAD_SECONDS=${LOAD_SECONDS:-10} # per wrk run
LOAD_ROUNDS=${LOAD_ROUNDS:-3}    # alternating rounds over the four servers; the medians are compared
CONNECTIONS=${CONNECTIONS:-32}
MISS_SAMPLES=${MISS_SAMPLES:-21} # uncached files per server for the time-to-first-byte medians

source benches/common.sh
need_tools nginx wrk curl python3
python3 -c 'import moto.server, flask, werkzeug' 2>/dev/null || {
    echo "error: moto is not installed" >&2
    echo "hint: python3 -m pip install 'moto[server]'" >&2
    exit 1
}

repox_binary
bench_work_dir bench-s3

# ---- files -------------------------------------------------------------------------------
echo "generating files in $WORK..." >&2
WWW="$WORK/www"
G="org/bench"
mkdir -p "$WWW/$G/small/1.0" "$WWW/$G/big/1.0" "$WWW/$G/miss/1.0"
small_files "$WWW/$G/small/1.0" "$SMALL_FILES"
head -c 100M /dev/urandom >"$WWW/$G/big/1.0/big-1.0-100m.jar"
for i in $(seq "$MISS_SAMPLES"); do head -c 100K /dev/urandom >"$WWW/$G/miss/1.0/miss-1.0-$i.jar"; done

SERVERS=(fs s3+local s3)
mapfile -t PORTS < <(free_ports 5)
NGINX_PORT=${PORTS[0]} MOTO_PORT=${PORTS[1]}
NGINX="http://127.0.0.1:$NGINX_PORT"
MOTO="http://127.0.0.1:$MOTO_PORT"
declare -A URL PID
for i in 0 1 2; do URL[${SERVERS[$i]}]="http://127.0.0.1:${PORTS[$((i + 2))]}"; done

# ---- nginx -------------------------------------------------------------------------------
nginx_origin "$NGINX_PORT" "$WWW"

# ---- moto --------------------------------------------------------------------------------
python3 -m moto.server -H 127.0.0.1 -p "$MOTO_PORT" >"$WORK/moto.log" 2>&1 &
PIDS+=($!)
wait_http "$MOTO/"
curl -sf -X PUT -o /dev/null "$MOTO/bench" # moto takes any credentials, and none here
export AWS_ACCESS_KEY_ID=repox-bench AWS_SECRET_ACCESS_KEY=repox-bench-secret

# ---- repox: three storages ---------------------------------------------------------------
for name in "${SERVERS[@]}"; do
    {
        echo '[repositories.maven]'
        echo 'kind = "maven"'
        echo '[[repositories.maven.upstreams]]'
        echo 'name = "nginx"'
        echo "url = \"$NGINX/\""
        case $name in
        s3+local)
            echo '[storage]'
            echo 'url = "s3://bench/local"'
            echo "endpoint = \"$MOTO\""
            echo 'region = "us-east-1"'
            ;;
        s3)
            echo '[storage]'
            echo 'url = "s3://bench/direct"'
            echo "endpoint = \"$MOTO\""
            echo 'region = "us-east-1"'
            echo 'local_cache_size = "0"'
            ;;
        esac
    } >"$WORK/$name.toml"
    repox_serve "$WORK/$name.toml" "${URL[$name]##*:}" "$WORK/cache-$name" "$WORK/repox-$name.log"
    PID[$name]=$REPOX_PID
done
wait_http "$NGINX/"
for name in "${SERVERS[@]}"; do wait_http "${URL[$name]}/-/health"; done

ROWS=()
row() { ROWS+=("$(printf '%-40s %12s %12s %12s %12s' "$@")"); }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- cached small files ------------------------------------------------------------------
echo "warming $SMALL_FILES small files on each server..." >&2
SMALL_PATHS=()
for i in $(seq 0 $((SMALL_FILES - 1))); do SMALL_PATHS+=("$G/small/1.0/small-1.0-$i.jar"); done
for name in "${SERVERS[@]}"; do
    for p in "${SMALL_PATHS[@]}"; do curl -sf -o /dev/null "${URL[$name]}/maven/$p"; done
done
cycle_script "/" "${SMALL_PATHS[@]}" >"$WORK/nginx.lua"
cycle_script "/maven/" "${SMALL_PATHS[@]}" >"$WORK/repox.lua"
# Alternating rounds, so that a burst of other work on the machine hits every server alike.
: >"$WORK/rps-nginx"
for name in "${SERVERS[@]}"; do : >"$WORK/rps-$name"; done
for round in $(seq "$LOAD_ROUNDS"); do
    echo "load: small files, round $round/$LOAD_ROUNDS (${LOAD_SECONDS}s per server)..." >&2
    wrk_rps "$NGINX" "$WORK/nginx.lua" "$CONNECTIONS" "$LOAD_SECONDS" >>"$WORK/rps-nginx" && echo >>"$WORK/rps-nginx"
    for name in "${SERVERS[@]}"; do
        wrk_rps "${URL[$name]}" "$WORK/repox.lua" "$CONNECTIONS" "$LOAD_SECONDS" >>"$WORK/rps-$name" && echo >>"$WORK/rps-$name"
    done
done
declare -A RPS
RPS[nginx]=$(median <"$WORK/rps-nginx")
for name in "${SERVERS[@]}"; do RPS[$name]=$(median <"$WORK/rps-$name"); done
row "cached 1-10 KB files, req/s" "${RPS[nginx]}" "${RPS[fs]}" "${RPS[s3+local]}" "${RPS[s3]}"
row "  ratio to fs" "$(ratio "${RPS[nginx]}" "${RPS[fs]}")" "1.00" \
    "$(ratio "${RPS[s3+local]}" "${RPS[fs]}")" "$(ratio "${RPS[s3]}" "${RPS[fs]}")"
row "  ratio to nginx" "1.00" "$(ratio "${RPS[fs]}" "${RPS[nginx]}")" \
    "$(ratio "${RPS[s3+local]}" "${RPS[nginx]}")" "$(ratio "${RPS[s3]}" "${RPS[nginx]}")"

# ---- 100 MB: miss, then cached -----------------------------------------------------------
BIG100="$G/big/1.0/big-1.0-100m.jar"
WANT=$(sha256sum <"$WWW/$BIG100")
speed() { curl -sf -o /dev/null -w '%{speed_download}\n' "$1"; } # bytes/s
best_mbs() { # best_mbs URL: best of 3, MB/s
    local s
    s=$(for _ in 1 2 3; do speed "$1"; done | sort -g | tail -1)
    awk -v s="$s" 'BEGIN { printf "%.0f", s / 1e6 }'
}
declare -A MISS HIT
for name in "${SERVERS[@]}"; do
    echo "100 MB file through $name..." >&2
    MISS[$name]=$(awk -v s="$(speed "${URL[$name]}/maven/$BIG100")" 'BEGIN { printf "%.0f", s / 1e6 }')
    if [ "$(curl -sf "${URL[$name]}/maven/$BIG100" | sha256sum)" != "$WANT" ]; then
        echo "error: $name served different bytes for $BIG100" >&2
        exit 1
    fi
    HIT[$name]=$(best_mbs "${URL[$name]}/maven/$BIG100")
done
HIT[nginx]=$(best_mbs "$NGINX/$BIG100")
row "100 MB file, cached, MB/s (best of 3)" "${HIT[nginx]}" "${HIT[fs]}" "${HIT[s3+local]}" "${HIT[s3]}"
row "  ratio to fs" "$(ratio "${HIT[nginx]}" "${HIT[fs]}")" "1.00" \
    "$(ratio "${HIT[s3+local]}" "${HIT[fs]}")" "$(ratio "${HIT[s3]}" "${HIT[fs]}")"
row "  ratio to nginx" "1.00" "$(ratio "${HIT[fs]}" "${HIT[nginx]}")" \
    "$(ratio "${HIT[s3+local]}" "${HIT[nginx]}")" "$(ratio "${HIT[s3]}" "${HIT[nginx]}")"
row "100 MB file, miss (stream-through), MB/s" "" "${MISS[fs]}" "${MISS[s3+local]}" "${MISS[s3]}"

# ---- time to first byte of a miss ------------------------------------------------------
ttfb() { curl -sf -o /dev/null -w '%{time_starttransfer}\n' "$1"; } # seconds
echo "misses: time to first byte, direct vs via each repox ($MISS_SAMPLES files)..." >&2
: >"$WORK/ttfb-nginx"
for name in "${SERVERS[@]}"; do : >"$WORK/ttfb-$name"; done
for i in $(seq "$MISS_SAMPLES"); do
    p="$G/miss/1.0/miss-1.0-$i.jar"
    ttfb "$NGINX/$p" >>"$WORK/ttfb-nginx"
    for name in "${SERVERS[@]}"; do ttfb "${URL[$name]}/maven/$p" >>"$WORK/ttfb-$name"; done
done
declare -A TTFB
for name in nginx "${SERVERS[@]}"; do TTFB[$name]=$(median <"$WORK/ttfb-$name"); done
ms() { awk -v s="$1" 'BEGIN { printf "%.2f", s * 1000 }'; }
added() { awk -v a="$1" -v b="${TTFB[nginx]}" 'BEGIN { printf "+%.2f", (a - b) * 1000 }'; }
row "miss, time to first byte, ms (median)" "$(ms "${TTFB[nginx]}")" "$(ms "${TTFB[fs]}")" \
    "$(ms "${TTFB[s3+local]}")" "$(ms "${TTFB[s3]}")"
row "  added to the upstream's own, ms" "" "$(added "${TTFB[fs]}")" \
    "$(added "${TTFB[s3+local]}")" "$(added "${TTFB[s3]}")"

# ---- report ------------------------------------------------------------------------------
echo
echo "repox S3 benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(nginx -v 2>&1 | sed 's/.*: //'), moto $(python3 -c 'import moto; print(moto.__version__)'), $("$REPOX" --version)"
echo "load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every figure)"
echo "$CONNECTIONS connections for req/s, median of $LOAD_ROUNDS rounds of ${LOAD_SECONDS}s; release build, default logging"
echo
printf '%-40s %12s %12s %12s %12s\n' "" "nginx" "fs" "s3+local" "s3"
printf '%s\n' "${ROWS[@]}"
