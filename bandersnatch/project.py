"""One project's sync: its metadata, its files, its page, and what the master deleted.

A project's outcome is a value (ProjectResult), never an exception across threads: the engine
decides from all outcomes what the run's serial, todo and exit status are.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping, Optional

from .deletion_guard import DeletionBudget
from .downloads import Transfers
from .errors import (
    MirrorError,
    ProjectGone,
    StalePage,
    UnsafePath,
)
from .master import Master
from .model import ProjectMetadata, ProjectPage, ReleaseFile, normalize
from .pages.html import render_project_html
from .pages.layout import (
    HTML,
    JSON,
    JSON_API,
    METADATA,
    PAGE_HTML,
    PAGE_V1_HTML,
    PAGE_V1_JSON,
    PROVENANCE,
    Layout,
    Links,
    file_path,
    is_file_path,
    json_api_copy,
    json_api_folder,
    page_path,
    project_folder,
)
from .pages.pep691 import render_json_api, render_project_json
from .pages.published import other_owner, read_project
from .release_files import serve_all
from .storage import Storage

if TYPE_CHECKING:
    from .configuration import Settings
    from .subset.cooldown import Gate
    from .subset.scope import Scope

__all__ = [
    "ProjectResult", "SyncOptions", "needs_json_api", "pages_marker", "remove_project", "sync_options", "sync_project",
]

logger = logging.getLogger(__name__)


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
    layout: Layout = Layout()  # page formats, JSON API copies, link forms
    core_metadata: bool = True  # mirror PEP 658 .metadata files
    # Whether the mirror holds a project, and which of its files (filters, dependency closure:
    # scope.Scope); a project it does not hold, or none of whose files it keeps, gets no page.
    holds: Callable[[str], bool] = lambda name: True
    select: Callable[[ProjectMetadata], tuple[ReleaseFile, ...]] = lambda project: project.files
    prefetched: Mapping[str, ProjectMetadata] = field(default_factory=dict)  # fetched while planning
    transfers: Optional[Transfers] = None  # the run's download pool; None: one file after another
    deletions: Optional[DeletionBudget] = None  # max-deletions for projects the master answers 404 for
    # Told the master's metadata of every project synced (quarantined ones too): subset.seen keeps it.
    seen: Callable[[ProjectMetadata], None] = lambda project: None
    # web/pypi/ held something as the run started: JSON API copies of an earlier json = true may be
    # left to remove. Without it, a mirror that never had them is spared two unlinks per project.
    json_copies_before: bool = True

    @property
    def marker(self) -> str:
        return pages_marker(self.layout, self.core_metadata)

    @property
    def links(self) -> Links:
        return self.layout.links


def pages_marker(layout: Layout, core_metadata: bool) -> str:
    """What the pages depend on beyond the master's data, for the ``options`` state file: a change
    re-checks every project once (writing missing formats, fetching missing .metadata)."""
    links = layout.links
    marker = (
        f"pages={'+'.join(sorted(layout.formats))} core-metadata={core_metadata} json={layout.json} "
        f"root_uri={links.root_uri or '-'} release-files={links.release_files}"
    )
    return marker + (f" public-url={links.public_url}" if links.public_url else "")


def needs_json_api(settings: Settings) -> bool:
    """Whether a project's metadata must come from the JSON API too, not from its PEP 691 page
    alone: only the JSON API has ``info``, which the JSON API copy carries (``json = true``) and
    latest_release reads (``info.version``, the release the master calls current). Everything
    else a project sync needs is on the page, so every other configuration costs one document
    per project instead of two."""
    filters = settings.subset.filters if settings.subset else None
    return settings.json or bool(filters and filters.on("latest_release") and filters.latest_keep)


def sync_options(
    settings: Settings,
    master: Master,
    storage: Storage,
    *,
    scope: Optional[Scope] = None,
    transfers: Optional[Transfers] = None,
    verify_existing: bool = False,
    deletions: Optional[DeletionBudget] = None,
    gate: Optional[Gate] = None,
) -> SyncOptions:
    """THE way a project sync is configured from the settings: ``mirror``, ``sync NAME`` and
    ``verify --repair`` all sync a project exactly alike (formats, JSON copies, links, filters,
    and the [cooldown] ``gate``, which sees every project before the filters do)."""
    scoped = {} if scope is None or scope.everything else {"holds": scope.holds, "select": scope.select}
    if scope is not None and scope.remembers:
        scoped["seen"] = scope.remember
    if settings.cooldown is not None:
        scoped["select"] = _after_cooldown(gate or _gate(settings), scoped.get("select", _all_files))
    return SyncOptions(
        **scoped,  # type: ignore[arg-type]
        prefetched=scope.prefetched if scope else {},
        master=master,
        storage=storage,
        delete_packages=settings.delete_packages,
        verify_existing=verify_existing,
        layout=Layout.from_settings(settings),
        core_metadata=settings.core_metadata,
        transfers=transfers,
        deletions=deletions,
        json_copies_before=storage.web_exists(JSON_API),
    )


def _all_files(project: ProjectMetadata) -> tuple[ReleaseFile, ...]:
    return project.files


def _gate(settings: Settings) -> Gate:
    """A gate at this instant, for a caller that did not bring the run's own (the cooldown is never skipped)."""
    import time

    from .subset.cooldown import Gate

    return Gate(settings.cooldown, time.time())  # type: ignore[arg-type]


