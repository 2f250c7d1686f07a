#!/usr/bin/env bash
# PyPI benchmarks for `repox serve`, run by hand (never by the tests), loopback only.
#
# A 61-wheel requirement set (numpy, pandas, django, boto3, scipy, matplotlib, … and their
# dependencies) is downloaded once from PyPI into $BENCH_DIR/wheels (outside the repository),
# then laid out as a static PEP 503 index with PEP 658 `.metadata` files, served by nginx. That
# index is both the baseline and repox's upstream, so both sides serve the same pages and files.
# Figures, each measured in the same run:
#   - `pip install` and `uv pip install` of the set into a fresh venv with the client's cache off,
#     from nginx and from a warm repox: median and fastest wall time of $RUNS alternating
#     rounds (each pair in turn order), and the ratios (target: repox <= 1.05 x nginx). Installs
#     are mostly unpacking, so the venvs go on tmpfs ($VENV_DIR, default /dev/shm) to keep disk
#     noise out, and other load on the machine still shows up: run it on a quiet machine;
#   - the network part alone, which is all repox can change: `pip download` of the set (pages,
#     metadata, wheels) and `uv pip compile` of it (pages, metadata), from nginx and from repox;
#   - a 2,500-file project page (synthetic, on the same nginx): time for repox to fetch, parse,
#     merge and render it (first request) and to answer it warm (curl), and the in-process
#     parse + render time (the `a_2000_file_page_renders_in_20_ms` unit test in release mode).
#
#   benches/pypi.sh            # builds with `cargo build --release`, then measures (~15 min)
#
# Needs nginx, curl, python3 with pip and venv, and uv (`apt-get install -y nginx curl
# python3-venv; pip install uv`). Set CARGO_TARGET_DIR to reuse a target directory, BENCH_DIR to
# keep the wheels somewhere else (default /tmp/repox-pypi-bench; about 150 MB), VENV_DIR for the
# venvs (about 1 GB at a time), RUNS for more rounds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS=${RUNS:-8}
VENV_DIR=${VENV_DIR:-/dev/shm}
BIG_FILES=2500
WORK="${BENCH_DIR:-/tmp/repox-pypi-bench}"

for tool in nginx curl python3 uv; do
    command -v "$tool" >/dev/null || {
        echo "error: $tool not found" >&2
        echo "hint: apt-get install -y nginx curl python3-venv; pip install uv" >&2
        exit 1
    }
done
python3 -m pip --version >/dev/null || {
    echo "error: python3 has no pip" >&2
    exit 1
}

echo "building repox (cargo build --release)..." >&2
cargo build --release --quiet -p repox
REPOX="${CARGO_TARGET_DIR:-target}/release/repox"

