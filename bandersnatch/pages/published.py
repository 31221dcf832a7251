"""THE reader of what the mirror published: a project's pages, read back.

Sync (which files did the last sync publish?), verify, delete, export, import, the global index
and update-stats all ask the same question of a project folder. Its answer can come from two page
forms: the PEP 691 JSON page (``index.v1_json``, which carries each file's size, PEP 700) when
there is one, else the PEP 503 HTML page; and links can be relative, under ``root_uri`` or the
master's. One reader, given the mirror's layout.Links, so no command can read a page its own way.
"""

from __future__ import annotations

from typing import Optional

from ..errors import NotAMirror
from ..model import PublishedFile, PublishedProject, normalize
from ..storage import Storage
from . import layout
from .html import read_project_html
from .layout import PAGE_HTML, PAGE_V1_JSON, Links, page_path
from .pep691 import read_project_json

__all__ = ["PublishedFile", "PublishedProject", "other_owner", "published_files", "read_project", "require_mirror"]


def read_project(storage: Storage, name: str, links: Links, *, display: bool = False) -> Optional[PublishedProject]:
    """What the project's pages say, or None when its folder has no page at all.

    The PEP 691 page comes first: it gives each file's size. ``display``: the display name is
    wanted (the global index), which only the HTML page carries (PEP 691 pages name the project
    normalized), so the HTML page comes first then; its hashes and serial are the same.
    """
    name = normalize(name)
    readers = (_from_html, _from_json) if display else (_from_json, _from_html)
    for reader in readers:
        found = reader(storage, name, links)
        if found is not None:
            return found
    return None


def _from_html(storage: Storage, name: str, links: Links) -> Optional[PublishedProject]:
    text = storage.read_web_text(page_path(name, PAGE_HTML))
    return None if text is None else read_project_html(name, text, links)


def _from_json(storage: Storage, name: str, links: Links) -> Optional[PublishedProject]:
    text = storage.read_web_text(page_path(name, PAGE_V1_JSON))
    if text is None:
        return None
    try:
        return read_project_json(name, text, links)
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None  # a damaged JSON page: the HTML one still says what is published


def other_owner(storage: Storage, links: Links, name: str, path: str) -> Optional[str]:
    """The project other than ``name`` whose page links ``path``, if any.

    A path under packages/ belongs to the project that published it first: another project's
    page naming it must neither overwrite nor delete it. The projects its file name points to
    are asked (a page can only link a file under its own file name, so that is where an owner
    is); a file named after no project has no owner to protect but the one that lists it.
    """
    claimant = normalize(name)
    for candidate in layout.filename_projects(path.rsplit("/", 1)[-1]):
        if candidate != claimant and layout.VALID_NAME.fullmatch(candidate):
            found = read_project(storage, candidate, links)
            if found is not None and path in found.release_files:
                return candidate
    return None


def require_mirror(storage: Storage) -> None:
    """Refuse to act on a directory that holds no mirror: a typo in the config must not read as
    "every file is missing" or, worse, have files deleted."""
    if not storage.is_mirror():
        raise NotAMirror(f"{storage.location} holds no mirror (no web/simple/); check [mirror] directory")


def published_files(storage: Storage, name: str, links: Links) -> tuple[PublishedFile, ...]:
    """The files the project's pages link (empty when it has no page)."""
    found = read_project(storage, name, links)
    return found.files if found else ()
