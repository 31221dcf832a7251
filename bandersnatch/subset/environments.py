"""[environments]: the interpreters and platforms that install from the mirror (SPEC section 15).

A file stays when one declared environment can install it. Which wheel tags an environment
accepts is packaging's answer (``packaging.tags``: cpython_tags with abi3 and ``none``,
generic_tags for PyPy, compatible_tags for ``py3-none-any`` and the like, mac_platforms for the
macOS range and universal2); only the platform *ladders* are derived here from the one platform
tag the operator names, by the rules of their PEPs: a ``manylinux_2_28_x86_64`` host also takes
every older glibc (PEP 600, with the legacy aliases of PEPs 513/571/599), ``musllinux_1_2`` every
older musl (PEP 656). Nothing here is a list of tags to keep up to date: a new manylinux, macOS or
Python release is a new word in the configuration, not a patch.

The same environments give the closure its PEP 508 marker values (``Target.markers``), so a
dependency needed only on a platform nobody runs is not mirrored. Pure: values in, values out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import (
    Tag,
    compatible_tags,
    cpython_tags,
    generic_tags,
    mac_platforms,
)
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion

__all__ = [
    "IMPLEMENTATIONS",
    "EnvironmentSettings",
    "Target",
    "check_platform",
    "file_installable",
    "targets",
]

# implementation: (implementation_name, platform_python_implementation) for PEP 508 markers
IMPLEMENTATIONS = {"cpython": ("cpython", "CPython"), "pypy": ("pypy", "PyPy")}
# PyPy's ABI tag is pypy{XY}_pp{ABI}; the ABI has been 73 since PyPy 7.3 (2020) for every Python
# series PyPy ships; a future PyPy ABI is one more word here, as for the interpreter itself.
_PYPY_ABI = "pp73"
_MANY = re.compile(r"^manylinux_(?P<major>[0-9]+)_(?P<minor>[0-9]+)_(?P<arch>[a-z0-9_]+)$")
_MUSL = re.compile(r"^musllinux_(?P<major>[0-9]+)_(?P<minor>[0-9]+)_(?P<arch>[a-z0-9_]+)$")
_MAC = re.compile(r"^macosx_(?P<major>[0-9]+)_(?P<minor>[0-9]+)_(?P<arch>[a-z0-9_]+)$")
_LEGACY = re.compile(r"^manylinux(?P<year>1|2010|2014)_(?P<arch>[a-z0-9_]+)$")
# PEP 513/571/599: the legacy names and the glibc they stand for (PEP 600 keeps them as aliases)
_LEGACY_GLIBC = {"1": 5, "2010": 12, "2014": 17}
_WINDOWS = {"win_amd64": "AMD64", "win32": "x86", "win_arm64": "ARM64"}
_MAC_ARCHES = {"arm64", "x86_64", "universal2"}  # what mac_platforms ladders (PEP 425, packaging)
# (sys_platform, os_name, platform_system) by the platform tag's family
_FAMILY = {
    "linux": ("linux", "posix", "Linux"),
    "win": ("win32", "nt", "Windows"),
    "mac": ("darwin", "posix", "Darwin"),
}
_SDISTS = (".tar.gz", ".zip")  # PEP 625: what pip and uv build from


@dataclass(frozen=True)
class EnvironmentSettings:
    """[environments]: every python x platform of one implementation; sdists or not."""

    pythons: tuple[str, ...] = ("3.11", "3.12")
    implementation: str = "cpython"
    platforms: tuple[str, ...] = ()
    sdists: bool = True


@dataclass(frozen=True)
class Target:
    """One interpreter on one platform (a platform tag as the site's hosts report it)."""

    python: str  # "3.11"
    platform: str  # "manylinux_2_28_x86_64"
    implementation: str = "cpython"

    def tags(self) -> frozenset[Tag]:
        return _tags(self.python, self.platform, self.implementation)

    def markers(self, patch: int) -> dict[str, str]:
        """PEP 508 values; ``patch`` lets python_full_version checks see both ends of a series."""
        family, machine = _family_and_machine(self.platform)
        sys_platform, os_name, system = _FAMILY[family]
        name, implementation = IMPLEMENTATIONS[self.implementation]
        full = f"{self.python}.{patch}"
        return {
            "implementation_name": name, "implementation_version": full, "os_name": os_name,
            "platform_machine": machine, "platform_python_implementation": implementation,
            "platform_release": "", "platform_system": system, "platform_version": "",
            "python_full_version": full, "python_version": self.python, "sys_platform": sys_platform,
        }  # fmt: skip

    def admits_python(self, requires_python: Optional[str]) -> bool:
        """Whether some interpreter of this series (x.y.0 .. x.y.99) satisfies Requires-Python.

        A specifier that does not parse says nothing: pip ignores it too (it warns and installs)."""
        if not requires_python:
            return True
        try:
            specifier = SpecifierSet(requires_python)
        except InvalidSpecifier:
            return True
        return any(specifier.contains(f"{self.python}.{patch}", prereleases=True) for patch in (0, 99))


def targets(settings: EnvironmentSettings) -> tuple[Target, ...]:
    return tuple(
        Target(python, platform, settings.implementation)
        for python in settings.pythons
        for platform in settings.platforms
    )


def check_platform(tag: str) -> str:
    """The platform tag if this module can ladder it; ValueError naming it and the forms it takes."""
    try:
        _platforms(tag)
    except ValueError:
        raise ValueError(
            f"unknown platform tag {tag!r} (expected a wheel platform tag such as manylinux_2_28_x86_64, "
            "musllinux_1_2_x86_64, macosx_11_0_arm64, win_amd64, win_arm64, win32)"
        ) from None
    return tag


def file_installable(
    filename: str, requires_python: Optional[str], envs: Sequence[Target], sdists: bool = True
) -> bool:
    """Whether some environment of ``envs`` can install the file: a wheel by its tags, an sdist
    when sdists are served (pip and uv build it), either only within the release's Requires-Python.
    Eggs and Windows installers install nowhere pip or uv run."""
    if filename.endswith(".whl"):
        try:
            file_tags = parse_wheel_filename(filename)[3]
        except (InvalidWheelFilename, InvalidVersion):
            return False
        able: Iterable[Target] = (env for env in envs if not file_tags.isdisjoint(env.tags()))
    elif sdists and filename.endswith(_SDISTS) and _sdist_name(filename):
        able = envs
    else:
        return False
    return any(env.admits_python(requires_python) for env in able)


def _sdist_name(filename: str) -> bool:
    """An sdist pip would take: PEP 625 names parse; older ones (``name-1.0.zip``) have a dash."""
    try:
        parse_sdist_filename(filename)
    except (InvalidSdistFilename, InvalidVersion):
        return "-" in filename
    return True


def _family_and_machine(platform: str) -> tuple[str, str]:
    """The marker family and platform_machine a platform tag runs as."""
    if platform in _WINDOWS:
        return "win", _WINDOWS[platform]
    for pattern, family in ((_MANY, "linux"), (_MUSL, "linux"), (_LEGACY, "linux"), (_MAC, "mac")):
        match = pattern.match(platform)
        if match:
            return family, match.group("arch")
    if platform.startswith("linux_"):
        return "linux", platform.removeprefix("linux_")
    raise ValueError(platform)


@lru_cache(maxsize=None)
def _platforms(platform: str) -> tuple[str, ...]:
    """Every wheel platform tag a host of ``platform`` installs, newest first."""
    if platform in _WINDOWS:
        return (platform,)
    legacy = _LEGACY.match(platform)
    if legacy:
        return _platforms(f"manylinux_2_{_LEGACY_GLIBC[legacy.group('year')]}_{legacy.group('arch')}")
    many = _MANY.match(platform)
    if many and many.group("major") == "2":
        arch, newest = many.group("arch"), int(many.group("minor"))
        oldest = 5 if arch in ("x86_64", "i686") else 17  # PEP 600: what each architecture ever had
        found = []
        for minor in range(newest, oldest - 1, -1):
            found.append(f"manylinux_2_{minor}_{arch}")
            found.extend(f"manylinux{year}_{arch}" for year, glibc in _LEGACY_GLIBC.items() if glibc == minor)
        return tuple(found)
    musl = _MUSL.match(platform)
    if musl and musl.group("major") == "1":
        arch = musl.group("arch")
        return tuple(f"musllinux_1_{minor}_{arch}" for minor in range(int(musl.group("minor")), -1, -1))
    mac = _MAC.match(platform)
    if mac and mac.group("arch") in _MAC_ARCHES:
        version = (int(mac.group("major")), int(mac.group("minor")))
        return tuple(mac_platforms(version, mac.group("arch")))
    if re.match(r"^linux_[a-z0-9_]+$", platform):
        return (platform,)
    raise ValueError(platform)


@lru_cache(maxsize=None)
def _tags(python: str, platform: str, implementation: str) -> frozenset[Tag]:
    """packaging's tags for the interpreter on every platform of the ladder: for CPython its own
    ABI, abi3 down to 3.2 and ``none``; for PyPy its ABI and ``none``; both with the pure tags
    (``py3-none-any``, ``py311-none-any``)."""
    major, minor = (int(part) for part in python.split("."))
    platforms = list(_platforms(platform))
    if implementation == "pypy":
        interpreter = f"pp{major}{minor}"
        found = set(generic_tags(interpreter, [f"pypy{major}{minor}_{_PYPY_ABI}", "none"], platforms))
    else:
        interpreter = f"cp{major}{minor}"
        found = set(cpython_tags((major, minor), [interpreter], platforms))
    found.update(compatible_tags((major, minor), interpreter, platforms))
    return frozenset(found)
