# Helpers shared by the benchmark scripts; each script sources this file.
#
# Background processes go in PIDS and are stopped on exit; a script that has more to clean up
# defines `cleanup_more`.

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if declare -F cleanup_more >/dev/null; then cleanup_more; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_ports() { # free_ports N: N free loopback ports, one per line
    python3 - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print("\n".join(str(s.getsockname()[1]) for s in socks))
PY
}

wait_http() { # wait_http URL: until it answers (any status), at most 20 s
    local i
    for i in $(seq 200); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.1
    done
    echo "error: $1 did not come up" >&2
    exit 1
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# ---- set-up shared by the scripts (tools, binary, work directory, servers) ----------------

need_tools() { # need_tools TOOL...: fails, with the apt-get line, when one is missing
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || {
            echo "error: $tool not found" >&2
            echo "hint: apt-get install -y $*" >&2
            exit 1
        }
    done
}

repox_binary() { # sets REPOX: the binary $REPOX names, else a fresh `cargo build --release`
    if [ -z "${REPOX:-}" ]; then
        echo "building repox (cargo build --release)..." >&2
        cargo build --release --quiet -p repox
        REPOX="${CARGO_TARGET_DIR:-target}/release/repox"
    fi
}

bench_work_dir() { # bench_work_dir NAME: sets WORK to $BENCH_DIR, else a temp dir removed on exit
    WORK="${BENCH_DIR:-$(mktemp -d "/tmp/repox-$1.XXXXXX")}"
    mkdir -p "$WORK"
    chmod 755 "$WORK" # nginx workers may run as another user
    cleanup_more() { if [ -z "${BENCH_DIR:-}" ]; then rm -rf "$WORK"; fi; }
}

small_files() { # small_files DIR N: N files of 1-10 KB, small-1.0-<i>.jar, the same sizes every run
    python3 - "$1" "$2" <<'PY'
import os, random, sys
random.seed(1)
for i in range(int(sys.argv[2])):
    with open(os.path.join(sys.argv[1], f"small-1.0-{i}.jar"), "wb") as f:
        f.write(os.urandom(random.randint(1024, 10 * 1024)))
PY
}

nginx_origin() { # nginx_origin PORT ROOT [WORKERS] [RATE]: nginx (sendfile) serving ROOT, its files
    # in $WORK/nginx; RATE (nginx `limit_rate`, bytes/s: 125m, 1250m) caps each response
    mkdir -p "$WORK/nginx"
    cat >"$WORK/nginx/nginx.conf" <<CONF
worker_processes ${3:-auto};
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log $WORK/nginx/access.log combined buffer=64k;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    default_type application/octet-stream;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server {
        listen 127.0.0.1:$1;
        root $2;
        ${4:+limit_rate $4;}
    }
}
CONF
    nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" 2>>"$WORK/nginx/error.log" &
    PIDS+=($!)
}

repox_serve() { # repox_serve CONFIG PORT CACHE_DIR LOG: starts `$REPOX serve`, sets REPOX_PID
    "$REPOX" --config "$1" serve --listen "127.0.0.1:$2" --cache-dir "$3" 2>"$4" &
    REPOX_PID=$!
    PIDS+=("$REPOX_PID")
}

cycle_script() { # cycle_script PREFIX PATH...: a wrk script that GETs PREFIX<path> in turn
    local prefix=$1 p
    shift
    echo 'local paths = {'
    for p in "$@"; do echo "  \"$prefix$p\","; done
    echo '}'
    echo 'local i = 0'
    echo 'request = function() i = i % #paths + 1; return wrk.format("GET", paths[i]) end'
}

wrk_rps() { # wrk_rps URL SCRIPT CONNS SECONDS: requests/s; fails on a non-2xx answer or socket error
    local out
    out=$(wrk -t2 -c"$3" -d"$4s" --timeout 10s -s "$2" "$1")
    if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
        echo "error: wrk saw failures against $1:" >&2
        echo "$out" >&2
        exit 1
    fi
    awk '/^Requests\/sec:/ { printf "%.0f", $2 }' <<<"$out"
}

start_origin() { # start_origin ROOT [WORKERS] [RATE]: nginx_origin on a free loopback port, up
    # when this returns; sets ORIGIN
    local port
    port=$(free_ports 1)
    nginx_origin "$port" "$1" "${2:-auto}" "${3:-}"
    ORIGIN="http://127.0.0.1:$port"
    wait_http "$ORIGIN/"
}

