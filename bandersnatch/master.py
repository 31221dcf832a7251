"""All talk with the upstream index: XML-RPC changelog, JSON metadata with serial checks, files.

Errors are classified here, at the edge: callers see ProjectGone, StalePage, UpstreamUnavailable
or TruncatedDownload, and frozen metadata values, never a response or a raw dict.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
import xmlrpc.client
from typing import Any, Callable, Iterator, Optional
from urllib.parse import quote
from xml.parsers.expat import ExpatError

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from . import __version__
from .errors import ProjectGone, StalePage, TruncatedDownload, UpstreamUnavailable
from .model import ProjectMetadata, ReleaseFile, normalize

__all__ = ["CHANGELOG_PAGE_SIZE", "Master", "make_session"]

logger = logging.getLogger(__name__)

CHANGELOG_PAGE_SIZE = 50_000  # PyPI returns at most this many changelog rows per call
DOWNLOAD_CHUNK = 1 << 20  # large reads: per-chunk overhead dominates small ones
MAX_RETRY_AFTER = 60.0  # a master asking us to wait longer is treated as failing for this run
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
STALE_RETRIES = 3
USER_AGENT = f"bandersnatch/{__version__} (requests/{requests.__version__}; +PEP 381 mirror)"
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


class _Retry(Retry):
    """urllib3's Retry, but a hostile Retry-After cannot park a cron run for hours."""

    def get_retry_after(self, response: Any) -> Optional[float]:
        value = super().get_retry_after(response)
        return None if value is None else min(value, MAX_RETRY_AFTER)


