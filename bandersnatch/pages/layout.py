"""The map of ``web/``: every path and every link form the mirror publishes, in one place.

Sync, verify, delete, export/import and update-stats all ask "where does this project's page,
file, ``.metadata`` or JSON copy live, and how does a page link it?". They ask here, so a
configuration that changes paths or links (``root_uri``, ``release-files``, ``simple-format``,
``json``, ``public-url``) changes them for every command at once. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)

from ..errors import UnsafePath
from ..model import ReleaseFile, normalize
from .links import PROVENANCE, Links

if TYPE_CHECKING:
    from ..configuration import Settings

__all__ = [
    "DAYS_FOLDER", "FILES", "HTML", "INDEX", "INDEX_V1_HTML", "INDEX_V1_JSON", "JSON", "LAST_MODIFIED", "METADATA",
    "PAGE_HTML", "PAGE_NAMES", "PAGE_V1_HTML", "PAGE_V1_JSON", "PROJECTS", "PROVENANCE", "PROVENANCE_TYPE", "Layout",
    "Links", "check_name", "file_path", "filename_projects", "is_file_path", "json_api_copy", "json_api_folder",
    "media_type", "page_path", "project_folder", "safe_relative", "STATUS_FOLDER", "STATUS_JSON", "STATUS_PAGE",
]  # fmt: skip

HTML, JSON = "html", "json"  # the page formats of simple-format
PAGE_FORMATS = {"ALL": frozenset({HTML, JSON}), "HTML": frozenset({HTML}), "JSON": frozenset({JSON})}

PROJECTS = "simple"  # a folder per project, named by its normalized name
FILES = "packages"  # release files, at the path of their URL on the master
JSON_API = "pypi"  # json = true: a copy of each project's JSON API document, a folder per project
# upstream bandersnatch's names, so an nginx config written for it keeps working
PAGE_HTML, PAGE_V1_HTML, PAGE_V1_JSON = "index.html", "index.v1_html", "index.v1_json"
PAGE_NAMES = (PAGE_HTML, PAGE_V1_HTML, PAGE_V1_JSON)  # every page form a project folder may hold
INDEX, INDEX_V1_HTML, INDEX_V1_JSON = (f"simple/{page}" for page in PAGE_NAMES)
LAST_MODIFIED = "last-modified"
DAYS_FOLDER = "local-stats/days"  # PEP 381 statistics
# The status page and its facts (pages/status_page.py), rewritten by every run; outside simple/ and
# packages/, so verify, delete and export/import never take them for a project's or a file's.
STATUS_FOLDER = "_status"
STATUS_PAGE, STATUS_JSON = f"{STATUS_FOLDER}/index.html", f"{STATUS_FOLDER}/status.json"
METADATA = ".metadata"  # PEP 658/714, beside the file (PROVENANCE, PEP 740, too)
BESIDE = (METADATA, PROVENANCE)
PROVENANCE_TYPE = "application/vnd.pypi.integrity.v1+json"  # PEP 740
SIMPLE_JSON_TYPE = "application/vnd.pypi.simple.v1+json"  # PEP 691

# PEP 508 names, matched whole: a trailing newline must not slip through into the todo or an index.
VALID_NAME = re.compile(r"([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])", re.IGNORECASE)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # NUL, newlines and the rest never belong in a mirrored path
_LEGACY_NAME = re.compile(r"(.+?)-\d")  # eggs, installers, old tarballs: name-1.0...

_MEDIA_TYPES = {
    PAGE_HTML: "text/html",
    PAGE_V1_HTML: "text/html",
    PAGE_V1_JSON: SIMPLE_JSON_TYPE,
    "json": "application/json",  # web/pypi/{name}/json
}


def safe_relative(relative: str) -> str:
    """Return ``relative`` if it is a plain path below a folder, else raise UnsafePath: every path
    storage writes under web/ passes here.

    Callers pass names already percent-decoded, so ``%2e%2e`` arrives here as ``..``.
    """
    bad = (
        not relative
        or relative.startswith("/")
        or "\\" in relative
        or _CONTROL.search(relative) is not None
        or any(part in ("", ".", "..") for part in relative.split("/"))
    )
    if bad:
        raise UnsafePath(f"refusing unsafe path {relative!r}: it would not stay inside the mirror")
    return relative


def is_file_path(path: str) -> bool:
    """Whether ``path`` lies where release files live: the only place a page may link, and so the
    only place a deletion of a linked file may reach."""
    return path.startswith(FILES + "/")


def check_name(name: str) -> str:
    """``name`` when it is a PEP 508 project name; UnsafePath otherwise (it would become a folder)."""
    if not isinstance(name, str) or not VALID_NAME.fullmatch(name):
        raise UnsafePath(f"refusing project name {name!r}: not a valid PEP 508 name")
    return name


def project_folder(name: str) -> str:
    """The folder of a project's pages, relative to web/."""
    return f"{PROJECTS}/{normalize(check_name(name))}"


