"""Upstream bandersnatch's filter plugins as pure functions over frozen values.

An operator's existing `[plugins]` configuration must select exactly what upstream selects, so
each rule below follows upstream's documented behaviour ("Mirror filtering"), plugin by plugin.
Nothing here does I/O: the engine asks `project_allowed` before fetching a project and
`select_files` once it has the project's files; both are cheap enough for 740,000 projects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Optional, Protocol

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import INTERPRETER_SHORT_NAMES
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

__all__ = [
    "ALIASES",
    "PLUGINS",
    "FilterSettings",
    "platform_rules",
    "project_allowed",
    "release_version",
    "select_files",
]

PROJECT_PLUGINS = ("allowlist_project", "blocklist_project", "project_requirements", "regex_project")
RELEASE_PLUGINS = (
    "allowlist_release", "blocklist_release", "project_requirements_pinned", "regex_release",
    "prerelease_release", "latest_release",
)  # fmt: skip
PLUGINS = PROJECT_PLUGINS + RELEASE_PLUGINS + ("exclude_platform", "size_project_metadata")
# Upstream's names before 5.0; configurations written then still enable the same plugins.
ALIASES = {
    "whitelist_project": "allowlist_project",
    "blacklist_project": "blocklist_project",
    "whitelist_release": "allowlist_release",
    "blacklist_release": "blocklist_release",
}

# Upstream's prerelease_release matches the version string with these, not packaging's rule.
_PRERELEASE = tuple(re.compile(p) for p in (r".+rc\d+$", r".+a(lpha)?\d+$", r".+b(eta)?\d+$", r".+dev\d+$"))
# exclude_platform: filename substrings per platform name (PEP 425/513/571/599/600/656, PEP 527).
_WINDOWS = (".win32", "-win32", "win_amd64", "win-amd64", "win_arm64", "win-arm64")
_LINUX = (
    "linux-i686", "linux-x86_64", "linux_armv7l", "linux_armv6l", "manylinux1_i686", "manylinux1_x86_64",
    "manylinux2010_i686", "manylinux2010_x86_64", "manylinux2014_x86_64", "manylinux2014_i686",
    "manylinux2014_aarch64", "manylinux2014_armv7l", "manylinux2014_ppc64", "manylinux2014_ppc64le",
    "manylinux2014_s390x", "-manylinux_", "musllinux",
)  # fmt: skip
_PLATFORMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "windows": (_WINDOWS, ("bdist_msi", "bdist_wininst")),
    "macos": (("macosx_", "macosx-"), ("bdist_dmg",)),
    "freebsd": ((".freebsd", "-freebsd"), ()),
    "linux": (_LINUX, ("bdist_rpm",)),
}
_PLATFORM_ALIASES = {"win": "windows", "macosx": "macos"}
_PYTHONS = ("py2", "py2.4", "py2.5", "py2.6", "py2.7", "py3") + tuple(f"py3.{n}" for n in range(15))
_PEP600_TAG = re.compile(r"^(many|musl)linux_\d+_\d+_[a-z0-9_]+$")
_PACKAGETYPES = {".whl": "bdist_wheel", ".egg": "bdist_egg", ".exe": "bdist_wininst", ".msi": "bdist_msi",
                 ".dmg": "bdist_dmg", ".rpm": "bdist_rpm"}  # fmt: skip
_ARCHIVES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tar", ".zip")
_LEGACY_PLATFORM_TAIL = re.compile(r"\.(win|linux|macosx|freebsd|cygwin|darwin)[-_.].*$|\.win32.*$")


class FileLike(Protocol):
    """What the filters read of a file: model.ReleaseFile satisfies it."""

    @property
    def filename(self) -> str: ...
    @property
    def size(self) -> Optional[int]: ...
    @property
    def yanked(self) -> bool: ...
    @property
    def upload_time(self) -> Optional[str]: ...


def platform_rules(names: Iterable[str]) -> tuple[tuple[str, ...], frozenset[str]]:
    """Filename substrings and package types that `[blocklist] platforms` excludes.

    Raises ValueError naming the first platform upstream would not recognise (upstream ignores
    it silently; an operator who misspells `windows` should hear about it).
    """
    patterns: list[str] = []
    packagetypes: set[str] = set()
    for raw in names:
        name = _PLATFORM_ALIASES.get(raw.lower(), raw.lower())
        if name in _PLATFORMS:
            patterns.extend(_PLATFORMS[name][0])
            packagetypes.update(_PLATFORMS[name][1])
        elif name in _PYTHONS:
            patterns.extend(_python_patterns(name))
        elif name in _WINDOWS or name in _LINUX or _PEP600_TAG.match(name):
            patterns.append(name)
        else:
            raise ValueError(f"unknown platform {raw!r}")
    return tuple(dict.fromkeys(patterns)), frozenset(packagetypes)


def _python_patterns(name: str) -> list[str]:
    """The PEP 425 python tags of `pyX.Y` as they appear between a filename's dashes."""
    dotted = name[2:]
    bare = dotted.replace(".", "")
    interpreters = [short for short in INTERPRETER_SHORT_NAMES.values() if short != "py"]
    return [f"-{short}{bare}-" for short in interpreters] + [f"-py{dotted}-", f"-py{dotted}."]


