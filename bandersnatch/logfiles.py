"""Opening a web server's access log, plain or rotated and compressed: shared by ``update-stats``
(commands/accesslog.py) and ``[demand]`` (subset/demand.py), so both read every log alike."""

from __future__ import annotations

import bz2
import gzip
import io
from typing import IO

__all__ = ["open_log"]

_COMPRESSED = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open))  # logrotate's compress, or bzip2


def open_log(path: str) -> IO[bytes]:
    """Rotated logs are compressed; the content says how, whatever the file is called."""
    with open(path, "rb") as probe:
        head = probe.read(3)
    for magic, opener in _COMPRESSED:
        if head.startswith(magic):
            # GzipFile.readline is Python code; a BufferedReader around it reads lines in C
            return io.BufferedReader(opener(path, "rb"), buffer_size=1 << 16)  # type: ignore[arg-type]
    return open(path, "rb")
