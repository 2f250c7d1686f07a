#!/usr/bin/env bash
# Large npm packument benchmark, run by hand (never by the tests), loopback only.
#
# The script generates a ~40 MB packument (like `@types/node`'s or `vite`'s: thousands of
# versions, long descriptions, a readme), serves it from nginx as the upstream (full document
# only: nginx ignores `Accept`, as a static mirror does), and puts repox and Verdaccio 6.8 (npm
# `verdaccio@6.8.0`, installed once into $BENCH_DIR) in front of it, in the same run.
# Figures, for each proxy:
#   - time to serve the full and the abbreviated packument, cold (first request: fetch, derive,
#     store) and warm (median of $RUNS requests);
#   - resident memory (VmRSS) after the warm requests, and the peak (VmHWM) over the run;
#   - bytes sent for the abbreviated request (what `npm install` downloads).
#
#   benches/packument.sh       # builds with `cargo build --release`, then measures (~2 min)
#
# REPOX=path/to/repox skips the build and measures that binary.
# Needs nginx, curl, python3, node and npm. Set CARGO_TARGET_DIR to reuse a target directory,
# BENCH_DIR to keep Verdaccio elsewhere (default /tmp/repox-packument-bench), RUNS, MB.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS=${RUNS:-11}
MB=${MB:-40}
WORK="${BENCH_DIR:-/tmp/repox-packument-bench}"
CORGI='application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*'

for tool in nginx curl python3 node npm; do
    command -v "$tool" >/dev/null || {
        echo "error: $tool not found" >&2
        echo "hint: apt-get install -y nginx curl python3 nodejs npm" >&2
        exit 1
    }
done

if [ -z "${REPOX:-}" ]; then
    echo "building repox (cargo build --release)..." >&2
    cargo build --release --quiet -p repox
    REPOX="${CARGO_TARGET_DIR:-target}/release/repox"
fi

mkdir -p "$WORK"
if [ ! -x "$WORK/verdaccio/node_modules/.bin/verdaccio" ]; then
    echo "installing verdaccio@6.8.0 into $WORK/verdaccio (once)..." >&2
    mkdir -p "$WORK/verdaccio"
    (cd "$WORK/verdaccio" && npm install --silent --no-audit --no-fund verdaccio@6.8.0 >/dev/null)
fi
VERDACCIO="$WORK/verdaccio/node_modules/.bin/verdaccio"

RUN="$(mktemp -d "$WORK/run.XXXXXX")"
chmod 755 "$WORK" "$RUN"
source benches/common.sh
cleanup_more() { rm -rf "$RUN"; }

mapfile -t PORTS < <(free_ports 3)
NGINX="http://127.0.0.1:${PORTS[0]}"
REPOX_URL="http://127.0.0.1:${PORTS[1]}/npm"
VERDACCIO_URL="http://127.0.0.1:${PORTS[2]}"

# ---- the packument -------------------------------------------------------------------------
echo "generating a ${MB} MB packument..." >&2
mkdir -p "$RUN/www"
python3 - "$RUN/www/huge" "$NGINX" "$MB" <<'EOF'
import json, sys, random
out, base, mb = sys.argv[1], sys.argv[2], int(sys.argv[3])
random.seed(1)
words = "the quick brown fox jumps over a lazy dog type definitions for node runtime".split()
versions, time = {}, {"created": "2016-01-01T00:00:00.000Z"}
size, i = 0, 0
while size < mb << 20:
    v = f"{i // 400}.{(i // 20) % 20}.{i % 20}"
    doc = {
        "name": "huge", "version": v,
        "description": " ".join(random.choice(words) for _ in range(60)),
        "license": "MIT", "main": "index.js", "types": "index.d.ts",
        "repository": {"type": "git", "url": "https://github.com/example/huge.git"},
        "scripts": {"test": "node test.js"} if i % 7 else {"postinstall": "node build.js"},
        "dependencies": {f"dep-{j}": f"^{j}.0.0" for j in range(i % 6)},
        "devDependencies": {f"dev-{j}": f"~{j}.1.0" for j in range(8)},
        "typesPublisherContentHash": f"{i:064x}", "typeScriptVersion": "4.5",
        "_npmUser": {"name": "types", "email": "ts-npm-types@microsoft.com"},
        "maintainers": [{"name": "types", "email": "ts-npm-types@microsoft.com"}],
        "dist": {"tarball": f"{base}/huge/-/huge-{v}.tgz", "shasum": f"{i:040x}",
                 "integrity": "sha512-" + "A" * 86 + "==", "fileCount": 40, "unpackedSize": 400000},
        "_hasShrinkwrap": False,
    }
    versions[v] = doc
    time[v] = "2020-01-01T00:00:00.000Z"
    size += len(json.dumps(doc)) + 40
    i += 1
time["modified"] = "2025-01-01T00:00:00.000Z"
latest = list(versions)[-1]
with open(out, "w") as f:
    json.dump({"_id": "huge", "name": "huge", "dist-tags": {"latest": latest},
               "versions": versions, "time": time, "readme": "# huge\n" * 2000,
               "license": "MIT"}, f)
print(f"{i} versions", file=sys.stderr)
EOF
SIZE=$(stat -c %s "$RUN/www/huge")

