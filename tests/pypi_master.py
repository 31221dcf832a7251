"""A PyPI-like master on 127.0.0.1: a real HTTP server for tests and benchmarks.

The mirror under test runs as a subprocess and must meet real sockets, keep-alive connections and real
failures, so this is an actual ``ThreadingHTTPServer`` speaking XML-RPC, the JSON API, the simple API
(PEP 503/691) and files.pythonhosted.org-style ``/packages/`` URLs. Every mutation bumps a global serial
and appends changelog rows, as on PyPI. Faults (errors, truncation, corruption, slowness, stale CDN
pages) are switched on per path prefix. Big files are never held in memory: their bytes are a 1 MiB
pseudo-random block, seeded by the filename, repeated; their digests are computed once by streaming it.

Standalone: ``python -m tests.pypi_master --projects 50 --seed 1`` prints ``URL http://127.0.0.1:PORT``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gzip
import hashlib
import html
import io
import json
import math
import random
import re
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, unquote, urlsplit
from xmlrpc.server import SimpleXMLRPCDispatcher

BLOCK = 1 << 20  # generated content repeats a block of this size; also the size of each socket write
EPOCH = 1_600_000_000  # the master's clock: a mutation happens at EPOCH + its serial, so runs are reproducible
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
_HTML_TYPES = ("text/html", "application/vnd.pypi.simple.v1+html", "*/*")
_JSON_ROUTE = re.compile(r"/pypi/([^/]+)/json/?")
_RELEASE_JSON_ROUTE = re.compile(r"/pypi/([^/]+)/([^/]+)/json/?")  # PyPI's per-release JSON API
_SIMPLE_ROUTE = re.compile(r"/simple/([^/]+)/?")


def normalize(name: str) -> str:
    """PEP 503 name normalization: how PyPI and mirrors key projects."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _stem(name: str) -> str:
    """The distribution name as it appears in wheel and sdist filenames."""
    return re.sub(r"[-_.]+", "_", name)


# --------------------------------------------------------------------------------------------- content
def _block(seed: int, size: int) -> bytes:
    """The repeated block of a generated file; a small file is exactly one (shorter) block."""
    return random.Random(seed).randbytes(min(size, BLOCK))


def _repeat(block: bytes, size: int) -> Iterator[memoryview]:
    """`block` repeated up to `size` bytes, as large zero-copy slices (one socket write each)."""
    if size:
        view = memoryview(block)
        full, rest = divmod(size, len(block))
        yield from (view for _ in range(full))
        if rest:
            yield view[:rest]


def _digests(block: bytes, size: int) -> dict[str, str]:
    """md5/sha256/blake2b_256 of `block` repeated to `size`; big files hash in parallel (GIL released)."""
    hashers = {
        "md5": hashlib.md5(usedforsecurity=False),
        "sha256": hashlib.sha256(),
        "blake2b_256": hashlib.blake2b(digest_size=32),
    }

    def feed(hasher: Any) -> None:
        for chunk in _repeat(block, size):
            hasher.update(chunk)

    if size <= 8 * BLOCK:
        for hasher in hashers.values():
            feed(hasher)
    else:
        with ThreadPoolExecutor(len(hashers)) as pool:
            list(pool.map(feed, hashers.values()))
    return {algo: hasher.hexdigest() for algo, hasher in hashers.items()}


@dataclass(frozen=True)
class _Blob:
    """A file's bytes: stored (`content`) or regenerated from `seed` on every read."""

    size: int
    digests: dict[str, str]
    content: bytes | None = None
    seed: int = 0

    @classmethod
    def stored(cls, content: bytes) -> _Blob:
        return cls(len(content), _digests(content, len(content)), content)

    @classmethod
    def generated(cls, filename: str, size: int) -> _Blob:
        seed = int.from_bytes(hashlib.sha256(filename.encode("utf-8", "surrogatepass")).digest()[:8], "big")
        return cls(size, _digests(_block(seed, size), size), None, seed)

    def chunks(self) -> Iterator[memoryview]:
        return _repeat(self.content if self.content is not None else _block(self.seed, self.size), self.size)


# ------------------------------------------------------------------------------------ real artifacts
def _module(name: str) -> str:
    """An importable package name for a project (pip tests import it after installing)."""
    module = re.sub(r"\W", "_", _stem(name).lower()) or "_"
    return "_" + module if module[0].isdigit() else module


