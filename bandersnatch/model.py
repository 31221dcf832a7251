"""The values that travel between modules: what the master said about a project, frozen.

The master's JSON never leaves ``master``; everything after it works on these, so rendering and
planning can be tested without a network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from packaging.utils import NormalizedName, canonicalize_name

__all__ = ["ProjectMetadata", "ReleaseFile", "normalize"]


def normalize(name: str) -> NormalizedName:
    """PEP 503 normalization: the one spelling used for folders, links and state.

    Most names need only lower-casing; three substring checks in C spare them the regex, which
    matters when a 740,000-project root is compared with the mirror.
    """
    lowered = name.lower()
    if "_" in lowered or "." in lowered or "--" in lowered:
        return canonicalize_name(name)
    return NormalizedName(lowered)


@dataclass(frozen=True)
class ReleaseFile:
    """One distribution file of a release, as the JSON API describes it."""

    filename: str
    url: str
    sha256: str
    size: Optional[int] = None
    requires_python: Optional[str] = None  # PEP 345 / PEP 503 data-requires-python
    yanked: bool = False  # PEP 592
    yanked_reason: Optional[str] = None
    upload_time: Optional[str] = None  # PEP 700


@dataclass(frozen=True)
class ProjectMetadata:
    """A project as the master knows it at ``serial``."""

    name: str
    serial: int
    files: tuple[ReleaseFile, ...]
