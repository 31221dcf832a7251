"""The global index in every configured format: ``web/simple/index.html`` (+ ``index.v1_html``, the
same bytes) and the PEP 691 root ``index.v1_json`` with each project's ``_last-serial``.

Both are merged block by block from their previous version, so the end of an incremental run costs
a copy of the old pages plus the changed lines, not a walk of 740,000 project folders. Each
project's display name and serial come from the page the run just wrote, so the engine only says
which projects it touched.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Iterable, Iterator, Mapping, Optional

from ..model import normalize
from ..storage import Storage
from .html import merge_index, render_index
from .layout import (
    HTML,
    INDEX,
    INDEX_V1_HTML,
    INDEX_V1_JSON,
    JSON,
    LAST_MODIFIED,
    PROJECTS,
    Layout,
    Links,
)
from .pep691 import merge_root, render_root
from .published import read_project

__all__ = ["Change", "project_changes", "refresh_index", "write_global_index"]

logger = logging.getLogger(__name__)

Change = Optional[tuple[str, int]]  # (display name, serial), or None: the project is not listed


def refresh_index(storage: Storage, layout: Layout, touched: Iterable[str]) -> None:
    """Bring the global index (every configured format) and last-modified in line with the pages
    of the ``touched`` projects: the one index writer of the sync and every operator command."""
    write_global_index(storage, project_changes(storage, layout.links, touched), layout)


def project_changes(storage: Storage, links: Links, names: Iterable[str]) -> dict[str, Change]:
    """{normalized: (display, serial) or None} for ``names``, read from their published pages."""
    return {normalize(name): _listed(storage, links, name) for name in names}


def _listed(storage: Storage, links: Links, name: str) -> Change:
    """How the root lists a project: not at all without a page, or when it is quarantined (PEP
    792: PyPI's root leaves such projects out too)."""
    found = read_project(storage, name, links, display=True)
    if found is None or found.quarantined:
        return None
    return found.display, found.serial or 0


def write_global_index(storage: Storage, changes: Mapping[str, Change], layout: Layout) -> None:
    """Apply ``changes`` to the root pages of the configured formats; drop the roots of other formats."""
    links = layout.links
    if HTML in layout.formats:
        displays = {name: (value[0] if value else None) for name, value in changes.items()}
        _write(storage, links, changes, INDEX, lambda old: merge_index(old, displays), lambda every: render_index(
            (name, value[0]) for name, value in every))  # fmt: skip
        storage.copy_web(INDEX, INDEX_V1_HTML)
    else:
        storage.remove_web_file(INDEX)
        storage.remove_web_file(INDEX_V1_HTML)
    if JSON in layout.formats:
        _write(storage, links, changes, INDEX_V1_JSON, lambda old: merge_root(old, changes), lambda every: render_root(
            every, max((value[1] for _, value in every), default=0)))  # fmt: skip
    else:
        storage.remove_web_file(INDEX_V1_JSON)
    storage.write_web(LAST_MODIFIED, [time.strftime("%Y%m%dT%H:%M:%S\n", time.gmtime()).encode()])


def _write(
    storage: Storage,
    links: Links,
    changes: Mapping[str, Change],
    path: str,
    merge: Callable[[Iterator[list[str]]], Iterable[str]],
    render: Callable[[list[tuple[str, tuple[str, int]]]], Iterable[str]],
) -> None:
    old = storage.read_web_blocks(path)
    try:
        if old is None:
            raise ValueError("there is none yet")
        storage.write_web(path, _encoded(merge(old)))
    except ValueError as reason:
        logger.info("Rebuilding %s from web/simple/: %s", path, reason)
        folders = storage.list_web_dirs(PROJECTS)  # a folder without a page is listed as before
        # The touched projects' pages were just read (``changes``): a full sync reads each page once,
        # not once more per index format.
        every = {key: changes[key] if key in changes else _listed(storage, links, name)
                 for name in folders for key in (normalize(name),)}  # fmt: skip
        listed = sorted((name, value) for name, value in every.items() if value is not None)
        storage.write_web(path, _encoded(render(listed)))


def _encoded(parts: Iterable[str], batch: int = 1 << 20) -> Iterator[bytes]:
    """UTF-8 in batches of about 1 MB: one write per line would dominate a 740,000-line index."""
    buffer: list[str] = []
    size = 0
    for part in parts:
        buffer.append(part)
        size += len(part)
        if size >= batch:
            yield "".join(buffer).encode("utf-8")
            buffer.clear()
            size = 0
    yield "".join(buffer).encode("utf-8")
