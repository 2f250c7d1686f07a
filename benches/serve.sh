#!/usr/bin/env bash
# Serving benchmarks for `repox serve`, run by hand (never by the tests), loopback only.
#
# nginx serves a directory of generated files; it is both the baseline (hit figures are compared
# with nginx serving the same files, measured in the same run) and repox's upstream. Four
# python servers that answer 404 after 200 ms stand in for slow upstreams that lack a file.
# Figures: cached small files (req/s), a cached 100 MB file (GB/s), repox RSS (idle, serving
# 1 MB and 2 GB files), the time to first byte a miss adds to the upstream's own, and the first
# GET of a file that only one of five upstreams has.
#
#   benches/serve.sh            # builds with `cargo build --release`, then measures (~3 min)
#   LOAD_ROUNDS=1 LOAD_SECONDS=2 MISS_SAMPLES=3 benches/serve.sh   # a quick look
#
# REPOX=path/to/repox uses that binary instead of building one. Knobs: SMALL_FILES, LOAD_SECONDS,
# LOAD_ROUNDS, CONNECTIONS, MISS_SAMPLES, RACE_SAMPLES.
#
# Needs nginx, wrk, curl and python3 (`apt-get install -y nginx wrk curl python3`). Set
# CARGO_TARGET_DIR to reuse a target directory; BENCH_DIR to keep the files somewhere other than
# a fresh temp dir (it needs about 4.5 GB free).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SMALL_FILES=${SMALL_FILES:-200}  # 1-10 KB files for the req/s figures
LOAD_SECONDS=${LOAD_SECONDS:-10} # per wrk run
LOAD_ROUNDS=${LOAD_ROUNDS:-3}    # alternating nginx/repox rounds; the medians are compared
CONNECTIONS=${CONNECTIONS:-32}
MISS_SAMPLES=${MISS_SAMPLES:-31} # uncached files for the time-to-first-byte medians
RACE_SAMPLES=${RACE_SAMPLES:-11}
DELAY_404_MS=200

source benches/common.sh
need_tools nginx wrk curl python3
repox_binary
bench_work_dir bench

# ---- files -------------------------------------------------------------------------------
echo "generating files in $WORK..." >&2
WWW="$WORK/www"
G="org/bench"
mkdir -p "$WWW/$G/small/1.0" "$WWW/$G/big/1.0" "$WWW/$G/miss/1.0"
small_files "$WWW/$G/small/1.0" "$SMALL_FILES"
head -c 1M /dev/urandom >"$WWW/$G/big/1.0/big-1.0-1m.jar"
head -c 100M /dev/urandom >"$WWW/$G/big/1.0/big-1.0-100m.jar"
truncate -s 2G "$WWW/$G/big/1.0/big-1.0-2g.jar" # sparse: nginx reads zeros, repox writes 2 GB
for i in $(seq "$MISS_SAMPLES"); do head -c 100K /dev/urandom >"$WWW/$G/miss/1.0/miss-1.0-$i.jar"; done
for i in $(seq "$RACE_SAMPLES"); do head -c 100K /dev/urandom >"$WWW/$G/miss/1.0/race-1.0-$i.jar"; done

mapfile -t PORTS < <(free_ports 7)
NGINX_PORT=${PORTS[0]} REPOX_PORT=${PORTS[1]}
MISSING_PORTS=("${PORTS[@]:2:4}")
NGINX="http://127.0.0.1:$NGINX_PORT"
PROXY="http://127.0.0.1:$REPOX_PORT"

# ---- nginx -------------------------------------------------------------------------------
nginx_origin "$NGINX_PORT" "$WWW"

# ---- upstreams that lack every file ------------------------------------------------------
cat >"$WORK/slow404.py" <<'EOF'
import http.server, sys, time
class Missing(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        time.sleep(float(sys.argv[2]) / 1000)
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()
    do_HEAD = do_GET
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Missing).serve_forever()
EOF
for port in "${MISSING_PORTS[@]}"; do
    python3 "$WORK/slow404.py" "$port" "$DELAY_404_MS" &
    PIDS+=($!)
done