mkdir -p "$WORK"
chmod 755 "$WORK" # nginx workers may run as another user
RUN="$(mktemp -d "$WORK/run.XXXXXX")"
chmod 755 "$RUN"
source benches/common.sh
cleanup_more() { rm -rf "$RUN"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

# A clean environment: no pip/uv configuration, no proxies (pyenv's shims need PYENV_ROOT).
clean() { env -i HOME="$HOME" PATH="$PATH" ${PYENV_ROOT:+PYENV_ROOT="$PYENV_ROOT"} \
    PIP_CONFIG_FILE=/dev/null UV_NO_CONFIG=1 UV_PYTHON_DOWNLOADS=never \
    PIP_DISABLE_PIP_VERSION_CHECK=1 "$@"; }

# ---- wheels (downloaded once, kept) --------------------------------------------------------
WHEELS="$WORK/wheels"
if ! compgen -G "$WHEELS/*.whl" >/dev/null; then
    echo "downloading the requirement set from PyPI into $WHEELS (once)..." >&2
    mkdir -p "$WHEELS"
    printf '%s\n' numpy pandas django boto3 requests flask sqlalchemy pydantic fastapi uvicorn \
        httpx rich pyyaml pytest cryptography pillow scipy matplotlib tqdm lxml psutil \
        >"$WORK/requirements.in"
    python3 -m pip download --only-binary=:all: -q -d "$WHEELS" -r "$WORK/requirements.in"
fi

# ---- the static index --------------------------------------------------------------------
echo "building a PEP 503 index of $(ls "$WHEELS"/*.whl | wc -l) wheels..." >&2
WWW="$RUN/www"
python3 - "$WHEELS" "$WWW" "$RUN/pins.txt" "$BIG_FILES" <<'EOF'
import hashlib, html, os, re, sys, zipfile
wheels, www, pins, big = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
os.makedirs(f"{www}/files")
projects, lines = {}, []
for f in sorted(os.listdir(wheels)):
    if not f.endswith(".whl"):
        continue
    name, version = f.split("-")[:2]
    path = f"{www}/files/{f}"
    os.link(os.path.join(wheels, f), path)
    with zipfile.ZipFile(path) as z:
        meta = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        data = z.read(meta)
    with open(path + ".metadata", "wb") as m:
        m.write(data)
    sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
    msha = hashlib.sha256(data).hexdigest()
    projects.setdefault(norm(name), []).append(
        f'<a href="../../files/{f}#sha256={sha}" data-dist-info-metadata="sha256={msha}" '
        f'data-core-metadata="sha256={msha}">{html.escape(f)}</a><br/>')
    lines.append(f"{norm(name)}=={version}")
projects["big"] = [
    f'<a href="../../files/big-1.{i}-py3-none-any.whl#sha256={i:064x}" '
    f'data-requires-python="&gt;=3.9" data-core-metadata="sha256={i:064x}">'
    f'big-1.{i}-py3-none-any.whl</a><br/>' for i in range(big)]
for p, links in projects.items():
    os.makedirs(f"{www}/simple/{p}")
    with open(f"{www}/simple/{p}/index.html", "w") as out:
        out.write(f"<!DOCTYPE html><html><body><h1>Links for {p}</h1>\n" + "\n".join(links) + "\n</body></html>\n")
with open(f"{www}/simple/index.html", "w") as out:
    out.write("".join(f'<a href="{p}/">{p}</a>\n' for p in projects))
with open(pins, "w") as out:
    out.write("\n".join(lines) + "\n")
EOF
WHEEL_COUNT=$(wc -l <"$RUN/pins.txt")

mapfile -t PORTS < <(free_ports 2)
NGINX="http://127.0.0.1:${PORTS[0]}"
PROXY="http://127.0.0.1:${PORTS[1]}"

# ---- nginx -------------------------------------------------------------------------------
mkdir -p "$RUN/nginx"
cat >"$RUN/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $RUN/nginx/nginx.pid;
error_log $RUN/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
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

# ---- repox -------------------------------------------------------------------------------
cat >"$RUN/repox.toml" <<EOF
[repositories.pypi]
kind = "pypi"
[[repositories.pypi.upstreams]]
name = "nginx"
url = "$NGINX/simple/"
EOF
"$REPOX" --config "$RUN/repox.toml" serve --listen "127.0.0.1:${PORTS[1]}" \
    --cache-dir "$RUN/cache" 2>"$RUN/repox.log" &
PIDS+=($!)
wait_http "$NGINX/simple/"
wait_http "$PROXY/-/health"

# ---- installs ----------------------------------------------------------------------------
N=0
install() { # install pip|uv INDEX_URL: one install into a fresh venv; prints seconds
    N=$((N + 1))
    local venv="$VENV_DIR/repox-bench-venv-$$-$N" start end
    python3 -m venv --without-pip "$venv"
    start=$(date +%s.%N)
    case "$1" in
    pip) clean python3 -m pip --python "$venv/bin/python" install -q --no-cache-dir \
        -r "$RUN/pins.txt" --index-url "$2" ;;
    uv) clean uv pip install -q --no-cache --python "$venv/bin/python" \
        -r "$RUN/pins.txt" --index-url "$2" ;;
    esac
    end=$(date +%s.%N)
    rm -rf "$venv"
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }'
}

echo "warming repox (one install per client)..." >&2
install uv "$PROXY/pypi/simple/" >/dev/null
install pip "$PROXY/pypi/simple/" >/dev/null