def make_session(workers: int, master_url: str = "", backoff: float = 0.25) -> requests.Session:
    """One session for the run: User-Agent, a pool per worker, retries of transient failures.

    Retried statuses: 429 (rate limited, honouring Retry-After), 500/502/503/504 (the master or its
    CDN having a bad moment). POST is retried too because our only POSTs are XML-RPC reads.
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
    adapter = HTTPAdapter(max_retries=retry, pool_connections=4, pool_maxsize=workers + 2)
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.proxies = requests.utils.get_environ_proxies(master_url) if master_url else {}
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.trust_env = False
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class Master:
    """The upstream index at ``url`` (e.g. https://pypi.org)."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        session: requests.Session,
        stale_wait: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = session
        self.stale_wait = stale_wait
        self.sleep = sleep

    # -- XML-RPC -----------------------------------------------------------------------------

    def _rpc(self, method: str, *params: Any) -> Any:
        body = xmlrpc.client.dumps(params, method, allow_none=True).encode("utf-8")
        response = self._request("POST", f"{self.url}/pypi", data=body, headers={"Content-Type": "text/xml"})
        try:
            (result,), _ = xmlrpc.client.loads(response.content, use_builtin_types=True)
        except (xmlrpc.client.Error, ExpatError, ValueError, TypeError) as error:
            raise UpstreamUnavailable(f"XML-RPC {method} failed at {self.url}: {_reason(error)}") from None
        return result

    def all_projects(self) -> dict[str, int]:
        """{name: last serial} of every project the master has (the start of a full sync)."""
        result = self._rpc("list_packages_with_serial")
        if not isinstance(result, dict):
            raise UpstreamUnavailable("list_packages_with_serial did not answer a mapping")
        return {str(name): _as_serial(serial) for name, serial in result.items()}

    def changes_since(self, serial: int) -> tuple[dict[str, int], int]:
        """({name: newest serial}, last serial seen) of everything changed after ``serial``.

        PyPI answers at most CHANGELOG_PAGE_SIZE rows a call, so a full page means: ask again
        from the last serial seen.
        """
        changed: dict[str, int] = {}
        last = serial
        while True:
            rows = self._rpc("changelog_since_serial", last)
            if not isinstance(rows, list):
                raise UpstreamUnavailable("changelog_since_serial did not answer a list")
            for row in rows:
                if not isinstance(row, (list, tuple)) or len(row) < 5:
                    raise UpstreamUnavailable(f"malformed changelog row {row!r}")
                name, row_serial = str(row[0]), _as_serial(row[4])
                changed[name] = max(changed.get(name, 0), row_serial)
                last = max(last, row_serial)
            if len(rows) < CHANGELOG_PAGE_SIZE:
                return changed, last

    def last_serial(self) -> int:
        return _as_serial(self._rpc("changelog_last_serial"))

    # -- PEP 691 root ------------------------------------------------------------------------

    def simple_root(self) -> tuple[int, dict[str, int]]:
        """(the master's serial, {name: _last-serial}) from the PEP 691 JSON root.

        PyPI's root is ~30 MB for 740,000 projects: each project object is turned into a pair as
        soon as it is parsed, so no 740,000 dicts are ever alive at once.
        """
        url = f"{self.url}/simple/"
        response = self._request("GET", url, headers={"Accept": SIMPLE_JSON})
        try:
            document = json.loads(response.content, object_hook=_root_entry)
            projects = _root_pairs(document["projects"])
            header = response.headers.get("X-PyPI-Last-Serial", "")
            serial = int(header) if header.isdigit() else _as_serial(document["meta"]["_last-serial"])
        except (ValueError, KeyError, TypeError) as error:
            raise UpstreamUnavailable(f"malformed PEP 691 root at {url}: {_reason(error)}") from None
        finally:
            response.close()
        return max(serial, max(projects.values(), default=0)), projects

    # -- JSON API ----------------------------------------------------------------------------

    def project(self, name: str, serial: int) -> ProjectMetadata:
        """The project's metadata, at least as new as ``serial`` (the changelog's promise).

        A CDN may answer with an older copy; PyPI's answer to that is a PURGE of the URL.
        """
        url = f"{self.url}/pypi/{quote(name)}/json"
        for attempt in range(STALE_RETRIES + 1):
            logger.debug("Getting /pypi/%s/json (serial %d)", name, serial)
            response = self._request("GET", url, allow=(404,))
            if response.status_code == 404:
                raise ProjectGone(f"{name} no longer exists on the master")
            served = _served_serial(response)
            if served >= serial:
                return _parse_project(name, response, served)
            logger.debug("Expected PyPI serial %d for request %s but got %d", serial, url, served)
            logger.warning("Stale serial for package %s", name)
            if attempt < STALE_RETRIES:
                self._request("PURGE", url, allow=(404, 405, 501))
                self.sleep(self.stale_wait * 2**attempt)
        raise StalePage(f"Stale serial for {name} ({serial}) not updating. Giving up.")

    # -- files -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def stream(self, url: str) -> Iterator[Iterator[bytes]]:
        """The file at ``url`` as an iterator of large chunks; never the whole file in memory."""
        response = self._request("GET", url, stream=True)
        try:
            yield _chunks(response, url)
        finally:
            response.close()

    # -- plumbing ----------------------------------------------------------------------------

    def _request(
        self, method: str, url: str, allow: tuple[int, ...] = (), **kwargs: Any
    ) -> requests.Response:
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as error:
            raise UpstreamUnavailable(f"{method} {url} failed: {_reason(error)}") from None
        if response.status_code != 200 and response.status_code not in allow:
            response.close()
            raise UpstreamUnavailable(f"{method} {url} answered HTTP {response.status_code}")
        return response


def _chunks(response: requests.Response, url: str) -> Iterator[bytes]:
    try:
        yield from response.raw.stream(DOWNLOAD_CHUNK, decode_content=True)
    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as error:
        raise TruncatedDownload(f"download of {url} broke off: {_reason(error)}") from None


def _root_entry(entry: dict[str, Any]) -> Any:
    """A root project object as a (name, serial) pair; other objects (meta) stay dicts."""
    if "name" in entry and "_last-serial" in entry:
        name = entry["name"]
        if not isinstance(name, str):
            raise ValueError(f"project name {name!r} is not a string")
        return name, _as_serial(entry["_last-serial"])
    return entry


def _root_pairs(entries: Any) -> dict[str, int]:
    bad = next((entry for entry in entries if type(entry) is not tuple), None)
    if bad is not None:
        raise ValueError(f"root entry {str(bad)[:80]} has no name and _last-serial")
    return dict(entries)


def _reason(error: Exception) -> str:
    """The error on one short line: requests nests urllib3's messages into long reprs."""
    text = " ".join(str(error).split())
    return text if len(text) < 300 else text[:300] + "..."


def _as_serial(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise UpstreamUnavailable(f"the master sent {value!r} where a serial belongs")
    return value


def _served_serial(response: requests.Response) -> int:
    header = response.headers.get("X-PyPI-Last-Serial", "")
    if not header.strip().isdigit():
        raise UpstreamUnavailable(f"{response.url} has no valid X-PyPI-Last-Serial header ({header!r})")
    return int(header)


def _parse_project(name: str, response: requests.Response, serial: int) -> ProjectMetadata:
    try:
        data = response.json()
        display = data["info"]["name"]
        releases = data["releases"]
        if normalize(display) != normalize(name):
            raise ValueError(f"answered for {display!r}")
        files = tuple(_release_file(entry) for entries in releases.values() for entry in entries)
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise UpstreamUnavailable(f"malformed JSON metadata for {name}: {error}") from None
    unique: dict[str, ReleaseFile] = {}
    for release in files:
        unique.setdefault(release.filename, release)
    return ProjectMetadata(name=display, serial=serial, files=tuple(unique.values()))


def _release_file(entry: dict[str, Any]) -> ReleaseFile:
    sha256 = entry["digests"]["sha256"]
    size = entry.get("size")
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise ValueError(f"bad sha256 {sha256!r} for {entry.get('filename')!r}")
    if size is not None and (not isinstance(size, int) or size < 0):
        raise ValueError(f"bad size {size!r} for {entry.get('filename')!r}")
    requires_python = entry.get("requires_python")
    yanked_reason = entry.get("yanked_reason")
    return ReleaseFile(
        filename=str(entry["filename"]),
        url=str(entry["url"]),
        sha256=sha256.lower(),
        size=size,
        requires_python=str(requires_python) if requires_python else None,
        yanked=bool(entry.get("yanked", False)),
        yanked_reason=str(yanked_reason) if yanked_reason else None,
        upload_time=entry.get("upload_time_iso_8601"),
    )
