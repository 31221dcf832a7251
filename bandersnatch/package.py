"""One project's sync: its metadata, its files, its page, and what the master deleted.

A project's outcome is a value (ProjectResult), never an exception across threads: the engine
decides from all outcomes what the run's serial, todo and exit status are.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Callable, Mapping, Optional
from urllib.parse import unquote, urlsplit

from .deletion_guard import DeletionBudget
from .downloads import Transfers
from .errors import (
    DigestMismatch,
    MirrorError,
    NotFound,
    ProjectGone,
    StalePage,
    TruncatedDownload,
    UnsafePath,
)
from .global_index import HTML, JSON
from .master import Master
from .model import ProjectMetadata, ProjectPage, ReleaseFile, normalize
from .pages_json import (
    json_page_files,
    json_page_serial,
    render_json_api,
    render_project_json,
)
from .simple import page_files, page_serial, render_project_html
from .storage import Storage, safe_relative

__all__ = [
    "ProjectResult", "SyncOptions", "file_path", "json_api_copy", "project_folder", "project_page", "remove_project",
    "sync_project",
]  # fmt: skip

logger = logging.getLogger(__name__)

DOWNLOAD_ATTEMPTS = 3
PAGE_HTML, PAGE_V1_HTML, PAGE_V1_JSON = "index.html", "index.v1_html", "index.v1_json"  # upstream's layout
METADATA, PROVENANCE = ".metadata", ".provenance"  # PEP 658/714 and PEP 740, beside the file
# PEP 508 names; anything else could not be a folder name we would dare to create.
_VALID_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


@dataclass(frozen=True)
class ProjectResult:
    """One project's outcome; the counters feed the run's summary line and last-run.json."""

    name: str
    serial: int
    error: Optional[str] = None
    files: int = 0  # downloaded in this sync
    bytes: int = 0
    deleted: bool = False  # the whole project went (the master deleted it)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class SyncOptions:
    """What every project sync of one run shares."""

    master: Master
    storage: Storage
    delete_packages: bool
    verify_existing: bool  # re-hash files already published (full sync, resumed run)
    formats: frozenset[str] = frozenset({HTML, JSON})  # simple-format: the page formats written
    core_metadata: bool = True  # mirror PEP 658 .metadata files
    json: bool = False  # also write web/pypi/{name}/json
    root_uri: str = ""  # absolute prefix of file links instead of relative ones
    release_files: bool = True  # false: pages only, the files stay on the master
    # Whether the mirror holds a project, and which of its files (filters, dependency closure:
    # scope.Scope); a project it does not hold, or none of whose files it keeps, gets no page.
    holds: Callable[[str], bool] = lambda name: True
    select: Callable[[ProjectMetadata], tuple[ReleaseFile, ...]] = lambda project: project.files
    prefetched: Mapping[str, ProjectMetadata] = field(default_factory=dict)  # fetched while planning
    transfers: Optional[Transfers] = None  # the run's download pool; None: one file after another
    deletions: Optional[DeletionBudget] = None  # max-deletions for projects the master answers 404 for

    @property
    def marker(self) -> str:
        """What the pages depend on beyond the master's data, for the ``options`` state file: a change
        re-checks every project once (writing missing formats, fetching missing .metadata)."""
        formats = "+".join(sorted(self.formats))
        return (
            f"pages={formats} core-metadata={self.core_metadata} json={self.json} "
            f"root_uri={self.root_uri or '-'} release-files={self.release_files}"
        )

    @property
    def base(self) -> Optional[str]:
        """Where pages link files (ProjectPage.base): the master's URLs only when files stay there."""
        return None if not self.release_files and not self.root_uri else self.root_uri


def check_name(name: str) -> str:
    if not _VALID_NAME.match(name):
        raise UnsafePath(f"refusing project name {name!r}: not a valid PEP 508 name")
    return name


def project_folder(name: str) -> str:
    """The folder of a project's pages, relative to web/."""
    return f"simple/{normalize(check_name(name))}"


def project_page(name: str) -> str:
    """The HTML page of a project, relative to web/."""
    return f"{project_folder(name)}/{PAGE_HTML}"