def _metadata(name: str, version: str, requires_dist: Sequence[str] = (), metadata_version: str = "2.1",
              dynamic: Sequence[str] = ()) -> str:
    """Core metadata; every extra a Requires-Dist marker names is declared (Provides-Extra), or
    installers ignore the requirement."""
    extras = dict.fromkeys(re.findall(r"""extra\s*==\s*['"]([^'"]+)['"]""", "\n".join(requires_dist)))
    return (
        f"Metadata-Version: {metadata_version}\nName: {name}\nVersion: {version}\n"
        + "".join(f"Dynamic: {field}\n" for field in dynamic)
        + "".join(f"Provides-Extra: {extra}\n" for extra in extras)
        + "".join(f"Requires-Dist: {line}\n" for line in requires_dist)
    )


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def make_wheel(name: str, version: str, *, tag: str = "py3-none-any", requires_dist: Sequence[str] = ()) -> bytes:
    """A minimal, installable wheel (deterministic bytes: same input, same sha256).

    ``tag`` (e.g. cp311-cp311-manylinux_2_17_x86_64) and ``requires_dist`` (METADATA lines) make
    platform wheels and dependency graphs for the filter tests; the defaults give the pure wheel.
    """
    info = f"{_stem(name)}-{version}.dist-info"
    purelib = "true" if tag.endswith("-none-any") else "false"
    files = {
        f"{_module(name)}/__init__.py": f'__version__ = "{version}"\n'.encode(),
        f"{info}/METADATA": _metadata(name, version, requires_dist).encode(),
        f"{info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: pypi_master\nRoot-Is-Purelib: {purelib}\nTag: {tag}\n".encode(),
    }
    record = "".join(f"{path},{_record_hash(data)},{len(data)}\n" for path, data in files.items())
    files[f"{info}/RECORD"] = f"{record}{info}/RECORD,,\n".encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, data in files.items():
            entry = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            entry.external_attr = 0o644 << 16
            archive.writestr(entry, data, zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


_BACKEND = r'''"""A PEP 517 backend inside the sdist (backend-path): the build needs nothing from the index."""
import base64, hashlib, os, zipfile


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    with open("PKG-INFO", "rb") as handle:
        metadata = handle.read()
    fields = dict(line.split(": ", 1) for line in metadata.decode().splitlines() if ": " in line)
    dist = fields["Name"].replace("-", "_").replace(".", "_") + "-" + fields["Version"]
    info = dist + ".dist-info"
    files = {info + "/METADATA": metadata,
             info + "/WHEEL": b"Wheel-Version: 1.0\nGenerator: in-tree\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    for folder, _, names in os.walk("src"):
        for name in names:
            with open(os.path.join(folder, name), "rb") as handle:
                files[os.path.relpath(os.path.join(folder, name), "src").replace(os.sep, "/")] = handle.read()
    digest = lambda data: base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record = "".join("%s,sha256=%s,%d\n" % (path, digest(data), len(data)) for path, data in files.items())
    files[info + "/RECORD"] = (record + info + "/RECORD,,\n").encode()
    with zipfile.ZipFile(os.path.join(wheel_directory, dist + "-py3-none-any.whl"), "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
    return dist + "-py3-none-any.whl"
'''


def make_sdist(name: str, version: str, *, requires_dist: Sequence[str] = (), metadata_version: str = "2.1",
               dynamic: Sequence[str] = ()) -> bytes:
    """A buildable sdist (deterministic .tar.gz: fixed mtimes, no gzip timestamp).

    It carries its own PEP 517 backend (backend-path): a build backend such as setuptools would
    be fetched from the index under test, and a mirror of this master has none. Its PKG-INFO
    (``metadata_version``, ``dynamic``: PEP 643) becomes the built wheel's METADATA, so
    ``requires_dist`` is what an installer of the sdist then asks for.
    """
    root, module = f"{_stem(name)}-{version}", _module(name)
    files = {
        f"{root}/PKG-INFO": _metadata(name, version, requires_dist, metadata_version, dynamic),
        f"{root}/pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "in_tree_backend"\n'
        'backend-path = ["."]\n',
        f"{root}/in_tree_backend.py": _BACKEND,
        f"{root}/src/{module}/__init__.py": f'__version__ = "{version}"\n',
    }
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for path, text in files.items():
            entry, data = tarfile.TarInfo(path), text.encode()
            entry.size, entry.mode = len(data), 0o644
            tar.addfile(entry, io.BytesIO(data))
    return buffer.getvalue()


# ------------------------------------------------------------------------------------------ the model
@dataclass
class FileSpec:
    """One file of a release: `content` is stored, `size` is generated; neither: a real wheel/sdist."""

    filename: str
    size: int | None = None
    content: bytes | None = None
    requires_python: str | None = None
    packagetype: str | None = None


@dataclass(frozen=True)
class _File:
    filename: str
    url: str
    blob: _Blob
    packagetype: str
    upload_time: str | None
    requires_python: str | None = None
    yanked: bool = False
    yanked_reason: str | None = None
    metadata_sha256: str | None = None  # PEP 658: served at {url}.metadata (wheels)
    provenance: str | None = None  # PEP 740: the provenance URL, listed only in PEP 691 pages

    def _core_metadata(self) -> Any:
        return {"sha256": self.metadata_sha256} if self.metadata_sha256 else False

    def as_json(self) -> dict[str, Any]:
        """The file as in PyPI's JSON API (`releases` / `urls`)."""
        return {
            "filename": self.filename, "url": self.url, "digests": dict(self.blob.digests),
            "size": self.blob.size, "requires_python": self.requires_python, "yanked": self.yanked,
            "yanked_reason": self.yanked_reason, "upload_time_iso_8601": self.upload_time,
            "packagetype": self.packagetype, "python_version": "source" if self.packagetype == "sdist" else "py3",
            "core-metadata": self._core_metadata(), "data-dist-info-metadata": self._core_metadata(),
        }

    def as_simple(self) -> dict[str, Any]:
        """The file as in the PEP 691 JSON simple API (with PEP 700 size and upload-time)."""
        return {
            "filename": self.filename, "url": self.url, "hashes": {"sha256": self.blob.digests["sha256"]},
            "requires-python": self.requires_python, "yanked": (self.yanked_reason or True) if self.yanked else False,
            "size": self.blob.size, "upload-time": self.upload_time,
            "core-metadata": self._core_metadata(), "data-dist-info-metadata": self._core_metadata(),
            "provenance": self.provenance,
        }


@dataclass(frozen=True)
class _Snapshot:
    """A project's state after one change; immutable, so a stale page can serve the one before."""

    name: str
    serial: int
    releases: dict[str, tuple[_File, ...]] = field(default_factory=dict)
    removed: bool = False

    def files(self) -> list[_File]:
        return [f for files in self.releases.values() for f in files]

    def latest(self) -> str | None:
        """The last added version with a live file (PyPI orders by version; no test depends on that)."""
        live = [v for v, files in self.releases.items() if any(not f.yanked for f in files)]
        return (live or list(self.releases) or [None])[-1]


@dataclass
class _Project:
    current: _Snapshot
    previous: _Snapshot | None = None
    status: str | None = None  # PEP 792; as on PyPI, setting it moves no serial
    status_reason: str | None = None

    @property
    def quarantined(self) -> bool:
        return self.status == "quarantined"


@dataclass
class _Rule:
    """A fault for requests whose path starts with `prefix`, `times` more times (None: forever)."""

    kind: str  # fail | truncate | corrupt | slow | reset | chaos | ratelimit
    prefix: str
    times: int | None
    status: int = 500
    retry_after: float | str | None = None
    seconds: float = 0.0
    rates: dict[str, float] = field(default_factory=dict)  # chaos: fault kind -> probability
    rng: random.Random = field(default_factory=random.Random)
    headers: dict[str, str] = field(default_factory=dict)  # ratelimit: added to the answer

    def draw(self) -> str | None:
        """The fault a chaos rule picks for one request, or None for a healthy answer."""
        roll = self.rng.random()
        for kind, rate in self.rates.items():
            if roll < rate:
                return kind
            roll -= rate
        return None


@dataclass
class _Response:
    status: int
    content_type: str
    length: int
    chunks: Iterable[bytes | memoryview]
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, status: int, body: bytes, content_type: str, serial: int | None = None, **headers: str) -> _Response:
        if serial is not None:
            headers["X-PyPI-Last-Serial"] = str(serial)
        return cls(status, content_type, len(body), (body,), headers)

    @classmethod
    def json(cls, doc: Any, content_type: str = "application/json", serial: int | None = None) -> _Response:
        return cls.of(200, json.dumps(doc).encode(), content_type, serial)