def page_path(name: str, page: str = PAGE_HTML) -> str:
    """One of a project's pages (``PAGE_NAMES``), relative to web/."""
    return f"{project_folder(name)}/{page}"


def json_api_folder(name: str) -> str:
    return f"{JSON_API}/{normalize(check_name(name))}"


def json_api_copy(name: str) -> str:
    """Where ``json = true`` puts the project's JSON API copy, relative to web/."""
    return f"{json_api_folder(name)}/json"


def beside(path: str) -> tuple[str, ...]:
    """What the mirror may keep beside a release file: its ``.metadata`` and ``.provenance``."""
    return tuple(path + suffix for suffix in BESIDE)


def media_type(path: str) -> Optional[str]:
    """The Content-Type a published path is served with (an object store stores it with the object)."""
    if path.endswith(PROVENANCE):
        return PROVENANCE_TYPE
    if path == STATUS_JSON:
        return "application/json"
    return _MEDIA_TYPES.get(path.rsplit("/", 1)[-1])


def file_path(release: ReleaseFile) -> str:
    """Where a release file lives under web/: the place ``urls.file_place`` checked when the
    master's answer was read (the path of its URL below the master, as on files.pythonhosted.org).
    A file described without one was never checked, and is refused."""
    if not release.path:
        raise UnsafePath(f"refusing file {release.filename!r} at {release.url!r}: its place was never checked")
    return release.path


def filename_projects(filename: str) -> list[str]:
    """The projects a file name points to, most likely first: wheels and sdists by their own
    rules (PEP 427, 625), older kinds (eggs, installers, .tar.bz2) by the part before "-digit".

    update-stats uses it to place a download, and the sync to find who else may own a path."""
    names = []
    try:
        parse = parse_wheel_filename if filename.endswith(".whl") else parse_sdist_filename
        names.append(parse(filename)[0])
    except (InvalidWheelFilename, InvalidSdistFilename, ValueError):
        pass
    legacy = _LEGACY_NAME.match(filename)
    if legacy:
        names.append(normalize(legacy[1]))
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class Layout:
    """What a mirror's configuration says about its pages: which formats, JSON API copies, links."""

    formats: frozenset[str] = PAGE_FORMATS["ALL"]
    json: bool = False  # web/pypi/{name}/json copies
    links: Links = Links()

    @classmethod
    def from_settings(cls, settings: Settings) -> Layout:
        return cls(
            formats=PAGE_FORMATS[settings.simple_format],
            json=settings.json,
            links=Links(settings.root_uri, settings.release_files, settings.public_url),
        )

    def pages(self, name: str) -> list[str]:
        """The project's page paths this mirror writes, in every configured format."""
        names = (PAGE_HTML, PAGE_V1_HTML) if HTML in self.formats else ()
        names += (PAGE_V1_JSON,) if JSON in self.formats else ()
        return [page_path(name, page) for page in names]

    @property
    def roots(self) -> list[str]:
        names = [INDEX, INDEX_V1_HTML] if HTML in self.formats else []
        return names + ([INDEX_V1_JSON] if JSON in self.formats else [])
