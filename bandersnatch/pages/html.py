"""The HTML simple index pages (PEP 503, 592, 629, 658, 714, 740, 792): pure functions from values to HTML and back.

The mirror reads its own pages again to learn what it published before (which files a project had,
which projects the global index lists), so parsing lives beside rendering and the two are tested
as a round trip.
"""

from __future__ import annotations

import html
import re
from typing import Iterable, Iterator, Mapping, Optional

from ..model import ProjectPage, PublishedFile, PublishedProject, ReleaseFile
from .blockmerge import LineFormat, merge_lines
from .layout import METADATA, PROVENANCE, Links

# PEP 629/691: one version for every page and both roots, so a client never sees them disagree.
# 1.4 covers all the mirror emits: PEP 700 (1.1), PEP 740 provenance (1.3), PEP 792 status (1.4);
# a page without provenance or status simply has none, which every version allows.
REPOSITORY_VERSION = "1.4"

__all__ = [
    "REPOSITORY_VERSION",
    "merge_index",
    "page_files",
    "parse_index_line",
    "read_project_html",
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
_TITLE = re.compile(r"<title>Links for (.*?)</title>")
_STATUS = re.compile(r'<meta name="pypi:project-status" content="([^"]*)">')


def _file_link(page: ProjectPage, path: str, release: ReleaseFile) -> str:
    href = f"{page.links.file_href(path, release)}#sha256={release.sha256}"
    attributes = [f'href="{html.escape(href)}"']
    if release.requires_python:
        attributes.append(f'data-requires-python="{html.escape(release.requires_python)}"')
    if release.yanked:  # PEP 592: a yanked file is never listed without its marker
        attributes.append(f'data-yanked="{html.escape(release.yanked_reason or "")}"')
    if release.core_metadata_sha256:  # PEP 714's name and PEP 658's, for older clients
        digest = f"sha256={release.core_metadata_sha256}"
        attributes.append(f'data-core-metadata="{digest}" data-dist-info-metadata="{digest}"')
    provenance = page.links.provenance_href(path, release)
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
    head = _HEAD.format(version=REPOSITORY_VERSION, extra=_status_meta(page), title=title)
    parts = [head, f"<body><h1>{title}</h1>\n"]
    parts.extend(_file_link(page, path, release) for path, release in page.files)
    parts.append(f"</body></html>\n<!--SERIAL {page.serial}-->\n")
    return "".join(parts)


def render_project_page(name: str, files: Iterable[tuple[str, ReleaseFile]], serial: int) -> str:
    """The HTML page of a project whose files are linked relatively (tests and benchmarks)."""
    return render_project_html(ProjectPage(name=name, serial=serial, files=tuple(files)))


def read_project_html(name: str, page: str, links: Links) -> PublishedProject:
    """What one of our HTML project pages says: its title, serial, status, and the files it links
    (with their ``.metadata`` and ``.provenance``) as paths under web/; links that lead elsewhere
    (the master's files with ``release-files = false``) are left out."""
    files: list[PublishedFile] = []
    for match in _TAG.finditer(page):
        attributes = {key: html.unescape(value) for key, value in _ATTRIBUTE.findall(match.group(1))}
        location, _, fragment = attributes.get("href", "").partition("#")
        path = links.path_of(location)
        if path is None:
            continue
        files.append(PublishedFile(path, _digest(fragment)))
        metadata = _digest(attributes.get("data-core-metadata", ""))
        if metadata:
            files.append(PublishedFile(path + METADATA, metadata, kind="metadata"))
        if links.path_of(attributes.get("data-provenance", "")) == path + PROVENANCE:
            files.append(PublishedFile(path + PROVENANCE, None, kind="provenance"))
    title, status, serial = _TITLE.search(page), _STATUS.search(page), _SERIAL.search(page)
    return PublishedProject(
        name=name, display=html.unescape(title.group(1)) if title else name,
        serial=int(serial.group(1)) if serial else None, files=tuple(files),
        status=html.unescape(status.group(1)) if status else None,
    )  # fmt: skip


def _digest(value: str) -> str:
    return value[len("sha256=") :] if value.startswith("sha256=") else ""


def page_files(page: str, links: Links = Links()) -> dict[str, str]:
    """{path relative to web/: sha256} of the release files an HTML page we rendered links to."""
    return read_project_html("", page, links).release_files


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
