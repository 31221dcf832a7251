"""How long and how much memory `api-method = simple` needs to find the changes in PyPI's root.

Serves a PEP 691 JSON root of N projects (740,000 by default, ~30 MB like PyPI's) from a loopback
HTTP server in its own process, then in a fresh interpreter fetches it with the real Master, diffs
it with a mirror that has the same N projects (SimpleRootSource.changes_since, deletions included)
and prints wall time and peak RSS. Only 127.0.0.1 is contacted.

    python bench/root_diff.py [--projects 740000] [--changed 200]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BASE_SERIAL = 30_000_000


def names(count: int) -> list[str]:
    return [f"project-{number:07d}" for number in range(count)]


def root_document(count: int, changed: int) -> bytes:
    """Every project at a serial below BASE_SERIAL except ``changed`` random ones above it."""
    rng = random.Random(1)
    serials = [rng.randrange(1, BASE_SERIAL) for _ in range(count)]
    for index in rng.sample(range(count), changed):
        serials[index] = BASE_SERIAL + index + 1
    projects = [{"name": name, "_last-serial": serial} for name, serial in zip(names(count), serials)]
    meta = {"api-version": "1.1", "_last-serial": max(serials)}
    return json.dumps({"meta": meta, "projects": projects}).encode()


def serve(count: int, changed: int) -> None:
    body = root_document(count, changed)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    print(f"URL http://127.0.0.1:{server.server_address[1]} {len(body)}", flush=True)
    server.serve_forever()


def measure(url: str, count: int) -> None:
    """In its own interpreter, so peak RSS is the client's alone."""
    from bandersnatch.changes import SimpleRootSource
    from bandersnatch.master import Master
    from bandersnatch.session import make_session

    mirrored = names(count - 10) + [f"deleted-{number}" for number in range(10)]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    master = Master(url, timeout=60, session=make_session(1, url))
    source = SimpleRootSource(master, lambda: mirrored, find_deleted=True)
    changed, target = source.changes_since(BASE_SERIAL)
    elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"root of {count:,} projects: {len(changed)} changes (incl. deletions) to serial {target} "
          f"in {elapsed:.2f} s; peak RSS {peak / 1024:.0f} MiB ({(peak - before) / 1024:.0f} MiB for the diff)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=740_000)
    parser.add_argument("--changed", type=int, default=200)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure", metavar="URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.projects, args.changed)
    elif args.measure:
        measure(args.measure, args.projects)
    else:
        server = subprocess.Popen([sys.executable, __file__, "--serve", "--projects", str(args.projects),
                                   "--changed", str(args.changed)], stdout=subprocess.PIPE, text=True)  # fmt: skip
        try:
            _, url, size = server.stdout.readline().split()  # type: ignore[union-attr]
            print(f"serving a {int(size) / 1e6:.1f} MB root", flush=True)
            subprocess.run([sys.executable, __file__, "--measure", url, "--projects", str(args.projects)], check=True)
        finally:
            server.terminate()


if __name__ == "__main__":
    main()