_NOT_FOUND = _Response.of(404, b'{"message": "Not Found"}', "application/json")


def _matches(path: str, prefix: str) -> bool:
    """Prefixes may be given percent-encoded (from a URL) or decoded (from a filename)."""
    path = path.split("?", 1)[0]
    return path.startswith(prefix) or unquote(path).startswith(prefix)


def _wants_json(accept: str) -> bool:
    """PEP 691 content negotiation: JSON when its q-value is at least that of any HTML type."""
    quality: dict[str, float] = {}
    for part in accept.split(","):
        mime, _, params = part.partition(";")
        q = re.search(r"q\s*=\s*([0-9.]+)", params)
        quality[mime.strip()] = float(q.group(1)) if q else 1.0
    wanted = quality.get(SIMPLE_JSON, 0.0)
    return wanted > 0 and wanted >= max(quality.get(t, 0.0) for t in _HTML_TYPES)


# ----------------------------------------------------------------------------------------- the link
WAN_PIECE = 64 << 10  # bytes paced at a time: 2.6 ms at 200 Mbit/s, smooth enough for one shared link
# The link's buffer, in seconds of sending: a sender that wrote a piece late (Python, the scheduler)
# may catch up this much, as a router's queue absorbs it; without it one stream could not reach the
# bandwidth, losing its own per-piece overhead each time.
WAN_BUFFER = 0.01


class WanLink:
    """A wide-area link in front of the master: ``rtt`` seconds before every answer (and one more
    for a new connection's handshake), and ``bandwidth`` bytes/s shared by every connection.

    The bottleneck is a queue: each piece of an answer leaves when the link has sent everything
    queued before it, so ten connections share the bandwidth instead of each getting all of it.
    Clock and sleep are injected so the arithmetic is testable without timing anything.
    """

    def __init__(self, rtt: float = 0.0, bandwidth: float | None = None, *,
                 clock: Any = time.monotonic, sleep: Any = time.sleep) -> None:
        if rtt < 0 or (bandwidth is not None and bandwidth <= 0):
            raise ValueError(f"a link needs rtt >= 0 and bandwidth > 0, not {rtt!r}, {bandwidth!r}")
        self.rtt, self.bandwidth, self._clock, self._sleep = rtt, bandwidth, clock, sleep
        self._lock = threading.Lock()
        self._free_at = 0.0  # when the link has sent everything queued so far

    def connect(self) -> None:
        """The TCP handshake: one round trip before the first request can go out."""
        if self.rtt:
            self._sleep(self.rtt)

    def answer(self) -> None:
        """The request's way there and the answer's first byte's way back."""
        if self.rtt:
            self._sleep(self.rtt)

    def pieces(self, chunk: memoryview | bytes) -> Iterator[memoryview | bytes]:
        """``chunk`` in pieces, each released when the shared link has room for it."""
        if self.bandwidth is None:
            yield chunk
            return
        view = memoryview(chunk)
        for start in range(0, len(view), WAN_PIECE):
            piece = view[start : start + WAN_PIECE]
            with self._lock:
                now = self._clock()
                self._free_at = max(now - WAN_BUFFER, self._free_at) + len(piece) / self.bandwidth
                wait = self._free_at - now  # below zero when the buffer absorbs the piece
            if wait > 0:
                self._sleep(wait)
            yield piece


# ----------------------------------------------------------------------------------------- the server
class _Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler: every response has a Content-Length, bodies go out in big writes."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no delayed-ACK stalls
    server: _Server

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()  # in the connection's thread, not in the accept loop
        self.server.master.link.connect()
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read `master.requests`, not stderr."""

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""  # always drained: keeps keep-alive in step
        master = self.server.master
        faults = master._take_faults(self.command, self.path)
        with master._lock:
            master._headers.append((self.command, self.path, dict(self.headers.items())))
        master.link.answer()
        if "slow" in faults:
            time.sleep(faults["slow"].seconds)
        if "reset" in faults:
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True  # closed with linger 0: the client sees a reset, no answer
            return
        if "fail" in faults:
            response = _fault_response(faults["fail"])
        else:
            response = master._route(self.command, self.path.split("?", 1)[0], self.headers, body)
        if "ratelimit" in faults:
            response.headers.update(faults["ratelimit"].headers)
        self._send(response, "truncate" in faults, "corrupt" in faults)
        with master._lock:
            sent = 0 if self.command == "HEAD" else response.length
            master._answers.append((self.command, self.path, response.status, sent))

    do_GET = do_HEAD = do_POST = do_PURGE = _serve

    def _send(self, response: _Response, truncate: bool, corrupt: bool) -> None:
        link = self.server.master.link
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(response.length))
        self.end_headers()
        if self.command == "HEAD":
            return
        limit, sent = (response.length // 2 if truncate else response.length), 0
        for chunk in response.chunks:
            if corrupt and sent == 0:
                chunk = bytes(b ^ 0xFF for b in chunk[:256]) + bytes(chunk[256:])
            chunk = chunk[: limit - sent]
            for piece in link.pieces(chunk):
                self.wfile.write(piece)
            sent += len(chunk)
            if sent >= limit:
                break
        if truncate:
            self.close_connection = True  # the client sees EOF before Content-Length bytes


def _fault_response(rule: _Rule) -> _Response:
    headers = {} if rule.retry_after is None else {"Retry-After": str(rule.retry_after)}
    try:
        phrase = HTTPStatus(rule.status).phrase
    except ValueError:  # unusual codes are allowed: clients must cope with those too
        phrase = "Error"
    return _Response.of(rule.status, f"{rule.status} {phrase} (injected)\n".encode(), "text/plain", **headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many workers connect at once; the default 5 drops connections

    def __init__(self, address: tuple[str, int], master: PyPIMaster) -> None:
        self.master = master
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-response (killed syncs, fault tests) are normal here, not noise."""
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, ssl.SSLError)):
            super().handle_error(request, client_address)