def _after_cooldown(
    gate: Gate, select: Callable[[ProjectMetadata], tuple[ReleaseFile, ...]]
) -> Callable[[ProjectMetadata], tuple[ReleaseFile, ...]]:
    """``select`` over the releases the cooldown admits: the mirror sees the master as it was."""
    return lambda project: select(gate.admit(project))


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
        remove_project(name, options.storage, options.links)
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
    found = read_project(options.storage, name, options.links)
    published, published_serial = (found.release_files, found.serial) if found else ({}, None)
    if not options.holds(name):
        return _drop(name, "it is outside the filters", published, options)
    # Serial 0 means "no promise from the master" (a project only we still list): then what we
    # published is the floor, so a stale CDN copy can never roll the page back.
    metadata = _metadata(name, serial or published_serial or 0, options)
    options.seen(metadata)
    releases = () if metadata.quarantined else options.select(metadata)
    if metadata.files and not releases and not metadata.quarantined:
        return _drop(name, "the filters and the cooldown admit none of its files", published, options)
    files = [(file_path(release), release) for release in releases]  # all checked first
    _check_owned(name, files, published, options)
    served = serve_all(files, published, options, downloads)
    page = ProjectPage(
        name=metadata.name, serial=metadata.serial, files=served, versions=_versions(metadata, releases),
        status=metadata.status, status_reason=metadata.status_reason, info_json=metadata.info_json,
        links=options.links,
    )  # fmt: skip
    _publish(page, options)
    if options.delete_packages or metadata.quarantined:
        gone = published.keys() - {path for path, _ in files}
        _say_removed(metadata, gone)
        for path in gone:
            _remove_file(name, path, options.storage, options.links)


def _say_removed(metadata: ProjectMetadata, gone: set[str]) -> None:
    """One line per project and cause naming the releases whose files go (a release PyPI
    quarantined or deleted, one the filters or the cooldown no longer admit), before the per-file
    lines."""
    listed = {_listed_path(release) for release in metadata.files}
    causes: dict[str, set[str]] = {}
    for path in gone:
        causes.setdefault(_reason_of(path, metadata, listed), set()).add(_version_of_path(path))
    for reason, versions in sorted(causes.items()):
        logger.info("Removing %s %s (%s)", metadata.name, ", ".join(sorted(versions)), reason)


def _listed_path(release: ReleaseFile) -> Optional[str]:
    try:
        return file_path(release)
    except UnsafePath:  # a file the mirror refuses was never published: it cannot be among the gone
        return None


