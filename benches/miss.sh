#!/usr/bin/env bash
# Misses: a body streamed through repox while it is downloaded, hashed and written to the cache,
# against the same body fetched straight from the upstream, in the same run, by hand (never by the
# tests), loopback only.
#
# An nginx upstream on 127.0.0.1 serves a 1 GB file under $ROUNDS names (hard links, so every
# round is a cold miss for repox and a page-cache read for nginx). Each round fetches one name
# with curl directly and another through a fresh miss of repox, alternating which goes first.
# Figures: the median speed of each (target: repox >= 0.9x direct) and the median time to first
# byte of $TTFB_SAMPLES 100 KB misses, direct and through repox (target: <= 1 ms added).
#
#   benches/miss.sh            # builds with `cargo build --release`, then measures (~2 min)
#
# Needs nginx, curl and python3. Set CARGO_TARGET_DIR to reuse a target directory, BENCH_DIR to
# keep the files elsewhere (it needs about 1 GB plus 1 GB per round for repox's cache).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

ROUNDS=${ROUNDS:-5}
SIZE=${SIZE:-1G}
TTFB_SAMPLES=${TTFB_SAMPLES:-31}

for tool in nginx curl python3; do
    command -v "$tool" >/dev/null || {
        echo "error: $tool not found" >&2
        echo "hint: apt-get install -y nginx curl python3" >&2
        exit 1
    }
done
if [ -z "${REPOX:-}" ]; then
    echo "building repox (cargo build --release)..." >&2
    cargo build --release --quiet -p repox
    REPOX="${CARGO_TARGET_DIR:-target}/release/repox"
fi

WORK="${BENCH_DIR:-$(mktemp -d /tmp/repox-miss.XXXXXX)}"
mkdir -p "$WORK"
chmod 755 "$WORK"
source benches/common.sh
cleanup_more() { if [ -z "${BENCH_DIR:-}" ]; then rm -rf "$WORK"; fi; }

G="org/bench/miss/1.0"
WWW="$WORK/www"
mkdir -p "$WWW/$G"
echo "generating a $SIZE file and $TTFB_SAMPLES small ones..." >&2
[ -s "$WWW/$G/big.bin" ] || head -c "$SIZE" /dev/urandom >"$WWW/$G/big.bin"
for i in $(seq "$ROUNDS"); do
    ln -f "$WWW/$G/big.bin" "$WWW/$G/miss-1.0-direct$i.jar"
    ln -f "$WWW/$G/big.bin" "$WWW/$G/miss-1.0-repox$i.jar"
done
for i in $(seq "$TTFB_SAMPLES"); do head -c 100K /dev/urandom >"$WWW/$G/miss-1.0-small$i.jar"; done
cat "$WWW/$G/big.bin" >/dev/null # the upstream reads from the page cache, as a warm server does

mapfile -t PORTS < <(free_ports 2)
ORIGIN="http://127.0.0.1:${PORTS[0]}"
PROXY="http://127.0.0.1:${PORTS[1]}"
mkdir -p "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    default_type application/octet-stream;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server { listen 127.0.0.1:${PORTS[0]}; root $WWW; }
}
EOF
nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" 2>>"$WORK/nginx/error.log" &
PIDS+=($!)
cat >"$WORK/repox.toml" <<EOF
[repositories.maven]
kind = "maven"
[[repositories.maven.upstreams]]
name = "origin"
url = "$ORIGIN/"
EOF
"$REPOX" --config "$WORK/repox.toml" serve --listen "127.0.0.1:${PORTS[1]}" \
    --cache-dir "$WORK/cache" 2>"$WORK/repox.log" &
PIDS+=($!)
wait_http "$ORIGIN/"
wait_http "$PROXY/-/health"

speed() { curl -sf -o /dev/null -w '%{speed_download}\n' "$1"; } # bytes/s
: >"$WORK/direct" && : >"$WORK/repox"
for i in $(seq "$ROUNDS"); do
    echo "round $i/$ROUNDS: $SIZE direct and through a repox miss..." >&2
    if ((i % 2)); then
        speed "$ORIGIN/$G/miss-1.0-direct$i.jar" >>"$WORK/direct"
        speed "$PROXY/maven/$G/miss-1.0-repox$i.jar" >>"$WORK/repox"
    else
        speed "$PROXY/maven/$G/miss-1.0-repox$i.jar" >>"$WORK/repox"
        speed "$ORIGIN/$G/miss-1.0-direct$i.jar" >>"$WORK/direct"
    fi
    rm -rf "$WORK/cache/data-v1" # keep the disk from filling; later rounds are misses anyway
done
want=$(sha256sum <"$WWW/$G/big.bin")
[ "$(curl -sf "$PROXY/maven/$G/miss-1.0-repox1.jar" | sha256sum)" = "$want" ] || {
    echo "error: repox served other bytes" >&2
    exit 1
}

ttfb() { curl -sf -o /dev/null -w '%{time_starttransfer}\n' "$1"; } # seconds
: >"$WORK/ttfb-direct" && : >"$WORK/ttfb-repox"
for i in $(seq "$TTFB_SAMPLES"); do
    ttfb "$ORIGIN/$G/miss-1.0-small$i.jar" >>"$WORK/ttfb-direct"
    ttfb "$PROXY/maven/$G/miss-1.0-small$i.jar" >>"$WORK/ttfb-repox"
done

D=$(median <"$WORK/direct")
R=$(median <"$WORK/repox")
TD=$(median <"$WORK/ttfb-direct")
TR=$(median <"$WORK/ttfb-repox")
echo
echo "repox miss benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-40s %12s %12s   %s\n' "" direct "via repox" comparison
printf '%-40s %12.0f %12.0f   %.2fx (target >= 0.9x)\n' "$SIZE miss, MB/s (median of $ROUNDS)" \
    "$(awk -v s="$D" 'BEGIN { print s / 1e6 }')" "$(awk -v s="$R" 'BEGIN { print s / 1e6 }')" \
    "$(awk -v a="$R" -v b="$D" 'BEGIN { print a / b }')"
printf '%-40s %9.2f ms %9.2f ms   added %.2f ms (target <= 1 ms)\n' \
    "100 KB miss, time to first byte (median)" "$(awk -v s="$TD" 'BEGIN { print s * 1000 }')" \
    "$(awk -v s="$TR" 'BEGIN { print s * 1000 }')" "$(awk -v a="$TR" -v b="$TD" 'BEGIN { print (a - b) * 1000 }')"
