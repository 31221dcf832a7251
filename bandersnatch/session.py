"""The one HTTP session of a run, and how it stays polite to the master: the User-Agent (with
the operator's contact, as PyPI asks), retries of transient failures with a capped Retry-After,
pacing by the RateLimit headers, the tally of every wait for the run's report, and the validators
of a conditional GET. Part of the master's edge: only ``master`` (and this) talk HTTP.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Optional

import requests
from urllib3.util.retry import Retry

from . import __version__
from .deadlines import WatchedAdapter

__all__ = ["MAX_RETRY_AFTER", "USER_AGENT", "Pace", "Validators", "WaitTally", "make_session", "user_agent"]

logger = logging.getLogger(__name__)

MAX_RETRY_AFTER = 60.0  # a master asking us to wait longer is treated as failing for this run
USER_AGENT = f"bandersnatch/{__version__} (requests/{requests.__version__}; +PEP 381 mirror)"
RATELIMIT_LOW = 0.1  # below this share of a RateLimit window's requests left, the rest are spread over it


def user_agent(contact: str = "") -> str:
    """The User-Agent: bandersnatch and its version and, as PyPI asks of mirrors, who runs it."""
    return USER_AGENT if not contact else USER_AGENT[:-1] + f"; {contact})"


class WaitTally:
    """Seconds the run waited because the master asked (Retry-After, RateLimit); all threads add."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds = 0.0

    def add(self, seconds: float) -> None:
        if seconds > 0:
            with self._lock:
                self.seconds += seconds


@dataclass(frozen=True)
class Validators:
    """What the master said about its last PEP 691 root (RFC 9110 validators) and that root's
    serial: sent back as If-None-Match / If-Modified-Since, a 304 means the same root."""

    etag: Optional[str]
    last_modified: Optional[str]
    serial: int

    def headers(self) -> dict[str, str]:
        sent = {"If-None-Match": self.etag} if self.etag else {}
        return {**sent, **({"If-Modified-Since": self.last_modified} if self.last_modified else {})}

    def to_json(self) -> str:
        return json.dumps({"etag": self.etag, "last_modified": self.last_modified, "serial": self.serial}) + "\n"

    @classmethod
    def from_json(cls, text: Optional[str]) -> Optional[Validators]:
        """The stored validators, or None when there are none or they are damaged (then the root
        is fetched whole, which is always correct)."""
        try:
            data = json.loads(text or "")
            etag, modified = data.get("etag"), data.get("last_modified")
            if not all(value is None or isinstance(value, str) for value in (etag, modified)) or not (etag or modified):
                return None
            serial = data["serial"]
            if isinstance(serial, bool) or not isinstance(serial, int) or serial < 0:
                raise ValueError(f"bad serial {serial!r}")
            return cls(etag, modified, serial)
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


class _OneLine(logging.Filter):
    """urllib3 logs a peer's malformed headers with their traceback; the operator gets one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        return True


logging.getLogger("urllib3.connection").addFilter(_OneLine())


class _Retry(Retry):
    """urllib3's Retry, but a hostile Retry-After cannot park a cron run for hours (``cap``:
    ``[mirror] max-retry-after``), and every wait is added to the run's ``tally``."""

    cap: float = MAX_RETRY_AFTER
    tally: Optional[WaitTally] = None

    def new(self, **kw: Any) -> _Retry:
        retry = super().new(**kw)  # urllib3 copies only its own parameters
        retry.cap, retry.tally = self.cap, self.tally
        return retry  # type: ignore[return-value]

    def get_retry_after(self, response: Any) -> Optional[float]:
        value = super().get_retry_after(response)
        return None if value is None else min(value, self.cap)

    def sleep(self, response: Any = None) -> None:
        started = time.monotonic()
        super().sleep(response)
        if self.tally is not None:
            self.tally.add(time.monotonic() - started)