def file_path(release: ReleaseFile) -> str:
    """Where a release file lives under web/: the path of its URL, as on files.pythonhosted.org.

    The path is the master's to choose, so it is checked: it must stay under packages/ and end in
    the file's own name.
    """
    path = unquote(urlsplit(release.url).path)
    relative = safe_relative(path[1:] if path.startswith("/") else path)
    if not relative.startswith("packages/") or relative.rsplit("/", 1)[-1] != release.filename:
        raise UnsafePath(
            f"refusing file {release.filename!r} at {release.url!r}: not packages/.../{release.filename}"
        )
    return relative


def sync_project(name: str, serial: int, options: SyncOptions) -> ProjectResult:
    """Bring one project to at least ``serial``; report the outcome instead of raising it."""
    logger.info("Syncing package: %s (serial %d)", name, serial)
    downloads = _Downloads()
    try:
        _sync(name, serial, options, downloads)
    except ProjectGone:
        if not options.delete_packages:
            logger.info("Keeping %s although the master deleted it (delete-packages = false)", name)
            return ProjectResult(name, serial)
        refusal = _over_budget(name, options)
        if refusal is not None:  # left owed: the next run (or --allow-mass-deletion) decides again
            return ProjectResult(name, serial, refusal)
        logger.info("Deleting %s: the master no longer has it", name)
        remove_project(name, options.storage, options.root_uri)
        return ProjectResult(name, serial, deleted=True)
    except StalePage as error:  # the runbook's line, which names the project itself
        return ProjectResult(name, serial, str(error), downloads.files, downloads.bytes)
    except MirrorError as error:
        return ProjectResult(name, serial, f"Failed to sync {name}: {error}", downloads.files, downloads.bytes)
    return ProjectResult(name, serial, None, downloads.files, downloads.bytes)


def _over_budget(name: str, options: SyncOptions) -> Optional[str]:
    """Why the run may not delete this project (deletion_guard), or None. A project the mirror
    never had costs nothing: there is nothing to delete."""
    if options.deletions is None or not options.storage.web_exists(project_folder(name)):
        return None
    return options.deletions.take(name)


@dataclass
class _Downloads:
    """What one project sync fetched, counted even when the sync fails halfway; its files are
    fetched by several download threads at once, hence the lock."""

    files: int = 0
    bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, fetched: Optional[int]) -> None:
        if fetched is not None:
            with self._lock:
                self.files += 1
                self.bytes += fetched


def _sync(name: str, serial: int, options: SyncOptions, downloads: _Downloads) -> None:
    folder = project_folder(name)
    published, published_serial = _published(options.storage, folder, options.root_uri)
    if not options.holds(name):
        return _drop(name, "it is outside the filters", published, options)
    # Serial 0 means "no promise from the master" (a project only we still list): then what we
    # published is the floor, so a stale CDN copy can never roll the page back.
    metadata = _metadata(name, serial or published_serial or 0, options)
    releases = () if metadata.quarantined else options.select(metadata)
    if metadata.files and not releases and not metadata.quarantined:
        return _drop(name, "the filters keep none of its files", published, options)
    files = [(file_path(release), release) for release in releases]  # all checked first
    served = _serve_all(files, published, options, downloads)
    page = ProjectPage(
        name=metadata.name, serial=metadata.serial, files=served, versions=_versions(metadata, releases),
        status=metadata.status, status_reason=metadata.status_reason, info_json=metadata.info_json,
        base=options.base,
    )  # fmt: skip
    _publish(folder, page, options)
    if options.delete_packages or metadata.quarantined:
        for path in published.keys() - {path for path, _ in files}:
            _remove_file(path, options.storage)


def _drop(name: str, reason: str, published: Mapping[str, str], options: SyncOptions) -> None:
    """A project the mirror does not hold gets no page (and no index entry); its files go with
    delete-packages."""
    if published or options.storage.web_exists(project_folder(name)):
        logger.info("Not mirroring %s: %s", name, reason)
    _remove_pages(name, options.storage)
    if options.delete_packages:
        for path in published:
            _remove_file(path, options.storage)