class PyPIMaster:
    """The master: state, mutations, faults and the server thread. Thread-safe; use as a context manager."""

    def __init__(self, changelog_page_size: int = 50_000, ssl_context: ssl.SSLContext | None = None, *,
                 host: str = "127.0.0.1", port: int = 0, link: WanLink | None = None,
                 clock: Callable[[], float] | None = None, root_validators: bool = False) -> None:
        self.changelog_page_size = changelog_page_size
        # Upload times (PEP 700): by default EPOCH + the upload's serial (reproducible); with a
        # clock, the clock's time of the upload (a test of [cooldown] moves it between uploads).
        self.clock = clock
        # As PyPI's CDN: the PEP 691 root with an ETag and Last-Modified, answering 304 to them
        self.root_validators = root_validators
        self._answers: list[tuple[str, str, int, int]] = []  # (method, path, status, body bytes sent)
        self._headers: list[tuple[str, str, dict[str, str]]] = []  # (method, path, request headers)
        self.link = link or WanLink()  # loopback speed unless a WAN is asked for
        self._lock = threading.RLock()
        self._serial = 0
        self._changelog: list[list[Any]] = []
        self._projects: dict[str, _Project] = {}  # by normalized name
        self._paths: dict[str, _Blob] = {}  # decoded URL path -> the bytes served there
        self._stale: dict[str, int | None] = {}  # normalized name -> PURGEs still needed
        self._faults: list[_Rule] = []
        self._log: list[tuple[str, str]] = []
        self._rpc = SimpleXMLRPCDispatcher(allow_none=True, encoding="utf-8")
        self._rpc.register_function(self.projects, "list_packages_with_serial")
        self._rpc.register_function(self._changelog_since, "changelog_since_serial")
        self._rpc.register_function(lambda: self.serial, "changelog_last_serial")
        self._server = _Server((host, port), self)
        if ssl_context is not None:
            self._server.socket = ssl_context.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self.url = f"{'https' if ssl_context else 'http'}://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def __enter__(self) -> PyPIMaster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """Stop serving and close the listening socket (idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
            self._server.server_close()

    # ----------------------------------------------------------------------------------- inspection
    @property
    def serial(self) -> int:
        with self._lock:
            return self._serial

    def projects(self) -> dict[str, int]:
        """{display name: last serial} of every existing project (XML-RPC list_packages_with_serial)."""
        with self._lock:
            return {p.current.name: p.current.serial for p in self._projects.values() if not p.current.removed}

    def files(self, name: str) -> list[dict[str, Any]]:
        """The project's current files as the JSON API lists them; [] when unknown or removed."""
        with self._lock:
            project = self._projects.get(normalize(name))
        return [f.as_json() for f in project.current.files()] if project else []

    def file_content(self, url_or_path: str) -> bytes:
        """The bytes served at a file URL (generated files are materialized: keep those small)."""
        with self._lock:
            blob = self._paths[unquote(urlsplit(url_or_path).path)]
        return b"".join(blob.chunks())

    @property
    def requests(self) -> list[tuple[str, str]]:
        """Every (method, raw path) received, from all client processes, in arrival order."""
        with self._lock:
            return list(self._log)

    def count(self, method: str | None = None, path_prefix: str = "") -> int:
        with self._lock:
            return sum(1 for m, p in self._log if method in (None, m) and _matches(p, path_prefix))

    def metadata_requests(self, name: str | None = None) -> list[str]:
        """The raw paths of every GET of a project's metadata document (its JSON API answer or its
        simple page, in any format), of ``name`` only when given; not the root."""
        with self._lock:
            paths = [p for m, p in self._log if m == "GET"]
        routes = [(_JSON_ROUTE.fullmatch(p) or _SIMPLE_ROUTE.fullmatch(p), p) for p in paths]
        return [p for route, p in routes if route and (name is None or normalize(unquote(route.group(1))) == normalize(name))]

    def clear_log(self) -> None:
        with self._lock:
            self._log.clear()
            self._answers.clear()
            self._headers.clear()

    @property
    def answers(self) -> list[tuple[str, str, int, int]]:
        """Every (method, raw path, status, body bytes sent) answered, in order of answering."""
        with self._lock:
            return list(self._answers)

    @property
    def request_headers(self) -> list[tuple[str, str, dict[str, str]]]:
        """Every (method, raw path, {header: value}) received, in arrival order."""
        with self._lock:
            return list(self._headers)

    def rate_limit(self, path_prefix: str, remaining: int, reset: int, limit: int = 100,
                   times: int | None = None) -> None:
        """Send PyPI's RateLimit / RateLimit-Policy headers (IETF draft 7+) on matching answers."""
        headers = {"RateLimit": f'"default";r={remaining};t={reset}', "RateLimit-Policy": f'"default";q={limit};w=60'}
        self._add_rule(_Rule("ratelimit", path_prefix, times, headers=headers))

    # ------------------------------------------------------------------------------------ mutations
    def add_release(self, name: str, version: str, files: Sequence[FileSpec] | None = None,
                    requires_python: str | None = None, yanked: bool = False,
                    yanked_reason: str | None = None) -> None:
        """Add a release, or files to an existing one; by default a real wheel and sdist."""
        if files is None:
            files = [FileSpec(f"{_stem(name)}-{version}-py3-none-any.whl"), FileSpec(f"{_stem(name)}-{version}.tar.gz")]
        blobs = [self._blob(name, version, spec) for spec in files]  # hashing outside the lock
        with self._lock:
            project = self._project(name)
            releases = dict(project.current.releases)
            if version not in releases:
                self._append(project, version, "new release")
            added = tuple(
                self._new_file(project, version, spec, blob, spec.requires_python or requires_python)
                for spec, blob in zip(files, blobs)
            )
            if yanked:
                added = tuple(replace(f, yanked=True, yanked_reason=yanked_reason or None) for f in added)
            releases[version] = releases.get(version, ()) + added
            self._commit(project, releases)

    def add_file(self, name: str, version: str, filename: str, size: int | None = None,
                 content: bytes | None = None, requires_python: str | None = None, yanked: bool = False,
                 yanked_reason: str | None = None, packagetype: str | None = None) -> None:
        """Add one file: generated `size` bytes, stored `content`, or a real wheel/sdist by its suffix."""
        spec = FileSpec(filename, size, content, requires_python, packagetype)
        self.add_release(name, version, [spec], yanked=yanked, yanked_reason=yanked_reason)

    def add_raw_file(self, name: str, version: str, *, filename: str, url: str, content: bytes = b"raw\n") -> None:
        """A hostile entry: any filename, any url (served here when the url points at this host)."""
        blob, parts = _Blob.stored(content), urlsplit(url)
        with self._lock:
            if parts.netloc in ("", urlsplit(self.url).netloc):
                self._paths[unquote(parts.path)] = blob
            project = self._project(name)
            serial = self._append(project, version, f"add py3 file {filename}")
            releases = dict(project.current.releases)
            releases[version] = releases.get(version, ()) + (_File(filename, url, blob, "bdist_wheel", self._uploaded(serial)),)
            self._commit(project, releases)

    def remove_file(self, name: str, filename: str) -> None:
        with self._lock:
            project = self._projects[normalize(name)]
            releases = dict(project.current.releases)
            version, gone = next((v, f) for v, files in releases.items() for f in files if f.filename == filename)
            self._paths.pop(unquote(urlsplit(gone.url).path), None)
            self._paths.pop(unquote(urlsplit(gone.url).path) + ".metadata", None)
            releases[version] = tuple(f for f in releases[version] if f is not gone)
            self._append(project, version, f"remove file {filename}")
            self._commit(project, releases)

    def remove_project(self, name: str) -> None:
        with self._lock:
            project = self._projects[normalize(name)]
            for f in project.current.files():
                self._paths.pop(unquote(urlsplit(f.url).path), None)
                self._paths.pop(unquote(urlsplit(f.url).path) + ".metadata", None)
            self._append(project, None, "remove project")
            self._commit(project, {}, removed=True)

    def unyank(self, name: str, version: str) -> None:
        with self._lock:
            project = self._projects[normalize(name)]
            releases = dict(project.current.releases)
            releases[version] = tuple(replace(f, yanked=False, yanked_reason=None) for f in releases[version])
            self._append(project, version, "unyank release")
            self._commit(project, releases)

    def yank(self, name: str, version: str, reason: str = "") -> None:
        with self._lock:
            project = self._projects[normalize(name)]
            releases = dict(project.current.releases)
            releases[version] = tuple(replace(f, yanked=True, yanked_reason=reason or None) for f in releases[version])
            self._append(project, version, "yank release")
            self._commit(project, releases)

    def set_status(self, name: str, status: str | None, reason: str | None = None) -> None:
        """PEP 792 (archived, deprecated, quarantined; None: active). As on PyPI no serial moves, except
        that quarantine and its release are logged so mirrors learn of them."""
        with self._lock:
            project = self._projects[normalize(name)]
            was_quarantined = project.quarantined
            project.status, project.status_reason = status, reason
            if project.quarantined or was_quarantined:
                self._append(project, None, f"project status {status}")
                self._commit(project, dict(project.current.releases))

    def set_upload_time(self, name: str, version: str, when: float | None) -> None:
        """Rewrite the upload time of every file of a release (epoch seconds; None: none at all),
        moving no serial: as seen from a mirror, time passed (or the master lost the stamp)."""
        stamp = None if when is None else _iso_at(when)
        with self._lock:
            project = self._projects[normalize(name)]
            releases = dict(project.current.releases)
            releases[version] = tuple(replace(f, upload_time=stamp) for f in releases[version])
            project.current = replace(project.current, releases=releases)

    def attest(self, name: str, filename: str, provenance: dict[str, Any] | None = None) -> str:
        """PEP 740: publish a provenance object for the file, as PyPI's integrity API; returns its URL."""
        with self._lock:
            project = self._projects[normalize(name)]
            releases = dict(project.current.releases)
            version, old = next((v, f) for v, files in releases.items() for f in files if f.filename == filename)
            path = f"/integrity/{quote(project.current.name)}/{quote(version)}/{quote(filename)}/provenance"
            body = json.dumps(provenance or {"version": 1, "attestation_bundles": []}).encode()
            self._paths[unquote(path)] = _Blob.stored(body)
            releases[version] = tuple(replace(f, provenance=self.url + path) if f is old else f
                                      for f in releases[version])
            self._append(project, version, f"attest {filename}")
            self._commit(project, releases)
            return self.url + path

    # --------------------------------------------------------------------------------------- faults
    def fail(self, path_prefix: str, status: int = 500, times: int | None = 1,
             retry_after: float | str | None = None) -> None:
        """Answer matching requests with `status` (e.g. 503, or 429 with a Retry-After)."""
        self._add_rule(_Rule("fail", path_prefix, times, status=status, retry_after=retry_after))

    def truncate(self, path_prefix: str, times: int | None = 1) -> None:
        """Announce the full Content-Length, send half the body, close the connection."""
        self._add_rule(_Rule("truncate", path_prefix, times))

    def corrupt(self, path_prefix: str, times: int | None = 1) -> None:
        """Same length, wrong bytes (the first 256 are inverted)."""
        self._add_rule(_Rule("corrupt", path_prefix, times))

    def reset(self, path_prefix: str, times: int | None = 1) -> None:
        """Drop the connection with a TCP reset instead of answering."""
        self._add_rule(_Rule("reset", path_prefix, times))

    def chaos(self, path_prefix: str, *, seed: int = 0, **rates: float) -> None:
        """Random faults on matching requests, forever: e.g. ``fail=0.05, truncate=0.02``
        (kinds: fail, truncate, corrupt, reset; each the probability of one request getting it)."""
        unknown = set(rates) - {"fail", "truncate", "corrupt", "reset"}
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}")
        self._add_rule(_Rule("chaos", path_prefix, None, rates=rates, rng=random.Random(seed)))

    def slow(self, path_prefix: str, seconds: float, times: int | None = None) -> None:
        """Sleep `seconds` before answering matching requests."""
        self._add_rule(_Rule("slow", path_prefix, times, seconds=seconds))

    def stale(self, name: str, purges_needed: int | None = 1) -> None:
        """Serve the project's JSON API and PEP 691 page as before its last change until that many
        PURGEs of either (None: forever)."""
        with self._lock:
            self._stale[normalize(name)] = purges_needed

    def clear_faults(self) -> None:
        """Switch every fault and stale page off: the master is healthy again."""
        with self._lock:
            self._faults.clear()
            self._stale.clear()

    # ------------------------------------------------------------------------------------ internals
    @staticmethod
    def _blob(name: str, version: str, spec: FileSpec) -> _Blob:
        if spec.content is not None:
            return _Blob.stored(spec.content)
        if spec.size is not None:
            wheel = _sized_wheel(name, version, spec.filename, spec.size) if spec.filename.endswith(".whl") else None
            return _Blob.stored(wheel) if wheel is not None else _Blob.generated(spec.filename, spec.size)
        return _Blob.stored((make_wheel if spec.filename.endswith(".whl") else make_sdist)(name, version))

    def _new_file(self, project: _Project, version: str, spec: FileSpec, blob: _Blob,
                  requires_python: str | None) -> _File:
        """Log the upload and publish the bytes at files.pythonhosted.org's blake2b_256 layout."""
        packagetype = spec.packagetype or ("bdist_wheel" if spec.filename.endswith(".whl") else "sdist")
        kind = "source" if packagetype == "sdist" else "py3"
        serial = self._append(project, version, f"add {kind} file {spec.filename}")
        digest = blob.digests["blake2b_256"]
        path = f"/packages/{digest[:2]}/{digest[2:4]}/{digest[4:]}/{spec.filename}"
        self._paths[path] = blob
        metadata_sha256 = None
        if spec.filename.endswith(".whl"):  # PEP 658: as PyPI, the wheel's METADATA beside it
            metadata = _Blob.stored(_wheel_metadata(blob) or _metadata(project.current.name, version).encode())
            self._paths[path + ".metadata"] = metadata
            metadata_sha256 = metadata.digests["sha256"]
        return _File(spec.filename, self.url + quote(path), blob, packagetype, self._uploaded(serial), requires_python,
                     metadata_sha256=metadata_sha256)

    def _uploaded(self, serial: int) -> str:
        return _iso(serial) if self.clock is None else _iso_at(self.clock())

    def _project(self, name: str) -> _Project:
        """The project, created as 'never existed' on first use; its first spelling is its display name."""
        project = self._projects.setdefault(normalize(name), _Project(_Snapshot(name, 0, removed=True)))
        if project.current.removed:  # a re-created project takes the new spelling
            project.current = replace(project.current, name=name)
        return project

    def _append(self, project: _Project, version: str | None, action: str) -> int:
        self._serial += 1
        self._changelog.append([project.current.name, version, EPOCH + self._serial, action, self._serial])
        return self._serial

    def _commit(self, project: _Project, releases: dict[str, tuple[_File, ...]], removed: bool = False) -> None:
        """One API call is one change: the snapshot before it is what a stale page serves."""
        project.previous = project.current
        project.current = _Snapshot(project.current.name, self._serial, releases, removed)

    def _changelog_since(self, since: int) -> list[list[Any]]:
        """Serials are 1, 2, 3, ...: the row after serial `since` is at index `since`."""
        start = max(since, 0)
        with self._lock:
            return [list(row) for row in self._changelog[start : start + self.changelog_page_size]]

    def _add_rule(self, rule: _Rule) -> None:
        with self._lock:
            self._faults.append(rule)

    def _take_faults(self, method: str, path: str) -> dict[str, _Rule]:
        """Log the request and consume the first matching rule of each kind."""
        taken: dict[str, _Rule] = {}
        with self._lock:
            self._log.append((method, path))
            for rule in list(self._faults):
                if rule.kind in taken or not _matches(path, rule.prefix):
                    continue
                if rule.kind == "chaos":
                    drawn = rule.draw()
                    if drawn is not None and drawn not in taken:
                        taken[drawn] = replace(rule, kind=drawn)
                    continue
                taken[rule.kind] = rule
                if rule.times is not None:
                    rule.times -= 1
                    if rule.times <= 0:
                        self._faults.remove(rule)
        return taken

    def _route(self, method: str, path: str, headers: Any, body: bytes) -> _Response:
        """Dispatch on the raw path, so a %2F inside a project name stays inside it."""
        json_route, simple_route = _JSON_ROUTE.fullmatch(path), _SIMPLE_ROUTE.fullmatch(path)
        if method == "POST" and path in ("/pypi", "/pypi/"):
            return _Response.of(200, self._rpc._marshaled_dispatch(body), "text/xml")
        if method == "PURGE" and (json_route or simple_route):
            return self._purge(unquote((json_route or simple_route).group(1)))  # type: ignore[union-attr]
        if method not in ("GET", "HEAD"):
            return _NOT_FOUND
        release_route = _RELEASE_JSON_ROUTE.fullmatch(path)
        if release_route and not json_route:
            return self._release_json(unquote(release_route.group(1)), unquote(release_route.group(2)))
        if json_route:
            name = unquote(json_route.group(1))
            if name != normalize(name):  # as PyPI: one canonical URL per project
                return _Response.of(301, b"", "text/plain", Location=f"/pypi/{quote(normalize(name))}/json")
            return self._project_json(name)
        as_json = _wants_json(headers.get("Accept", ""))
        if path == "/simple":  # as PyPI: the root lives at /simple/
            return _Response.of(301, b"", "text/plain", Location="/simple/")
        if path == "/simple/":
            return self._simple_root(as_json, headers)
        if simple_route:
            return self._simple_page(unquote(simple_route.group(1)), as_json)
        with self._lock:
            blob = self._paths.get(unquote(path))
        return _Response(200, "application/octet-stream", blob.size, blob.chunks()) if blob else _NOT_FOUND

    def _purge(self, name: str) -> _Response:
        key = normalize(name)
        with self._lock:
            remaining = self._stale.get(key)
            if remaining is not None and remaining <= 1:
                del self._stale[key]
            elif remaining is not None:
                self._stale[key] = remaining - 1
        return _Response.json({"status": "ok"})

    def _project_json(self, name: str) -> _Response:
        key = normalize(name)
        with self._lock:
            project = self._projects.get(key)
            snap = project and (project.previous if key in self._stale else project.current)
        if not snap or snap.removed or project.quarantined:  # PyPI: no JSON API for a quarantined project
            return _NOT_FOUND
        releases = {v: [f.as_json() for f in files] for v, files in snap.releases.items()}
        latest = snap.latest()
        urls = releases.get(latest, []) if latest else []
        requires_python = next((f["requires_python"] for f in urls), None)
        info = {"name": snap.name, "version": latest, "requires_python": requires_python}
        doc = {"info": info, "last_serial": snap.serial, "releases": releases, "urls": urls, "vulnerabilities": []}
        return _Response.json(doc, serial=snap.serial)

    def _release_json(self, name: str, version: str) -> _Response:
        """``/pypi/{name}/{version}/json``: ``info.requires_dist`` as PyPI has it, from the metadata
        uploaded with the release's first stored file (a wheel's METADATA, an sdist's PKG-INFO)."""
        with self._lock:
            project = self._projects.get(normalize(name))
            snap = project and project.current
            files = snap.releases.get(version) if snap and not snap.removed else None
        if not files:
            return _NOT_FOUND
        requires = next((found for f in files if (found := _uploaded_requires(f)) is not None), None)
        info = {"name": snap.name, "version": version, "requires_dist": requires}  # type: ignore[union-attr]
        return _Response.json({"info": info, "urls": [f.as_json() for f in files], "vulnerabilities": []},
                              serial=snap.serial)  # type: ignore[union-attr]

    def _simple_root(self, as_json: bool, headers: Any = None) -> _Response:
        with self._lock:
            serial = self._serial
            live = sorted((key, p.current) for key, p in self._projects.items() if not p.current.removed)
        if as_json:
            projects = [{"name": s.name, "_last-serial": s.serial} for _, s in live]
            response = _Response.json({"meta": {"api-version": "1.1", "_last-serial": serial}, "projects": projects},
                                      SIMPLE_JSON, serial)
            if self.root_validators:  # the ETag changes with every mutation (the serial), as on PyPI
                etag, modified = f'"root-{serial}"', _http_date(EPOCH + serial)
                response.headers.update(ETag=etag, **{"Last-Modified": modified})
                asked = (headers.get("If-None-Match") if headers else None) or ""
                since = (headers.get("If-Modified-Since") if headers else None) or ""
                if etag in [tag.strip() for tag in asked.split(",")] or (not asked and since == modified):
                    return _Response(304, SIMPLE_JSON, 0, (), {"ETag": etag, "Last-Modified": modified})
            return response
        links = "".join(f'    <a href="/simple/{key}/">{html.escape(s.name)}</a>\n' for key, s in live)
        return _Response.of(200, _html_page("Simple index", links, serial), "text/html; charset=utf-8", serial)

    def _simple_page(self, name: str, as_json: bool) -> _Response:
        key = normalize(name)
        if name != key:  # as PyPI: one canonical URL per project
            return _Response.of(301, b"", "text/plain", Location=f"/simple/{quote(key)}/")
        with self._lock:
            project = self._projects.get(key)
            snap = project and (project.previous if key in self._stale else project.current)
        if not project or not snap or snap.removed:
            return _NOT_FOUND
        files = [] if project.quarantined else snap.files()  # PEP 792: nothing installable
        if as_json:
            doc: dict[str, Any] = {"meta": {"api-version": "1.4", "_last-serial": snap.serial}, "name": key,
                                   "files": [f.as_simple() for f in files], "versions": list(snap.releases)}
            if project.status:
                doc["project-status"] = {"status": project.status, "reason": project.status_reason}
            return _Response.json(doc, SIMPLE_JSON, snap.serial)
        links = "".join(_html_link(f) for f in files)
        page = _html_page(f"Links for {snap.name}", links, snap.serial)
        return _Response.of(200, page, "text/html; charset=utf-8", snap.serial)


