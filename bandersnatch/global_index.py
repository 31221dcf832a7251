"""The global index in every configured format: ``web/simple/index.html`` (+ ``index.v1_html``, the
same bytes) and the PEP 691 root ``index.v1_json`` with each project's ``_last-serial``.

Both are merged block by block from their previous version, so the end of an incremental run costs
a copy of the old pages plus the changed lines, not a walk of 740,000 project folders. Each
project's display name and serial come from the page the run just wrote, so the engine only says
which projects it touched.
"""

from __future__ import annotations

import html
import logging
import re
import time
from typing import Callable, Iterable, Iterator, Mapping, Optional

from .model import normalize
from .pages_json import json_page_serial, merge_root, render_root
from .simple import merge_index, page_serial, render_index
from .storage import Storage

__all__ = ["HTML", "JSON", "project_changes", "write_global_index"]

logger = logging.getLogger(__name__)

HTML, JSON = "html", "json"
INDEX, INDEX_V1_HTML, INDEX_V1_JSON = "simple/index.html", "simple/index.v1_html", "simple/index.v1_json"
_TITLE = re.compile(r"<title>Links for (.*?)</title>")

Change = Optional[tuple[str, int]]  # (display name, serial), or None: the project is gone


def project_changes(storage: Storage, names: Iterable[str]) -> dict[str, Change]:
    """{normalized: (display, serial) or None} for ``names``, read from their published pages."""
    return {normalize(name): _published(storage, normalize(name)) for name in names}


def _published(storage: Storage, normalized: str) -> Change:
    page = storage.read_web_text(f"simple/{normalized}/index.html")
    if page is not None:
        title = _TITLE.search(page)
        display = html.unescape(title.group(1)) if title else normalized
        return display, page_serial(page) or 0
    page = storage.read_web_text(f"simple/{normalized}/index.v1_json")
    if page is not None:
        return normalized, json_page_serial(page) or 0  # PEP 691 pages carry only the normalized name
    return None


def write_global_index(storage: Storage, changes: Mapping[str, Change], formats: Iterable[str]) -> None:
    """Apply ``changes`` to the root pages of ``formats`` (html, json); drop the roots of other formats."""
    formats = set(formats)
    if HTML in formats:
        displays = {name: (value[0] if value else None) for name, value in changes.items()}
        _write(storage, INDEX, lambda old: merge_index(old, displays), lambda every: render_index(
            (name, value[0]) for name, value in every))  # fmt: skip
        storage.copy_web(INDEX, INDEX_V1_HTML)
    else:
        storage.remove_web_file(INDEX)
        storage.remove_web_file(INDEX_V1_HTML)
    if JSON in formats:
        _write(storage, INDEX_V1_JSON, lambda old: merge_root(old, changes), lambda every: render_root(
            every, max((value[1] for _, value in every), default=0)))  # fmt: skip
    else:
        storage.remove_web_file(INDEX_V1_JSON)
    storage.write_web("last-modified", [time.strftime("%Y%m%dT%H:%M:%S\n", time.gmtime()).encode()])


def _write(
    storage: Storage,
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
        folders = storage.list_web_dirs("simple")  # a folder without a page is listed as before
        every = {normalize(name): _published(storage, normalize(name)) or (name, 0) for name in folders}
        listed = sorted(every.items())
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
