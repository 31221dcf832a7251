"""One project's sync: its metadata, its files, its page, and what the master deleted.

A project's outcome is a value (ProjectResult), never an exception across threads: the engine
decides from all outcomes what the run's serial, todo and exit status are.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Optional
from urllib.parse import unquote, urlsplit

from .errors import (
    DigestMismatch,
    MirrorError,
    ProjectGone,
    StalePage,
    TruncatedDownload,
    UnsafePath,
)
from .master import Master
from .model import ReleaseFile, normalize
from .published import read_project
from .simple import page_files, page_serial, render_project_page
from .storage import Storage, safe_relative

__all__ = ["ProjectResult", "SyncOptions", "file_path", "project_page", "remove_project", "sync_project"]

logger = logging.getLogger(__name__)

DOWNLOAD_ATTEMPTS = 3
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


def check_name(name: str) -> str:
    if not _VALID_NAME.match(name):
        raise UnsafePath(f"refusing project name {name!r}: not a valid PEP 508 name")
    return name


def project_page(name: str) -> str:
    """The page of a project, relative to web/."""
    return f"simple/{normalize(check_name(name))}/index.html"


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
        logger.info("Deleting %s: the master no longer has it", name)
        remove_project(name, options.storage)
        return ProjectResult(name, serial, deleted=True)
    except StalePage as error:  # the runbook's line, which names the project itself
        return ProjectResult(name, serial, str(error), downloads.files, downloads.bytes)
    except MirrorError as error:
        return ProjectResult(name, serial, f"Failed to sync {name}: {error}", downloads.files, downloads.bytes)
    return ProjectResult(name, serial, None, downloads.files, downloads.bytes)


@dataclass
class _Downloads:
    """What one project sync fetched, counted even when the sync fails halfway."""

    files: int = 0
    bytes: int = 0


def _sync(name: str, serial: int, options: SyncOptions, downloads: _Downloads) -> None:
    page = project_page(name)
    old_page = options.storage.read_web_text(page) or ""
    # Serial 0 means "no promise from the master" (a project only we still list): then what we
    # published is the floor, so a stale CDN copy can never roll the page back.
    metadata = options.master.project(name, serial or page_serial(old_page) or 0)
    files = [(file_path(release), release) for release in metadata.files]  # all checked first
    published = page_files(old_page)
    for path, release in files:
        fetched = _ensure_file(path, release, published.get(path) == release.sha256, options)
        if fetched is not None:
            downloads.files += 1
            downloads.bytes += fetched
    html = render_project_page(metadata.name, files, metadata.serial)
    options.storage.write_web(page, [html.encode("utf-8")])
    if options.delete_packages:
        for path in published.keys() - {path for path, _ in files}:
            _remove_file(path, options.storage)


def _ensure_file(path: str, release: ReleaseFile, listed: bool, options: SyncOptions) -> Optional[int]:
    """Download the file unless a good copy is published already; the bytes fetched, or None.

    A file our own page lists with the same hash was verified when it was written, so only its
    size is checked; anything else (a pep381client leftover, a resumed run) is hashed.
    """
    verify = options.verify_existing or not listed
    if options.storage.file_matches(path, release.sha256, release.size, verify=verify):
        return None
    for attempt in range(1, DOWNLOAD_ATTEMPTS):
        try:
            return _download(path, release, options)
        except (TruncatedDownload, DigestMismatch) as error:
            logger.warning("%s; retrying (%d of %d)", error, attempt, DOWNLOAD_ATTEMPTS)
    return _download(path, release, options)


def _download(path: str, release: ReleaseFile, options: SyncOptions) -> int:
    logger.debug("Downloading %s", release.url)
    with options.master.stream(release.url) as chunks:
        return options.storage.write_verified(path, chunks, release.sha256, release.size)


def _remove_file(path: str, storage: Storage) -> None:
    if path.startswith("packages/"):  # our pages link nowhere else; never delete beyond that
        logger.info("Deleting %s: the master no longer lists it", path)
        storage.remove_web_file(path)


def remove_project(name: str, storage: Storage) -> None:
    """Delete a project: its folder (every page form) first, so no page ever links a file that is
    gone, then the files and ``.metadata`` its pages listed. The global index is the caller's."""
    key = normalize(check_name(name))
    published = read_project(storage, key)
    storage.remove_web_tree(f"simple/{key}")
    for item in published.files if published else ():
        _remove_file(item.path, storage)
