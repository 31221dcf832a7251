"""Throughput of ``update-stats``: how many access log lines a second one core turns into statistics.

Builds a small mirror (project pages only) and an nginx access log of realistic lines in a
temporary folder, runs ``update_stats`` over it and prints lines/s, wall time and peak RSS. The
mix follows a busy mirror: mostly file downloads by pip (whose long JSON user agent nginx escapes),
uv and browsers, then simple pages (200 and 304), range requests, 404s, HEADs and a little junk.

    python bench/bench_stats.py [--lines N] [--compress none|gz|bz2]
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import random
import resource
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bandersnatch.commands import accesslog  # noqa: E402
from bandersnatch.commands.stats import update_stats  # noqa: E402
from bandersnatch.model import ReleaseFile  # noqa: E402
from bandersnatch.pages.html import render_project_page  # noqa: E402
from bandersnatch.pages.layout import Links  # noqa: E402
from bandersnatch.storage import FilesystemStorage, Storage  # noqa: E402

PROJECTS = 400
START = datetime(2026, 11, 22, 9, 0, tzinfo=timezone(timedelta(hours=-7)))  # crosses a UTC midnight
LINES_PER_SECOND = 25  # a busy mirror: two million lines a day
PIP_AGENT = (
    'pip/24.0 {"ci":null,"cpu":"x86_64","distro":{"id":"jammy","libc":{"lib":"glibc","version":"2.35"},'
    '"name":"Ubuntu","version":"22.04"},"implementation":{"name":"CPython","version":"3.11.%d"},'
    '"installer":{"name":"pip","version":"24.0"},"openssl_version":"OpenSSL 3.0.2 15 Mar 2022",'
    '"python":"3.11.%d","setuptools_version":"69.0.3",'
    '"system":{"name":"Linux","release":"5.15.0-91-generic"}}'
)
AGENTS = [PIP_AGENT % (n, n) for n in range(4, 9)] + [
    'uv/0.4.18 {"installer":{"name":"uv","version":"0.4.18"},"python":"3.12.5"}',
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
    "bandersnatch 6.5.0 (CPython 3.11.6-final0, Linux x86_64)",
    "poetry/1.7.1 CPython/3.10.12 Linux/6.2.0",
    "curl/8.4.0",
]


def build_mirror(storage: Storage, rng: random.Random) -> list[str]:
    """Write PROJECTS pages of six files each; return the files' paths below web/."""
    paths = []
    for number in range(PROJECTS):
        name = f"Project_{number}"
        files = []
        for version in ("1.0", "1.1", "2.0"):
            for filename in (f"project_{number}-{version}-py3-none-any.whl", f"{name}-{version}.tar.gz"):
                digest = f"{rng.getrandbits(256):064x}"
                path = f"packages/{digest[:2]}/{digest[2:4]}/{digest[4:]}/{filename}"
                release = ReleaseFile(filename=filename, url=f"https://files/{path}", sha256=digest)
                files.append((path, release))
                paths.append(path)
        page = render_project_page(name, files, serial=number)
        storage.write_web(f"simple/project-{number}/index.html", [page.encode()])
    return paths


def clients(rng: random.Random) -> list[str]:
    """A pool of IPv4 and IPv6 clients (drawing an address per line would dominate the set-up)."""
    ipv4 = [f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
            for _ in range(800)]  # fmt: skip
    return ipv4 + [f"2001:db8:{rng.randrange(65536):x}::{rng.randrange(65536):x}" for _ in range(200)]


def request(draw: float, path: str, project: int) -> tuple[str, int]:
    """(request line, status) drawn from a busy mirror's mix."""
    if draw < 0.62:
        return f"GET /{path} HTTP/1.1", 200
    if draw < 0.77:
        return f"GET /simple/project-{project}/ HTTP/1.1", 200
    if draw < 0.87:
        return f"GET /simple/project-{project}/ HTTP/2.0", 304
    if draw < 0.90:
        return f"GET /{path} HTTP/1.1", 206
    if draw < 0.93:
        return f"GET /packages/no/such/file-{project}.tar.gz HTTP/1.1", 404
    if draw < 0.95:
        return f"HEAD /{path} HTTP/1.1", 200
    return f"GET /{path}.metadata HTTP/1.1", 200


def log_lines(rng: random.Random, paths: list[str], count: int) -> Iterator[bytes]:
    hosts = clients(rng)
    agents = [agent.replace('"', "\\x22") for agent in AGENTS]  # as nginx escapes them
    stamp = ""
    for index in range(count):
        if index % 5000 == 4999:
            yield b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 junk\n"
            continue
        if index % LINES_PER_SECOND == 0:
            stamp = (START + timedelta(seconds=index // LINES_PER_SECOND)).strftime("%d/%b/%Y:%H:%M:%S %z")
        line, status = request(rng.random(), rng.choice(paths), rng.randrange(PROJECTS))
        size = rng.randrange(100, 10**7)
        host, agent = rng.choice(hosts), rng.choice(agents)
        yield f'{host} - - [{stamp}] "{line}" {status} {size} "-" "{agent}"\n'.encode()


def write_log(path: Path, lines: Iterable[bytes], compress: str) -> None:
    opener = {"none": open, "gz": gzip.open, "bz2": bz2.open}[compress]
    with opener(path, "wb") as handle:
        batch = []
        for line in lines:
            batch.append(line)
            if len(batch) == 10000:
                handle.write(b"".join(batch))
                batch.clear()
        handle.write(b"".join(batch))


def timed_counting(phases: list[float]) -> None:
    """Record the time of the phase that grows with the logs (reading and counting lines)."""
    count_logs = accesslog.count_logs

    def timed(*args: object) -> object:
        started = time.perf_counter()
        try:
            return count_logs(*args)
        finally:
            phases.append(time.perf_counter() - started)

    accesslog.count_logs = timed  # type: ignore[assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2_000_000)
    parser.add_argument("--compress", choices=["none", "gz", "bz2"], default="none")
    args = parser.parse_args()
    rng = random.Random(381)
    counting: list[float] = []
    timed_counting(counting)
    with tempfile.TemporaryDirectory() as temp:
        storage = FilesystemStorage(Path(temp) / "mirror")
        paths = build_mirror(storage, rng)
        log_path = Path(temp) / ("access.log" + ("" if args.compress == "none" else f".{args.compress}"))
        write_log(log_path, log_lines(rng, paths, args.lines), args.compress)
        size = log_path.stat().st_size
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(f"{args.lines} lines, {size / 2**20:.0f} MiB, compress={args.compress}")
        for run in ("first run (writes every day)", "second run (no day changed)"):
            started, cpu_started = time.perf_counter(), time.process_time()
            summary = update_stats(storage, Links(), str(log_path), today=date(2026, 11, 25))
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            print(f"{run}: {wall:.2f} s wall ({cpu:.2f} s CPU), {args.lines / wall:,.0f} lines/s; "
                  f"counting alone {counting[-1]:.2f} s, {args.lines / counting[-1]:,.0f} lines/s")
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(summary)
    print(f"peak RSS {rss_after / 1024:.0f} MiB (before the runs: {rss_before / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
