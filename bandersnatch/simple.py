"""The simple index pages (PEP 503, 592, 629): pure functions from values to HTML and back.

The mirror reads its own pages again to learn what it published before (which files a project had,
which projects the global index lists), so parsing lives beside rendering and the two are tested
as a round trip.
"""

from __future__ import annotations

import html
import re
from typing import Iterable, Iterator, Mapping, Optional
from urllib.parse import quote, unquote

from .model import ReleaseFile

__all__ = [
    "REPOSITORY_VERSION",
    "merge_index",
    "page_files",
    "page_links",
    "page_serial",
    "parse_index_line",
    "render_index",
    "render_project_page",
]

REPOSITORY_VERSION = "1.1"  # PEP 629; 1.1 announces PEP 700 fields in the JSON form
_HEAD = (
    '<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="{version}">'
    "<title>{title}</title></head>\n"
)
_TAG = re.compile(r"<a ([^>]*)>")
_ATTRIBUTE = re.compile(r'([a-z-]+)="([^"]*)"')
_SERIAL = re.compile(r"<!--SERIAL (\d+)-->")
_PAGE_PREFIX = "../../"


def _file_link(path: str, release: ReleaseFile) -> str:
    href = f"{_PAGE_PREFIX}{quote(path)}#sha256={release.sha256}"
    attributes = [f'href="{html.escape(href)}"']
    if release.requires_python:
        attributes.append(f'data-requires-python="{html.escape(release.requires_python)}"')
    if release.yanked:  # PEP 592: a yanked file is never listed without its marker
        attributes.append(f'data-yanked="{html.escape(release.yanked_reason or "")}"')
    return f"<a {' '.join(attributes)}>{html.escape(release.filename)}</a><br/>\n"


def render_project_page(name: str, files: Iterable[tuple[str, ReleaseFile]], serial: int) -> str:
    """A project's page; ``files`` pairs each release file with its path relative to web/.

    Links are relative so the mirror can be served under any prefix.
    """
    title = f"Links for {html.escape(name)}"
    parts = [_HEAD.format(version=REPOSITORY_VERSION, title=title), f"<body><h1>{title}</h1>\n"]
    parts.extend(_file_link(path, release) for path, release in files)
    parts.append(f"</body></html>\n<!--SERIAL {serial}-->\n")
    return "".join(parts)


def page_links(page: str) -> Iterator[tuple[str, str, Optional[str]]]:
    """(path relative to web/, sha256, sha256 of its PEP 658 ``.metadata`` or None) of each file
    a page we rendered links to; links outside the mirror (another host, root_uri) are skipped."""
    for match in _TAG.finditer(page):
        attributes = dict(_ATTRIBUTE.findall(match.group(1)))
        location, _, fragment = html.unescape(attributes.get("href", "")).partition("#")
        if not location.startswith(_PAGE_PREFIX):
            continue
        digest = fragment[len("sha256=") :] if fragment.startswith("sha256=") else ""
        metadata = html.unescape(attributes.get("data-core-metadata", ""))
        metadata_digest = metadata[len("sha256=") :] if metadata.startswith("sha256=") else None
        yield unquote(location[len(_PAGE_PREFIX) :]), digest, metadata_digest


def page_files(page: str) -> dict[str, str]:
    """{path relative to web/: sha256} of the files a page we rendered links to."""
    return {path: digest for path, digest, _ in page_links(page)}


def page_serial(page: str) -> Optional[int]:
    match = _SERIAL.search(page)
    return int(match.group(1)) if match else None


def _project_line(normalized: str, display: str) -> str:
    return f'<a href="{html.escape(normalized)}/">{html.escape(display)}</a><br/>\n'


_INDEX_HEAD = _HEAD.format(version=REPOSITORY_VERSION, title="Simple index") + "<body>\n"
_INDEX_TAIL = "</body></html>\n"


def render_index(projects: Iterable[tuple[str, str]]) -> Iterator[str]:
    """The global index, streamed line by line: at 740,000 projects it must not be one big string."""
    yield _INDEX_HEAD
    for normalized, display in projects:
        yield _project_line(normalized, display)
    yield _INDEX_TAIL


def parse_index_line(line: str) -> Optional[tuple[str, str]]:
    """(normalized, display name) of one project line of the global index, or None for other lines."""
    normalized = _index_key(line)
    close = line.find("</a>")
    if normalized is None or close < 0:
        return None
    return normalized, html.unescape(line[line.find('/">') + 3 : close])


def _index_key(line: str) -> Optional[str]:
    if not line.startswith('<a href="'):
        return None
    end = line.find('/">', 9)
    if end < 0:
        return None
    key = line[9:end]
    return html.unescape(key) if "&" in key else key


class _Merge:
    """One merge: the sorted changes still to place, and the last project key passed."""

    def __init__(self, changes: Mapping[str, Optional[str]]) -> None:
        self.pending = sorted(changes.items())
        self.position = 0
        self.previous = ""

    def block(self, lines: list[str]) -> Iterator[str]:
        """A block of project lines with the changes that fall into it; the runs between changes
        pass through as single strings, found by binary search."""
        first, last = _index_key(lines[0]), _index_key(lines[-1])
        if first is None or last is None or first <= self.previous or last < first:
            raise ValueError(f"global index not sorted or damaged near {lines[0][:80]!r}")
        start = 0
        while self.position < len(self.pending) and self.pending[self.position][0] <= last:
            name, display = self.pending[self.position]
            self.position += 1
            split = _first_at_or_after(lines, start, name)
            yield "".join(lines[start:split])
            if display is not None:
                yield _project_line(name, display)
            start = split + (_index_key(lines[split]) == name)
        yield "".join(lines[start:])
        self.previous = last

    def rest(self) -> Iterator[str]:
        for name, display in self.pending[self.position :]:
            if display is not None:
                yield _project_line(name, display)


def _first_at_or_after(lines: list[str], start: int, name: str) -> int:
    low, high = start, len(lines) - 1  # the last line's key is >= name
    while low < high:
        middle = (low + high) // 2
        if (_index_key(lines[middle]) or "") < name:
            low = middle + 1
        else:
            high = middle
    return low


def merge_index(old_blocks: Iterable[list[str]], changes: Mapping[str, Optional[str]]) -> Iterator[str]:
    """The global index page with ``changes`` ({normalized: display, or None to drop}) applied.

    The old index arrives in blocks of lines and only the changed projects are parsed and
    rendered; everything between them is copied as it is, which keeps the end of an incremental
    run cheap on a 740,000-project mirror. Raises ValueError when the old index is not one we wrote
    (another head, not sorted): the caller then rebuilds it.
    """
    merge = _Merge(changes)
    head_lines = _INDEX_HEAD.count("\n")
    yield _INDEX_HEAD
    for number, lines in enumerate(old_blocks):
        if number == 0:
            if "".join(lines[:head_lines]) != _INDEX_HEAD:
                raise ValueError("the global index was not written by this bandersnatch")
            lines = lines[head_lines:]
        while lines and not lines[-1].startswith('<a href="'):
            lines = lines[:-1]  # the tail of the page
        if lines:
            if not lines[-1].endswith("\n"):
                lines[-1] += "\n"
            yield from merge.block(lines)
    yield from merge.rest()
    yield _INDEX_TAIL
