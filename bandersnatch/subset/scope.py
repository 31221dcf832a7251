"""Which part of the master this mirror holds, for one run: the filters and the dependency closure.

The engine asks two questions of a Scope: does the mirror hold this project, and which of its files.
The answers come from the pure modules (``filters``, ``closure``); what they need from outside (the
master's metadata of the projects the closure reaches, their core metadata) is fetched here once,
kept in the ``closure.json`` state file between runs, and handed to the project syncs so a project
the closure looked at is not fetched twice. Requires-Dist of a release never changes, so it is
fetched once per release; a project's list of releases is refreshed when its serial moves.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from packaging.utils import NormalizedName

from ..errors import DigestMismatch, MirrorError, ProjectGone
from ..master import Master
from ..model import ProjectMetadata, ReleaseFile, normalize
from ..storage import Storage
from .closure import (
    bad_requirements,
    closure,
    environments,
    installable,
    requires_dist,
)
from .config import SubsetSettings
from .environments import file_installable
from .filters import project_allowed, release_version, select_files
from .sdist import sdist_requires

__all__ = [
    "CLOSURE", "FILTERS", "Refilter", "Scope", "describe", "fingerprint", "installs", "plan_scope", "refilter",
    "remember", "remembered",
]

logger = logging.getLogger(__name__)

CLOSURE = "closure.json"  # state: releases and Requires-Dist seen, and the last closure
MAX_SDIST_READ = 64 << 20  # an sdist read for its PKG-INFO is held in memory; larger: the JSON API


@dataclass
class Scope:
    """The filters and, with [dependencies], the releases the closure needs of each project."""

    subset: SubsetSettings
    needed: Optional[dict[NormalizedName, frozenset[str]]] = None  # None: no dependency closure
    prefetched: dict[NormalizedName, ProjectMetadata] = field(default_factory=dict)
    # Projects whose needed releases differ from the last run's (newly needed included), with the
    # serial they were seen at, and those the closure no longer reaches: both are work this run.
    reselected: dict[str, int] = field(default_factory=dict)
    # The master's metadata of each project this run selected from (subset.seen keeps it for the
    # next change of the file-selecting filters); only a subset with roots keeps it.
    synced: dict[NormalizedName, ProjectMetadata] = field(default_factory=dict, repr=False, compare=False)
    _synced_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def remembers(self) -> bool:
        return bool(self.subset.roots) and not self.everything

    def remember(self, project: ProjectMetadata) -> None:
        """The master's metadata of a project synced (before the cooldown and the filters)."""
        with self._synced_lock:
            self.synced[normalize(project.name)] = project

    @property
    def everything(self) -> bool:
        """No filter and no closure: the whole master, and no per-project work to decide it."""
        return not self.subset.filters.enabled and self.needed is None and self.subset.environments is None

    def _root(self, name: str) -> bool:
        return project_allowed(self.subset.filters, name)

    def holds(self, name: str) -> bool:
        if self.everything or self._root(name):
            return True
        return bool(self.needed and normalize(name) in self.needed and self._dependency_allowed(name))

    def _dependency_allowed(self, name: str) -> bool:
        return project_allowed(self.subset.filters, name, dependency=True)

    def select(self, project: ProjectMetadata) -> tuple[ReleaseFile, ...]:
        """The files of the project the mirror keeps; empty: it gets no page."""
        name, files = project.name, project.files
        if self.everything:
            return files
        root = self._root(name)
        kept = select_files(self.subset.filters, name, files, dependency=not root, current=project.current_version)
        if self.needed is None:
            return tuple(f for f in kept if self._installs(f))  # type: ignore[misc, arg-type]
        versions = self.needed.get(normalize(name), frozenset())
        return tuple(f for f in kept if self._installs(f) and release_version(name, f) in versions)  # type: ignore[misc]

    @functools.cached_property
    def _installs(self) -> Callable[[ReleaseFile], bool]:
        return installs(self.subset)


def installs(subset: SubsetSettings) -> Callable[[ReleaseFile], bool]:
    """Whether a file can install where the mirror serves: in a declared [environments] target
    (tags, Requires-Python, sdists or not); else, with [dependencies], in one of its coarse
    environments; else anywhere. Upstream's exclude_platform has decided before this (both must pass)."""
    targets = subset.targets
    if targets is not None:
        sdists = subset.environments.sdists  # type: ignore[union-attr]
        return lambda f: file_installable(f.filename, f.requires_python, targets, sdists)
    if subset.dependencies.enabled:
        envs = environments(subset.dependencies)
        return lambda f: installable(f.filename, envs)
    return lambda f: True


