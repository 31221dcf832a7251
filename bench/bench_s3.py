"""A full sync into an S3 bucket against the same sync onto the filesystem.

    python -m bench.bench_s3 [--projects 200] [--files 3] [--big 2]

The loopback master (tests/pypi_master.py) serves a generated corpus (plus ``--big`` files of
20 MiB, which go through multipart uploads); ``bandersnatch mirror`` syncs it once into a
directory and once into a bucket of moto's S3 server on loopback, and the wall times are printed.
moto keeps objects in memory and is slower than a real store, so the S3 figure is an upper bound
of the client's own cost. Nothing is asserted: these are measurements.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.conftest import bandersnatch_command  # noqa: E402
from tests.pypi_master import FileSpec, PyPIMaster, generate_corpus  # noqa: E402
from tests.s3_server import moto_server  # noqa: E402

MIRROR = "[mirror]\nmaster = {master}\nallow-non-https = true\nworkers = 3\ntimeout = 30\n"


def timed_sync(config: Path) -> float:
    start = time.perf_counter()
    result = subprocess.run(bandersnatch_command() + ["-c", str(config), "mirror"], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"the sync failed:\n{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--files", type=int, default=3, help="files per project")
    parser.add_argument("--big", type=int, default=2, help="extra 20 MiB files (multipart uploads)")
    options = parser.parse_args()
    with PyPIMaster() as pypi, tempfile.TemporaryDirectory() as scratch, moto_server() as s3:
        generate_corpus(pypi, options.projects, seed=7, files_per_project=(options.files, options.files))
        for number in range(options.big):
            pypi.add_release(f"big-{number}", "1.0", [FileSpec(f"big_{number}-1.0.tar.gz", size=20 << 20)])
        files = sum(len(pypi.files(name)) for name in pypi.projects())
        local = Path(scratch) / "fs.conf"
        local.write_text(MIRROR.format(master=pypi.url) + f"directory = {scratch}/mirror\n")
        bucket = Path(scratch) / "s3.conf"
        bucket.write_text(
            s3.config_lines(s3.new_bucket()).replace("[mirror]\n", MIRROR.format(master=pypi.url), 1)
        )
        filesystem, object_store = timed_sync(local), timed_sync(bucket)
    print(f"full sync of {len(pypi.projects())} projects, {files} files ({options.big} of 20 MiB):")
    print(f"  filesystem: {filesystem:7.2f} s")
    print(f"  S3 (moto):  {object_store:7.2f} s  ({object_store / filesystem:.1f}x)")


if __name__ == "__main__":
    main()
