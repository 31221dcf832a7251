"""All talk with the upstream index: XML-RPC changelog, JSON metadata with serial checks, files.

Errors are classified here, at the edge: callers see ProjectGone, StalePage, UpstreamUnavailable
or TruncatedDownload, and frozen metadata values, never a response or a raw dict.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
import xmlrpc.client
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional
from urllib.parse import quote, urlsplit
from xml.parsers.expat import ExpatError

import requests
from requests.structures import CaseInsensitiveDict

from .answers import (
    JSON_API,
    PEP691_PAGE,
    Parser,
    as_serial,
    loads,
    one_line,
    parse_project,
    parse_root,
    served_serial,
)
from .bodies import file_body, late, read_body
from .deadlines import Expired, Watch, Watchdog
from .errors import (
    NotFound,
    ProjectGone,
    StalePage,
    TruncatedDownload,
    UpstreamUnavailable,
)
from .model import ProjectMetadata, normalize
from .session import MAX_RETRY_AFTER, Pace, Validators, WaitTally
from .upstream import with_page_extras

__all__ = ["CHANGELOG_PAGE_SIZE", "DEFAULT_MAX_METADATA_SIZE", "SIMPLE_JSON", "Document", "Master"]

logger = logging.getLogger(__name__)

CHANGELOG_PAGE_SIZE = 50_000  # PyPI returns at most this many changelog rows per call
STALE_RETRIES = 3
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"  # PEP 691
DEFAULT_MAX_METADATA_SIZE = 16 << 20  # [mirror] max-metadata-size: a .metadata or provenance is a few KB
MAX_DOCUMENT = 512 << 20  # XML-RPC answers, JSON and pages: PyPI's largest (the root) is ~50 MB
MAX_UNDECLARED = 32 << 30  # a file whose size the master did not declare: beyond any file on PyPI
DOCUMENT_CHUNK = 256 << 10  # documents are read in smaller pieces: each may be gzip-inflated
GRACE_TIMEOUTS = 3  # a transfer's deadline: this many timeouts, plus 1 s per deadlines.MIN_RATE bytes


class _NotPep691(Exception):
    """A project page answered in another form than PEP 691 JSON (a plain web server's HTML)."""


@dataclass(frozen=True)
class Document:
    """A page as a foreign index served it, with the validators of a later conditional GET."""

    url: str  # where it was finally served from (after redirects): its links resolve against it
    body: bytes
    content_type: str
    etag: Optional[str]
    modified: Optional[str]  # Last-Modified


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
        workers: int = 1,
        max_metadata_size: int = DEFAULT_MAX_METADATA_SIZE,
        json_api: bool = False,
        waits: Optional[WaitTally] = None,
        max_retry_after: float = MAX_RETRY_AFTER,
    ) -> None:
        self.url = url.rstrip("/")
        self.waits = waits or WaitTally()  # the session's retries add to it too when given the same
        self._pace = Pace(max_retry_after, self.waits, sleep)
        self.max_metadata_size = max_metadata_size  # the cap on a .metadata or provenance body
        self.timeout = timeout
        self.session = session
        self.stale_wait = stale_wait
        self.sleep = sleep
        self.json_api = json_api  # the settings need the JSON API's info (project.needs_json_api)
        self.pep691_only = False  # set once the master showed it has no JSON API
        self.json_api_only = False  # set once the master showed it serves no PEP 691 project pages
        # At most ``workers`` projects' metadata in flight, however many projects wait for it.
        self._gate = threading.BoundedSemaphore(workers)
        self._pages = ThreadPoolExecutor(workers, thread_name_prefix="pep691")  # threads start on first use
        self._watchdog = Watchdog()  # its thread too

    # -- XML-RPC -----------------------------------------------------------------------------

    def _rpc(self, method: str, *params: Any) -> Any:
        body = xmlrpc.client.dumps(params, method, allow_none=True).encode("utf-8")
        response = self._request("POST", f"{self.url}/pypi", data=body, headers={"Content-Type": "text/xml"})
        try:
            (result,), _ = xmlrpc.client.loads(response.content, use_builtin_types=True)
        except (xmlrpc.client.Error, ExpatError, ValueError, TypeError) as error:
            raise UpstreamUnavailable(f"XML-RPC {method} failed at {self.url}: {one_line(error)}") from None
        return result

    def all_projects(self) -> dict[str, int]:
        """{name: last serial} of every project the master has (the start of a full sync)."""
        result = self._rpc("list_packages_with_serial")
        if not isinstance(result, dict):
            raise UpstreamUnavailable("list_packages_with_serial did not answer a mapping")
        return {str(name): as_serial(serial) for name, serial in result.items()}

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
                name, row_serial = str(row[0]), as_serial(row[4])
                changed[name] = max(changed.get(name, 0), row_serial)
                last = max(last, row_serial)
            if len(rows) < CHANGELOG_PAGE_SIZE:
                return changed, last

    def last_serial(self) -> int:
        return as_serial(self._rpc("changelog_last_serial"))

    # -- PEP 691 root ------------------------------------------------------------------------

    def simple_root(self) -> tuple[int, dict[str, int]]:
        """(the master's serial, {name: _last-serial}) from the PEP 691 JSON root."""
        url = f"{self.url}/simple/"
        return _root(self._request("GET", url, headers={"Accept": SIMPLE_JSON}), url)

    def simple_root_if_changed(
        self, known: Optional[Validators]
    ) -> tuple[Optional[tuple[int, dict[str, int]]], Optional[Validators]]:
        """The root as ``simple_root`` reads it, asked with the validators of a root seen before:
        (None, known) when the master answers 304 Not Modified (no body, nothing parsed), else
        (the root, its validators, None when the master sent none)."""
        url = f"{self.url}/simple/"
        headers = {"Accept": SIMPLE_JSON, **(known.headers() if known else {})}
        response = self._request("GET", url, allow=(304,) if known else (), headers=headers)
        if response.status_code == 304 and known is not None:
            logger.debug("The master's root is unchanged (304): serial %d", known.serial)
            return None, known
        etag, modified = response.headers.get("ETag"), response.headers.get("Last-Modified")
        root = _root(response, url)
        return root, (Validators(etag, modified, root[0]) if etag or modified else None)

    @property
    def waited(self) -> float:
        """Seconds this master's requests waited because it asked (Retry-After, RateLimit)."""
        return self.waits.seconds

    # -- project metadata ------------------------------------------------------------------

    def project(self, name: str, serial: int) -> ProjectMetadata:
        """The project's metadata, at least as new as ``serial`` (the changelog's promise), asked
        for in its normalized spelling (PyPI redirects every other one: a round trip saved).

        One document per project: the PEP 691 page carries everything the mirror publishes
        (files, hashes, sizes, upload times, yanks, core metadata, PEP 740 provenance, PEP 792
        status; PEP 700 versions). The JSON API is asked only when ``json_api`` (the settings need
        its ``info``: project.needs_json_api), with the page beside it for what only the page has,
        or in place of the page where the master answers it in another form than PEP 691 JSON
        (another mirror served by a plain web server: HTML only); the first such answer switches
        this Master to the JSON API for the rest of the run. At most ``workers`` calls run at once.
        """
        normalized = quote(normalize(name))
        page_url, api_url = f"{self.url}/simple/{normalized}/", f"{self.url}/pypi/{normalized}/json"
        with self._gate:
            if self.json_api_only:
                return _metadata(name, JSON_API, self._fresh(api_url, name, serial, None), self.url)
            if self.json_api and not self.pep691_only:
                return self._both(name, serial, page_url, api_url)
            try:  # a 404 is PEP 503's "no such project": ProjectGone, as from the JSON API
                return _metadata(name, PEP691_PAGE, self._fresh(page_url, name, serial, SIMPLE_JSON), self.url)
            except _NotPep691:
                pass
            metadata = _metadata(name, JSON_API, self._fresh(api_url, name, serial, None), self.url)
            logger.info("%s serves no PEP 691 JSON pages: reading its JSON API for the rest of the run", self.url)
            self.json_api_only = True
            return metadata

    def _both(self, name: str, serial: int, page_url: str, api_url: str) -> ProjectMetadata:
        """The JSON API with the page's extras beside it, and the page alone where the JSON API
        answers 404: a quarantined project on PyPI, or a master without a JSON API at all
        (another mirror with ``json = false``). The first 404 of the JSON API for a project whose
        PEP 691 page exists and is not quarantined switches this Master to pages alone for the rest
        of the run. Both are requested at once: on a WAN the page costs no round trip of its own."""
        page = self._pages.submit(self._fresh, page_url, name, serial, SIMPLE_JSON)
        try:
            found = self._fresh(api_url, name, serial, None)
        except ProjectGone:
            try:
                metadata = _metadata(name, PEP691_PAGE, page.result(), self.url)
            except _NotPep691:
                raise ProjectGone(f"{name} no longer exists on the master") from None
            if not metadata.quarantined:
                logger.info("%s has no JSON API: reading PEP 691 pages for the rest of the run", self.url)
                self.pep691_only = True
            return metadata
        except BaseException:
            if not page.cancel():
                page.exception()  # wait for it: nothing of this call outlives it
            raise
        metadata = _metadata(name, JSON_API, found, self.url)
        return with_page_extras(metadata, self._beside(page, page_url, name, metadata.serial))

    def _beside(self, page: Future[tuple[requests.Response, int]], url: str, name: str, serial: int
                ) -> Optional[ProjectMetadata]:
        """The PEP 691 page for its extras; a master that has none (404, or HTML only) has no extras.

        The page was asked for at the changelog's serial; when the JSON API answered a newer one,
        the page is asked for again at that serial, so status and provenance never lag the files.
        """
        try:
            found = page.result()
            if found[1] < serial:
                found = self._fresh(url, name, serial, SIMPLE_JSON)
        except (ProjectGone, _NotPep691):
            return None
        return _metadata(name, PEP691_PAGE, found, self.url)

    def _fresh(self, url: str, name: str, serial: int, accept: Optional[str]) -> tuple[requests.Response, int]:
        """GET ``url`` until its serial reaches ``serial``; a CDN's stale copy is PURGEd first."""
        headers = {"Accept": accept} if accept else {}
        path, served, purge = url[len(self.url) :], 0, "nothing (not sent)"
        for attempt in range(STALE_RETRIES + 1):
            logger.debug("Getting %s (serial %d)", path, serial)
            response = self._request("GET", url, allow=(404,), headers=headers)
            if response.status_code == 404:
                raise ProjectGone(f"{name} no longer exists on the master")
            if accept and not response.headers.get("Content-Type", "").startswith(accept):
                raise _NotPep691(f"{path} answered {response.headers.get('Content-Type')!r}, not {accept}")
            served = served_serial(response.headers, lambda: response.content, response.url)
            if served >= serial:
                return response, served
            logger.debug("Expected PyPI serial %d for request %s but got %d", serial, url, served)
            logger.warning("Stale serial for package %s", name)
            if attempt < STALE_RETRIES:
                purge = self._purge(url)
                self.sleep(self.stale_wait * 2**attempt)
        raise StalePage(  # SPEC section 3's runbook line, then the cause
            f"Stale serial for {name} ({serial}) not updating. Giving up. "
            f"(the master serves {served}, expected {serial}; PURGE answered {purge})"
        )

    def _purge(self, url: str) -> str:
        """Ask the CDN to drop its copy; what it answered, for the StalePage message (a master that
        cannot PURGE says so there, rather than failing the project on its own)."""
        try:
            return f"HTTP {self._request('PURGE', url, allow=(404, 405, 501)).status_code}"
        except UpstreamUnavailable as error:
            return f"with a failure: {error}"

    def release_requires(self, name: str, version: str) -> Optional[tuple[str, ...]]:
        """``info.requires_dist`` of one release from the JSON API (``/pypi/{name}/{version}/json``),
        for a release whose files carry no core metadata the closure can trust (an sdist only);
        None where the master has no such document or it says nothing (null: unknown)."""
        url = f"{self.url}/pypi/{quote(normalize(name))}/{quote(version, safe='')}/json"
        with self._gate:
            logger.debug("Getting %s", url[len(self.url):])
            with self._open("GET", url, (404,), 0) as (response, watch):
                if response.status_code == 404:
                    return None
                cap = "[mirror] max-metadata-size"
                body = b"".join(read_body(response, watch, url, self.max_metadata_size, DOCUMENT_CHUNK, cap))
        try:
            lines = loads(body)["info"]["requires_dist"]
        except (ValueError, KeyError, TypeError):
            raise UpstreamUnavailable(f"{url} is not a JSON API release document") from None
        if lines is None:
            return None
        if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
            raise UpstreamUnavailable(f"{url}: info.requires_dist is not a list of strings")
        return tuple(lines)

    # -- a foreign index (api-method = index: foreign.py) -----------------------------------

    def document(self, url: str, accept: str, validators: Optional[dict[str, str]] = None) -> Optional[Document]:
        """A page of a foreign index, asked conditionally with the ``validators`` (``etag``,
        ``modified``) of the last copy seen: None when the index answers 304 Not Modified.
        ProjectGone for 404. At most ``workers`` at once."""
        headers = {"Accept": accept}
        if validators and validators.get("etag"):
            headers["If-None-Match"] = validators["etag"]
        if validators and validators.get("modified"):
            headers["If-Modified-Since"] = validators["modified"]
        logger.debug("Getting %s", url)
        with self._gate:
            response = self._request("GET", url, allow=(304, 404), headers=headers)
        if response.status_code == 404:
            raise ProjectGone(f"{url} answered 404")
        if response.status_code == 304:
            return None
        return Document(
            url=response.url, body=response.content, content_type=response.headers.get("Content-Type", ""),
            etag=response.headers.get("ETag"), modified=response.headers.get("Last-Modified"),
        )  # fmt: skip

    def file_sha256(self, url: str, size: Optional[int]) -> str:
        """The sha256 of the file at ``url``, streamed (a foreign index that lists a file without
        a hash: the mirror then vouches for these bytes and nothing more)."""
        digest = hashlib.sha256()
        with self.stream(url, size) as chunks:
            for chunk in chunks:
                digest.update(chunk)
        return digest.hexdigest()

    # -- files -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def stream(self, url: str, size: Optional[int] = None) -> Iterator[Iterator[bytes]]:
        """The file at ``url`` as an iterator of large chunks; never the whole file in memory.
        A chunk may be a view of one buffer that the next chunk overwrites: use it (hash it, write
        it, copy it) before asking for the next.

        ``size`` is the master's declared size: the transfer stops as soon as the body passes it,
        and its deadline allows for it. A PEP 658 ``.metadata`` (declared by hash only; no
        distribution file has that suffix, urls.check_distribution) stops at max_metadata_size;
        any other body without a declared size at MAX_UNDECLARED bytes.
        """
        if size is not None:
            limit, what = size, "its declared size"
        elif urlsplit(url).path.endswith(".metadata"):
            limit, what = self.max_metadata_size, "[mirror] max-metadata-size"
        else:
            limit, what = MAX_UNDECLARED, "the most a file without a declared size may have"
        with self._open("GET", url, (), size or 0) as (response, watch):
            yield file_body(response, watch, url, limit, what)

    def fetch_small(self, url: str) -> bytes:
        """A small object (a PEP 658 .metadata, a PEP 740 provenance) whole; refused past
        ``max_metadata_size`` bytes."""
        with self._open("GET", url, (), 0) as (response, watch):
            cap = "[mirror] max-metadata-size"
            return b"".join(read_body(response, watch, url, self.max_metadata_size, DOCUMENT_CHUNK, cap))

    # -- plumbing ----------------------------------------------------------------------------

    def _request(
        self, method: str, url: str, allow: tuple[int, ...] = (), **kwargs: Any
    ) -> requests.Response:
        """A whole document (an XML-RPC answer, JSON, a page), read under its deadline and
        MAX_DOCUMENT; ``response.content`` and ``.json()`` then read from memory."""
        with self._open(method, url, allow, 0, **kwargs) as (response, watch):
            response._content = b"".join(read_body(response, watch, url, MAX_DOCUMENT, DOCUMENT_CHUNK, "a document's"))
        return response

    @contextlib.contextmanager
    def _open(
        self, method: str, url: str, allow: tuple[int, ...], expected: int, **kwargs: Any
    ) -> Iterator[tuple[requests.Response, Watch]]:
        """The response (headers read, body not) under a deadline covering the whole transfer."""
        self._pace.wait()
        with self._watchdog.watch(GRACE_TIMEOUTS * self.timeout, expected) as watch:
            try:
                response = self._send(method, url, **kwargs)
                self._pace.note(response.headers)
            except Expired:
                raise TruncatedDownload(late(method, url, watch)) from None
            except requests.RequestException as error:
                if watch.expired:
                    raise TruncatedDownload(late(method, url, watch)) from None
                raise UpstreamUnavailable(f"{method} {url} failed: {one_line(error)}") from None
            try:
                if response.status_code != 200 and response.status_code not in allow:
                    failure = NotFound if response.status_code == 404 else UpstreamUnavailable
                    raise failure(f"{method} {url} answered HTTP {response.status_code}")
                yield response, watch
            finally:
                response.close()


    def _send(self, method: str, url: str, headers: Optional[dict[str, str]] = None, data: Optional[bytes] = None
              ) -> requests.Response:  # fmt: skip
        """``session.request`` without what a mirror never uses: merging the session's cookies,
        auth, params and environment into every request was a fifth of its cost per small file.
        The session's headers (User-Agent), proxies and CA bundle still apply, and its adapter
        (retries, deadlines) still sends it."""
        session = self.session
        merged = CaseInsensitiveDict(session.headers)
        if headers:
            merged.update(headers)
        request = requests.PreparedRequest()
        request.prepare(method=method, url=url, headers=merged, data=data)
        return session.send(request, timeout=self.timeout, stream=True, proxies=session.proxies, verify=session.verify)


def _root(response: requests.Response, url: str) -> tuple[int, dict[str, int]]:
    """The PEP 691 root of ``response`` (answers.parse_root), the response closed after."""
    try:
        return parse_root(response.content, response.headers, url)
    finally:
        response.close()


def _metadata(
    name: str, form: tuple[Parser, str], found: tuple[requests.Response, int], master: str
) -> ProjectMetadata:
    """The document of ``found`` (an answer and its serial) as answers.parse_project reads it."""
    response, serial = found
    return parse_project(name, form, response.content, response.url, serial, master)
