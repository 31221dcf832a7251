"""A hostile master on 127.0.0.1: it speaks just enough of PyPI (XML-RPC, the JSON API, PEP 691
pages and root, files) to be mirrored, and lies in every way SPEC section 18 says a peer may.

Each attack is a ``mode`` of one served path: ``drip`` (one byte every ``drip`` seconds),
``drip_headers`` (the status line, then header bytes dripping), ``endless`` (no length, data until
the client goes), ``nested`` (a JSON root of 100,000 nested lists). The rest are lies in the
metadata itself: a size smaller than the body, ``javascript:`` URLs, ``evil.html``, a provenance
on an internal service (``InternalService``: a second server whose answer must never reach the
mirror) and serials of 10**30, which XML-RPC's marshaller would refuse, hence the hand-written XML.

Bounded in time: a context manager whose servers stop by themselves after ``lifetime`` seconds,
and every endless answer stops when the server does.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import xmlrpc.client
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from tests.pypi_master import make_wheel

SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
HUGE_SERIAL = 10**30
NESTED = b"[" * 100_000 + b"]" * 100_000
SECRET = b'{"secret": "internal-service-token-must-never-be-mirrored"}'


@dataclass
class Served:
    """One path's answer: its bytes and how they are sent (``mode``)."""

    body: bytes = b""
    mode: str = "normal"  # normal | drip | drip_headers | endless
    content_type: str = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, owner: Any) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.owner = owner
        self.stopping = threading.Event()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest -s shows only the figures
        pass

    def do_GET(self) -> None:
        self._answer(self.server.owner.route("GET", self.path, b"", self.headers))

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self._answer(self.server.owner.route("POST", self.path, self.rfile.read(length), self.headers))

    def do_PURGE(self) -> None:
        self._answer(Served(b"", headers={"X-Purge": "ignored"}))

    def _answer(self, served: Optional[Served]) -> None:
        if served is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        stopping = self.server.stopping
        try:
            if served.mode == "drip_headers":
                self.wfile.write(b"HTTP/1.1 200 OK\r\n")
                while not stopping.wait(self.server.owner.drip):
                    self.wfile.write(b"X")  # a header line that never ends
                return
            self.send_response(200)
            self.send_header("Content-Type", served.content_type)
            for key, value in served.headers.items():
                self.send_header(key, value)
            if served.mode == "endless":
                self.send_header("Connection", "close")
                self.end_headers()
                block = b"\x00" * 65536
                while not stopping.is_set():
                    self.wfile.write(block)
                return
            self.send_header("Content-Length", str(len(served.body)))
            self.end_headers()
            if served.mode == "drip":
                for index in range(len(served.body)):
                    if stopping.wait(self.server.owner.drip):
                        return
                    self.wfile.write(served.body[index : index + 1])
                    self.wfile.flush()
            else:
                self.wfile.write(served.body)
        except OSError:  # the mirror hung up on us, as it should
            self.close_connection = True


class _Servers:
    """A server in a thread that stops by itself after ``lifetime`` seconds."""

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self.server = _Server(self)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.hits: list[str] = []
        self._timer = threading.Timer(lifetime, self.stop)
        self._timer.daemon = True

    def __enter__(self) -> Any:
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()
        self.stop()

    def stop(self) -> None:
        if not self.server.stopping.is_set():
            self.server.stopping.set()
            self.server.shutdown()
            self.server.server_close()

    def route(self, method: str, path: str, body: bytes, headers: Any) -> Optional[Served]:
        raise NotImplementedError


class InternalService(_Servers):
    """What a hostile master would like us to read: a service only reachable from inside."""

    drip = 1.0

    def route(self, method: str, path: str, body: bytes, headers: Any) -> Optional[Served]:
        self.hits.append(f"{method} {path}")
        return Served(SECRET, content_type="application/json")


@dataclass
class _Project:
    name: str
    version: str
    serial: int
    entries: list[dict[str, Any]]
    json_mode: str = "normal"  # how both metadata documents (JSON API, PEP 691 page) are served
    header_serial: Optional[int] = None