# ---- repox -------------------------------------------------------------------------------
{
    echo '[repositories.maven]'
    echo 'kind = "maven"'
    echo '[[repositories.maven.upstreams]]'
    echo 'name = "nginx"'
    echo "url = \"$NGINX/\""
    echo
    echo '# Five upstreams of one tier: four lack every file and say so after a delay.'
    echo '[repositories.race]'
    echo 'kind = "maven"'
    for port in "${MISSING_PORTS[@]}"; do
        echo '[[repositories.race.upstreams]]'
        echo "name = \"missing-$port\""
        echo "url = \"http://127.0.0.1:$port/\""
    done
    echo '[[repositories.race.upstreams]]'
    echo 'name = "nginx"'
    echo "url = \"$NGINX/\""
} >"$WORK/repox.toml"
repox_serve "$WORK/repox.toml" "$REPOX_PORT" "$WORK/cache" "$WORK/repox.log"

wait_http "$NGINX/"
wait_http "$PROXY/-/health"
for port in "${MISSING_PORTS[@]}"; do wait_http "http://127.0.0.1:$port/"; done

kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$REPOX_PID/status"; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f MiB", k / 1024 }'; }
# max_rss CMD...: runs CMD while sampling repox's VmRSS every 20 ms; prints the highest, in KiB.
max_rss() {
    local max=0 rss
    "$@" >/dev/null &
    local pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        rss=$(kb VmRSS)
        ((rss > max)) && max=$rss
        sleep 0.02
    done
    wait "$pid"
    echo "$max"
}

ROWS=()
row() { ROWS+=("$(printf '%-46s %18s %18s   %s' "$@")"); }

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- idle --------------------------------------------------------------------------------
sleep 1
RSS_IDLE=$(kb VmRSS)

# ---- cached small files ------------------------------------------------------------------
echo "warming $SMALL_FILES small files..." >&2
SMALL_PATHS=()
for i in $(seq 0 $((SMALL_FILES - 1))); do SMALL_PATHS+=("$G/small/1.0/small-1.0-$i.jar"); done
for p in "${SMALL_PATHS[@]}"; do curl -sf -o /dev/null "$PROXY/maven/$p"; done
cycle_script "/" "${SMALL_PATHS[@]}" >"$WORK/nginx.lua"
cycle_script "/maven/" "${SMALL_PATHS[@]}" >"$WORK/repox.lua"
# Alternating rounds, so that a burst of other work on the machine hits both servers alike.
: >"$WORK/rps-nginx" && : >"$WORK/rps-repox"
for round in $(seq "$LOAD_ROUNDS"); do
    echo "load: small files, round $round/$LOAD_ROUNDS, nginx then repox (${LOAD_SECONDS}s each)..." >&2
    wrk_rps "$NGINX" "$WORK/nginx.lua" "$CONNECTIONS" "$LOAD_SECONDS" >>"$WORK/rps-nginx" && echo >>"$WORK/rps-nginx"
    wrk_rps "$PROXY" "$WORK/repox.lua" "$CONNECTIONS" "$LOAD_SECONDS" >>"$WORK/rps-repox" && echo >>"$WORK/rps-repox"
done
RPS_NGINX=$(median <"$WORK/rps-nginx")
RPS_REPOX=$(median <"$WORK/rps-repox")
row "cached 1-10 KB files, req/s ($CONNECTIONS conns, median of $LOAD_ROUNDS)" "$RPS_NGINX" "$RPS_REPOX" \
    "repox/nginx = $(awk -v a="$RPS_REPOX" -v b="$RPS_NGINX" 'BEGIN { printf "%.2f", a / b }')"

# ---- 100 MB: miss, then cached -----------------------------------------------------------
BIG100="$G/big/1.0/big-1.0-100m.jar"
speed() { curl -sf -o /dev/null -w '%{speed_download}\n' "$1"; } # bytes/s
best_gbs() { # best_gbs URL: best of 3, GB/s
    local s
    s=$(for _ in 1 2 3; do speed "$1"; done | sort -g | tail -1)
    awk -v s="$s" 'BEGIN { printf "%.2f", s / 1e9 }'
}
echo "100 MB file..." >&2
MISS100=$(awk -v s="$(speed "$PROXY/maven/$BIG100")" 'BEGIN { printf "%.2f", s / 1e9 }')
if [ "$(curl -sf "$PROXY/maven/$BIG100" | sha256sum)" != "$(sha256sum <"$WWW/$BIG100")" ]; then
    echo "error: repox served different bytes for $BIG100" >&2
    exit 1
