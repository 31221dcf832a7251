"""The values that travel between modules: what the master said about a project, frozen.

The master's JSON never leaves ``master``; everything after it works on these, so rendering and
planning can be tested without a network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from packaging.utils import NormalizedName, canonicalize_name

from .pages.links import Links

__all__ = ["ProjectMetadata", "ProjectPage", "ReleaseFile", "normalize"]


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
    version: Optional[str] = None  # the JSON API's release key, else parsed from the filename
    core_metadata_sha256: Optional[str] = None  # PEP 658/714: {url}.metadata exists with this hash
    provenance_url: Optional[str] = None  # PEP 740: where the master serves the provenance object
    path: str = ""  # its place under web/ (packages/...), checked when the master's answer was read


@dataclass(frozen=True)
class ProjectMetadata:
    """A project as the master knows it at ``serial``."""

    name: str
    serial: int
    files: tuple[ReleaseFile, ...]
    versions: tuple[str, ...] = ()  # PEP 700: every version, also those without files
    status: Optional[str] = None  # PEP 792: active, archived, deprecated or quarantined
    status_reason: Optional[str] = None
    info_json: Optional[str] = None  # the JSON API's "info" object, kept as text for the json copy
    current_version: Optional[str] = None  # the JSON API's info.version (latest_release keeps it)

    @property
    def quarantined(self) -> bool:
        """PEP 792: a quarantined project's files must not be installable from the mirror."""
        return self.status == "quarantined"


@dataclass(frozen=True)
class ProjectPage:
    """What the mirror publishes for one project: the single value that renders as the HTML page,
    the PEP 691 JSON page and the JSON API copy, so the three can never disagree.

    ``files`` pairs each file with its path under web/; a file carries ``core_metadata_sha256`` and
    ``provenance_url`` only when the mirror serves them. ``links`` says where links point
    (layout.Links: relative, ``root_uri``, or the master's own URLs).
    """

    name: str
    serial: int
    files: tuple[tuple[str, ReleaseFile], ...]
    versions: tuple[str, ...] = ()
    status: Optional[str] = None  # PEP 792
    status_reason: Optional[str] = None
    info_json: Optional[str] = None
    links: Links = Links()


@dataclass(frozen=True)
class PublishedFile:
    """A file a page of the mirror links: a release file, or its ``.metadata`` / ``.provenance``."""

    path: str  # relative to web/
    sha256: Optional[str]  # None for provenance: pages give no hash of it
    size: Optional[int] = None  # known only from a PEP 691 page (PEP 700)
    kind: str = "file"  # file, metadata or provenance


@dataclass(frozen=True)
class PublishedProject:
    """What a project's published page says: read back by every command, from whichever page
    form the mirror writes (published.read_project)."""

    name: str  # normalized: the folder's name
    display: str
    serial: Optional[int]
    files: tuple[PublishedFile, ...]
    status: Optional[str] = None  # PEP 792

    @property
    def release_files(self) -> dict[str, str]:
        """{path: sha256} of the release files (without what lies beside them)."""
        return {item.path: item.sha256 or "" for item in self.files if item.kind == "file"}

    @property
    def quarantined(self) -> bool:
        return self.status == "quarantined"
