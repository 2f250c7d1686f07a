#!/usr/bin/env bash
# `repox warm` against `pip download`, run by hand (never by the tests), loopback only.
#
# A 60-wheel requirement set (numpy, pandas, django, boto3, scipy, matplotlib, … with their
# dependencies, for this machine's Python) is downloaded from PyPI once with `pip download` into
# $WARM_BENCH_DIR, which is then served as a simple index (PEP 503 pages with hashes,
# requires-python and PEP 658 metadata) by a python server that waits LATENCY_MS before every
# answer. In the same run, each tool fetches the set through that upstream from scratch:
#
#   pip download -r requirements.txt --index-url <upstream>     (the baseline)
#   repox warm requirements.txt                                   (in-process proxy, empty cache)
#
# and the script prints both wall times and their ratio (the goal is <= 0.3).
#
#   benches/warm.sh                 # builds with `cargo build --release`, then measures
#   RUNS=3 LATENCY_MS=50 benches/warm.sh
#
# Needs python3 with pip, and PyPI once (later runs reuse $WARM_BENCH_DIR, default
# /tmp/repox-warm-bench, about 140 MB). Set CARGO_TARGET_DIR to reuse a target directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LATENCY_MS="${LATENCY_MS:-50}"
RUNS="${RUNS:-1}"
WORK="${WARM_BENCH_DIR:-/tmp/repox-warm-bench}"
mkdir -p "$WORK"

if [ ! -f "$WORK/requirements.txt" ]; then
    printf '%s\n' numpy pandas django boto3 requests flask sqlalchemy pydantic fastapi uvicorn \
        matplotlib scipy pillow cryptography jinja2 pyyaml httpx rich click attrs lxml tqdm \
        psutil redis >"$WORK/requirements.txt"
fi
if [ ! -d "$WORK/wheels" ]; then
    echo "downloading the wheel set from PyPI (once)..." >&2
    python3 -m pip download -q --disable-pip-version-check --no-cache-dir --only-binary :all: \
        -d "$WORK/wheels.tmp" -r "$WORK/requirements.txt"
    mv "$WORK/wheels.tmp" "$WORK/wheels"
fi

echo "building the index..." >&2
rm -rf "$WORK/index"
python3 - "$WORK/wheels" "$WORK/index" <<'EOF'
import hashlib, html, os, re, shutil, sys, zipfile
wheels, index = sys.argv[1:3]
pages = {}
for name in sorted(os.listdir(wheels)):
    if not name.endswith(".whl"):
        continue
    path = os.path.join(wheels, name)
    data = open(path, "rb").read()
    with zipfile.ZipFile(path) as z:
        meta_name = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
        meta = z.read(meta_name)
    requires_python = None
    for line in meta.decode("utf-8", "replace").splitlines():
        if not line:
            break
        if line.lower().startswith("requires-python:"):
            requires_python = line.split(":", 1)[1].strip()
    project = re.sub(r"[-_.]+", "-", name.split("-")[0]).lower()
    os.makedirs(os.path.join(index, "files"), exist_ok=True)
    shutil.copyfile(path, os.path.join(index, "files", name))
    with open(os.path.join(index, "files", name + ".metadata"), "wb") as f:
        f.write(meta)
    attrs = [f'href="../../files/{name}#sha256={hashlib.sha256(data).hexdigest()}"']
    if requires_python:
        attrs.append(f'data-requires-python="{html.escape(requires_python)}"')
    m = hashlib.sha256(meta).hexdigest()
    attrs += [f'data-dist-info-metadata="sha256={m}"', f'data-core-metadata="sha256={m}"']
    pages.setdefault(project, []).append(f'<a {" ".join(attrs)}>{name}</a><br/>')
for project, links in pages.items():
    os.makedirs(os.path.join(index, "simple", project))
    with open(os.path.join(index, "simple", project, "index.html"), "w") as f:
        f.write("<!DOCTYPE html><html><body>\n" + "\n".join(links) + "\n</body></html>\n")
print(f"{sum(len(l) for l in pages.values())} wheels in {len(pages)} projects", file=sys.stderr)
EOF

source benches/common.sh

PORT="$(free_ports 1)"
python3 - "$WORK/index" "$PORT" "$LATENCY_MS" <<'EOF' &
import functools, http.server, sys, time
root, port, latency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) / 1000

class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def send_head(self):
        time.sleep(latency)
        return super().send_head()
    def log_message(self, *args):
        pass

class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 128
    daemon_threads = True

Server(("127.0.0.1", port), functools.partial(Handler, directory=root)).serve_forever()
EOF
PIDS+=($!)
UPSTREAM="http://127.0.0.1:$PORT/simple/"
wait_http "$UPSTREAM"

echo "building repox (cargo build --release)..." >&2
cargo build --release --quiet
REPOX="${CARGO_TARGET_DIR:-target}/release/repox"

now() { python3 -c 'import time; print(time.time())'; }
pip_times=()
warm_times=()
for run in $(seq "$RUNS"); do
    rm -rf "$WORK/pip-out" "$WORK/cache"
    start="$(now)"
    python3 -m pip download -q --disable-pip-version-check --no-cache-dir \
        -d "$WORK/pip-out" --index-url "$UPSTREAM" -r "$WORK/requirements.txt"
    pip_times+=("$(python3 -c "print($(now) - $start)")")
    got="$(ls "$WORK/pip-out" | wc -l)"

    cat >"$WORK/repox.toml" <<EOF
[server]
listen = "127.0.0.1:1"
cache_dir = "$WORK/cache"

[repositories.pypi]
kind = "pypi"

[[repositories.pypi.upstreams]]
name = "bench"
url = "$UPSTREAM"
EOF
    start="$(now)"
    "$REPOX" --config "$WORK/repox.toml" warm --quiet --json "$WORK/requirements.txt" \
        >"$WORK/warm.json"
    warm_times+=("$(python3 -c "print($(now) - $start)")")
    warmed="$(python3 -c "import json; s=json.load(open('$WORK/warm.json')); \
print(sum(1 for r in s['fetched'] if r['role'] == 'package'))")"
    printf 'run %d: pip download %.2fs (%d files), repox warm %.2fs (%d package files)\n' \
        "$run" "${pip_times[-1]}" "$got" "${warm_times[-1]}" "$warmed"
done

python3 - "${pip_times[*]}" "${warm_times[*]}" "$LATENCY_MS" <<'EOF'
import statistics, sys
pip = [float(x) for x in sys.argv[1].split()]
warm = [float(x) for x in sys.argv[2].split()]
p, w = statistics.median(pip), statistics.median(warm)
print(f"\n{len(pip)} run(s), upstream latency {sys.argv[3]} ms per request (medians)")
print(f"  pip download -r   {p:7.2f} s")
print(f"  repox warm        {w:7.2f} s")
print(f"  ratio             {w / p:7.2f}   (goal: <= 0.30)")
EOF