def _reason_of(path: str, metadata: ProjectMetadata, listed: set[Optional[str]]) -> str:
    if metadata.quarantined:
        return "the project is quarantined"
    return "no longer on the master" if path not in listed else "no longer admitted by the filters or the cooldown"


def _version_of_path(path: str) -> str:
    """The release a published file belongs to, from its name (PEP 427/625 and older sdists)."""
    from .upstream import version_of

    return version_of(path.rsplit("/", 1)[-1]) or path.rsplit("/", 1)[-1]


def _drop(name: str, reason: str, published: Mapping[str, str], options: SyncOptions) -> None:
    """A project the mirror does not hold gets no page (and no index entry); its files go with
    delete-packages."""
    if published or options.storage.web_exists(project_folder(name)):
        logger.info("Not mirroring %s: %s", name, reason)
    _remove_pages(name, options.storage)
    if options.delete_packages:
        if published:
            versions = sorted({_version_of_path(path) for path in published})
            logger.info("Removing %s %s (%s)", name, ", ".join(versions), reason)
        for path in published:
            _remove_file(name, path, options.storage, options.links)


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


def _check_owned(name: str, files: list[tuple[str, ReleaseFile]], published: Mapping[str, str], options: SyncOptions
                 ) -> None:
    """Refuse a page that names another project's file: it belongs to the project that published
    it first, and this page must neither overwrite it nor, later, delete it."""
    if not options.links.release_files:
        return
    for path, _ in files:
        if path not in published and options.storage.web_exists(path):
            owner = other_owner(options.storage, options.links, name, path)
            if owner is not None:
                raise UnsafePath(f"{name} lists {path}, which belongs to project {owner}; refusing it")


def _publish(page: ProjectPage, options: SyncOptions) -> None:
    """Write the page in every configured format, and drop those of formats no longer configured."""
    storage, layout = options.storage, options.layout
    html_pages = (page_path(page.name, PAGE_HTML), page_path(page.name, PAGE_V1_HTML))
    if HTML in layout.formats:
        storage.write_web_copies(html_pages, render_project_html(page).encode("utf-8"))
    else:
        for path in html_pages:
            storage.remove_web_file(path)
    json_page = page_path(page.name, PAGE_V1_JSON)
    if JSON in layout.formats:
        storage.write_web(json_page, [render_project_json(page).encode("utf-8")])
    else:
        storage.remove_web_file(json_page)
    copy = json_api_copy(page.name)
    if layout.json and page.status != "quarantined":  # PyPI's JSON API has no quarantined project
        storage.write_web(copy, [render_json_api(page).encode("utf-8")])
    elif layout.json or options.json_copies_before:
        storage.remove_web_file(copy)


def _remove_file(name: str, path: str, storage: Storage, links: Links) -> None:
    """The file and what the mirror keeps beside it (.metadata, .provenance), unless it belongs to
    another project (whose page links it) or lies outside packages/."""
    if not is_file_path(path):  # our pages link nowhere else; never delete beyond that
        return
    owner = other_owner(storage, links, name, path)
    if owner is not None:
        logger.warning("Not deleting %s for %s: project %s links it", path, name, owner)
        return
    logger.info("Deleting %s: the master no longer lists it", path)
    for suffix in (METADATA, PROVENANCE, ""):
        storage.remove_web_file(path + suffix)


def remove_project(name: str, storage: Storage, links: Links) -> None:
    """Delete a project: its pages (every form) and JSON API copy first, so no page ever links a
    file that is gone, then the files and what lies beside them. The global index is the caller's."""
    found = read_project(storage, name, links)
    _remove_pages(name, storage)
    for path in found.release_files if found else ():
        _remove_file(name, path, storage, links)


def _remove_pages(name: str, storage: Storage) -> None:
    storage.remove_web_tree(project_folder(name))
    storage.remove_web_tree(json_api_folder(name))