def _uploaded_requires(f: _File) -> list[str] | None:
    """Requires-Dist of a stored wheel's METADATA or sdist's PKG-INFO (None: generated bytes);
    an empty list as null, as PyPI answers it."""
    text = _wheel_metadata(f.blob) if f.filename.endswith(".whl") else None
    if text is None and f.filename.endswith(".tar.gz") and f.blob.content is not None:
        with tarfile.open(fileobj=io.BytesIO(f.blob.content), mode="r:gz") as archive:
            member = next((m for m in archive if m.name.count("/") == 1 and m.name.endswith("/PKG-INFO")), None)
            handle = archive.extractfile(member) if member else None
            text = handle.read() if handle else None
    if text is None:
        return None
    lines = [line[len("Requires-Dist: "):] for line in text.decode().splitlines() if line.startswith("Requires-Dist: ")]
    return lines or None


def _sized_wheel(name: str, version: str, filename: str, size: int) -> bytes | None:
    """A real wheel of exactly ``size`` bytes (the rest in the zip comment), as small wheels on
    PyPI are real zips a mirror may read (PEP 658 .metadata from the wheel); None when ``size``
    is too small for a wheel or beyond what a zip comment pads (64 KiB), where generated bytes do."""
    tag = "-".join(filename[: -len(".whl")].split("-")[-3:])
    wheel = make_wheel(name, version, tag=tag)
    if not len(wheel) <= size <= len(wheel) + 0xFFFF:
        return None
    buffer = io.BytesIO(wheel)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.comment = b"p" * (size - len(wheel))
    padded = buffer.getvalue()
    return padded if len(padded) == size else None


