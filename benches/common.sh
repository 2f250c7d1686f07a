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

need() { # need TOOL...: exits with an install hint when one of them is missing
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || {
            echo "error: $tool not found" >&2
            echo "hint: apt-get install -y $*" >&2
            exit 1
        }
    done
}

repox_binary() { # sets REPOX: as given, else built with `cargo build --release`
    if [ -z "${REPOX:-}" ]; then
        echo "building repox (cargo build --release)..." >&2
        cargo build --release --quiet -p repox
        REPOX="${CARGO_TARGET_DIR:-target}/release/repox"
    fi
}

start_origin() { # start_origin ROOT [WORKERS]: nginx serving ROOT on a free loopback port
    # (sendfile, no access log; config and logs in $WORK/nginx), up when this returns; sets ORIGIN
    local root=$1 workers=${2:-auto} port
    port=$(free_ports 1)
    mkdir -p "$WORK/nginx"
    cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes $workers;
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
    server { listen 127.0.0.1:$port; root $root; }
}
EOF
    nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" 2>>"$WORK/nginx/error.log" &
    PIDS+=($!)
    ORIGIN="http://127.0.0.1:$port"
    wait_http "$ORIGIN/"
}

start_repox() { # start_repox BINARY NAME: BINARY serving one Maven repository `maven` over
    # $ORIGIN on a free loopback port, cache in $WORK/cache-NAME, log in $WORK/repox-NAME.log,
    # up when this returns; sets PROXY and REPOX_PID
    local binary=$1 name=$2 port
    port=$(free_ports 1)
    cat >"$WORK/repox.toml" <<EOF
[repositories.maven]
kind = "maven"
[[repositories.maven.upstreams]]
name = "origin"
url = "$ORIGIN/"
EOF
    "$binary" --config "$WORK/repox.toml" serve --listen "127.0.0.1:$port" \
        --cache-dir "$WORK/cache-$name" 2>"$WORK/repox-$name.log" &
    REPOX_PID=$!
    PIDS+=("$REPOX_PID")
    PROXY="http://127.0.0.1:$port"
    wait_http "$PROXY/-/health"
}