class Pace:
    """PyPI's ``RateLimit`` / ``RateLimit-Policy`` headers (the IETF draft's forms, old and new):
    when few requests are left in the window, the next requests are spread over what is left of
    it, rather than running into 429s. A wait is never longer than ``cap``."""

    def __init__(self, cap: float, tally: WaitTally, sleep: Callable[[float], None]) -> None:
        self.cap, self.tally, self.sleep = cap, tally, sleep
        self._lock = threading.Lock()
        self._interval = 0.0  # seconds between requests while the window runs low
        self._next = 0.0  # monotonic time of the next allowed request
        self._until = 0.0  # when the window that ran low ends

    def note(self, headers: Any) -> None:
        if "RateLimit" not in headers and "RateLimit-Remaining" not in headers:
            return  # no window announced (most masters): nothing to parse
        remaining, reset, limit = _ratelimit(headers)
        if remaining is None or reset is None:
            return
        low = remaining <= max(1, int((limit or 0) * RATELIMIT_LOW)) or (limit is None and remaining < 5)
        with self._lock:
            self._interval = min(reset / (remaining + 1), self.cap) if low else 0.0
            self._until = time.monotonic() + reset  # a new window starts then: full speed again

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            if not self._interval or now >= self._until:
                return
            start = max(now, self._next)
            self._next = start + self._interval
        if start > now:
            self.sleep(start - now)
            self.tally.add(start - now)


def _ratelimit(headers: Any) -> tuple[Optional[int], Optional[float], Optional[int]]:
    """(remaining, seconds to reset, limit) from ``RateLimit: "default";r=5;t=30`` with
    ``RateLimit-Policy: "default";q=100;w=60`` (draft 7+), ``RateLimit: limit=100, remaining=5,
    reset=30`` (drafts 3-6) or ``RateLimit-Remaining`` / ``-Reset`` / ``-Limit``."""
    combined = headers.get("RateLimit", "") or ""
    policy = headers.get("RateLimit-Policy", "") or ""

    def number(text: str, *keys: str) -> Optional[float]:
        for key in keys:
            found = re.search(rf"(?:^|[;,\s]){key}=(\d+(?:\.\d+)?)", text)
            if found:
                return float(found.group(1))
        return None

    def plain(name: str) -> Optional[float]:
        value = (headers.get(name, "") or "").strip()
        return float(value) if re.fullmatch(r"\d+(\.\d+)?", value) else None

    remaining = number(combined, "r", "remaining")
    remaining = plain("RateLimit-Remaining") if remaining is None else remaining
    reset = number(combined, "t", "reset")
    reset = plain("RateLimit-Reset") if reset is None else reset
    limit = number(policy, "q") or number(combined, "limit") or plain("RateLimit-Limit")
    return (
        None if remaining is None else int(remaining), reset, None if limit is None else int(limit)
    )  # fmt: skip


def make_session(
    workers: int, master_url: str = "", backoff: float = 0.25, downloads: int = 0, *, contact: str = "",
    max_retry_after: float = MAX_RETRY_AFTER, waits: Optional[WaitTally] = None,
) -> requests.Session:  # fmt: skip
    """One session for the run: User-Agent, a connection for every request in flight, retries of
    transient failures.

    In flight at once: two metadata requests per worker (the JSON API and the PEP 691 page beside
    it), ``downloads`` files, and the XML-RPC call. A pool smaller than that would close and reopen
    connections all run long, and on a WAN every new connection costs a round trip (two with TLS).

    Retried statuses: 429 (rate limited, honouring Retry-After up to ``max_retry_after`` seconds),
    500/502/503/504 (the master or its CDN having a bad moment; 503's Retry-After is honoured too).
    Every wait goes to ``waits``, for the run's report. POST is retried too because our only POSTs are XML-RPC reads.
    The environment (proxies for the master, CA bundle) is read once here: requests would read it
    again on every request, a third of its cost per small file.
    """
    retry = _Retry(
        total=5,
        backoff_factor=backoff,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=frozenset({"GET", "HEAD", "POST", "PURGE"}),
        respect_retry_after_header=True,
        raise_on_status=False,
    )
    retry.cap, retry.tally = max_retry_after, waits
    adapter = WatchedAdapter(max_retries=retry, pool_connections=4, pool_maxsize=2 * workers + downloads + 2)
    session = requests.Session()
    session.headers["User-Agent"] = user_agent(contact)
    session.proxies = requests.utils.get_environ_proxies(master_url) if master_url else {}
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.trust_env = False
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