def _specifiers(requirements: Iterable[Requirement]) -> dict[str, tuple[SpecifierSet, ...]]:
    """Specifiers by normalized name, admitting prereleases as upstream's release filters do."""
    found: dict[str, tuple[SpecifierSet, ...]] = {}
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        found[name] = found.get(name, ()) + (SpecifierSet(str(requirement.specifier), prereleases=True),)
    return found


@dataclass(frozen=True)
class _Index:
    """The settings rearranged for lookups by name (built once, not per project)."""

    allow_names: frozenset[str]
    block_names: frozenset[str]
    requirement_names: frozenset[str]
    allow_specs: Mapping[str, tuple[SpecifierSet, ...]]
    block_specs: Mapping[str, tuple[SpecifierSet, ...]]
    pinned_specs: Mapping[str, tuple[SpecifierSet, ...]]
    pinned_names: frozenset[str]  # projects with a version range: only that range is kept
    patterns: tuple[str, ...]
    packagetypes: frozenset[str]


@dataclass(frozen=True)
class FilterSettings:
    """The filter sections of the configuration, checked (subset.config builds it)."""

    enabled: frozenset[str] = frozenset()  # plugin names; "all" is expanded by the reader
    allowlist: tuple[Requirement, ...] = ()  # [allowlist] packages
    blocklist: tuple[Requirement, ...] = ()  # [blocklist] packages
    requirements: tuple[Requirement, ...] = ()  # [allowlist] requirements files, read
    project_patterns: tuple[re.Pattern[str], ...] = ()  # [filter_regex] packages
    release_patterns: tuple[re.Pattern[str], ...] = ()  # [filter_regex] releases
    prerelease_projects: frozenset[NormalizedName] = frozenset()  # [filter_prerelease] packages; empty: all
    latest_keep: int = 0  # [latest_release] keep; 0 keeps every release
    latest_sort_by: str = "version"  # or "time"
    platforms: tuple[str, ...] = ()  # [blocklist] platforms
    max_package_size: int = 0  # [size_project_metadata], bytes; 0: no limit
    _index: _Index = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        patterns, packagetypes = platform_rules(self.platforms)
        plain_blocks = (r for r in self.blocklist if str(r) == r.name)  # upstream: bare names only
        pinned = _specifiers(self.requirements)
        index = _Index(
            allow_names=frozenset(canonicalize_name(r.name) for r in self.allowlist),
            block_names=frozenset(canonicalize_name(r.name) for r in plain_blocks),
            requirement_names=frozenset(pinned),
            allow_specs=_specifiers(self.allowlist),
            block_specs=_specifiers(self.blocklist),
            pinned_specs=pinned,
            pinned_names=frozenset(canonicalize_name(r.name) for r in self.requirements if r.specifier),
            patterns=patterns,
            packagetypes=packagetypes,
        )
        object.__setattr__(self, "_index", index)

    def on(self, plugin: str) -> bool:
        return plugin in self.enabled


