#!/usr/bin/env bash
# PEP 658 generation benchmark, run by hand (never by the tests), loopback only, no internet.
#
# The script generates a package index without PEP 658 metadata: $PROJECTS projects of two
# versions each, one wheel per version padded with $WHEEL_MB MB of incompressible data, whose
# dependencies form a tree (project i requires 2i+1 and 2i+2), served by nginx (which answers
# Range requests, as PyPI's CDN and most static hosts do). Two repox instances proxy it, one
# with `generate_metadata = true` (the default: pages announce `core-metadata`, `.metadata` is
# read from the wheel by range requests) and one with `generate_metadata = false`.
# Figures, each measured in the same run, for `uv pip compile` of `proj-0` (which pulls in all):
#   - cold: a fresh repox cache for each round (repox restarted), median of $RUNS rounds;
#   - warm: the same compile again on that cache;
#   - the bytes nginx sent during the cold compiles (what resolution cost the upstream);
#   - direct from nginx, for reference (uv then reads each wheel's METADATA by ranges itself).
#
#   benches/pep658.sh          # builds with `cargo build --release`, then measures (~2 min)
#
# REPOX=path/to/repox skips the build and measures that binary.
# Needs nginx, curl, python3 and uv. Set CARGO_TARGET_DIR to reuse a target directory, RUNS for
# more rounds, PROJECTS and WHEEL_MB for another index.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS=${RUNS:-5}
PROJECTS=${PROJECTS:-40}
WHEEL_MB=${WHEEL_MB:-2}

for tool in nginx curl python3 uv; do
    command -v "$tool" >/dev/null || {
        echo "error: $tool not found" >&2
        echo "hint: apt-get install -y nginx curl python3; pip install uv" >&2
        exit 1
    }
done

if [ -z "${REPOX:-}" ]; then
    echo "building repox (cargo build --release)..." >&2
    cargo build --release --quiet -p repox
    REPOX="${CARGO_TARGET_DIR:-target}/release/repox"
fi

RUN="$(mktemp -d /tmp/repox-pep658-bench.XXXXXX)"
chmod 755 "$RUN"
source benches/common.sh
cleanup_more() { rm -rf "$RUN"; }

# A clean environment: no uv configuration, no proxies.
clean() { env -i HOME="$HOME" PATH="$PATH" ${PYENV_ROOT:+PYENV_ROOT="$PYENV_ROOT"} \
    UV_NO_CONFIG=1 UV_PYTHON_DOWNLOADS=never "$@"; }

