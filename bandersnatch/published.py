"""What the mirror says it publishes: a project's files as its own pages list them.

verify, export, import and delete all ask the same question of a project folder, and its answer can
come from two page forms: the PEP 691 JSON page (``index.v1_json``, which carries each file's size,
PEP 700) when there is one, else the PEP 503 HTML page (hashes only). Keeping the reader here means
one place decides what "published" means, whatever ``simple-format`` wrote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import unquote

from .errors import NotAMirror
from .simple import page_links, page_serial
from .storage import Storage

__all__ = ["PAGE_NAMES", "ProjectPages", "PublishedFile", "read_project", "require_mirror"]

PAGE_NAMES = ("index.html", "index.v1_html", "index.v1_json")  # every page form a project folder holds
_PAGE_PREFIX = "../../"


@dataclass(frozen=True)
class PublishedFile:
    """A file a page links to: a release file or its PEP 658 ``.metadata`` beside it."""

    path: str  # relative to web/
    sha256: str
    size: Optional[int] = None  # known only from a PEP 691 page (PEP 700)


@dataclass(frozen=True)
class ProjectPages:
    """A project folder under web/simple/ as its pages describe it."""

    name: str  # normalized: the folder's name
    serial: Optional[int]
    files: tuple[PublishedFile, ...]


def read_project(storage: Storage, name: str) -> Optional[ProjectPages]:
    """The project's published files, or None when the folder has no page at all."""
    text = storage.read_web_text(f"simple/{name}/index.v1_json")
    if text is not None:
        try:
            return _from_json(name, json.loads(text))
        except (ValueError, KeyError, TypeError, AttributeError):
            pass  # a damaged JSON page: the HTML one still says what is published
    text = storage.read_web_text(f"simple/{name}/index.html")
    if text is None:
        return None
    files: list[PublishedFile] = []
    for path, digest, metadata in page_links(text):
        files.append(PublishedFile(path, digest))
        if metadata:
            files.append(PublishedFile(f"{path}.metadata", metadata))
    return ProjectPages(name, page_serial(text), tuple(files))


def _from_json(name: str, page: dict[str, Any]) -> ProjectPages:
    files: list[PublishedFile] = []
    for entry in page["files"]:
        url = str(entry["url"])
        if not url.startswith(_PAGE_PREFIX):
            continue  # a file served from elsewhere (root_uri, release-files = false)
        path = unquote(url[len(_PAGE_PREFIX) :])
        size = entry.get("size")
        files.append(PublishedFile(path, str(entry["hashes"]["sha256"]), size if isinstance(size, int) else None))
        metadata = entry.get("core-metadata")
        if isinstance(metadata, dict) and metadata.get("sha256"):
            files.append(PublishedFile(f"{path}.metadata", str(metadata["sha256"])))
    serial = page["meta"].get("_last-serial")
    return ProjectPages(name, serial if isinstance(serial, int) else None, tuple(files))


def require_mirror(storage: Storage) -> None:
    """Refuse to act on a directory that holds no mirror: a typo in the config must not read as
    "every file is missing" or, worse, have files deleted."""
    if not storage.is_mirror():
        raise NotAMirror(f"{storage.location} holds no mirror (no web/simple/); check [mirror] directory")