def _wheel_metadata(blob: _Blob) -> bytes | None:
    """The METADATA inside a real (stored) wheel, as PyPI serves it at {url}.metadata; None for
    generated bytes, which are no zip."""
    if blob.content is None:
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(blob.content)) as wheel:
            name = next((n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")), None)
            return wheel.read(name) if name else None
    except zipfile.BadZipFile:
        return None


def _http_date(seconds: int) -> str:
    """An RFC 9110 HTTP-date."""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%a, %d %b %Y %H:%M:%S GMT")


def _iso(serial: int) -> str:
    return _iso_at(EPOCH + serial)


def _iso_at(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _html_link(f: _File) -> str:
    attrs = f' href="{html.escape(f.url)}#sha256={f.blob.digests["sha256"]}"'
    if f.requires_python:
        attrs += f' data-requires-python="{html.escape(f.requires_python)}"'
    if f.yanked:
        attrs += f' data-yanked="{html.escape(f.yanked_reason or "")}"'
    if f.metadata_sha256:
        attrs += f' data-core-metadata="sha256={f.metadata_sha256}" data-dist-info-metadata="sha256={f.metadata_sha256}"'
    return f"    <a{attrs}>{html.escape(f.filename)}</a><br />\n"


def _html_page(title: str, links: str, serial: int) -> bytes:
    title = html.escape(title)
    return (
        '<!DOCTYPE html>\n<html>\n  <head>\n    <meta name="pypi:repository-version" content="1.1">\n'
        f"    <title>{title}</title>\n  </head>\n  <body>\n    <h1>{title}</h1>\n"
        f"{links}  </body>\n</html>\n<!--SERIAL {serial}-->\n"
    ).encode()


# ------------------------------------------------------------------------------------------- corpus
_WORDS = ("alpha", "beta", "requests", "flask", "numpy", "tool", "kit", "py", "lib", "async", "data", "web", "cli")
_SPECIAL = ("Foo.Bar_baz", "Unicode-Demo", "needs-py38", "yanked-demo")


def generate_corpus(master: PyPIMaster, projects: int, *, seed: int = 0, files_per_project: tuple[int, int] = (1, 3),
                    size_range: tuple[int, int] = (2_000, 50_000), big_files: Sequence[int] = ()) -> list[str]:
    """Add deterministic projects with generated files and return their names.

    The first four are the awkward cases: a name that needs normalization, a non-ASCII filename, a
    release with requires_python and a yanked release. Then one project per entry of `big_files`.
    """
    rng = random.Random(seed)
    names = []
    for i in range(projects):
        name = _SPECIAL[i] if i < len(_SPECIAL) else _random_name(rng, i)
        stem = "Unicodé_Démo" if i == 1 else _stem(name)
        releases: dict[str, list[FileSpec]] = {}
        for j in range(rng.randint(*files_per_project)):
            version = f"{1 + j // 2}.0"
            filename = f"{stem}-{version}-py3-none-any.whl" if j % 2 == 0 else f"{stem}-{version}.tar.gz"
            size = int(math.exp(rng.uniform(math.log(size_range[0]), math.log(size_range[1]))))
            releases.setdefault(version, []).append(FileSpec(filename, size=size))
        for version, specs in releases.items():
            master.add_release(name, version, specs, requires_python=">=3.8" if i == 2 else None)
        if i == 3 and releases:
            master.yank(name, next(iter(releases)), reason="broken build")
        names.append(name)
    for k, size in enumerate(big_files):
        names.append(f"big-file-{k}")
        master.add_release(names[-1], "1.0", [FileSpec(f"big_file_{k}-1.0-py3-none-any.whl", size=size)])
    return names


def _random_name(rng: random.Random, index: int) -> str:
    """Varied spellings (separators, case) that stay unique after normalization thanks to the index."""
    name = f"{rng.choice(_WORDS)}{rng.choice('-_.')}{rng.choice(_WORDS)}-{index}"
    return name.title() if rng.random() < 0.2 else name


# ---------------------------------------------------------------------------------------------- CLI
def _size(text: str) -> int:
    """'2G', '100M', '64K' or plain bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1:].upper() in units else int(text)


def _pair(text: str) -> tuple[int, int]:
    low, high = (_size(part) for part in text.split(","))
    return low, high


def _self_signed(directory: str) -> tuple[str, ssl.SSLContext]:
    """A throwaway certificate for 127.0.0.1; clients use the printed CERT path as their CA bundle."""
    cert, key = f"{directory}/cert.pem", f"{directory}/key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return cert, context


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.pypi_master", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--files-per-project", type=_pair, default=(1, 3), metavar="A,B")
    parser.add_argument("--size-range", type=_pair, default=(2_000, 50_000), metavar="MIN,MAX")
    parser.add_argument("--big-file", type=_size, action="append", default=[], metavar="SIZE", help="e.g. 2G")
    parser.add_argument("--tls", action="store_true", help="serve https with a self-signed certificate")
    parser.add_argument("--page-size", type=int, default=50_000, help="changelog rows per XML-RPC call")
    args = parser.parse_args(argv)
    for signum in (signal.SIGTERM, signal.SIGINT):  # SIGINT too: shells start background jobs ignoring it
        signal.signal(signum, lambda *_: sys.exit(0))
    with contextlib.ExitStack() as stack:
        context = None
        if args.tls:
            cert, context = _self_signed(stack.enter_context(tempfile.TemporaryDirectory()))
            print(f"CERT {cert}", flush=True)
        master = stack.enter_context(PyPIMaster(args.page_size, context, host=args.host, port=args.port))
        generate_corpus(master, args.projects, seed=args.seed, files_per_project=args.files_per_project,
                        size_range=args.size_range, big_files=args.big_file)
        print(f"URL {master.url}", flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