def project_allowed(settings: FilterSettings, name: str, *, dependency: bool = False) -> bool:
    """Whether the project filters let ``name`` (as the master spells it) be mirrored.

    Every enabled plugin must agree, as upstream: with both allowlist_project and
    project_requirements enabled and filled, a project must be on both lists. ``dependency``: the
    dependency closure needs the project, so the allowlists do not apply; blocklists still do.
    """
    index, normalized = settings._index, canonicalize_name(name)
    if not dependency:
        if settings.on("allowlist_project") and index.allow_names and normalized not in index.allow_names:
            return False
        if settings.on("project_requirements") and index.requirement_names and normalized not in index.requirement_names:
            return False
    if settings.on("blocklist_project") and normalized in index.block_names:
        return False
    return not (settings.on("regex_project") and any(p.match(name) for p in settings.project_patterns))


def select_files(
    settings: FilterSettings,
    name: str,
    files: Sequence[FileLike],
    *,
    dependency: bool = False,
    current: Optional[str] = None,
) -> tuple[FileLike, ...]:
    """The files of project ``name`` that the metadata, file and release filters keep.

    Upstream's order: size_project_metadata looks at the whole project, exclude_platform at each
    file, then the release filters at the versions that still have files. An empty result means
    the project gets no page. ``dependency`` as in project_allowed: the allowlist release filters
    do not apply to a project the closure added (the closure picks its releases). ``current``:
    the master's ``info.version``, which latest_release always keeps; derived when unknown.
    """
    if not _size_allowed(settings, name, files):
        return ()
    index = settings._index
    if settings.on("exclude_platform") and (index.patterns or index.packagetypes):
        kept = [f for f in files if not _platform_excluded(index, name, f.filename)]
    else:
        kept = list(files)
    by_version: dict[Optional[str], list[FileLike]] = {}
    for f in kept:
        by_version.setdefault(release_version(name, f), []).append(f)
    versions = _kept_versions(settings, canonicalize_name(name), by_version, dependency, current)
    return tuple(f for version, group in by_version.items() if version in versions for f in group)


def release_version(name: str, file: object) -> Optional[str]:
    """A file's release version: its `version` field when the model has one, else its filename.

    Wheels and sdists follow their specs (PEP 427, PEP 625); older formats (.egg, .exe, .tar.bz2)
    are read as `{name}-{version}...`. None when the filename does not say.
    """
    version = getattr(file, "version", None)
    if version:
        return str(version)
    filename: str = getattr(file, "filename")
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        return str(parse_sdist_filename(filename)[1])
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return _legacy_version(name, filename)


def _legacy_version(name: str, filename: str) -> Optional[str]:
    rest = _after_name(name, filename)
    return _LEGACY_PLATFORM_TAIL.sub("", rest).split("-", 1)[0] or None if rest else None


def _stem(filename: str) -> str:
    return next((filename[: -len(s)] for s in (*_ARCHIVES, *_PACKAGETYPES) if filename.endswith(s)), filename)


def _after_name(name: str, filename: str) -> Optional[str]:
    """What follows `{name}-` in a filename without its extension (any spelling of the name)."""
    stem = _stem(filename)
    target = canonicalize_name(name)
    for position, char in enumerate(stem):
        if char == "-" and canonicalize_name(stem[:position]) == target:
            return stem[position + 1 :]
    return None


def _size_allowed(settings: FilterSettings, name: str, files: Sequence[FileLike]) -> bool:
    """size_project_metadata: an [allowlist] packages entry overrules the limit, as upstream."""
    if not settings.on("size_project_metadata") or settings.max_package_size <= 0:
        return True
    allow = settings._index.allow_names
    if allow and canonicalize_name(name) in allow:
        return True
    return sum(f.size or 0 for f in files) <= settings.max_package_size


def _packagetype(name: str, filename: str) -> str:
    lowered = filename.lower()
    for suffix, packagetype in _PACKAGETYPES.items():
        if lowered.endswith(suffix):
            return packagetype
    if not lowered.endswith(_ARCHIVES):
        return "unknown"
    rest = _after_name(name, filename) or _stem(filename).rsplit("-", 1)[-1]
    try:  # an sdist ends with its version; a built archive (bdist_dumb) with a platform
        Version(rest)
    except InvalidVersion:
        return "bdist_dumb"
    return "sdist"


