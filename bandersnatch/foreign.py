"""``api-method = index``: mirror any PEP 503 / PEP 691 index (SPEC section 15).

``master`` is the index URL as pip's ``--index-url`` takes it: the root at ``{master}/``, a
project at ``{master}/{name}/``. Such an index has no serials, no changelog and no JSON API, so:

- the serial is the mirror's own run counter (``status`` + 1 each run);
- a project changed when its page did: each run asks every listed project's page conditionally
  (``If-None-Match`` / ``If-Modified-Since`` with the validators of the last copy seen); a 304 is
  no change, and a 200 whose body has the same sha256 as before is none either (an index without
  validators);
- a project was deleted when the root no longer lists it;
- a file the index lists without a sha256 is hashed on download whenever its project is synced
  (its page changed, or it is owed), and the mirror's page then carries that hash: the mirror
  vouches that clients get the bytes it fetched, nothing more (no one upstream vouched for them).
  The hash is not kept between runs: bytes replaced at the same URL then give a new hash and a
  new place instead of a download that can never match.

ForeignIndex is both the run's change source and what the engine asks for projects (``project``);
everything else (files, ``.metadata``) goes to the Master it wraps, which does all the talking.
``foreign.json`` keeps the validators and page digests between runs; it is
written once the run's work is in the todo (``commit``), so a run refused or killed before that
finds the same changes again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, Callable, Iterable, Optional
from urllib.parse import quote

from .errors import MirrorError, ProjectGone, UnsafePath, UpstreamUnavailable
from .foreign_pages import SIMPLE_ACCEPT, parse_project_page, parse_root, placed
from .master import Document, Master
from .model import ProjectMetadata, ReleaseFile, normalize
from .state import StateFiles
from .storage import Storage

__all__ = ["FOREIGN", "ForeignIndex"]

logger = logging.getLogger(__name__)

FOREIGN = "foreign.json"


class ForeignIndex:
    """A foreign index as the engine's change source and master (see the module's docstring)."""

    def __init__(
        self, master: Master, storage: Storage, mirrored: Callable[[], Iterable[str]], find_deleted: bool, workers: int
    ) -> None:
        self.master, self.storage, self.mirrored = master, storage, mirrored
        self.find_deleted, self.workers = find_deleted, workers
        self._pages = _load(storage)
        self._hashes: dict[str, str] = {}  # url: sha256 computed in this run (the closure and the sync share it)
        self._seen: dict[str, Document] = {}  # pages fetched while finding changes, for the syncs
        self._listed: Optional[dict[str, str]] = None  # normalized: the root's spelling
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:  # stream, fetch_small, url, ...: the Master's own
        return getattr(self.master, name)

    # -- the change source -------------------------------------------------------------------

    def all_projects(self) -> dict[str, int]:
        run = self._run()
        return {display: run for display in self._root().values()}

    def changes_since(self, serial: int) -> tuple[dict[str, int], int]:
        target = serial + 1
        listed = self._root()
        with ThreadPoolExecutor(self.workers, thread_name_prefix="index") as pool:
            fresh = dict(zip(listed, pool.map(self._changed, listed)))
        changed = {listed[name]: target for name, moved in fresh.items() if moved}
        if self.find_deleted:
            gone = [name for name in self.mirrored() if name not in listed]
            if gone:
                logger.info("%d projects are no longer listed by the index", len(gone))
            changed.update((name, 0) for name in gone)
        return changed, target

    def master_serial(self) -> int:
        """No serial upstream: the mirror's own run counter, so ``status`` shows no lag."""
        return StateFiles(self.storage).status() or 0

    def commit(self, storage: Storage) -> None:
        """Keep the validators and digests seen (called once the run's work is owed), in
        ``storage``: the run's, which a dry run records without writing."""
        with self._lock:
            pages = {n: v for n, v in self._pages.items() if self._listed is None or n in self._listed}
            text = json.dumps({"pages": pages}, sort_keys=True)
        storage.write_state(FOREIGN, text)

    def _run(self) -> int:
        return (StateFiles(self.storage).status() or 0) + 1

    def _root(self) -> dict[str, str]:
        if self._listed is None:
            document = self.master.document(f"{self.master.url}/", SIMPLE_ACCEPT)
            if document is None:  # pragma: no cover - asked without validators
                raise UpstreamUnavailable(f"{self.master.url}/ answered 304 to an unconditional request")
            try:
                names = parse_root(document.body, document.content_type)
            except (ValueError, KeyError, TypeError) as error:
                raise UpstreamUnavailable(f"malformed root at {document.url}: {error}") from None
            if not names and self.find_deleted and list(self.mirrored()):
                raise UpstreamUnavailable("the index lists no projects at all; refusing to empty the mirror")
            self._listed = {normalize(name): name for name in names}
        return self._listed

    def _page_url(self, name: str) -> str:
        return f"{self.master.url}/{quote(normalize(name))}/"

    def _changed(self, name: str) -> bool:
        """Whether the page moved since the last copy seen; a page that cannot be read counts as
        moved, so its project's sync reports the failure and owes it."""
        with self._lock:
            validators = self._pages.get(name)
        try:
            document = self.master.document(self._page_url(name), SIMPLE_ACCEPT, validators)
        except MirrorError:
            return True
        if document is None:
            return False
        digest = self._remember(name, document)
        with self._lock:
            self._seen[name] = document
        return not validators or validators.get("digest") != digest

    def _remember(self, name: str, document: Document) -> str:
        digest = hashlib.sha256(document.body).hexdigest()
        entry = {"digest": digest, **({"etag": document.etag} if document.etag else {}),
                 **({"modified": document.modified} if document.modified else {})}  # fmt: skip
        with self._lock:
            self._pages[name] = entry
        return digest

    # -- the master --------------------------------------------------------------------------

    def project(self, name: str, serial: int) -> ProjectMetadata:
        """The project as its page lists it, every file with a sha256 and its place; ProjectGone
        once the root no longer lists it."""
        key = normalize(name)
        listed = self._root()
        if key not in listed:
            raise ProjectGone(f"{name} is no longer listed by the index")
        with self._lock:
            document = self._seen.pop(key, None)
        if document is None:
            document = self.master.document(self._page_url(key), SIMPLE_ACCEPT)
            assert document is not None  # asked without validators
            self._remember(key, document)
        try:
            metadata = parse_project_page(listed[key], document.body, document.content_type, document.url,
                                          serial or self._run())  # fmt: skip
        except UnsafePath as error:
            raise UpstreamUnavailable(f"page of {name}: {error}") from None
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise UpstreamUnavailable(f"malformed page of {name} at {document.url}: {error}") from None
        return replace(metadata, files=tuple(self._hashed(release) for release in metadata.files))

    def release_requires(self, name: str, version: str) -> Optional[tuple[str, ...]]:
        """A foreign index has no JSON API: an sdist-only release's PKG-INFO is all there is."""
        return None

    def _hashed(self, release: ReleaseFile) -> ReleaseFile:
        if release.sha256:
            return release
        with self._lock:
            known = self._hashes.get(release.url)
        if known is None:
            logger.info("Hashing %s: the index gives no sha256 (the mirror vouches for the bytes it fetched)",
                        release.url)  # fmt: skip
            known = self.master.file_sha256(release.url, release.size)
            with self._lock:
                self._hashes[release.url] = known
        return placed(release, known)


def _load(storage: Storage) -> dict[str, dict[str, str]]:
    """foreign.json's well-formed entries; a damaged file costs one unconditional page each."""
    text = storage.read_state(FOREIGN)
    try:
        data = json.loads(text) if text else {}
    except ValueError:
        data = {}
    data = data if isinstance(data, dict) else {}
    pages = data.get("pages") if isinstance(data.get("pages"), dict) else {}
    return {n: v for n, v in pages.items() if isinstance(v, dict) and all(isinstance(x, str) for x in v.values())}