ROWS=()
row() { ROWS+=("$(printf '%-44s %12s %12s   %s' "$@")"); }
for client in pip uv; do
    : >"$RUN/$client-nginx" && : >"$RUN/$client-repox"
    for i in $(seq "$RUNS"); do
        echo "$client install, round $i/$RUNS..." >&2
        if ((i % 2)); then
            install "$client" "$NGINX/simple/" >>"$RUN/$client-nginx"
            install "$client" "$PROXY/pypi/simple/" >>"$RUN/$client-repox"
        else
            install "$client" "$PROXY/pypi/simple/" >>"$RUN/$client-repox"
            install "$client" "$NGINX/simple/" >>"$RUN/$client-nginx"
        fi
    done
    a=$(median <"$RUN/$client-nginx")
    b=$(median <"$RUN/$client-repox")
    r=$(ratio "$b" "$a")
    row "$client install, $WHEEL_COUNT wheels, median s" "$a" "$b" \
        "repox/nginx = $r (target <= 1.05: $(awk -v r="$r" 'BEGIN { print (r <= 1.05) ? "met" : "MISSED" }'))"
    # The fastest round is the one least disturbed by anything else running on the machine.
    a=$(sort -g "$RUN/$client-nginx" | head -1)
    b=$(sort -g "$RUN/$client-repox" | head -1)
    row "$client install, $WHEEL_COUNT wheels, fastest s" "$a" "$b" "repox/nginx = $(ratio "$b" "$a")"
done

# ---- the network part alone -----------------------------------------------------------------
# What repox can change: pip downloading the set (pages, metadata, wheels, no install) and uv
# resolving it (pages and metadata), from each server.
fetch() { # fetch pip|uv INDEX_URL: prints seconds
    local start end
    rm -rf "$RUN/dl"
    start=$(date +%s.%N)
    case "$1" in
    pip) clean python3 -m pip download -q --no-cache-dir --no-deps -d "$RUN/dl" \
        -r "$RUN/pins.txt" --index-url "$2" ;;
    uv) clean uv pip compile -q --no-cache -o /dev/null "$RUN/pins.txt" --index-url "$2" ;;
    esac
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f\n", b - a }'
}
for client in pip uv; do
    : >"$RUN/$client-fetch-nginx" && : >"$RUN/$client-fetch-repox"
    echo "$client fetch only, $RUNS rounds..." >&2
    for i in $(seq "$RUNS"); do
        fetch "$client" "$NGINX/simple/" >>"$RUN/$client-fetch-nginx"
        fetch "$client" "$PROXY/pypi/simple/" >>"$RUN/$client-fetch-repox"
    done
    a=$(median <"$RUN/$client-fetch-nginx")
    b=$(median <"$RUN/$client-fetch-repox")
    what=$([ "$client" = pip ] && echo "pip download, no install" || echo "uv pip compile (resolve)")
    row "$what, median s" "$a" "$b" "repox/nginx = $(ratio "$b" "$a")"
done

# ---- a 2,500-file page -------------------------------------------------------------------
echo "$BIG_FILES-file page..." >&2
ACCEPT='application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01'
page() { curl -sf -o /dev/null -H "Accept: $ACCEPT" -w '%{time_total}\n' "$PROXY/pypi/simple/big/"; }
COLD=$(page)
WARM=$(for _ in $(seq 21); do page; done | median)
NGINX_PAGE=$(for _ in $(seq 21); do curl -sf -o /dev/null -w '%{time_total}\n' "$NGINX/simple/big/"; done | median)
ms() { awk -v s="$1" 'BEGIN { printf "%.1f", s * 1000 }'; }
row "$BIG_FILES-file page, first request, ms" "" "$(ms "$COLD")" "upstream fetch + parse + merge + render"
row "$BIG_FILES-file page, warm, ms (median of 21)" "$(ms "$NGINX_PAGE")" "$(ms "$WARM")" \
    "nginx: the static HTML; repox: rendered JSON"
RENDER=$(cargo test --release --quiet -p repox-proxy --lib a_2000_file_page -- --nocapture 2>&1 |
    sed -n 's/.*page ([0-9]* KB): \([0-9.]*\) ms/\1/p')
row "2,500-file page, parse + render in-process, ms" "" "${RENDER:-?}" \
    "target <= 20 ms: $(awk -v r="${RENDER:-999}" 'BEGIN { print (r <= 20) ? "met" : "MISSED" }')"

echo
printf '%-44s %12s %12s\n' "" "nginx" "repox"
printf '%s\n' "${ROWS[@]}"
echo
echo "load average before/after: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
