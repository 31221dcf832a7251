"""The filter sections of the configuration ([plugins], [allowlist], [blocklist], [filter_regex],
[filter_prerelease], [latest_release], [size_project_metadata] and our [dependencies] and
[environments]) read into
frozen values.

Upstream's spellings are accepted ([whitelist]/[blacklist], whitelist_project, `_` or `-` in keys),
so an upstream configuration works unchanged. Unlike upstream, a value it would silently ignore
(a misspelt plugin or platform, a bad regex or size) is an error here: a filter that quietly does
nothing can fill a disk with the 100 TB the operator meant to leave out. Every error is collected
as one line, so the caller reports them all at once.
"""

from __future__ import annotations

import configparser
import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Callable, Optional, TypeVar

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ..config_values import SUBSET_SECTIONS, boolean, convert, path_text
from ..errors import ConfigError
from .closure import PLATFORMS, DependencySettings
from .environments import (
    IMPLEMENTATIONS,
    EnvironmentSettings,
    Target,
    check_platform,
    targets,
)
from .filters import ALIASES, PLUGINS, FilterSettings, platform_rules
from .requirements import parse_requirement, read_requirements

__all__ = ["SECTIONS", "SubsetSettings", "read_subset_settings"]

logger = logging.getLogger(__name__)

SECTIONS = SUBSET_SECTIONS  # the sections read here (config_values owns the list)
# Upstream plugins that select by raw JSON metadata; not built yet, so said rather than refused.
UNBUILT_PLUGINS = frozenset({
    "regex_project_metadata", "regex_release_file_metadata", "versions_count_project_metadata",
    "version_range_project_metadata", "version_range_release_file_metadata",
})  # fmt: skip
# ASCII digits only: \d also matches other scripts' digits, which float() and int() accept.
_SIZE = re.compile(r"^\s*([0-9]{1,30}(?:\.[0-9]{1,30})?)\s*([kmgtp]?)(i?b)?\s*$", re.IGNORECASE)
_COUNT = re.compile(r"^[0-9]{1,9}$")
_PYTHON = re.compile(r"^3\.[0-9]{1,2}$")
T = TypeVar("T")


@dataclass(frozen=True)
class SubsetSettings:
    """Which part of the master the mirror holds: upstream's filters and the dependency closure."""

    filters: FilterSettings = field(default_factory=FilterSettings)
    dependencies: DependencySettings = field(default_factory=DependencySettings)
    environments: Optional[EnvironmentSettings] = None  # [environments]; None: every file installs somewhere

    @property
    def targets(self) -> Optional[tuple[Target, ...]]:
        """The declared environments, or None when [environments] is absent (then [dependencies]'
        python-versions / platforms are the closure's, a shorthand for coarse environments)."""
        return None if self.environments is None else targets(self.environments)

    @property
    def roots(self) -> tuple[Requirement, ...]:
        """What the closure starts from: the allowlisted packages and requirements files."""
        return self.filters.allowlist + self.filters.requirements


def read_subset_settings(
    parser: configparser.ConfigParser, base: Path, errors: list[str], *, demand: bool = False
) -> SubsetSettings:
    """Read the filter sections; append one line per bad value to ``errors``.

    ``base`` is the configuration file's folder: a relative requirements_path is relative to it.
    ``demand``: [demand] is on, so the closure may start from what clients asked for alone.
    """
    reader = _Reader(parser, errors)
    enabled = _enabled(reader)
    dependencies = _dependencies(reader)
    wants_files = dependencies.enabled or bool(enabled & {"project_requirements", "project_requirements_pinned"})
    filters = FilterSettings(
        enabled=enabled,
        allowlist=reader.requirements(("allowlist", "whitelist"), "packages"),
        blocklist=reader.requirements(("blocklist", "blacklist"), "packages"),
        requirements=_requirement_files(reader, base) if wants_files else (),
        project_patterns=reader.patterns("packages"),
        release_patterns=reader.patterns("releases"),
        prerelease_projects=frozenset(canonicalize_name(n) for n in reader.lines(("filter_prerelease",), "packages")),
        latest_keep=reader.convert("latest_release", "keep", _count, 0),
        latest_sort_by=reader.convert("latest_release", "sort_by", _sort_by, "version"),
        platforms=reader.convert(("blocklist", "blacklist"), "platforms", _platforms, ()),
        max_package_size=reader.convert("size_project_metadata", "max_package_size", _size, 0),
    )
    subset = SubsetSettings(filters, dependencies, _environments(reader))
    if dependencies.enabled and not subset.roots and not demand:
        errors.append("[dependencies] enabled = true needs [allowlist] packages or requirements to start from")
    return subset


