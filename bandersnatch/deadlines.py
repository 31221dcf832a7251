"""Overall deadlines for HTTP transfers: the part of ``master`` that can interrupt a blocked read.

``timeout`` in requests is per socket operation, so a peer sending a byte every few seconds
holds a transfer for ever. Here each transfer gets a deadline, and one watchdog thread shuts
down the socket of any transfer past it: a recv blocked anywhere (status line, headers, body,
inside requests or urllib3) returns at once. The socket is handed over by the connection class
of the session's adapter when it starts reading an answer, through a thread-local watch
(requests and urllib3 are synchronous: the reading thread is the one that asked).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any, Callable, Iterator, Optional

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = ["MIN_RATE", "Expired", "Watch", "Watchdog", "WatchedAdapter"]

MIN_RATE = 64 << 10  # bytes/s every transfer must average, after its grace
WATCH_TICK = 0.2  # how often the watchdog looks at the clock


class Expired(Exception):
    """Raised inside urllib3 when a transfer's deadline passed: no urllib3 class, so no retry."""


class Watch:
    """One transfer's deadline: ``grace`` seconds plus a second per MIN_RATE bytes expected (or
    received, when more came than expected or nothing was declared).

    ``timeout`` alone is per socket read, so a peer sending a byte every few seconds would hold a
    run and its lock for ever. When the deadline passes, the watchdog shuts the socket down: a
    read blocked in recv returns at once, wherever it is (headers, body, inside requests).
    """

    def __init__(self, grace: float, expected: int, clock: Callable[[], float]) -> None:
        self.grace, self.expected, self.received = grace, expected, 0
        self.start = clock()
        self.expired = False
        self.sock: Optional[socket.socket] = None
        self.lock = threading.Lock()

    @property
    def seconds(self) -> float:
        return self.grace + max(self.expected, self.received) / MIN_RATE

    def attach(self, sock: Optional[socket.socket]) -> None:
        with self.lock:
            self.sock = sock
            if self.expired:
                raise Expired()

    def expire(self) -> None:
        with self.lock:
            self.expired = True
            if self.sock is not None:
                with contextlib.suppress(OSError):
                    # The plain socket's shutdown, also for TLS: SSLSocket.shutdown would drop the
                    # SSL object under the reading thread's feet.
                    socket.socket.shutdown(self.sock, socket.SHUT_RDWR)


class Watchdog:
    """One thread for all of a Master's transfers: it expires every watch past its deadline, and
    ends when nothing was watched for a while (it is started again on demand)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._watches: set[Watch] = set()
        self._wake = threading.Condition()
        self._running = False

    @contextlib.contextmanager
    def watch(self, grace: float, expected: int) -> Iterator[Watch]:
        watch = Watch(grace, expected, self.clock)
        with self._wake:
            self._watches.add(watch)
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="deadlines", daemon=True).start()
        previous, _CURRENT.watch = getattr(_CURRENT, "watch", None), watch
        try:
            yield watch
        finally:
            _CURRENT.watch = previous
            with self._wake:
                self._watches.discard(watch)

    def _run(self) -> None:
        idle = 0.0
        with self._wake:
            while idle < 5.0:
                now = self.clock()
                for watch in [w for w in self._watches if now >= w.start + w.seconds]:
                    self._watches.discard(watch)
                    watch.expire()
                idle = idle + WATCH_TICK if not self._watches else 0.0
                self._wake.wait(WATCH_TICK)
            self._running = False


_CURRENT = threading.local()  # the watch of the transfer this thread is making (urllib3 is synchronous)


def _attach_current(connection: HTTPConnection) -> None:
    watch = getattr(_CURRENT, "watch", None)
    if watch is not None:
        watch.attach(connection.sock)


class _WatchedHTTPConnection(HTTPConnection):
    """Hands its socket to the thread's watch before reading the answer (headers and body)."""

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _attach_current(self)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPSConnection(HTTPSConnection):
    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        _attach_current(self)
        return super().getresponse(*args, **kwargs)


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class WatchedAdapter(HTTPAdapter):
    """requests' adapter whose connections (direct or through a proxy) can be cut by a deadline."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        _watched(self.poolmanager)

    def proxy_manager_for(self, *args: Any, **kwargs: Any) -> Any:
        return _watched(super().proxy_manager_for(*args, **kwargs))


def _watched(manager: Any) -> Any:
    manager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
    return manager