def _metadata(name: str, serial: int, options: SyncOptions) -> ProjectMetadata:
    """The project's metadata: what planning fetched already when it is recent enough, else the master's."""
    known = options.prefetched.get(normalize(name))
    return known if known is not None and known.serial >= serial else options.master.project(name, serial)


def _versions(metadata: ProjectMetadata, kept: tuple[ReleaseFile, ...]) -> tuple[str, ...]:
    """PEP 700: every version, and every file's version among them; of a filtered project only the
    versions the mirror holds files of (a client must not see releases it cannot get here)."""
    if kept is not metadata.files:
        return tuple(dict.fromkeys(f.version for f in kept if f.version))
    versions = dict.fromkeys(metadata.versions)
    versions.update(dict.fromkeys(f.version for f in metadata.files if f.version))
    return tuple(versions)


def _published(storage: Storage, folder: str, root_uri: str) -> tuple[dict[str, str], Optional[int]]:
    """The files (path: sha256) and serial of the project's pages as the last sync wrote them."""
    text = storage.read_web_text(f"{folder}/{PAGE_V1_JSON}")
    if text is not None:
        return json_page_files(text, root_uri), json_page_serial(text)
    text = storage.read_web_text(f"{folder}/{PAGE_HTML}") or ""
    return page_files(text, root_uri), page_serial(text)


def _publish(folder: str, page: ProjectPage, options: SyncOptions) -> None:
    """Write the page in every configured format, and drop those of formats no longer configured."""
    storage = options.storage
    if HTML in options.formats:
        body = render_project_html(page).encode("utf-8")
        storage.write_web(f"{folder}/{PAGE_HTML}", [body])
        storage.write_web(f"{folder}/{PAGE_V1_HTML}", [body])
    else:
        storage.remove_web_file(f"{folder}/{PAGE_HTML}")
        storage.remove_web_file(f"{folder}/{PAGE_V1_HTML}")
    if JSON in options.formats:
        storage.write_web(f"{folder}/{PAGE_V1_JSON}", [render_project_json(page).encode("utf-8")])
    else:
        storage.remove_web_file(f"{folder}/{PAGE_V1_JSON}")
    copy = json_api_copy(page.name)
    if options.json and page.status != "quarantined":  # PyPI's JSON API has no quarantined project
        storage.write_web(copy, [render_json_api(page).encode("utf-8")])
    else:
        storage.remove_web_file(copy)


def json_api_copy(name: str) -> str:
    """Where ``json = true`` puts the project's JSON API copy, relative to web/."""
    return f"pypi/{normalize(check_name(name))}/json"


def _serve_all(
    files: list[tuple[str, ReleaseFile]], published: dict[str, str], options: SyncOptions, downloads: _Downloads
) -> tuple[tuple[str, ReleaseFile], ...]:
    """Mirror every file and what goes beside it; the files as the pages may then describe them.

    Each file, .metadata and .provenance is one transfer, all handed to the run's pool at once: on
    a WAN a project costs one round trip for all its files instead of one per file and sidecar.
    Any failure fails the project only after every transfer ended, so its page is never written.
    """
    if not options.release_files:
        return tuple((path, _listed_only(release, options)) for path, release in files)
    tasks: dict[tuple[int, str], Callable[[], object]] = {}
    for index, (path, release) in enumerate(files):
        listed = published.get(path) == release.sha256
        tasks[index, ""] = partial(_fetch_file, path, release, listed, options, downloads)
        if release.core_metadata_sha256 and options.core_metadata:
            url, digest = release.url + METADATA, release.core_metadata_sha256
            tasks[index, METADATA] = partial(_ensure_beside, path, METADATA, url, digest, options)
        if release.provenance_url:
            tasks[index, PROVENANCE] = partial(_ensure_beside, path, PROVENANCE, release.provenance_url, None, options)
    run = options.transfers.run_all if options.transfers else _one_after_another
    done = dict(zip(tasks, run(list(tasks.values()))))
    return tuple(
        (path, replace(
            release,
            size=release.size if release.size is not None else options.storage.web_size(path),
            core_metadata_sha256=done.get((index, METADATA)),  # type: ignore[arg-type]
            provenance_url=done.get((index, PROVENANCE)) and release.provenance_url,
        ))  # fmt: skip
        for index, (path, release) in enumerate(files)
    )