class _Reader:
    """Looks keys up in either spelling (requirements_path / requirements-path) and records errors."""

    def __init__(self, parser: configparser.ConfigParser, errors: list[str]) -> None:
        self.parser, self.errors = parser, errors

    def raw(self, sections: str | tuple[str, ...], key: str) -> Optional[tuple[str, str]]:
        """(section, value) of the first section holding ``key``."""
        for section in (sections,) if isinstance(sections, str) else sections:
            if not self.parser.has_section(section):
                continue
            for option, value in self.parser.items(section, raw=True):
                if option.lower().replace("-", "_") == key:
                    return section, value
        return None

    def lines(self, sections: str | tuple[str, ...], key: str, comments: bool = True) -> list[str]:
        found = self.raw(sections, key)
        lines = [line.strip() for line in found[1].splitlines()] if found else []
        if comments:
            lines = [line.split("#", 1)[0].strip() for line in lines]
        return [line for line in lines if line]

    def convert(self, sections: str | tuple[str, ...], key: str, kind: Callable[[str], T], default: T) -> T:
        found = self.raw(sections, key)
        return default if found is None else convert(self.errors, f"[{found[0]}] {key}", found[1], kind, default)

    def requirements(self, sections: tuple[str, ...], key: str) -> tuple[Requirement, ...]:
        found = []
        for line in self.lines(sections, key):
            try:
                found.append(parse_requirement(line))
            except InvalidRequirement as error:
                self.errors.append(f"[{sections[0]}] {key}: {line!r} is not a valid requirement: {error}")
        return tuple(found)

    def patterns(self, key: str) -> tuple[re.Pattern[str], ...]:
        """Python's re reports most bad patterns as re.error, a too large repeat count
        (`a{99999999999}`) as OverflowError and deep nesting as RecursionError."""
        found = []
        for line in self.lines("filter_regex", key, comments=False):
            try:
                found.append(re.compile(line))
            except (re.error, OverflowError, RecursionError) as error:
                why = str(error) or "nested too deeply"
                self.errors.append(f"[filter_regex] {key}: {line!r} is not a valid regular expression: {why}")
        return tuple(found)


def _enabled(reader: _Reader) -> frozenset[str]:
    names = [name for line in reader.lines("plugins", "enabled") for name in re.split(r"[\s,]+", line) if name]
    if "all" in names:
        return frozenset(PLUGINS)
    enabled = set()
    for name in names:
        name = ALIASES.get(name, name)
        if name in PLUGINS:
            enabled.add(name)
        elif name in UNBUILT_PLUGINS:
            logger.warning("[plugins] %s: not supported yet, ignored", name)
        else:
            reader.errors.append(f"[plugins] enabled: unknown plugin {name!r} (known: all, {', '.join(PLUGINS)})")
    return frozenset(enabled)


def _requirement_files(reader: _Reader, base: Path) -> tuple[Requirement, ...]:
    """[allowlist] requirements_path + requirements (names or globs), read in order."""
    root = base / reader.convert(("allowlist", "whitelist"), "requirements_path", path_text, "")
    found: list[Requirement] = []
    for name in reader.lines(("allowlist", "whitelist"), "requirements"):
        try:
            paths = _requirement_paths(root, path_text(name))
        except ValueError as error:
            reader.errors.append(f"[allowlist] requirements: {name!r}: {error}")
            continue
        if not paths:
            reader.errors.append(f"[allowlist] requirements: {name!r} matches no file in {str(root)!r}")
        for path in paths:
            try:
                found.extend(read_requirements(path))
            except ConfigError as error:
                reader.errors.append(f"[allowlist] requirements: {error}")
    return tuple(found)


