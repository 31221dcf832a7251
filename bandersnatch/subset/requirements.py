"""Requirements inputs (requirements.txt, pylock.toml, uv.lock) read into packaging Requirements.

Operators already describe what they need in these files; reading them here lets `[allowlist]
requirements` name a lock file as it is, without a conversion step. Only what an index serves is
kept: editables, URLs, paths and VCS checkouts are skipped with a warning, because a mirror cannot
hold them. A line that is neither is a ConfigError naming the file and line.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet

from ..errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 only
    import tomli as tomllib

__all__ = ["parse_requirement", "parse_requirements_text", "read_requirements"]

logger = logging.getLogger(__name__)

# pip's rule: a comment starts at a '#' at the start of a line or after whitespace.
_COMMENT = re.compile(r"(^|\s+)#.*$")
_INCLUDE = re.compile(r"^(-r|--requirement)(\s*=?\s*|\s+)(?P<path>\S+)$")
# Options that are not requirements (index options, -c constraints, global pip options).
_OPTION = re.compile(r"^-")
_EDITABLE = re.compile(r"^(-e|--editable)(\s|=)")
# A per-requirement option (`--hash=...`) ends the requirement itself.
_REQUIREMENT_OPTION = re.compile(r"\s--?[a-z]")
_NOT_FROM_INDEX = re.compile(r"://|^[./~]|^file:", re.IGNORECASE)
_PROJECT_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])$", re.IGNORECASE)  # PEP 508
_TOML_TYPES = {str: "a string", int: "an integer", float: "a float", bool: "a boolean", dict: "a table", list: "an array"}


def parse_requirement(text: str) -> Requirement:
    """One PEP 508 line; every way it can be bad is an InvalidRequirement whose message is one line.

    Anyone can publish a Requires-Dist line, and packaging's parser has edges found by property
    tests: it recurses once per parenthesis (RecursionError), hands a quoted marker value to
    ast.literal_eval (SyntaxError for a NUL), and accepts specifiers whose text does not read back
    (`===,==0.x`), which the closure and the filters re-read from text.
    """
    try:
        requirement = Requirement(text)
        SpecifierSet(str(requirement.specifier))
    except (ValueError, SyntaxError) as error:  # InvalidRequirement and InvalidSpecifier are ValueErrors
        raise InvalidRequirement((str(error).splitlines() or [type(error).__name__])[0]) from None
    except RecursionError:
        raise InvalidRequirement("parentheses nested too deeply") from None
    return requirement


def read_requirements(path: Path) -> tuple[Requirement, ...]:
    """Read one requirements input; the format follows from the file name (PEP 751: pylock*.toml)."""
    name = path.name.lower()
    if name == "uv.lock":
        return _lock_packages(path, "package", _uv_source_ok)
    if name.startswith("pylock.") and name.endswith(".toml"):
        return _lock_packages(path, "packages", _pylock_source_ok)
    return _requirements_file(path, seen=frozenset())


def parse_requirements_text(text: str, origin: str = "<text>") -> tuple[Requirement, ...]:
    """Requirements from requirements.txt text without includes (`-r` needs a file to be relative to)."""
    return tuple(_parse_lines(text, origin, include=None))


def _read_text(path: Path) -> str:
    """The file's text; a NUL in the path is a ValueError from os, a symlink loop a RuntimeError
    from resolve() before 3.13: each is the operator's one line, never a traceback."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ConfigError(f"cannot read requirements file {str(path)!r}: {error}") from None


def _requirements_file(path: Path, seen: frozenset[Path]) -> tuple[Requirement, ...]:
    text = _read_text(path)
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as error:
        raise ConfigError(f"cannot read requirements file {str(path)!r}: {error}") from None
    if resolved in seen:  # a -r cycle: every file is read once
        return ()

    def include(target: str) -> list[Requirement]:
        return list(_requirements_file(path.parent / target, seen | {resolved}))

    return tuple(_parse_lines(text, str(path), include))


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join backslash continuations (pip-compile's `--hash` blocks) and drop comments."""
    lines: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        line = _COMMENT.sub("", raw).rstrip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append((start, (pending + line).strip()))
        pending = ""
    if pending.strip():
        lines.append((start, pending.strip()))
    return [(number, line) for number, line in lines if line]


def _parse_lines(text: str, origin: str, include: Any) -> list[Requirement]:
    found: list[Requirement] = []
    for number, line in _logical_lines(text):
        where = f"{origin}:{number}"
        included = _INCLUDE.match(line)
        if included and include is not None:
            found.extend(include(included.group("path")))
        elif _EDITABLE.match(line):
            logger.warning("%s: skipping %r: an editable is not from an index", where, line)
        elif _OPTION.match(line):
            logger.debug("%s: ignoring option line %r", where, line)
        elif _NOT_FROM_INDEX.search(line.split(";")[0]):
            logger.warning("%s: skipping %r: a URL or path is not from an index", where, line)
        else:
            requirement = _requirement(_REQUIREMENT_OPTION.split(line, 1)[0].strip(), where)
            if requirement.url:
                logger.warning("%s: skipping %r: a direct URL reference is not from an index", where, line)
            else:
                found.append(requirement)
    return found


def _requirement(text: str, where: str) -> Requirement:
    try:
        return parse_requirement(text)
    except InvalidRequirement as error:
        raise ConfigError(f"{where}: {text!r} is not a valid requirement: {error}") from None


def _lock_packages(path: Path, key: str, from_index: Any) -> tuple[Requirement, ...]:
    """`name==version` pins for every locked package that an index serves.

    Every value is checked for the type the format gives it (uv's lock format, PEP 751), so a
    hand-edited or damaged lock is one line naming the entry, not an AttributeError.
    """
    try:
        document = tomllib.loads(_read_text(path))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{str(path)!r} is not valid TOML: {str(error).splitlines()[0]}") from None
    packages = document.get(key, [])
    if not isinstance(packages, list):
        raise ConfigError(f"{path}: {key!r} must be an array of tables, not {_toml_type(packages)}")
    pins: list[Requirement] = []
    for index, package in enumerate(packages):
        where = f"{path}: {key}[{index}]"
        if not isinstance(package, dict):
            raise ConfigError(f"{where} must be a table, not {_toml_type(package)}")
        name, version = package.get("name"), package.get("version")
        if not isinstance(name, str):
            raise ConfigError(f"{where} has no name")
        if not _PROJECT_NAME.match(name):
            raise ConfigError(f"{where}: name {name!r} is not a project name")
        if version is not None and not isinstance(version, str):
            raise ConfigError(f"{where}: version {version!r} is not a string")
        if not from_index(package, where):
            logger.warning("%s: skipping %r: not from an index", where, name)
            continue
        pins.append(_requirement(f"{name}=={version}" if version else name, where))
    return tuple(pins)


def _toml_type(value: object) -> str:
    return next((text for kind, text in _TOML_TYPES.items() if type(value) is kind), type(value).__name__)


def _uv_source_ok(package: dict[str, Any], where: str) -> bool:
    """uv.lock: `source = { registry = ... }`; editable/virtual/git/url/path entries are not."""
    source = package.get("source", {})
    if not isinstance(source, dict):
        raise ConfigError(f"{where}: source {source!r} is not a table")
    return "registry" in source


def _pylock_source_ok(package: dict[str, Any], where: str) -> bool:
    """PEP 751: packages from a VCS, a directory or a bare archive URL carry that key instead."""
    return not any(key in package for key in ("vcs", "directory", "archive"))
