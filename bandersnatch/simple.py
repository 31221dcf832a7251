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
_LINK = re.compile(r'<a href="([^"]*)"')
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


def page_files(page: str) -> dict[str, str]:
    """{path relative to web/: sha256} of the files a page we rendered links to."""
    files = {}
    for match in _LINK.finditer(page):
        href = html.unescape(match.group(1))
        location, _, fragment = href.partition("#")
        if not location.startswith(_PAGE_PREFIX):
            continue
        digest = fragment[len("sha256=") :] if fragment.startswith("sha256=") else ""
        files[unquote(location[len(_PAGE_PREFIX) :])] = digest
    return files


def page_serial(page: str) -> Optional[int]:
    match = _SERIAL.search(page)
    return int(match.group(1)) if match else None


def render_index(projects: Iterable[tuple[str, str]]) -> Iterator[str]:
    """The global index, streamed line by line: at 740,000 projects it must not be one big string."""
    yield _HEAD.format(version=REPOSITORY_VERSION, title="Simple index")
    yield "<body>\n"
    for normalized, display in projects:
        yield f'<a href="{html.escape(normalized)}/">{html.escape(display)}</a><br/>\n'
    yield "</body></html>\n"


def parse_index_line(line: str) -> Optional[tuple[str, str]]:
    """(normalized, display name) of one project line of the global index, or None for other lines."""
    if not line.startswith('<a href="'):
        return None
    end = line.find('/">', 9)
    close = line.find("</a>", end)
    if end < 0 or close < 0:
        return None
    return html.unescape(line[9:end]), html.unescape(line[end + 3 : close])


def merge_index(old_lines: Iterable[str], changes: Mapping[str, Optional[str]]) -> Iterator[tuple[str, str]]:
    """Apply ``changes`` ({normalized: display, or None to drop}) to a sorted old index, streaming.

    The old index is read line by line and only the changed projects are held in memory, which
    keeps the end of an incremental run cheap on a 740,000-project mirror. Raises ValueError when
    the old index is not sorted (not one of ours): the caller then rebuilds it.
    """
    pending = sorted((name, display) for name, display in changes.items())
    index = 0
    previous = ""
    for line in old_lines:
        entry = parse_index_line(line)
        if entry is None:
            continue
        normalized = entry[0]
        if normalized <= previous:
            raise ValueError(f"global index not sorted at {normalized!r}")
        previous = normalized
        while index < len(pending) and pending[index][0] < normalized:
            if pending[index][1] is not None:
                yield pending[index]
            index += 1
        if index < len(pending) and pending[index][0] == normalized:
            if pending[index][1] is not None:
                yield pending[index]
            index += 1
        else:
            yield entry
    for normalized, display in pending[index:]:
        if display is not None:
            yield normalized, display
