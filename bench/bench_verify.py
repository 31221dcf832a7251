"""verify's time on a large mirror against plain ``find``, and an incremental bundle's size.

    python -m bench.bench_verify [--files 100000] [--per-project 10]

It writes a mirror directly (pages rendered by ``bandersnatch.pages.html``, small files), because
syncing 100,000 files from the loopback master would measure the sync, not verify. Then it times
``verify_mirror`` (sizes only, as `bandersnatch verify`), ``find web -type f`` over the same tree
after a cache-warming pass of each, and prints the figures. For the air gap it adds one release to
1% of the projects, exports since the first export and compares the bundle with the bytes added.
Nothing is asserted: these are measurements.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import tempfile
import time
from pathlib import Path

from bandersnatch.commands.bundle_export import export_bundle
from bandersnatch.commands.verify import verify_mirror
from bandersnatch.configuration import Settings
from bandersnatch.model import ReleaseFile
from bandersnatch.pages.html import render_index, render_project_page
from bandersnatch.pages.layout import Layout
from bandersnatch.storage import FilesystemStorage, Storage


def write_project(storage: Storage, name: str, versions: range, serial: int) -> int:
    """Write a project's files and page; return the bytes of the files written."""
    files, written = [], 0
    for version in versions:
        filename = f"{name}-{version}.0.tar.gz"
        content = f"{name} {version}\n".encode() * 20
        digest = hashlib.sha256(content).hexdigest()
        path = f"packages/{digest[:2]}/{digest[2:4]}/{digest[4:]}/{filename}"
        release = ReleaseFile(filename, f"https://files.example/{path}", digest, len(content))
        existing = storage.web_path(path)
        if not os.path.exists(existing):
            storage.write_web(path, [content])
            written += len(content)
        files.append((path, release))
    storage.write_web(f"simple/{name}/index.html", [render_project_page(name, files, serial).encode()])
    return written


def timed(action) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--per-project", type=int, default=10)
    options = parser.parse_args()
    projects = [f"project-{i:06d}" for i in range(options.files // options.per_project)]
    with tempfile.TemporaryDirectory() as scratch:
        storage = FilesystemStorage(Path(scratch) / "mirror")
        for name in projects:
            write_project(storage, name, range(options.per_project), 1)
        storage.write_web("simple/index.html", [("".join(render_index((n, n) for n in projects))).encode()])
        storage.write_state("status", "1\n")
        find = ["find", str(storage.web), "-type", "f"]
        for _ in range(2):  # the first round warms the page cache for both
            find_time = timed(lambda: subprocess.run(find, capture_output=True, check=True))
            report = None

            def run() -> None:
                nonlocal report
                report = verify_mirror(storage, Layout(), check_hash=False)

            verify_time = timed(run)
        assert report is not None and not report.problems, report and report.summary()
        print(f"mirror: {len(projects)} projects, {report.files} files")
        print(f"find -type f: {find_time:.2f} s; verify (sizes): {verify_time:.2f} s; ratio {verify_time / find_time:.1f}")
        print(f"verify --hash: {timed(lambda: verify_mirror(storage, Layout(), check_hash=True)):.2f} s")

        first = Path(scratch) / "full.tar"
        export_bundle(storage, Settings(directory=storage.location, master="https://pypi.org"), first, None)
        added = sum(write_project(storage, name, range(options.per_project + 1), 2) for name in projects[::100])
        storage.write_state("status", "2\n")
        second = Path(scratch) / "second.tar"
        transfer = export_bundle(storage, Settings(directory=storage.location, master="https://pypi.org"), second, None)
        print(f"full bundle: {first.stat().st_size} bytes; incremental bundle: {second.stat().st_size} bytes "
              f"for {added} bytes of new files in {transfer.projects} changed projects")  # fmt: skip


if __name__ == "__main__":
    main()
