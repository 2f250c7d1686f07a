#!/usr/bin/env python3
"""Fills a repox cache directory with N entries in the on-disk format of `FsStore`
(`data-v1/<key>`: body, metadata JSON, 8-byte little-endian metadata length, `REPOXv1\\n`),
without an entry index: the state a cache written by a version before the index is in.

    benches/gen-cache.py DIR [N=1000000] [BODY_BYTES=200] [JOBS=cpu count]

Keys are `maven/bench/g<i // 1000>/a-<i>.jar` (1000 files per directory). A hit on
`maven/bench/g0/a-0.jar` is served from this cache without any upstream.

Speed: the directories are split among JOBS processes, each file is written with one
`os.open`/`os.write`/`os.close` (no buffered file object), and the metadata JSON is built
from a template (only the digest and the URL differ), so 1,000,000 entries take a few minutes
of system time, bound by file creation in the kernel.
"""
import hashlib
import json
import os
import struct
import sys
import time
from multiprocessing import Pool

PER_DIR = 1000
MAGIC = b"REPOXv1\n"


def fill(args: tuple) -> int:
    """Writes the entries of directories [first, last) and returns the bytes written."""
    root, first, last, count, size, now = args
    # Field order and separators as serde_json writes a `Meta` (it would read either way).
    head = '{"len":%d,"content_type":"application/java-archive","digests":{"sha256":"' % size
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    total = 0
    for g in range(first, last):
        d = os.path.join(root, f"g{g}")
        os.makedirs(d, exist_ok=True)
        dfd = os.open(d, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            for i in range(g * PER_DIR, min((g + 1) * PER_DIR, count)):
                body = ((b"%d " % i) * (size // 2 + 1))[:size]
                meta = (
                    head
                    + hashlib.sha256(body).hexdigest()
                    + '"},"upstream":"central","url":"http://127.0.0.1:9/bench/g%d/a-%d.jar",'
                    '"fetched_at":%d,"verification":"sha256"}' % (g, i, now)
                ).encode()
                data = body + meta + struct.pack("<Q", len(meta)) + MAGIC
                fd = os.open(f"a-{i}.jar", flags, 0o644, dir_fd=dfd)
                try:
                    os.write(fd, data)
                finally:
                    os.close(fd)
                total += len(data)
        finally:
            os.close(dfd)
    return total


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    root = os.path.join(sys.argv[1], "data-v1", "maven", "bench")
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    jobs = int(sys.argv[4]) if len(sys.argv) > 4 else (os.cpu_count() or 1)
    now = int(time.time())
    dirs = (count + PER_DIR - 1) // PER_DIR
    step = 20  # directories per task: small enough to spread evenly over the processes
    tasks = [
        (root, g, min(g + step, dirs), count, size, now) for g in range(0, dirs, step)
    ]
    os.makedirs(root, exist_ok=True)
    if jobs > 1 and len(tasks) > 1:
        with Pool(jobs) as pool:
            total = sum(pool.imap_unordered(fill, tasks))
    else:
        total = sum(map(fill, tasks))
    # Check one entry against the format `fs.rs` reads (trailer, length, JSON).
    with open(os.path.join(root, "g0", "a-0.jar"), "rb") as f:
        data = f.read()
    (meta_len,) = struct.unpack("<Q", data[-16:-8])
    assert data[-8:] == MAGIC
    meta = json.loads(data[-16 - meta_len : -16])
    assert meta["len"] == len(data) - 16 - meta_len == size
    assert meta["digests"]["sha256"] == hashlib.sha256(data[: meta["len"]]).hexdigest()
    print(f"{count} entries, {total} bytes of entry files under {root}")


if __name__ == "__main__":
    main()
