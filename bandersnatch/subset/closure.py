"""The dependency closure: which projects and releases the allowlisted projects need, and which
files can install in the environments the mirror serves ([dependencies], SPEC section 9).

Pure: the caller hands in a `fetch(project) -> {version: Requires-Dist lines}` (already through
the release filters, built from mirrored `.metadata` files and cached), so the engine can rerun the
closure whenever a project gains releases; a rerun with a warm cache costs only marker and
specifier evaluation. Markers are evaluated with packaging for every interpreter x platform listed;
a requirement holds if it holds in any of them, because any of them may install from the mirror.

Requires-Dist is written by whoever publishes a release, so a line that does not parse, or whose
marker packaging cannot evaluate, counts as needing nothing (SPEC section 18: contained to its
release); `bad_requirements` names such lines so the caller can say so once per release.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.parser import HeaderParser
from functools import lru_cache
from typing import Callable, Optional, Protocol

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from .requirements import parse_requirement

__all__ = [
    "PLATFORMS",
    "DependencySettings",
    "Environment",
    "bad_requirements",
    "closure",
    "environments",
    "installable",
    "requires_dist",
]

Fetch = Callable[[NormalizedName], Mapping[str, Sequence[str]]]


class Marked(Protocol):
    """What the closure asks of an environment: its PEP 508 values (Environment, environments.Target)."""

    def markers(self, patch: int) -> dict[str, str]: ...

# name: (sys_platform, os_name, platform_system, platform_machine)
PLATFORMS: dict[str, tuple[str, str, str, str]] = {
    "linux-x86_64": ("linux", "posix", "Linux", "x86_64"),
    "linux-aarch64": ("linux", "posix", "Linux", "aarch64"),
    "musllinux-x86_64": ("linux", "posix", "Linux", "x86_64"),
    "windows-amd64": ("win32", "nt", "Windows", "AMD64"),
    "macos-arm64": ("darwin", "posix", "Darwin", "arm64"),
    "macos-x86_64": ("darwin", "posix", "Darwin", "x86_64"),
}
_NEWEST_GLIBC_MINOR = 50  # manylinux_2_5 .. 2_50: every glibc a wheel may target (PEP 600)
_NEWEST_MUSL_MINOR = 9  # musllinux_1_0 .. 1_9 (PEP 656)
_NEWEST_MACOS = (26, 0)  # mac_platforms counts down from here to 10.0 / 11.0
_LEGACY_MANYLINUX = {5: "manylinux1", 12: "manylinux2010", 17: "manylinux2014"}  # PEP 513/571/599
# What packaging's Marker.evaluate raises on a marker it parsed but cannot compare: UndefinedComparison
# (`os_name === "x"`, `~=` with one part) and InvalidVersion are ValueErrors; a quoted string on both
# sides (`'a' < 'b'`) looks the right one up as a variable, a KeyError.
_UNEVALUABLE = (ValueError, KeyError, TypeError, RecursionError)
_EXTRA_MARKER = re.compile(r"""\bextra\s*==\s*['"]([^'"]+)['"]|['"]([^'"]+)['"]\s*==\s*extra\b""")


@dataclass(frozen=True)
class DependencySettings:
    """[dependencies]: off by default, as upstream has no such section."""

    enabled: bool = False
    python_versions: tuple[str, ...] = ("3.9", "3.10", "3.11", "3.12", "3.13")
    platforms: tuple[str, ...] = tuple(PLATFORMS)
    extras: bool = False  # every extra of the allowlisted projects, not just those asked for


@dataclass(frozen=True)
class Environment:
    """One interpreter on one platform that installs from the mirror."""

    python: str  # "3.11"
    platform: str  # a key of PLATFORMS

    def markers(self, patch: int) -> dict[str, str]:
        """PEP 508 marker values; ``patch`` lets python_full_version checks see both ends of a series."""
        sys_platform, os_name, system, machine = PLATFORMS[self.platform]
        full = f"{self.python}.{patch}"
        return {
            "implementation_name": "cpython", "implementation_version": full, "os_name": os_name,
            "platform_machine": machine, "platform_python_implementation": "CPython", "platform_release": "",
            "platform_system": system, "platform_version": "", "python_full_version": full,
            "python_version": self.python, "sys_platform": sys_platform,
        }  # fmt: skip

    def tags(self) -> frozenset[Tag]:
        return _tags(self.python, self.platform)


def environments(settings: DependencySettings) -> tuple[Environment, ...]:
    return tuple(Environment(python, platform) for python in settings.python_versions for platform in settings.platforms)


def _platform_tags(platform: str) -> list[str]:
    """The wheel platform tags that can install on ``platform``, newest first."""
    kind, arch = platform.split("-", 1)
    if kind == "linux":
        names = [f"manylinux_2_{minor}_{arch}" for minor in range(_NEWEST_GLIBC_MINOR, 4, -1)]
        return names + [f"{_LEGACY_MANYLINUX[minor]}_{arch}" for minor in _LEGACY_MANYLINUX if arch == "x86_64" or minor == 17]
    if kind == "musllinux":
        return [f"musllinux_1_{minor}_{arch}" for minor in range(_NEWEST_MUSL_MINOR, -1, -1)]
    if kind == "windows":
        return ["win_amd64"]
    return list(mac_platforms(_NEWEST_MACOS, arch))


@lru_cache(maxsize=None)
def _tags(python: str, platform: str) -> frozenset[Tag]:
    """cpXY (and its free-threaded cpXYt from 3.13), abi3 and none, plus pure tags (py3-none-any)."""
    version = tuple(int(part) for part in python.split("."))
    platforms = _platform_tags(platform)
    abis = [f"cp{version[0]}{version[1]}"] + ([f"cp{version[0]}{version[1]}t"] if version >= (3, 13) else [])
    found = set(cpython_tags(version, abis, platforms))
    found.update(compatible_tags(version, f"cp{version[0]}{version[1]}", platforms))
    return frozenset(found)


def installable(filename: str, envs: Iterable[Environment]) -> bool:
    """Whether a file can install in one of ``envs``: sdists always, wheels by their tags.

    Other formats (eggs, Windows installers) are not installable by pip or uv at all.
    """
    if not filename.endswith(".whl"):
        return filename.endswith((".tar.gz", ".zip"))
    try:
        file_tags = parse_wheel_filename(filename)[3]
    except (InvalidWheelFilename, InvalidVersion):  # packaging before 26 lets InvalidVersion through
        return False
    return any(not file_tags.isdisjoint(env.tags()) for env in envs)


def requires_dist(metadata: str) -> tuple[str, ...]:
    """The Requires-Dist lines of core metadata (METADATA / PKG-INFO / a PEP 658 .metadata file)."""
    return tuple(HeaderParser().parsestr(metadata).get_all("Requires-Dist") or ())


def bad_requirements(lines: Iterable[str], envs: Iterable[Marked]) -> list[tuple[str, str]]:
    """The Requires-Dist lines the closure takes as needing nothing, each with why (one line)."""
    values = _marker_values(envs)
    found = []
    for line in lines:
        try:
            marker = parse_requirement(line).marker
        except InvalidRequirement as error:
            found.append((line, f"not a valid requirement: {error}"))
            continue
        for extra in ({""} | _declared_extras([line])) if marker is not None else ():
            try:
                _evaluate(marker, values, extra)
            except _UNEVALUABLE as error:
                reason = str(error).splitlines()[0] if str(error) else ""
                found.append((line, f"its marker cannot be evaluated: {type(error).__name__} {reason}".rstrip()))
                break
    return found


def closure(
    roots: Iterable[Requirement], fetch: Fetch, settings: DependencySettings, envs: Optional[Sequence[Marked]] = None
) -> dict[NormalizedName, frozenset[str]]:
    """Every project and release needed to install ``roots`` in the listed environments.

    A root keeps every release ``fetch`` returns that its specifier admits (prereleases too: the
    release filters already chose). A dependency keeps the releases that satisfy some requirement
    on it, with packaging's default prerelease handling (SpecifierSet.filter: a prerelease only if
    the specifier admits it or nothing else matches, as pip and uv decide). Extras a requirement
    asks for are followed; ``settings.extras`` adds every extra of the roots. Cycles end because a
    (project, version, extra) is expanded once. ``envs``: the environments whose markers count
    ([environments]' targets); by default those of ``settings`` (python-versions x platforms).
    """
    state = _Closure(fetch, environments(settings) if envs is None else envs)
    for root in roots:
        state.add(root, root=True, all_extras=settings.extras)
    state.run()
    return {name: frozenset(versions) for name, versions in state.selected.items()}


@dataclass(frozen=True)
class _Dependency:
    """A Requires-Dist line, parsed (popular lines repeat across thousands of releases)."""

    name: NormalizedName
    specifier: str
    extras: frozenset[str]
    marker: Optional[Marker]


class _Closure:
    """The fixpoint's working state: requirements only grow, so a worklist reaches it.

    Work is memoised where real graphs repeat themselves: each line is parsed once, each marker
    evaluated once per extra, each specifier filtered once per project, and each (project,
    version, extra) expanded once; that also ends cycles.
    """

    def __init__(self, fetch: Fetch, envs: Sequence[Marked]) -> None:
        self._fetch = fetch
        self._envs = _marker_values(envs)
        self._pending: dict[NormalizedName, set[tuple[str, bool]]] = {}  # (specifier, is_root) not yet applied
        self._seen_specs: dict[NormalizedName, set[tuple[str, bool]]] = {}
        self._extras: dict[NormalizedName, set[str]] = {}
        self._all_extras: set[NormalizedName] = set()
        self._expanded: set[tuple[NormalizedName, str, str]] = set()
        self._releases: dict[NormalizedName, Mapping[str, Sequence[str]]] = {}  # one fetch per project
        self._markers: dict[tuple[Marker, str], bool] = {}
        self._todo: list[NormalizedName] = []
        self.selected: dict[NormalizedName, set[str]] = {}

    def add(self, requirement: Requirement, *, root: bool = False, all_extras: bool = False) -> None:
        extras = frozenset(canonicalize_name(extra) for extra in requirement.extras)
        self._require(canonicalize_name(requirement.name), str(requirement.specifier), extras, root)
        if all_extras:
            self._all_extras.add(canonicalize_name(requirement.name))

    def _require(self, name: NormalizedName, specifier: str, extras: frozenset[str], root: bool) -> None:
        seen, known = self._seen_specs.setdefault(name, set()), self._extras.setdefault(name, set())
        if (specifier, root) in seen and extras <= known:
            return
        if (specifier, root) not in seen:
            seen.add((specifier, root))
            self._pending.setdefault(name, set()).add((specifier, root))
        known.update(extras)
        self._todo.append(name)

    def run(self) -> None:
        while self._todo:
            self._expand(self._todo.pop())

    def _expand(self, name: NormalizedName) -> None:
        if name not in self._releases:
            self._releases[name] = self._fetch(name)
        releases = self._releases[name]
        selected = self.selected.setdefault(name, set())
        for specifier, root in self._pending.pop(name, ()):
            selected.update(_select(_specifier(specifier, root), list(releases)))
        for version in selected:
            lines = releases[version]
            extras = self._extras[name] | (_declared_extras(lines) if name in self._all_extras else set())
            for extra in {""} | extras:
                if (name, version, extra) not in self._expanded:
                    self._expanded.add((name, version, extra))
                    for dependency in self._needed(lines, extra):
                        self._require(dependency.name, dependency.specifier, dependency.extras, False)

    def _needed(self, lines: Sequence[str], extra: str) -> list[_Dependency]:
        needed = []
        for line in lines:
            dependency = _parse(line)
            if dependency is not None and (dependency.marker is None or self._holds(dependency.marker, extra)):
                needed.append(dependency)
        return needed

    def _holds(self, marker: Marker, extra: str) -> bool:
        """Whether the marker holds in some listed environment (memoised: markers repeat); one that
        cannot be evaluated holds nowhere."""
        key = (marker, extra)
        if key not in self._markers:
            try:
                self._markers[key] = _evaluate(marker, self._envs, extra)
            except _UNEVALUABLE:
                self._markers[key] = False
        return self._markers[key]


def _marker_values(envs: Iterable[Marked]) -> list[dict[str, str]]:
    """PEP 508 values of each environment, at both ends of its patch series."""
    return [env.markers(patch) for env in envs for patch in (0, 99)]


def _evaluate(marker: Marker, values: Sequence[dict[str, str]], extra: str) -> bool:
    """Whether ``marker`` holds in one of ``values``. Every environment is evaluated (no early
    True), so a marker that fails in any of them fails whatever order they are listed in."""
    results = [marker.evaluate({**env, "extra": extra}) for env in values]
    return any(results)


@lru_cache(maxsize=4096)
def _specifier(specifier: str, root: bool) -> SpecifierSet:
    """A root admits prereleases (the release filters chose); a dependency as packaging decides."""
    return SpecifierSet(specifier, prereleases=True if root else None)


def _select(specifier: SpecifierSet, versions: Sequence[str]) -> set[str]:
    """The versions ``specifier`` admits. A master may list versions packaging cannot parse (old
    releases, names read from files): packaging 26 skips them, or keeps them for an empty
    specifier; before 26 it raised InvalidVersion, so that is done here by hand."""
    try:
        return set(specifier.filter(versions))
    except InvalidVersion:
        valid = [version for version in versions if _parses(version)]
        unreadable = {version for version in versions if not _parses(version)} if not str(specifier) else set()
        return set(specifier.filter(valid)) | unreadable


@lru_cache(maxsize=1 << 16)
def _parses(version: str) -> bool:
    try:
        Version(version)
    except InvalidVersion:
        return False
    return True


@lru_cache(maxsize=1 << 18)
def _parse(line: str) -> Optional[_Dependency]:
    """A Requires-Dist line; an unparseable or URL one is skipped (not installable from an index).

    Cached across runs: parsing is most of a closure's cost, and the engine reruns it as releases appear.
    """
    try:
        requirement = parse_requirement(line)
    except InvalidRequirement:
        return None
    if requirement.url:
        return None
    extras = frozenset(canonicalize_name(extra) for extra in requirement.extras)
    return _Dependency(canonicalize_name(requirement.name), str(requirement.specifier), extras, requirement.marker)


def _declared_extras(lines: Sequence[str]) -> set[str]:
    """The extras a release's Requires-Dist lines are conditional on (`; extra == "name"`)."""
    found: set[str] = set()
    for line in lines:
        for match in _EXTRA_MARKER.finditer(line.partition(";")[2]):
            found.add(canonicalize_name(match.group(1) or match.group(2)))
    return found