def _listed_only(release: ReleaseFile, options: SyncOptions) -> ReleaseFile:
    """release-files = false: the page links the master's file; its .metadata only when wanted."""
    return release if options.core_metadata else replace(release, core_metadata_sha256=None)


def _one_after_another(tasks: list[Callable[[], object]]) -> list[object]:
    return [task() for task in tasks]


def _fetch_file(path: str, release: ReleaseFile, listed: bool, options: SyncOptions, downloads: _Downloads) -> None:
    downloads.add(_ensure_file(path, release, listed, options))


def _ensure_beside(path: str, suffix: str, url: str, sha256: Optional[str], options: SyncOptions) -> Optional[str]:
    """A PEP 658 .metadata (checked against ``sha256``) or PEP 740 .provenance beside the file.

    Returns what the page may promise (the hash, or "present"). When the master has no good copy
    (404, a hash that keeps not matching, not JSON), None: the file loses its attribute, it is
    logged, and nothing else fails. A transient failure fails the project instead, so the next
    run fetches it rather than leaving the attribute off until the project changes again.
    """
    target, storage = path + suffix, options.storage
    if sha256 is None and storage.web_exists(target):
        return "present"
    if sha256 is not None and storage.file_matches(target, sha256, None, verify=True):
        return sha256
    try:
        if sha256 is not None:
            _fetch_verified(target, url, sha256, None, options)
            return sha256
        body = options.master.fetch_small(url)
        if not isinstance(json.loads(body), dict):
            raise ValueError("not a JSON object")
        storage.write_web(target, [body])
        return "present"
    except (NotFound, DigestMismatch, ValueError) as error:
        logger.warning("Not mirroring %s: %s", url, error)
        storage.remove_web_file(target)
        return None


def _ensure_file(path: str, release: ReleaseFile, listed: bool, options: SyncOptions) -> Optional[int]:
    """Download the file unless a good copy is published already; the bytes fetched, or None.

    A file our own page lists with the same hash was verified when it was written, so only its
    size is checked; anything else (a pep381client leftover, a resumed run) is hashed.
    """
    verify = options.verify_existing or not listed
    if options.storage.file_matches(path, release.sha256, release.size, verify=verify):
        return None
    return _fetch_verified(path, release.url, release.sha256, release.size, options)


def _fetch_verified(path: str, url: str, sha256: str, size: Optional[int], options: SyncOptions) -> int:
    """Download ``url`` to ``path``, published only once its hash matched; a download that broke
    off or came corrupt is tried again, up to DOWNLOAD_ATTEMPTS times. The bytes written."""
    for attempt in range(1, DOWNLOAD_ATTEMPTS):
        try:
            return _download(path, url, sha256, size, options)
        except (TruncatedDownload, DigestMismatch) as error:
            logger.warning("%s; retrying (%d of %d)", error, attempt, DOWNLOAD_ATTEMPTS)
    return _download(path, url, sha256, size, options)


def _download(path: str, url: str, sha256: str, size: Optional[int], options: SyncOptions) -> int:
    logger.debug("Downloading %s", url)
    with options.master.stream(url) as chunks:
        return options.storage.write_verified(path, chunks, sha256, size)


def _remove_file(path: str, storage: Storage) -> None:
    """The file and what the mirror keeps beside it (.metadata, .provenance)."""
    if path.startswith("packages/"):  # our pages link nowhere else; never delete beyond that
        logger.info("Deleting %s: the master no longer lists it", path)
        for suffix in (METADATA, PROVENANCE, ""):
            storage.remove_web_file(path + suffix)


def remove_project(name: str, storage: Storage, root_uri: str = "") -> None:
    """Delete a project: its pages (every form) and JSON API copy first, so no page ever links a
    file that is gone, then the files and what lies beside them. The global index is the caller's."""
    files = _published(storage, project_folder(name), root_uri)[0]
    _remove_pages(name, storage)
    for path in files:
        _remove_file(path, storage)


def _remove_pages(name: str, storage: Storage) -> None:
    storage.remove_web_tree(project_folder(name))
    storage.remove_web_tree(json_api_copy(name).rsplit("/", 1)[0])
