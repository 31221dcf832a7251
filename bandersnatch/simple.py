"""The HTML simple index pages (PEP 503, 592, 629, 658, 714, 740, 792): pure functions from values to HTML and back.

The mirror reads its own pages again to learn what it published before (which files a project had,
which projects the global index lists), so parsing lives beside rendering and the two are tested
as a round trip.
"""

from __future__ import annotations

import html
import re
from typing import Iterable, Iterator, Mapping, Optional
from urllib.parse import quote, unquote

from .blockmerge import LineFormat, merge_lines
from .model import ProjectPage, ReleaseFile

REPOSITORY_VERSION = "1.1"  # PEP 629; 1.1 announces PEP 700 fields in the JSON form

__all__ = [
    "PAGE_PREFIX",
    "REPOSITORY_VERSION",
    "api_version",
    "file_href",
    "merge_index",
    "page_files",
    "page_links",
    "page_serial",
    "parse_index_line",
    "provenance_href",
    "render_index",
    "render_project_html",
    "render_project_page",
]

_HEAD = (
    '<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="{version}">'
    "{extra}<title>{title}</title></head>\n"
)
_TAG = re.compile(r"<a ([^>]*)>")
_ATTRIBUTE = re.compile(r'([a-z-]+)="([^"]*)"')
_SERIAL = re.compile(r"<!--SERIAL (\d+)-->")
PAGE_PREFIX = "../../"  # from simple/{name}/ (and pypi/{name}/json) back to web/


def api_version(page: ProjectPage) -> str:
    """PEP 629/691: announce only what the page emits (PEP 700: 1.1, PEP 740: 1.3, PEP 792: 1.4)."""
    if page.status:
        return "1.4"
    return "1.3" if any(release.provenance_url for _, release in page.files) else REPOSITORY_VERSION


def file_href(page: ProjectPage, path: str, release: ReleaseFile) -> str:
    """Where the page links a file: relative, under root_uri, or at the master (release-files = false)."""
    if page.base is None:
        return release.url
    return f"{page.base + '/' if page.base else PAGE_PREFIX}{quote(path)}"


def provenance_href(page: ProjectPage, path: str, release: ReleaseFile) -> Optional[str]:
    """PEP 740: the mirror's copy beside the file, or the master's where files stay there."""
    if release.provenance_url is None or page.base is None:
        return release.provenance_url
    return file_href(page, path, release) + ".provenance"


def _file_link(page: ProjectPage, path: str, release: ReleaseFile) -> str:
    href = f"{file_href(page, path, release)}#sha256={release.sha256}"
    attributes = [f'href="{html.escape(href)}"']
    if release.requires_python:
        attributes.append(f'data-requires-python="{html.escape(release.requires_python)}"')
    if release.yanked:  # PEP 592: a yanked file is never listed without its marker
        attributes.append(f'data-yanked="{html.escape(release.yanked_reason or "")}"')
    if release.core_metadata_sha256:  # PEP 714's name and PEP 658's, for older clients
        digest = f"sha256={release.core_metadata_sha256}"
        attributes.append(f'data-core-metadata="{digest}" data-dist-info-metadata="{digest}"')
    provenance = provenance_href(page, path, release)
    if provenance:
        attributes.append(f'data-provenance="{html.escape(provenance)}"')
    return f"<a {' '.join(attributes)}>{html.escape(release.filename)}</a><br/>\n"


def _status_meta(page: ProjectPage) -> str:
    """PEP 792's meta tags; nothing for a project without a status."""
    if not page.status:
        return ""
    meta = f'<meta name="pypi:project-status" content="{html.escape(page.status)}">'
    if page.status_reason:
        meta += f'<meta name="pypi:project-status-reason" content="{html.escape(page.status_reason)}">'
    return meta


def render_project_html(page: ProjectPage) -> str:
    """A project's PEP 503 page (HTML5, the form PEP 833 freezes)."""
    title = f"Links for {html.escape(page.name)}"
    head = _HEAD.format(version=api_version(page), extra=_status_meta(page), title=title)
    parts = [head, f"<body><h1>{title}</h1>\n"]
    parts.extend(_file_link(page, path, release) for path, release in page.files)
    parts.append(f"</body></html>\n<!--SERIAL {page.serial}-->\n")
    return "".join(parts)


def render_project_page(name: str, files: Iterable[tuple[str, ReleaseFile]], serial: int) -> str:
    """The HTML page of a project whose files are linked relatively (tests and benchmarks)."""
    return render_project_html(ProjectPage(name=name, serial=serial, files=tuple(files)))


def page_links(page: str, base: str = "") -> Iterator[tuple[str, str, Optional[str]]]:
    """(path relative to web/, sha256, sha256 of its PEP 658 ``.metadata`` or None) of each file
    a page we rendered links to under ``base`` (root_uri, or relative links when empty); links
    elsewhere (the master's files when release-files = false) are skipped."""
    prefix = base + "/" if base else PAGE_PREFIX
    for match in _TAG.finditer(page):
        attributes = dict(_ATTRIBUTE.findall(match.group(1)))
        location, _, fragment = html.unescape(attributes.get("href", "")).partition("#")
        if not location.startswith(prefix):
            continue
        digest = fragment[len("sha256=") :] if fragment.startswith("sha256=") else ""
        metadata = html.unescape(attributes.get("data-core-metadata", ""))
        metadata_digest = metadata[len("sha256=") :] if metadata.startswith("sha256=") else None
        yield unquote(location[len(prefix) :]), digest, metadata_digest


def page_files(page: str, base: str = "") -> dict[str, str]:
    """{path relative to web/: sha256} of the files a page we rendered links to (see page_links)."""
    return {path: digest for path, digest, _ in page_links(page, base)}


def page_serial(page: str) -> Optional[int]:
    match = _SERIAL.search(page)
    return int(match.group(1)) if match else None


def _project_line(normalized: str, display: str) -> str:
    return f'<a href="{html.escape(normalized)}/">{html.escape(display)}</a><br/>\n'


_INDEX_HEAD = _HEAD.format(version=REPOSITORY_VERSION, extra="", title="Simple index") + "<body>\n"
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


def _terminated(line: str) -> str:
    return line if line.endswith("\n") else line + "\n"


_INDEX_LINES: LineFormat[str] = LineFormat(_index_key, _project_line, _terminated)


def _checked_head(blocks: Iterable[list[str]], head: str) -> Iterator[list[str]]:
    for number, lines in enumerate(blocks):
        if number == 0 and "".join(lines[: head.count("\n")]) != head:
            raise ValueError("the page was not written by this bandersnatch")
        yield lines


def merge_index(old_blocks: Iterable[list[str]], changes: Mapping[str, Optional[str]]) -> Iterator[str]:
    """The global index page with ``changes`` ({normalized: display, or None to drop}) applied.

    Raises ValueError when the old index is not one we wrote (another head, not sorted): the
    caller then rebuilds it.
    """
    yield _INDEX_HEAD
    yield from merge_lines(_checked_head(old_blocks, _INDEX_HEAD), changes, _INDEX_LINES, _INDEX_HEAD.count("\n"))
    yield _INDEX_TAIL
