"""The dependency closure: which projects and releases the allowlisted projects need, and which
files can install in the environments the mirror serves ([dependencies], SPEC section 9).

Pure: the caller hands in a `fetch(project) -> {version: Requires-Dist lines}` (already through
the release filters, built from mirrored `.metadata` files and cached), so the engine can rerun the
closure whenever a project gains releases; a rerun with a warm cache costs only marker and
specifier evaluation. Markers are evaluated with packaging for every interpreter x platform listed;
a requirement holds if it holds in any of them, because any of them may install from the mirror.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from email.parser import HeaderParser
from functools import lru_cache
from typing import Callable

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms
from packaging.utils import (
    InvalidWheelFilename,
    NormalizedName,
    canonicalize_name,
    parse_wheel_filename,
)

__all__ = [
    "PLATFORMS",
    "DependencySettings",
    "Environment",
    "closure",
    "environments",
    "installable",
    "requires_dist",
]

Fetch = Callable[[NormalizedName], Mapping[str, Sequence[str]]]

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
    except InvalidWheelFilename:
        return False
    return any(not file_tags.isdisjoint(env.tags()) for env in envs)


def requires_dist(metadata: str) -> tuple[str, ...]:
    """The Requires-Dist lines of core metadata (METADATA / PKG-INFO / a PEP 658 .metadata file)."""
    return tuple(HeaderParser().parsestr(metadata).get_all("Requires-Dist") or ())


def closure(
    roots: Iterable[Requirement], fetch: Fetch, settings: DependencySettings
) -> dict[NormalizedName, frozenset[str]]:
    """Every project and release needed to install ``roots`` in the listed environments.

    A root keeps every release ``fetch`` returns that its specifier admits (prereleases too: the
    release filters already chose). A dependency keeps the releases that satisfy some requirement
    on it, with packaging's default prerelease handling (SpecifierSet.filter: a prerelease only if
    the specifier admits it or nothing else matches, as pip and uv decide). Extras a requirement
    asks for are followed; ``settings.extras`` adds every extra of the roots. Cycles end because a
    (project, version, extra) is expanded once.
    """
    state = _Closure(fetch, environments(settings))
    for root in roots:
        state.add(root, root=True, all_extras=settings.extras)
    state.run()
    return {name: frozenset(versions) for name, versions in state.selected.items()}


class _Closure:
    """The fixpoint's working state: requirements only grow, so a worklist reaches it."""

    def __init__(self, fetch: Fetch, envs: Sequence[Environment]) -> None:
        self._fetch = fetch
        self._envs = [env.markers(patch) for env in envs for patch in (0, 99)]
        self._specs: dict[NormalizedName, set[tuple[str, bool]]] = {}  # (specifier, is_root)
        self._extras: dict[NormalizedName, set[str]] = {}
        self._all_extras: set[NormalizedName] = set()
        self._expanded: set[tuple[NormalizedName, str, str]] = set()
        self._releases: dict[NormalizedName, Mapping[str, Sequence[str]]] = {}  # one fetch per project
        self._todo: list[NormalizedName] = []
        self.selected: dict[NormalizedName, set[str]] = {}

    def add(self, requirement: Requirement, *, root: bool = False, all_extras: bool = False) -> None:
        name = canonicalize_name(requirement.name)
        specs, extras = self._specs.setdefault(name, set()), self._extras.setdefault(name, set())
        before = (len(specs), len(extras), name in self._all_extras)
        specs.add((str(requirement.specifier), root))
        extras.update(canonicalize_name(extra) for extra in requirement.extras)
        if all_extras:
            self._all_extras.add(name)
        if (len(specs), len(extras), name in self._all_extras) != before:
            self._todo.append(name)

    def run(self) -> None:
        while self._todo:
            self._expand(self._todo.pop())

    def _expand(self, name: NormalizedName) -> None:
        if name not in self._releases:
            self._releases[name] = self._fetch(name)
        releases = self._releases[name]
        versions = self._versions(name, releases)
        self.selected.setdefault(name, set()).update(versions)
        for version in versions:
            lines = releases[version]
            extras = set(self._extras[name]) | (_declared_extras(lines) if name in self._all_extras else set())
            for extra in {""} | extras:
                if (name, version, extra) not in self._expanded:
                    self._expanded.add((name, version, extra))
                    for requirement in self._needed(lines, extra):
                        self.add(requirement)

    def _versions(self, name: NormalizedName, releases: Mapping[str, Sequence[str]]) -> set[str]:
        chosen: set[str] = set()
        for specifier, root in self._specs[name]:
            spec = SpecifierSet(specifier, prereleases=True if root else None)
            chosen.update(spec.filter(releases))
        return chosen

    def _needed(self, lines: Sequence[str], extra: str) -> list[Requirement]:
        needed = []
        for line in lines:
            requirement = _parse(line)
            if requirement is None or requirement.url:
                continue
            marker = requirement.marker
            if marker is None or any(marker.evaluate({**env, "extra": extra}) for env in self._envs):
                needed.append(requirement)
        return needed


@lru_cache(maxsize=65536)
def _parse(line: str) -> Requirement | None:
    """A Requires-Dist line; an unparseable one is skipped (an installer would reject it too)."""
    try:
        return Requirement(line)
    except InvalidRequirement:
        return None


def _declared_extras(lines: Sequence[str]) -> set[str]:
    """The extras a release's Requires-Dist lines are conditional on (`; extra == "name"`)."""
    found: set[str] = set()
    for line in lines:
        for match in _EXTRA_MARKER.finditer(line.partition(";")[2]):
            found.add(canonicalize_name(match.group(1) or match.group(2)))
    return found