def _requirement_paths(root: Path, name: str) -> list[Path]:
    """``name`` below ``root``, or the files (not folders) its glob matches there (an absolute glob from its
    anchor: pathlib refuses those). ValueError for a pattern pathlib cannot read (`***`)."""
    if "*" not in name:
        return [root / name]
    pattern = root / name
    top = Path(pattern.anchor)
    try:
        return sorted(path for path in top.glob(str(pattern.relative_to(top))) if path.is_file())
    except NotImplementedError as error:  # pragma: no cover - absolute patterns are split above
        raise ValueError(str(error)) from None
    except OSError as error:
        raise ValueError(f"cannot list {str(root)!r}: {error}") from None


def _dependencies(reader: _Reader) -> DependencySettings:
    default = DependencySettings()
    return DependencySettings(
        enabled=reader.convert("dependencies", "enabled", boolean, default.enabled),
        python_versions=reader.convert("dependencies", "python_versions", _pythons, default.python_versions),
        platforms=reader.convert("dependencies", "platforms", _dependency_platforms, default.platforms),
        extras=reader.convert("dependencies", "extras", boolean, default.extras),
    )


def _environments(reader: _Reader) -> Optional[EnvironmentSettings]:
    """[environments] (SPEC section 15). It replaces [dependencies]' python-versions / platforms:
    naming environments in both places would leave one of them quietly unused, so that is an error."""
    if not reader.parser.has_section("environments"):
        return None
    default = EnvironmentSettings()
    doubled = [key for key in ("python_versions", "platforms") if reader.raw("dependencies", key)]
    if doubled:
        reader.errors.append(
            f"[dependencies] {' and '.join(k.replace('_', '-') for k in doubled)}: [environments] names the "
            "environments; remove them from [dependencies]"
        )  # fmt: skip
    platforms = reader.convert("environments", "platforms", _target_platforms, ())
    if reader.raw("environments", "platforms") is None:
        reader.errors.append("[environments] platforms: missing (platform tags such as manylinux_2_28_x86_64 win_amd64)")
    return EnvironmentSettings(
        pythons=reader.convert("environments", "python", _pythons, default.pythons),
        implementation=reader.convert("environments", "implementation", _implementation, default.implementation),
        platforms=platforms,
        sdists=reader.convert("environments", "sdists", boolean, default.sdists),
    )


def _implementation(value: str) -> str:
    if value.strip().lower() not in IMPLEMENTATIONS:
        raise ValueError(f"expected {' or '.join(IMPLEMENTATIONS)}")
    return value.strip().lower()


def _target_platforms(value: str) -> tuple[str, ...]:
    names = tuple(value.split())
    if not names:
        raise ValueError("expected platform tags such as manylinux_2_28_x86_64 win_amd64")
    return tuple(check_platform(name) for name in names)


def _count(value: str) -> int:
    if not _COUNT.match(value):
        raise ValueError("expected a whole number from 0 to 999999999")
    return int(value)


def _sort_by(value: str) -> str:
    if value not in ("version", "time"):
        raise ValueError("expected version or time")
    return value


def _platforms(value: str) -> tuple[str, ...]:
    names = tuple(value.split())
    platform_rules(names)  # raises ValueError naming an unknown platform
    return names


def _size(value: str) -> int:
    """Bytes, or a size such as 500M, 1G, 1 GiB (binary multiples, as upstream reads them)."""
    match = _SIZE.match(value)
    if not match:
        raise ValueError("expected bytes or a size such as 500M or 1G")
    return int(Decimal(match.group(1)) * 1024 ** " kmgtp".index(match.group(2).lower() or " "))


def _pythons(value: str) -> tuple[str, ...]:
    names = tuple(value.split())
    bad = [name for name in names if not _PYTHON.match(name)]
    if bad or not names:
        raise ValueError(f"expected versions such as 3.11 3.12, not {' '.join(bad) or 'nothing'}")
    return names


def _dependency_platforms(value: str) -> tuple[str, ...]:
    names = tuple(value.split())
    bad = [name for name in names if name not in PLATFORMS]
    if bad or not names:
        raise ValueError(f"unknown platform {' '.join(bad) or 'nothing'} (known: {', '.join(PLATFORMS)})")
    return names
