"""An answer's body, read by the master under its bounds: never past a byte limit, never past its
deadline (deadlines.Watch), and a break-off or a late sender is one line (TruncatedDownload).
Part of the master's edge: only ``master`` calls these.

Documents go through urllib3 (which inflates gzip only as far as asked, so a compressed bomb is
bounded like any other body); files of plain bytes are read straight from http.client into one
reused buffer per thread.
"""

from __future__ import annotations

import http.client
import threading
from typing import Iterator

import requests
import urllib3

from .answers import one_line
from .deadlines import Watch
from .errors import TruncatedDownload, UpstreamUnavailable

__all__ = ["DOWNLOAD_CHUNK", "file_body", "late", "read_body"]

DOWNLOAD_CHUNK = 1 << 20  # large reads: per-chunk overhead dominates small ones

_THREAD = threading.local()  # .buffer: the thread's download buffer (file_body)


def late(method: str, url: str, watch: Watch) -> str:
    """The line for a transfer stopped at its deadline."""
    return f"{method} {url} passed its deadline of {watch.seconds:.0f} s ({watch.received} bytes in); stopped"


def read_body(
    response: requests.Response, watch: Watch, url: str, limit: int, chunk: int, what: str
) -> Iterator[bytes]:
    """The body in pieces of at most ``chunk`` bytes, stopped as soon as it passes ``limit`` (the
    error names ``what`` it is), at its deadline, or when it breaks off."""
    pieces = iter(lambda: response.raw.read(min(chunk, limit - watch.received + 1), decode_content=True), b"")
    broken = (urllib3.exceptions.HTTPError, requests.RequestException, OSError)
    yield from _bounded(pieces, watch, url, limit, what, broken)


def file_body(response: requests.Response, watch: Watch, url: str, limit: int, what: str) -> Iterator[bytes]:
    """A file's body as views of one reused DOWNLOAD_CHUNK buffer, read by ``readinto`` straight
    from http.client: no allocation, no copy and a handful of bytecodes per MiB (hashlib and the
    write release the GIL for the rest), so many downloads at once hardly contend for the GIL and
    no page of a fresh buffer is faulted in per chunk. A body with a Content-Encoding, or a
    response that is not http.client's (test doubles), goes through urllib3 (``read_body``)."""
    raw = response.raw
    source = getattr(raw, "_original_response", None)
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ("", "identity") or not isinstance(source, http.client.HTTPResponse):
        yield from read_body(response, watch, url, limit, DOWNLOAD_CHUNK, what)
        return
    buffer = getattr(_THREAD, "buffer", None)
    if buffer is None:  # one per download thread, for its life: not even an allocation per file
        buffer = _THREAD.buffer = memoryview(bytearray(DOWNLOAD_CHUNK))

    def views() -> Iterator[memoryview]:
        while count := source.readinto(buffer[: min(DOWNLOAD_CHUNK, limit - watch.received + 1)]):
            yield buffer[:count]

    yield from _bounded(views(), watch, url, limit, what, (http.client.HTTPException, OSError, ValueError))
    if source.isclosed():  # read to its end: the connection goes back to the pool, as urllib3 does
        raw.release_conn()


def _bounded(
    pieces: Iterator[bytes], watch: Watch, url: str, limit: int, what: str, broken: tuple[type[BaseException], ...]
) -> Iterator[bytes]:
    """``pieces`` counted into ``watch``, refused past ``limit``, and a break-off or the deadline
    turned into TruncatedDownload (a socket the watchdog shut down may look like a body's end)."""
    watch.received = 0
    try:
        for piece in pieces:
            watch.received += len(piece)
            if watch.received > limit:
                raise UpstreamUnavailable(f"{url} sent more than {what} ({limit} bytes); stopped at {watch.received}")
            yield piece
    except broken as error:
        stopped = watch.expired and late("GET", url, watch)
        raise TruncatedDownload(stopped or f"download of {url} broke off: {one_line(error)}") from None
    if watch.expired:
        raise TruncatedDownload(late("GET", url, watch))