fi
HIT100_NGINX=$(best_gbs "$NGINX/$BIG100")
HIT100_REPOX=$(best_gbs "$PROXY/maven/$BIG100")
row "100 MB file, cached, GB/s (best of 3)" "$HIT100_NGINX" "$HIT100_REPOX" \
    "target >= 1 GB/s: $(awk -v r="$HIT100_REPOX" 'BEGIN { print (r >= 1) ? "met" : "MISSED" }')"
row "100 MB file, miss (stream-through), GB/s" "" "$MISS100" ""

# ---- RSS while serving 1 MB and 2 GB -----------------------------------------------------
echo "RSS: 1 MB file under load, 2 GB file miss and hit..." >&2
BIG1="$G/big/1.0/big-1.0-1m.jar"
curl -sf -o /dev/null "$PROXY/maven/$BIG1"
RSS_1M=$(max_rss wrk -t2 -c"$CONNECTIONS" -d5s --timeout 5s "$PROXY/maven/$BIG1")
BIG2G="$G/big/1.0/big-1.0-2g.jar"
RSS_2G_MISS=$(max_rss curl -sf -o /dev/null "$PROXY/maven/$BIG2G")
RSS_2G_HIT=$(max_rss curl -sf -o /dev/null "$PROXY/maven/$BIG2G")
HWM=$(kb VmHWM)

# ---- time to first byte of a miss ------------------------------------------------------
ttfb() { curl -sf -o /dev/null -w '%{time_starttransfer}\n' "$1"; } # seconds
echo "misses: time to first byte, direct vs via repox ($MISS_SAMPLES files)..." >&2
: >"$WORK/ttfb-direct"
: >"$WORK/ttfb-repox"
for i in $(seq "$MISS_SAMPLES"); do
    p="$G/miss/1.0/miss-1.0-$i.jar"
    ttfb "$NGINX/$p" >>"$WORK/ttfb-direct"
    ttfb "$PROXY/maven/$p" >>"$WORK/ttfb-repox"
done
TTFB_DIRECT=$(median <"$WORK/ttfb-direct")
TTFB_REPOX=$(median <"$WORK/ttfb-repox")
ms() { awk -v s="$1" 'BEGIN { printf "%.2f ms", s * 1000 }'; }
ADDED=$(awk -v a="$TTFB_REPOX" -v b="$TTFB_DIRECT" 'BEGIN { printf "%.2f", (a - b) * 1000 }')
row "miss, time to first byte (median of $MISS_SAMPLES)" "$(ms "$TTFB_DIRECT")" "$(ms "$TTFB_REPOX")" \
    "added $ADDED ms, target <= 2 ms: $(awk -v a="$ADDED" 'BEGIN { print (a <= 2) ? "met" : "MISSED" }')"

echo "race: first GETs, one of five upstreams has the file ($RACE_SAMPLES files)..." >&2
: >"$WORK/race"
for i in $(seq "$RACE_SAMPLES"); do
    curl -sf -o /dev/null -w '%{time_starttransfer} %{time_total}\n' \
        "$PROXY/race/$G/miss/1.0/race-1.0-$i.jar" >>"$WORK/race"
done
RACE_TTFB=$(awk '{ print $1 }' "$WORK/race" | median)
RACE_TOTAL=$(awk '{ print $2 }' "$WORK/race" | median)
row "first GET, 1 of 5 upstreams has it (median)" "$(ms "$TTFB_DIRECT")" "$(ms "$RACE_TTFB")" \
    "total $(ms "$RACE_TOTAL"); 404s take ${DELAY_404_MS} ms: $(awk -v t="$RACE_TOTAL" -v d="$DELAY_404_MS" 'BEGIN { print (t * 1000 < d) ? "met" : "MISSED" }')"

# ---- report ------------------------------------------------------------------------------
echo
echo "repox serve benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(nginx -v 2>&1 | sed 's/.*: //'), $("$REPOX" --version)"
echo "load average before: $LOAD_BEFORE, after: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews every figure)"
echo "nginx: sendfile, access log buffered; repox: release build, default logging (one line per request)"
echo
printf '%-46s %18s %18s   %s\n' "" "nginx" "repox" "comparison"
printf '%s\n' "${ROWS[@]}"
echo
echo "repox RSS: idle $(mib "$RSS_IDLE"); serving a 1 MB file ($CONNECTIONS conns) max $(mib "$RSS_1M");"
echo "           2 GB file miss max $(mib "$RSS_2G_MISS"), hit max $(mib "$RSS_2G_HIT"); VmHWM over the run $(mib "$HWM")"