def fingerprint(subset: SubsetSettings) -> str:
    """A short digest of the filter settings that is the same in every run (sets sorted, patterns
    as text), so a changed filter is noticed and an unchanged one never is."""

    def plain(value: Any) -> Any:
        if isinstance(value, (set, frozenset)):
            return sorted(str(plain(item)) for item in value)
        if isinstance(value, (list, tuple)):
            return [plain(item) for item in value]
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value) if f.repr}
        if isinstance(value, re.Pattern):
            return value.pattern
        return value if isinstance(value, (int, bool)) or value is None else str(value)

    return hashlib.sha256(json.dumps(plain(subset), sort_keys=True).encode()).hexdigest()[:16]


Admit = Callable[[ProjectMetadata], ProjectMetadata]


def _everything(project: ProjectMetadata) -> ProjectMetadata:
    return project


def plan_scope(
    subset: SubsetSettings, master: Master, storage: Storage, changed: Mapping[str, int], admit: Admit = _everything,
    known: Optional[Mapping[NormalizedName, ProjectMetadata]] = None,
) -> Scope:
    """The run's Scope; with [dependencies], the closure recomputed from the roots, refreshing the
    projects that ``changed`` since the last run (their serials) and any the closure newly reaches.

    ``admit`` is the [cooldown] gate: the closure resolves over the releases it admits only. A
    held release that comes of age puts its project among ``changed`` (the run's cooldown state),
    so the cached candidates of that project are refreshed then. ``known``: the master's metadata
    as last synced (subset.seen), used instead of asking the master when it is as recent as
    ``changed`` asks: a change of the file-selecting filters re-selects from it."""
    known = known or {}
    if not subset.dependencies.enabled:
        return Scope(subset, prefetched=dict(known))
    cache = _ClosureCache.load(storage)
    changes = {normalize(name): serial for name, serial in changed.items()}
    fetcher = _Fetcher(subset, master, cache, changes, admit)
    fetcher.known = known
    needed = closure(subset.roots, fetcher, subset.dependencies, subset.targets)
    before = {name: frozenset(versions) for name, versions in cache.needed.items()}
    reselected = {
        name: cache.releases.get(name, {}).get("serial", 0)
        for name in needed.keys() | before.keys()
        if needed.get(name) != before.get(name)
    }
    cache.needed = {name: sorted(versions) for name, versions in needed.items()}
    storage.write_state(CLOSURE, cache.dump())
    logger.info("The dependency closure holds %d projects (%d changed)", len(needed), len(reselected))
    return Scope(subset, needed, {**known, **fetcher.fetched}, reselected)


@dataclass
class _ClosureCache:
    releases: dict[str, dict[str, Any]] = field(default_factory=dict)  # name: {"serial", "versions"}
    requires: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # name: {version: lines}
    needed: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, storage: Storage) -> _ClosureCache:
        text = storage.read_state(CLOSURE)
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            logger.warning("Ignoring damaged %s; the closure is computed afresh", storage.state_location(CLOSURE))
            return cls()
        cache = cls(*_well_formed(data))
        if [cache.releases, cache.requires, cache.needed] != [data.get(key, {}) for key in ("releases", "requires", "needed")]:
            logger.warning("Ignoring damaged entries of %s; they are read afresh", storage.state_location(CLOSURE))
        return cache

    def dump(self) -> str:
        return json.dumps({"releases": self.releases, "requires": self.requires, "needed": self.needed})


