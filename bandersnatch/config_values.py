"""What both configuration readers share: the filter sections' names, value converters and the
way a bad value becomes one line of the ConfigError.

`configuration` reads [mirror], [statistics] and [s3]; `subset.config` reads the filter sections and
is imported only when there are some (a no-op cron run must not pay for packaging's parsers). Both
import this module, neither imports the other at module level, so there is no import circle.
A converter takes the stripped text and returns the value or raises ValueError saying what it
expected; `convert` turns that into `[section] key = 'value': why` in the caller's error list.
"""

from __future__ import annotations

import configparser
import os
import unicodedata
from pathlib import Path
from typing import Callable, TypeVar

__all__ = ["SUBSET_SECTIONS", "boolean", "convert", "local_folder_problem", "number", "path_text"]

T = TypeVar("T")

# Upstream's filter sections and our [dependencies] and [environments] (subset.config reads them).
SUBSET_SECTIONS = frozenset({
    "plugins", "allowlist", "whitelist", "blocklist", "blacklist", "filter_regex", "filter_prerelease",
    "latest_release", "size_project_metadata", "dependencies", "environments",
})  # fmt: skip


def convert(errors: list[str], label: str, raw: str, kind: Callable[[str], T], default: T) -> T:
    """``kind(raw.strip())``; on ValueError ``default``, and one line ``{label} = 'raw': why`` in errors."""
    try:
        return kind(raw.strip())
    except ValueError as error:
        errors.append(f"{label} = {raw.strip()!r}: {error}")
        return default


def boolean(value: str) -> bool:
    states = configparser.ConfigParser.BOOLEAN_STATES
    if value.lower() not in states:
        raise ValueError("expected true or false")
    return states[value.lower()]


def number(kind: Callable[[str], float], low: float, high: float) -> Callable[[str], float]:
    """A converter to ``kind`` within [low, high]; its error names the range as written here."""
    expected = f"expected a {'whole ' if kind is int else ''}number from {low:g} to {high:g}"
    if kind is int:
        expected = f"expected a whole number from {int(low)} to {int(high)}"

    def checked(value: str) -> float:
        try:
            number = kind(value)
        except ValueError:
            raise ValueError(expected) from None
        if not low <= number <= high:
            raise ValueError(expected)
        return number

    return checked


def path_text(value: str) -> str:
    """A path as the operator wrote it, refusing control characters: os refuses NUL with a
    ValueError deep inside a run, and a newline or escape in a path is never meant."""
    for char in value:
        if unicodedata.category(char) == "Cc":
            raise ValueError(f"a control character ({ascii(char)[1:-1]}) in a path")
    return value


def local_folder_problem(path: Path) -> str | None:
    """Why ``path`` cannot be a folder of ours: it, or the nearest part of it that exists, is a file.

    A folder that does not exist yet is fine (the run creates it); any other answer from the
    file system (permissions) is left to the run, which reports it in its own line.
    """
    for part in (path, *path.parents):
        try:
            is_folder = os.path.isdir(part)
            exists = is_folder or os.path.lexists(part)
        except ValueError:  # pragma: no cover - path_text refused NUL before
            return None
        if is_folder:
            return None
        if exists:
            return f"Not a directory: {str(part)!r} is a file"  # the words of ENOTDIR, which operators know
    return None