start_repox() { # start_repox BINARY NAME: BINARY serving one Maven repository `maven` over
    # $ORIGIN on a free loopback port, cache in $WORK/cache-NAME (emptied first: the scripts
    # write new random files into the origin on every run, under the same immutable release
    # paths, which a kept cache would rightly go on serving), log in $WORK/repox-NAME.log, up
    # when this returns; sets PROXY and REPOX_PID
    local binary=$1 name=$2 port
    rm -rf "$WORK/cache-$name"
    port=$(free_ports 1)
    maven_toml "$WORK/repox.toml" "$ORIGIN"
    REPOX=$binary repox_serve "$WORK/repox.toml" "$port" "$WORK/cache-$name" "$WORK/repox-$name.log"
    PROXY="http://127.0.0.1:$port"
    wait_http "$PROXY/-/health"
}

# ---- nginx as a cache in front of the origin (hit.sh, memory.sh, request.sh) ----------------
# No `tcp_nopush` in the cache: with `proxy_cache` it delays every response of a keep-alive
# connection by tens of milliseconds (100 KB hits at one connection ran at 5 MB/s with it,
# 690 MB/s without), which would flatter repox.

nginx_conf() { # nginx_conf NAME HTTP_BLOCK: an nginx with config, logs and pid in $WORK/NAME;
    # no access log unless HTTP_BLOCK sets one; sets NGINX_PID
    mkdir -p "$WORK/$1"
    cat >"$WORK/$1/nginx.conf" <<CONF
worker_processes auto;
daemon off;
pid $WORK/$1/nginx.pid;
error_log $WORK/$1/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    default_type application/octet-stream;
    client_body_temp_path $WORK/$1/body;
    proxy_temp_path $WORK/$1/proxy;
    fastcgi_temp_path $WORK/$1/fastcgi;
    uwsgi_temp_path $WORK/$1/uwsgi;
    scgi_temp_path $WORK/$1/scgi;
    $2
}
CONF
    nginx -p "$WORK/$1" -c "$WORK/$1/nginx.conf" 2>>"$WORK/$1/error.log" &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
}

nginx_cache() { # nginx_cache NAME PORT ORIGIN_URL [DIRECTIVES]: nginx_conf NAME with a
    # `proxy_cache` of ORIGIN_URL; DIRECTIVES go into its http block
    rm -rf "$WORK/$1/cache"
    nginx_conf "$1" "${4:-}
    proxy_cache_path $WORK/$1/cache levels=1:2 keys_zone=hit:10m inactive=1d use_temp_path=off;
    server {
        listen 127.0.0.1:$2;
        location / {
            proxy_pass $3;
            proxy_cache hit;
            proxy_cache_valid 200 1d;
            add_header X-Cache \$upstream_cache_status;
        }
    }"
}

maven_toml() { # maven_toml FILE ORIGIN_URL: a repox config with one Maven repository `maven` over it
    cat >"$1" <<CONF
[repositories.maven]
kind = "maven"
[[repositories.maven.upstreams]]
name = "origin"
url = "$2/"
CONF
}

wrk_mbs() { # wrk_mbs URL CONNS: MB/s (10^6 bytes/s) of wrk for $SECONDS_PER_RUN with up to
    # $THREADS threads; fails on a non-2xx answer or a socket error. Timeouts are expected when
    # 256 clients share a 1 GB body and are not errors.
    local out bytes micros status socket
    [ -s "$WORK/bytes.lua" ] || cat >"$WORK/bytes.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("BYTES %d %d %d %d %d\n", summary.bytes, summary.duration,
    e.status, e.connect + e.read + e.write, e.timeout))
end
LUA
    out=$(wrk -t"$(($2 < THREADS ? $2 : THREADS))" -c"$2" -d"${SECONDS_PER_RUN}s" --timeout 120s \
        -s "$WORK/bytes.lua" "$1")
    read -r _ bytes micros status socket _ < <(grep '^BYTES' <<<"$out")
    if ((status > 0 || socket > 0)); then
        echo "error: wrk saw failures against $1:" >&2
        echo "$out" >&2
        exit 1
    fi
    awk -v b="$bytes" -v us="$micros" 'BEGIN { printf "%.0f\n", b / us }'
}
