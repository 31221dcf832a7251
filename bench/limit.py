"""The machine's own limit for scenario 1: the same bytes fetched, written and hashed by plain tools.

One ``curl --parallel`` process (4 transfers at a time, as many as a mirror client would use)
downloads every file of the corpus from the loopback master into a scratch folder, then
``openssl dgst -sha256`` (2 processes, one per core) hashes them from the page cache; coreutils'
``sha256sum`` only where openssl is missing, since it uses no SHA instructions and is ~5x slower. The limit is the sum of
the two: no metadata, no pages, no verification against anything, no fsync. The writeback that
``sync`` then needs is measured too and printed beside it, because our client makes its files
durable and upstream does not.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

__all__ = ["Limit", "machine_limit"]

PARALLEL = 4


@dataclass(frozen=True)
class Limit:
    seconds: float  # download + hash
    download: float
    hashing: float
    sync: float
    files: int
    bytes: int
    hasher: str

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds if self.seconds else 0.0


def machine_limit(urls_file: Path, scratch: Path, cert: Optional[str] = None) -> Optional[Limit]:
    """Time the plain tools over the "url<TAB>size" lines of ``urls_file``; None without curl.

    ``cert``: the CA bundle of a TLS master.
    """
    hasher = "openssl dgst -sha256" if shutil.which("openssl") else "sha256sum"
    if not shutil.which("curl") or not shutil.which(hasher.split()[0]):
        return None
    entries = [line.split("\t") for line in urls_file.read_text(encoding="utf-8").splitlines() if line]
    scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch, prefix="limit-") as folder:
        config = Path(folder) / "curl.conf"
        with open(config, "w", encoding="utf-8") as handle:
            for number, (url, _) in enumerate(entries):
                handle.write(f'url = "{url}"\noutput = "{folder}/f{number}"\n')
        subprocess.run(["sync"], check=True)
        start = time.perf_counter()
        subprocess.run(["curl", "--silent", "--show-error", "--fail", "--parallel", "--parallel-max", str(PARALLEL),
                        "--no-progress-meter", *(["--cacert", cert] if cert else []), "--config", str(config)],
                       check=True)  # fmt: skip
        downloaded = time.perf_counter()
        subprocess.run(f"find {folder} -name 'f*' -print0 | xargs -0 -P 2 -n 64 {hasher} > /dev/null",
                       shell=True, check=True)  # fmt: skip
        hashed = time.perf_counter()
        subprocess.run(["sync"], check=True)
        synced = time.perf_counter()
        size = sum(int(size) for _, size in entries)
    return Limit(hashed - start, downloaded - start, hashed - downloaded, synced - hashed, len(entries), size, hasher)