# ---- the index (no .metadata files, no data-core-metadata) ------------------------------------
echo "generating $PROJECTS projects x 2 versions, ${WHEEL_MB} MB wheels..." >&2
WWW="$RUN/www"
python3 - "$WWW" "$PROJECTS" "$WHEEL_MB" <<'EOF'
import hashlib, os, sys, zipfile
www, n, mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(f"{www}/files")
for i in range(n):
    links = []
    for version in ("1.0", "1.1"):
        name = f"proj_{i}"
        whl = f"{name}-{version}-py3-none-any.whl"
        deps = [f"proj-{j}>=1.0" for j in (2 * i + 1, 2 * i + 2) if j < n]
        meta = "\n".join(["Metadata-Version: 2.1", f"Name: proj-{i}", f"Version: {version}",
                          "Requires-Python: >=3.8"] + [f"Requires-Dist: {d}" for d in deps]) + "\n"
        path = f"{www}/files/{whl}"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr(f"{name}/__init__.py", f"VERSION = {version!r}\n")
            z.writestr(f"{name}/data.bin", os.urandom(mb << 20), zipfile.ZIP_STORED)
            z.writestr(f"{name}-{version}.dist-info/METADATA", meta, zipfile.ZIP_DEFLATED)
            z.writestr(f"{name}-{version}.dist-info/WHEEL",
                       "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
            z.writestr(f"{name}-{version}.dist-info/RECORD", "")
        sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
        links.append(f'<a href="../../files/{whl}#sha256={sha}" data-requires-python="&gt;=3.8">{whl}</a><br/>')
    os.makedirs(f"{www}/simple/proj-{i}")
    with open(f"{www}/simple/proj-{i}/index.html", "w") as out:
        out.write("<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n")
with open(f"{www}/simple/index.html", "w") as out:
    out.write("".join(f'<a href="proj-{i}/">proj-{i}</a>\n' for i in range(n)))
EOF
echo "proj-0" >"$RUN/requirements.in"

mapfile -t PORTS < <(free_ports 3)
NGINX="http://127.0.0.1:${PORTS[0]}"
declare -A PROXY=([on]="http://127.0.0.1:${PORTS[1]}" [off]="http://127.0.0.1:${PORTS[2]}")
declare -A LISTEN=([on]="127.0.0.1:${PORTS[1]}" [off]="127.0.0.1:${PORTS[2]}")
declare -A GENERATE=([on]=true [off]=false)

# ---- nginx (its access log gives the bytes each phase cost the upstream) ----------------------
mkdir -p "$RUN/nginx"
cat >"$RUN/nginx/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $RUN/nginx/nginx.pid;
error_log $RUN/nginx/error.log warn;
events { worker_connections 1024; }
http {
    log_format bytes '\$body_bytes_sent';
    access_log $RUN/nginx/access.log bytes;
    sendfile on;
    types { text/html html; }
    default_type application/octet-stream;
    client_body_temp_path $RUN/nginx/body;
    proxy_temp_path $RUN/nginx/proxy;
    fastcgi_temp_path $RUN/nginx/fastcgi;
    uwsgi_temp_path $RUN/nginx/uwsgi;
    scgi_temp_path $RUN/nginx/scgi;
    server {
        listen 127.0.0.1:${PORTS[0]};
        root $WWW;
        index index.html;
    }
}
EOF
nginx -p "$RUN/nginx" -c "$RUN/nginx/nginx.conf" 2>>"$RUN/nginx/error.log" &
PIDS+=($!)
wait_http "$NGINX/simple/"
upstream_bytes() { awk '{ s += $1 } END { print s + 0 }' "$RUN/nginx/access.log"; }

# ---- repox, one instance per mode --------------------------------------------------------------
REPOX_PID=""
start_repox() { # start_repox on|off: a fresh cache
    local mode=$1
    rm -rf "$RUN/cache-$mode"
    cat >"$RUN/repox-$mode.toml" <<EOF
[repositories.pypi]
kind = "pypi"
generate_metadata = ${GENERATE[$mode]}
[[repositories.pypi.upstreams]]
name = "nginx"
url = "$NGINX/simple/"
EOF
    "$REPOX" --config "$RUN/repox-$mode.toml" serve --listen "${LISTEN[$mode]}" \
        --cache-dir "$RUN/cache-$mode" 2>>"$RUN/repox-$mode.log" &
    REPOX_PID=$!
    PIDS+=("$REPOX_PID")
    wait_http "${PROXY[$mode]}/-/health"
}
stop_repox() { kill "$REPOX_PID" && wait "$REPOX_PID" 2>/dev/null || true; }

compile() { # compile INDEX_URL: prints seconds
    local start end
    start=$(date +%s.%N)
    clean uv pip compile -q --no-cache -o "$RUN/out.txt" "$RUN/requirements.in" --index-url "$1"
    end=$(date +%s.%N)
    grep -q "^proj-$((PROJECTS - 1))==" "$RUN/out.txt" || {
        echo "error: the compile did not resolve every project" >&2
        exit 1
    }
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }'
}

ROWS=()
row() { ROWS+=("$(printf '%-46s %12s %12s %12s' "$@")"); }
for mode in on off; do
    : >"$RUN/cold-$mode" && : >"$RUN/warm-$mode" && : >"$RUN/bytes-$mode"
    for i in $(seq "$RUNS"); do
        echo "generate_metadata=${GENERATE[$mode]}, round $i/$RUNS..." >&2
        start_repox "$mode"
        before=$(upstream_bytes)
        compile "${PROXY[$mode]}/pypi/simple/" >>"$RUN/cold-$mode"
        echo $(($(upstream_bytes) - before)) >>"$RUN/bytes-$mode"
        compile "${PROXY[$mode]}/pypi/simple/" >>"$RUN/warm-$mode"
        stop_repox
    done
done
: >"$RUN/direct"
: >"$RUN/bytes-direct"
for i in $(seq "$RUNS"); do
    before=$(upstream_bytes)
    compile "$NGINX/simple/" >>"$RUN/direct"
    echo $(($(upstream_bytes) - before)) >>"$RUN/bytes-direct"
done

mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
row "uv pip compile, cold repox, median s" "$(median <"$RUN/cold-on")" "$(median <"$RUN/cold-off")" ""
row "uv pip compile, warm repox, median s" "$(median <"$RUN/warm-on")" "$(median <"$RUN/warm-off")" ""
row "upstream MB sent during a cold compile" "$(mb "$(median <"$RUN/bytes-on")")" \
    "$(mb "$(median <"$RUN/bytes-off")")" ""
row "uv pip compile straight from nginx, median s" "" "" "$(median <"$RUN/direct")"
row "upstream MB sent, straight from nginx" "" "" "$(mb "$(median <"$RUN/bytes-direct")")"

echo
echo "$PROJECTS projects, $((PROJECTS * 2)) wheels of ${WHEEL_MB} MB, no PEP 658 upstream; $RUNS rounds"
printf '%-46s %12s %12s %12s\n' "" "generate" "no generate" "direct"
printf '%s\n' "${ROWS[@]}"
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