def _well_formed(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The entries of closure.json that have the shapes written above; a damaged or hand-edited one
    costs a refetch of that project or release, never the run (SPEC section 18)."""

    def table(value: Any) -> dict[str, Any]:
        return value if isinstance(value, dict) else {}

    def strings(value: Any) -> bool:
        return isinstance(value, list) and all(isinstance(item, str) for item in value)

    def release(entry: Any) -> bool:
        versions = table(entry).get("versions")
        return (
            isinstance(table(entry).get("serial"), int) and isinstance(versions, dict)
            and all(source is None or (strings(source) and len(source) in (2, 4)) for source in versions.values())
        )  # fmt: skip

    releases = {name: entry for name, entry in table(data.get("releases")).items() if release(entry)}
    requires = {
        name: {version: lines for version, lines in entry.items() if strings(lines)}
        for name, entry in table(data.get("requires")).items()
        if isinstance(entry, dict)
    }
    needed = {name: versions for name, versions in table(data.get("needed")).items() if strings(versions)}
    return releases, requires, needed


class _Fetcher:
    """closure's ``fetch``: a project's candidate releases, each with its Requires-Dist, read lazily."""

    def __init__(
        self, subset: SubsetSettings, master: Master, cache: _ClosureCache, changed: dict[str, int], admit: Admit
    ) -> None:
        self.subset, self.master, self.cache, self.changed, self.admit = subset, master, cache, changed, admit
        self.fetched: dict[NormalizedName, ProjectMetadata] = {}
        self.known: Mapping[NormalizedName, ProjectMetadata] = {}
        self.envs = subset.targets or environments(subset.dependencies)
        self.installs = installs(subset)

    def __call__(self, name: NormalizedName) -> Mapping[str, tuple[str, ...]]:
        known = self.cache.releases.get(name)
        if known is None or name in self.changed:
            known = self._refresh(name)
        return _Requires(self, name, known["versions"])

    def _refresh(self, name: NormalizedName) -> dict[str, Any]:
        remembered = self.known.get(name)
        try:
            if remembered is not None and remembered.serial >= self.changed.get(name, 0):
                metadata = remembered
            else:
                metadata = self.master.project(name, self.changed.get(name, 0))
        except ProjectGone:
            metadata = ProjectMetadata(name, 0, ())
        except MirrorError as error:  # the closure goes on without it; the project's own sync reports
            logger.warning("Dependency closure: cannot read %s: %s", name, error)
            return {"serial": 0, "versions": {}}
        self.fetched[name] = metadata
        root = project_allowed(self.subset.filters, name)
        admitted = self.admit(metadata).files
        kept = select_files(self.subset.filters, name, admitted, dependency=not root, current=metadata.current_version)
        versions: dict[str, Optional[list[str]]] = {}
        for release in kept:
            version = release_version(name, release)
            if version and self.installs(release):
                versions.setdefault(version, None)
                known = versions[version]
                if release.core_metadata_sha256 and (not known or len(known) == 4):
                    versions[version] = [release.url, release.core_metadata_sha256]
                elif known is None and _is_sdist(release):  # read only when no wheel tells
                    versions[version] = [release.url, release.sha256, "sdist", str(release.size or 0)]
        entry = {"serial": metadata.serial, "versions": versions}
        self.cache.releases[name] = entry
        return entry

    def requires(self, name: NormalizedName, version: str, source: Optional[list[str]]) -> tuple[str, ...]:
        """Requires-Dist of one release (cached for good): from its wheel's PEP 658 metadata; for
        a release without one (an sdist only), from the sdist's PKG-INFO where it vouches for its
        Requires-Dist (Metadata 2.2+, not Dynamic), else from the JSON API's per-release
        ``info.requires_dist``. A release none of them speaks for counts as needing nothing. A
        failure to read is not cached: the next run asks again."""
        cached = self.cache.requires.get(name, {}).get(version)
        if cached is not None:
            return tuple(cached)
        try:
            found = self._read(name, version, source)
        except MirrorError as error:
            logger.warning("Dependency closure: no metadata for %s %s: %s", name, version, error)
            return ()
        if found is None:
            logger.debug("Dependency closure: nothing says what %s %s requires; taken as needing nothing", name, version)
        lines = found or ()
        bad = bad_requirements(lines, self.envs)
        if bad:  # said when read, so once per release: closure.json keeps the lines for later runs
            logger.warning(
                "Dependency closure: %s %s: taken as needing nothing: %s", name, version,
                "; ".join(f"Requires-Dist {line!r} ({reason})" for line, reason in bad),
            )  # fmt: skip
        self.cache.requires.setdefault(name, {})[version] = list(lines)
        return lines


    def _read(self, name: NormalizedName, version: str, source: Optional[list[str]]) -> Optional[tuple[str, ...]]:
        if source is not None and len(source) == 2:
            url, sha256 = source
            body = self.master.fetch_small(url + ".metadata")
            if hashlib.sha256(body).hexdigest() != sha256:
                raise DigestMismatch(f"the metadata of {name} {version} does not match its sha256")
            return requires_dist(body.decode("utf-8", "replace"))
        if source is not None:
            found = self._from_sdist(source)
            if found is not None:
                return found
        return self.master.release_requires(name, version)

    def _from_sdist(self, source: list[str]) -> Optional[tuple[str, ...]]:
        """The sdist is fetched whole (it is small, and the mirror keeps it anyway), checked
        against its sha256, and read in memory; one larger than MAX_SDIST_READ is not."""
        url, sha256, _, size = source
        declared = int(size) if size.isdigit() and int(size) else None
        if declared is None or declared > MAX_SDIST_READ:
            return None
        with self.master.stream(url, declared) as chunks:
            body = b"".join(chunks)
        if hashlib.sha256(body).hexdigest() != sha256:
            raise DigestMismatch(f"{url} does not match its sha256")
        return sdist_requires(url.rsplit("/", 1)[-1], body)


def _is_sdist(release: ReleaseFile) -> bool:
    return release.filename.endswith((".tar.gz", ".zip"))


class _Requires(Mapping[str, tuple[str, ...]]):
    """{version: Requires-Dist} whose values are fetched only for the versions the closure selects."""

    def __init__(self, fetcher: _Fetcher, name: NormalizedName, versions: dict[str, Optional[list[str]]]):
        self.fetcher, self.name, self.versions = fetcher, name, versions

    def __getitem__(self, version: str) -> tuple[str, ...]:
        return self.fetcher.requires(self.name, version, self.versions[version])

    def __iter__(self) -> Iterator[str]:
        return iter(self.versions)

    def __len__(self) -> int:
        return len(self.versions)


# -- cheap filter changes ----------------------------------------------------------------------------

FILTERS = "filters.json"  # state: the filter settings of the last run, in parts (refilter below)
_PROJECT_PLUGINS = frozenset({"allowlist_project", "blocklist_project", "project_requirements", "regex_project"})


@dataclass(frozen=True)
class Refilter:
    """What a change of the filters alone affects: ``names`` to sync again (a root added, removed
    or given another specifier, a name put on or off the blocklist), whether the master's list
    must be read to find projects a new project-level pattern now admits, and whether what
    selects files changed (then every project is selected again: from subset.seen where it knows
    them all, else as after any other change)."""

    names: frozenset[str]
    list_master: bool
    files: bool = False


def describe(subset: SubsetSettings) -> dict[str, Any]:
    """The filters in the parts a change is judged by: per-name entries (roots, blocked names),
    project-level rules, and everything that selects files (one digest: any change there may touch
    any project's files, and the mirror keeps no copy of what it filtered out)."""
    filters = subset.filters

    def entries(requirements: tuple[Any, ...]) -> dict[str, list[str]]:
        found: dict[str, set[str]] = {}
        for requirement in requirements:
            found.setdefault(normalize(requirement.name), set()).add(str(requirement))
        return {name: sorted(lines) for name, lines in found.items()}

    files = dataclasses.replace(filters, enabled=filters.enabled - _PROJECT_PLUGINS, allowlist=(), blocklist=(),
                                requirements=(), project_patterns=())  # fmt: skip
    projects = [sorted(filters.enabled & _PROJECT_PLUGINS), [p.pattern for p in filters.project_patterns]]
    return {
        "roots": entries(filters.allowlist + filters.requirements),
        "blocked": entries(filters.blocklist),
        "projects": json.dumps(projects),
        "files": fingerprint(dataclasses.replace(subset, filters=files)),
    }


def remembered(storage: Storage) -> Optional[dict[str, Any]]:
    text = storage.read_state(FILTERS)
    try:
        data = json.loads(text) if text else None
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def remember(storage: Storage, subset: Optional[SubsetSettings]) -> None:
    if subset is None:
        storage.remove_state(FILTERS)
    else:
        storage.write_state(FILTERS, json.dumps(describe(subset), sort_keys=True))


def refilter(before: Optional[dict[str, Any]], subset: SubsetSettings) -> Optional[Refilter]:
    """The projects a change of the filters affects, or None when it may affect every project
    (files are selected otherwise, or the last run's filters are unknown): then each is checked again."""
    now = describe(subset)
    if before is None:
        return None
    changed: set[str] = set()
    for part in ("roots", "blocked"):
        old, new = before.get(part), now[part]
        if not isinstance(old, dict):
            return None
        changed.update(name for name in old.keys() | new.keys() if old.get(name) != new.get(name))
    return Refilter(frozenset(changed), before.get("projects") != now["projects"], before.get("files") != now["files"])