class HostileMaster(_Servers):
    """The master. ``add_project`` with ``file_entry``s, then point a mirror at ``url``."""

    def __init__(self, *, drip: float = 1.0, lifetime: float = 120.0) -> None:
        super().__init__(lifetime)
        self.drip = drip
        self.paths: dict[str, Served] = {}
        self.projects: dict[str, _Project] = {}
        self.serial = 0
        self.root_serial: Optional[int] = None  # the PEP 691 root's serial for every project, when set
        self.changelog_serial: Optional[int] = None  # a changelog row (project "huge") with this serial

    # -- content ---------------------------------------------------------------------------

    def file_entry(
        self, filename: str, content: bytes, *, url: Optional[str] = None, size: Optional[int] = None,
        mode: str = "normal", metadata: Optional[Served] = None, provenance: Optional[str] = None,
    ) -> dict[str, Any]:  # fmt: skip
        """A JSON API file entry; its body (and a .metadata) served here when the URL points here."""
        digest = hashlib.sha256(content).hexdigest()
        url = url or f"{self.url}/packages/{digest[:2]}/{digest[2:4]}/{filename}"
        path = urlsplit(url).path
        if url.startswith(self.url):
            self.paths[path] = Served(content, mode)
        entry: dict[str, Any] = {
            "filename": filename, "url": url, "digests": {"sha256": digest, "md5": hashlib.md5(content).hexdigest()},
            "size": len(content) if size is None else size, "requires_python": None, "yanked": False,
            "yanked_reason": None, "upload_time_iso_8601": "2026-01-02T03:04:05.000000Z", "core-metadata": False,
        }  # fmt: skip
        if metadata is not None:
            self.paths[path + ".metadata"] = metadata
            entry["core-metadata"] = {"sha256": hashlib.sha256(metadata.body).hexdigest()}
        if provenance is not None:
            entry["provenance"] = provenance
        return entry

    def wheel(self, name: str, version: str = "1.0", **options: Any) -> dict[str, Any]:
        stem = name.replace("-", "_")
        return self.file_entry(f"{stem}-{version}-py3-none-any.whl", make_wheel(name, version), **options)

    def add_project(self, name: str, entries: list[dict[str, Any]], *, json_mode: str = "normal",
                    header_serial: Optional[int] = None, version: str = "1.0") -> None:  # fmt: skip
        self.serial += 1
        self.projects[name] = _Project(name, version, self.serial, entries, json_mode, header_serial)

    # -- answers -----------------------------------------------------------------------------

    def route(self, method: str, path: str, body: bytes, headers: Any) -> Optional[Served]:
        self.hits.append(f"{method} {path}")
        if method == "POST" and path == "/pypi":
            return Served(self._xmlrpc(body), content_type="text/xml")
        parts = path.strip("/").split("/")
        if path == "/simple/":
            return self._root()
        if len(parts) == 3 and parts[0] == "pypi" and parts[2] == "json" and parts[1] in self.projects:
            return self._json_api(self.projects[parts[1]])
        if len(parts) == 2 and parts[0] == "simple" and parts[1] in self.projects:
            return self._pep691(self.projects[parts[1]])
        return self.paths.get(path)

    def _serial_headers(self, project: _Project) -> dict[str, str]:
        serial = project.serial if project.header_serial is None else project.header_serial
        return {"X-PyPI-Last-Serial": str(serial)}

    def _json_api(self, project: _Project) -> Served:
        if project.json_mode == "nested":
            return Served(NESTED, content_type="application/json", headers=self._serial_headers(project))
        document = {"info": {"name": project.name, "version": project.version}, "last_serial": project.serial,
                    "releases": {project.version: project.entries}, "urls": project.entries}  # fmt: skip
        body = json.dumps(document).encode()
        return Served(body, project.json_mode, "application/json", self._serial_headers(project))

    def _pep691(self, project: _Project) -> Served:
        if project.json_mode == "nested":
            return Served(NESTED, content_type=SIMPLE_JSON, headers=self._serial_headers(project))
        files = [
            {"filename": e["filename"], "url": e["url"], "hashes": {"sha256": e["digests"]["sha256"]}, "size": e["size"],
             "core-metadata": e["core-metadata"], **({"provenance": e["provenance"]} if "provenance" in e else {})}
            for e in project.entries
        ]  # fmt: skip
        document = {"meta": {"api-version": "1.3", "_last-serial": project.serial}, "name": project.name,
                    "versions": [project.version], "files": files}  # fmt: skip
        return Served(json.dumps(document).encode(), project.json_mode, SIMPLE_JSON, self._serial_headers(project))

    def _root(self) -> Served:
        serials = {name: self.root_serial or p.serial for name, p in self.projects.items()}
        body = '{"meta": {"api-version": "1.1", "_last-serial": %d}, "projects": [%s]}' % (
            max(serials.values(), default=0),
            ", ".join('{"name": %s, "_last-serial": %d}' % (json.dumps(n), s) for n, s in serials.items()),
        )  # json.dumps would do as well; by hand like the XML, so any integer goes out as it is
        return Served(body.encode(), content_type=SIMPLE_JSON)

    def _xmlrpc(self, body: bytes) -> bytes:
        params, method = xmlrpc.client.loads(body)
        serials = {name: p.serial for name, p in self.projects.items()}
        if self.changelog_serial is not None:
            serials["huge"] = self.changelog_serial
        if method == "list_packages_with_serial":
            value = _struct(serials)
        elif method == "changelog_last_serial":
            value = _int(max(serials.values(), default=0))
        elif method == "changelog_since_serial":
            since = params[0]
            rows = [(name, serial) for name, serial in serials.items() if serial > since]
            value = _array(
                _array(_string(name), _string("1.0"), _int(int(time.time())), _string("new release"), _int(serial))
                for name, serial in sorted(rows, key=lambda row: row[1])
            )
        else:
            return xmlrpc.client.dumps(xmlrpc.client.Fault(1, f"no method {method}"), methodresponse=True).encode()
        return f"<?xml version='1.0'?><methodResponse><params><param>{value}</param></params></methodResponse>".encode()


def _int(value: int) -> str:
    return f"<value><int>{value}</int></value>"  # any size: xmlrpc.client would refuse more than 2**31


def _string(value: str) -> str:
    return f"<value><string>{escape(value)}</string></value>"


def _array(*values: Any) -> str:
    items = values[0] if len(values) == 1 and not isinstance(values[0], str) else values
    return "<value><array><data>" + "".join(items) + "</data></array></value>"


def _struct(mapping: dict[str, int]) -> str:
    members = "".join(f"<member><name>{escape(k)}</name>{_int(v)}</member>" for k, v in mapping.items())
    return f"<value><struct>{members}</struct></value>"
