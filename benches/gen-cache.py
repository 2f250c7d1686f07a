#!/usr/bin/env python3
"""Fills a repox cache directory with N entries in the on-disk format of `FsStore`
(`data-v1/<key>`: body, metadata JSON, 8-byte little-endian metadata length, `REPOXv1\\n`),
without an entry index: the state a cache written by a version before the index is in.

    benches/gen-cache.py DIR [N=1000000] [BODY_BYTES=200]

Keys are `maven/bench/g<i // 1000>/a-<i>.jar` (1000 files per directory). A hit on
`maven/bench/g0/a-0.jar` is served from this cache without any upstream.
"""
import hashlib
import json
import os
import struct
import sys
import time


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    root = os.path.join(sys.argv[1], "data-v1", "maven", "bench")
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    now = int(time.time())
    total = 0
    for i in range(count):
        d = os.path.join(root, f"g{i // 1000}")
        if i % 1000 == 0:
            os.makedirs(d, exist_ok=True)
        body = (b"%d " % i) * (size // 2)
        body = body[:size]
        meta = {
            "len": len(body),
            "content_type": "application/java-archive",
            "digests": {"sha256": hashlib.sha256(body).hexdigest()},
            "upstream": "central",
            "url": f"http://127.0.0.1:9/bench/g{i // 1000}/a-{i}.jar",
            "fetched_at": now,
            "verification": "sha256",
        }
        blob = json.dumps(meta, separators=(",", ":")).encode()
        data = body + blob + struct.pack("<Q", len(blob)) + b"REPOXv1\n"
        with open(os.path.join(d, f"a-{i}.jar"), "wb") as f:
            f.write(data)
        total += len(data)
    print(f"{count} entries, {total} bytes of entry files under {root}")


if __name__ == "__main__":
    main()