# ---- nginx ---------------------------------------------------------------------------------
mkdir -p "$RUN/nginx"
cat >"$RUN/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $RUN/nginx/nginx.pid;
error_log $RUN/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    default_type application/json;
    client_body_temp_path $RUN/nginx/body;
    proxy_temp_path $RUN/nginx/proxy;
    fastcgi_temp_path $RUN/nginx/fastcgi;
    uwsgi_temp_path $RUN/nginx/uwsgi;
    scgi_temp_path $RUN/nginx/scgi;
    server {
        listen 127.0.0.1:${PORTS[0]};
        root $RUN/www;
    }
}
EOF
nginx -p "$RUN/nginx" -c "$RUN/nginx/nginx.conf" 2>>"$RUN/nginx/error.log" &
PIDS+=($!)
wait_http "$NGINX/huge"

# ---- repox ---------------------------------------------------------------------------------
cat >"$RUN/repox.toml" <<EOF
[repositories.npm]
kind = "npm"
[[repositories.npm.upstreams]]
name = "nginx"
url = "$NGINX/"
EOF
"$REPOX" --config "$RUN/repox.toml" serve --listen "127.0.0.1:${PORTS[1]}" \
    --cache-dir "$RUN/repox-cache" 2>"$RUN/repox.log" &
REPOX_PID=$!
PIDS+=("$REPOX_PID")

# ---- verdaccio -----------------------------------------------------------------------------
cat >"$RUN/verdaccio.yaml" <<EOF
storage: $RUN/verdaccio-storage
uplinks:
  nginx:
    url: $NGINX/
    timeout: 120s
packages:
  '**':
    access: \$all
    proxy: nginx
log: { type: file, path: $RUN/verdaccio.log, level: error }
EOF
"$VERDACCIO" --config "$RUN/verdaccio.yaml" --listen "127.0.0.1:${PORTS[2]}" >/dev/null 2>&1 &
VERDACCIO_PID=$!
PIDS+=("$VERDACCIO_PID")
wait_http "http://127.0.0.1:${PORTS[1]}/-/health"
wait_http "$VERDACCIO_URL/-/ping"
# `.bin/verdaccio` may be a shell wrapper: measure the node process that listens.
VERDACCIO_NODE=$(pgrep -P "$VERDACCIO_PID" node || echo "$VERDACCIO_PID")

kb() { awk -v k="$1" '$1 == k ":" { print $2 }' "/proc/$2/status"; }
get() { # get URL [ACCEPT]: prints "seconds bytes"
    curl -sf -o /dev/null -H "Accept: ${2:-application/json}" -w '%{time_total} %{size_download}\n' "$1"
}

ROWS=()
row() { ROWS+=("$(printf '%-44s %14s %14s' "$@")"); }
declare -A URL=([repox]="$REPOX_URL/huge" [verdaccio]="$VERDACCIO_URL/huge")
declare -A PID=([repox]="$REPOX_PID" [verdaccio]="$VERDACCIO_NODE")
declare -A R
for p in repox verdaccio; do
    echo "$p: cold..." >&2
    R[$p-rss0]=$(kb VmRSS "${PID[$p]}")
    read -r R[$p-cold-full] _ < <(get "${URL[$p]}")
    read -r R[$p-cold-corgi] R[$p-corgi-bytes] < <(get "${URL[$p]}" "$CORGI")
    echo "$p: warm x $RUNS..." >&2
    R[$p-warm-full]=$(for _ in $(seq "$RUNS"); do get "${URL[$p]}" | cut -d' ' -f1; done | median)
    R[$p-warm-corgi]=$(for _ in $(seq "$RUNS"); do get "${URL[$p]}" "$CORGI" | cut -d' ' -f1; done | median)
    R[$p-rss]=$(kb VmRSS "${PID[$p]}")
    R[$p-hwm]=$(kb VmHWM "${PID[$p]}")
done
ms() { awk -v s="$1" 'BEGIN { printf "%.0f", s * 1000 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
row "full packument, cold, ms" "$(ms "${R[repox-cold-full]}")" "$(ms "${R[verdaccio-cold-full]}")"
row "abbreviated packument, cold, ms" "$(ms "${R[repox-cold-corgi]}")" "$(ms "${R[verdaccio-cold-corgi]}")"
row "full packument, warm, ms (median of $RUNS)" "$(ms "${R[repox-warm-full]}")" "$(ms "${R[verdaccio-warm-full]}")"
row "abbreviated, warm, ms (median of $RUNS)" "$(ms "${R[repox-warm-corgi]}")" "$(ms "${R[verdaccio-warm-corgi]}")"
row "abbreviated document, MB sent" "$(mib $((R[repox-corgi-bytes] / 1024)))" "$(mib $((R[verdaccio-corgi-bytes] / 1024)))"
row "RSS before the first request, MiB" "$(mib "${R[repox-rss0]}")" "$(mib "${R[verdaccio-rss0]}")"
row "RSS after the warm requests, MiB" "$(mib "${R[repox-rss]}")" "$(mib "${R[verdaccio-rss]}")"
row "peak RSS (VmHWM), MiB" "$(mib "${R[repox-hwm]}")" "$(mib "${R[verdaccio-hwm]}")"

echo
echo "packument: $(mib $((SIZE / 1024))) MiB, upstream nginx (full document only)"
printf '%-44s %14s %14s\n' "" "repox" "verdaccio 6.8"
printf '%s\n' "${ROWS[@]}"
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
