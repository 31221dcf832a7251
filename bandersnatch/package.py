"""One project's sync: its metadata, its files, its page, and what the master deleted.

A project's outcome is a value (ProjectResult), never an exception across threads: the engine
decides from all outcomes what the run's serial, todo and exit status are.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, replace
from typing import Optional
from urllib.parse import unquote, urlsplit

from .errors import (
    DigestMismatch,
    MirrorError,
    ProjectGone,
    StalePage,
    TruncatedDownload,
    UnsafePath,
    UpstreamUnavailable,
)
from .global_index import HTML, JSON
from .master import Master
from .model import ProjectMetadata, ProjectPage, ReleaseFile, normalize
from .pages_json import json_page_files, json_page_serial, render_json_api, render_project_json
from .simple import page_files, page_serial, render_project_html
from .storage import Storage, safe_relative

__all__ = ["ProjectResult", "SyncOptions", "file_path", "json_api_copy", "project_page", "sync_project"]

logger = logging.getLogger(__name__)

DOWNLOAD_ATTEMPTS = 3
PAGE_HTML, PAGE_V1_HTML, PAGE_V1_JSON = "index.html", "index.v1_html", "index.v1_json"  # upstream's layout
METADATA, PROVENANCE = ".metadata", ".provenance"  # PEP 658/714 and PEP 740, beside the file
# PEP 508 names; anything else could not be a folder name we would dare to create.
_VALID_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)


@dataclass(frozen=True)
class ProjectResult:
    name: str
    serial: int
    error: Optional[str] = None

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

    @property
    def marker(self) -> str:
        """What the pages depend on beyond the master's data, for the generation file: a change
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
    try:
        _sync(name, serial, options)
    except ProjectGone:
        if options.delete_packages:
            logger.info("Deleting %s: the master no longer has it", name)
            _remove_project(name, options)
        else:
            logger.info("Keeping %s although the master deleted it (delete-packages = false)", name)
    except StalePage as error:  # the runbook's line, which names the project itself
        return ProjectResult(name, serial, str(error))
    except MirrorError as error:
        return ProjectResult(name, serial, f"Failed to sync {name}: {error}")
    return ProjectResult(name, serial)


def _sync(name: str, serial: int, options: SyncOptions) -> None:
    folder = project_page(name).rsplit("/", 1)[0]
    published, published_serial = _published(folder, options)
    # Serial 0 means "no promise from the master" (a project only we still list): then what we
    # published is the floor, so a stale CDN copy can never roll the page back.
    metadata = options.master.project(name, serial or published_serial or 0)
    releases = () if metadata.quarantined else metadata.files  # PEP 792: nothing installable
    files = [(file_path(release), release) for release in releases]  # all checked first
    served = tuple((path, _serve(path, release, published.get(path) == release.sha256, options)) for path, release in files)
    page = ProjectPage(
        name=metadata.name, serial=metadata.serial, files=served, versions=_versions(metadata),
        status=metadata.status, status_reason=metadata.status_reason, info_json=metadata.info_json,
        base=options.base,
    )  # fmt: skip
    _publish(folder, page, options)
    if options.delete_packages or metadata.quarantined:
        for path in published.keys() - {path for path, _ in files}:
            _remove_file(path, options.storage)


def _versions(metadata: ProjectMetadata) -> tuple[str, ...]:
    """PEP 700: every version, and every file's version among them."""
    versions = dict.fromkeys(metadata.versions)
    versions.update(dict.fromkeys(f.version for f in metadata.files if f.version))
    return tuple(versions)


def _published(folder: str, options: SyncOptions) -> tuple[dict[str, str], Optional[int]]:
    """The files (path: sha256) and serial of the project's pages as the last sync wrote them."""
    text = options.storage.read_web_text(f"{folder}/{PAGE_V1_JSON}")
    if text is not None:
        return json_page_files(text, options.root_uri), json_page_serial(text)
    text = options.storage.read_web_text(f"{folder}/{PAGE_HTML}") or ""
    return page_files(text, options.root_uri), page_serial(text)


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


def _serve(path: str, release: ReleaseFile, listed: bool, options: SyncOptions) -> ReleaseFile:
    """Mirror the file and what goes beside it; the file as the pages may then describe it."""
    if not options.release_files:
        return release if options.core_metadata else replace(release, core_metadata_sha256=None)
    _ensure_file(path, release, listed, options)
    size = release.size if release.size is not None else options.storage.web_size(path)
    metadata = release.core_metadata_sha256 if options.core_metadata else None
    if metadata:
        metadata = _ensure_beside(path, METADATA, release.url + METADATA, metadata, options)
    provenance = release.provenance_url
    if provenance:
        provenance = _ensure_beside(path, PROVENANCE, provenance, None, options) and provenance
    return replace(release, size=size, core_metadata_sha256=metadata, provenance_url=provenance)


def _ensure_beside(path: str, suffix: str, url: str, sha256: Optional[str], options: SyncOptions) -> Optional[str]:
    """A PEP 658 .metadata (checked against ``sha256``) or PEP 740 .provenance beside the file.

    Returns what the page may promise (the hash, or "present"), None when the master could not give
    a good copy: the file then loses its attribute, is logged, and nothing else fails.
    """
    target, storage = path + suffix, options.storage
    if sha256 is None and storage.web_exists(target):
        return "present"
    if sha256 is not None and storage.file_matches(target, sha256, None, verify=True):
        return sha256
    try:
        if sha256 is None:
            body = options.master.fetch_small(url)
            if not isinstance(json.loads(body), dict):
                raise ValueError("not a JSON object")
            storage.write_web(target, [body])
            return "present"
        with options.master.stream(url) as chunks:
            storage.write_verified(target, chunks, sha256, None)
        return sha256
    except (UpstreamUnavailable, DigestMismatch, ValueError) as error:
        logger.warning("Not mirroring %s: %s", url, error)
        storage.remove_web_file(target)
        return None


def _ensure_file(path: str, release: ReleaseFile, listed: bool, options: SyncOptions) -> None:
    """Download the file unless a good copy is published already.

    A file our own page lists with the same hash was verified when it was written, so only its
    size is checked; anything else (a pep381client leftover, a resumed run) is hashed.
    """
    verify = options.verify_existing or not listed
    if options.storage.file_matches(path, release.sha256, release.size, verify=verify):
        return
    for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
        logger.debug("Downloading %s", release.url)
        try:
            with options.master.stream(release.url) as chunks:
                options.storage.write_verified(path, chunks, release.sha256, release.size)
            return
        except (TruncatedDownload, DigestMismatch) as error:
            if attempt == DOWNLOAD_ATTEMPTS:
                raise
            logger.warning("%s; retrying (%d of %d)", error, attempt, DOWNLOAD_ATTEMPTS)


def _remove_file(path: str, storage: Storage) -> None:
    """The file and what the mirror keeps beside it (.metadata, .provenance)."""
    if path.startswith("packages/"):  # our pages link nowhere else; never delete beyond that
        logger.info("Deleting %s: the master no longer lists it", path)
        for suffix in (METADATA, PROVENANCE, ""):
            storage.remove_web_file(path + suffix)


def _remove_project(name: str, options: SyncOptions) -> None:
    folder = project_page(name).rsplit("/", 1)[0]
    for path in _published(folder, options)[0]:
        _remove_file(path, options.storage)
    options.storage.remove_web_tree(folder)
    options.storage.remove_web_tree(json_api_copy(name).rsplit("/", 1)[0])