def _platform_excluded(index: _Index, name: str, filename: str) -> bool:
    """exclude_platform: sdists always stay; installers by type; the rest by filename substring."""
    packagetype = _packagetype(name, filename)
    if packagetype == "sdist":
        return False
    return packagetype in index.packagetypes or any(p in filename for p in index.patterns)


def _contains(specs: tuple[SpecifierSet, ...], version: str) -> bool:
    try:
        parsed = Version(version)
    except InvalidVersion:
        return False
    return any(parsed in spec for spec in specs)


def _kept_versions(
    settings: FilterSettings,
    name: NormalizedName,
    by_version: Mapping[Optional[str], Sequence[FileLike]],
    dependency: bool,
    current: Optional[str],
) -> set[Optional[str]]:
    index = settings._index
    if not any(settings.on(plugin) for plugin in RELEASE_PLUGINS):
        return set(by_version)
    versions = [v for v in by_version if v is not None]  # unreadable versions cannot be judged
    pinned = settings.on("project_requirements_pinned") and not dependency
    if pinned and name in index.pinned_names:  # upstream: a pinned range overrules other filters
        return {v for v in versions if _contains(index.pinned_specs[name], v)}
    latest = _latest(settings, by_version, current) if settings.on("latest_release") else None
    # An empty allowlist filters nothing (upstream would drop every release of every project).
    allowlisted = settings.on("allowlist_release") and not dependency and bool(index.allow_specs)
    pinned = pinned and bool(index.pinned_specs)
    kept: set[Optional[str]] = set()
    for version in versions:
        if allowlisted and not _contains(index.allow_specs.get(name, ()), version):
            continue
        if pinned and not _contains(index.pinned_specs.get(name, ()), version):
            continue
        if settings.on("blocklist_release") and _contains(index.block_specs.get(name, ()), version):
            continue
        if settings.on("prerelease_release") and _is_prerelease(settings, name, version):
            continue
        if settings.on("regex_release") and any(p.match(version) for p in settings.release_patterns):
            continue
        if latest is not None and version not in latest:
            continue
        kept.add(version)
    return kept


def _is_prerelease(settings: FilterSettings, name: NormalizedName, version: str) -> bool:
    if settings.prerelease_projects and name not in settings.prerelease_projects:
        return False
    return any(p.match(version) for p in _PRERELEASE)


def _version_key(version: str) -> tuple[bool, Version]:
    try:
        return True, Version(version)
    except InvalidVersion:  # upstream cannot rank these either; they rank lowest
        return False, Version("0")


def _latest(
    settings: FilterSettings, by_version: Mapping[Optional[str], Sequence[FileLike]], current: Optional[str]
) -> Optional[set[str]]:
    """latest_release: the `keep` newest releases, always including the project's current one (the
    master's ``info.version`` when it said, as upstream reads it)."""
    versions = [v for v in by_version if v is not None]
    if settings.latest_keep == 0 or settings.latest_keep > len(versions):
        return None
    if settings.latest_sort_by == "time":
        ranked = sorted(versions, key=lambda v: min(f.upload_time or "" for f in by_version[v]), reverse=True)
    else:
        ranked = sorted(versions, key=_version_key, reverse=True)
    chosen = ranked[: settings.latest_keep]
    current = current or _current_version(by_version)
    if current is not None and current not in chosen:
        chosen[-1] = current
    return set(chosen)


def _current_version(by_version: Mapping[Optional[str], Sequence[FileLike]]) -> Optional[str]:
    """PyPI's `info.version`: the newest final release with a live file, else the newest release."""
    live = {v for v, group in by_version.items() if v is not None and any(not f.yanked for f in group)}
    ranked = sorted(live or {v for v in by_version if v is not None}, key=_version_key)
    finals = [v for v in ranked if _version_key(v)[0] and not Version(v).is_prerelease]
    return (finals or ranked or [None])[-1]
