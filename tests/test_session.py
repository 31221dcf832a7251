"""The run's HTTP session over real loopback sockets: where each request goes (straight to its
origin, or through the environment's proxy in the absolute form), that no cookie is ever sent
back, and that a master naming many hosts holds no connection open to each of them."""

from __future__ import annotations

import gc
import http.server
import threading
from pathlib import Path
from typing import Iterator

import pytest

from bandersnatch.master import Master
from bandersnatch.session import make_session


class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the request line it got (the form a proxy is asked in) and a cookie."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = f"{self.server.server_port} {self.requestline}".encode()  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Set-Cookie", "session=1; Path=/")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True  # a kept-alive connection's thread does not hold up the end of a test
    block_on_close = False


def _serve(count: int, handler: type = _Recorder) -> list[_Server]:
    started = [_Server(("127.0.0.1", 0), handler) for _ in range(count)]
    for server in started:
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return started


@pytest.fixture
def many() -> Iterator[list[_Server]]:
    """Sixteen loopback origins: more than the session keeps pools for."""
    started = _serve(16)
    yield started
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture
def servers(many: list[_Server]) -> list[str]:
    return [f"http://127.0.0.1:{server.server_port}" for server in many[:3]]


def _master(url: str) -> Master:
    return Master(url, timeout=5, session=make_session(1, url))


def _open_connections_to(ports: set[int]) -> int:
    """Established TCP connections from this process's clients to ``ports`` (Linux /proc)."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "01" and int(fields[2].split(":")[1], 16) in ports:
            count += 1
    return count


def test_each_origin_gets_its_own_requests_and_few_connections_stay_open(
    many: list[_Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("http_proxy", raising=False)
    ports = [server.server_port for server in many]
    master = _master(f"http://127.0.0.1:{ports[0]}")
    for round_ in range(2):
        for port in ports:
            answer = master.fetch_small(f"http://127.0.0.1:{port}/packages/{round_}.whl").decode()
            assert answer == f"{port} GET /packages/{round_}.whl HTTP/1.1"
    gc.collect()
    assert _open_connections_to(set(ports)) <= 4  # the session's pools: urllib3 lets go of the rest


def test_a_proxy_from_the_environment_is_asked_for_the_whole_url(
    servers: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy, origin = servers[0], servers[1]
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", proxy)
    master = _master(origin)
    for _ in range(2):  # the second one through the pool found the first time
        answer = master.fetch_small(f"{origin}/packages/a.whl").decode()
        assert answer == f"{proxy.rsplit(':', 1)[1]} GET {origin}/packages/a.whl HTTP/1.1"


def test_cookies_are_never_sent_back(servers: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("http_proxy", raising=False)
    master = _master(servers[0])
    seen: list[str] = []

    class _CookieWatcher(_Recorder):
        def do_GET(self) -> None:  # noqa: N802
            seen.append(self.headers.get("Cookie", ""))
            super().do_GET()

    (server,) = _serve(1, _CookieWatcher)
    try:
        for _ in range(3):
            master.fetch_small(f"http://127.0.0.1:{server.server_port}/packages/a.whl")
    finally:
        server.shutdown()
        server.server_close()
    assert seen == ["", "", ""]
