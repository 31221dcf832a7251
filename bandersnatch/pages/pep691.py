"""The JSON pages (PEP 691, 700, 740, 792) and the JSON API copy: pure functions of ProjectPage.

The HTML page (html.py), the PEP 691 page and the ``web/pypi/{name}/json`` copy are all rendered
from one ProjectPage, so the three always agree on files, hashes, yanks and metadata. The JSON root
is written one project per line, so the same block merge as the HTML index keeps an incremental
run cheap at 740,000 projects.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from typing import Any, Iterable, Iterator, Mapping, Optional

from ..model import ProjectPage, PublishedFile, PublishedProject, ReleaseFile, normalize
from .blockmerge import LineFormat, merge_lines
from .html import REPOSITORY_VERSION
from .layout import METADATA, PROVENANCE, Links

__all__ = [
    "read_project_json",
    "root_key",
    "merge_root",
    "render_json_api",
    "render_project_json",
    "render_root",
    "upload_time",
]

_ROOT_HEAD = re.compile(r'^\{"meta": \{"api-version": "[0-9.]+", "_last-serial": (\d+)\}, "projects": \[\n$')
_ROOT_TAIL = "]}\n"


def upload_time(value: Optional[str]) -> Optional[str]:
    """PEP 700's exact form ``yyyy-mm-ddThh:mm:ss.ffffffZ``, or None when the master's is not a time."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _core_metadata(release: ReleaseFile) -> Any:
    return {"sha256": release.core_metadata_sha256} if release.core_metadata_sha256 else False


def _yanked(release: ReleaseFile) -> Any:
    """PEP 592/691: the reason string when there is one, else a boolean."""
    return (release.yanked_reason or True) if release.yanked else False


def _pep691_file(page: ProjectPage, path: str, release: ReleaseFile) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "filename": release.filename,
        "url": page.links.file_href(path, release),
        "hashes": {"sha256": release.sha256},
        "requires-python": release.requires_python,
        "size": release.size,
        "upload-time": upload_time(release.upload_time),
        "yanked": _yanked(release),
        "core-metadata": _core_metadata(release),
        "dist-info-metadata": _core_metadata(release),  # PEP 658's name, for older clients
    }
    if entry["upload-time"] is None:
        del entry["upload-time"]
    provenance = page.links.provenance_href(path, release)
    if provenance:
        entry["provenance"] = provenance
    return entry


def render_project_json(page: ProjectPage) -> str:
    """A project's PEP 691 page (``index.v1_json``)."""
    document: dict[str, Any] = {
        "meta": {"api-version": REPOSITORY_VERSION, "_last-serial": page.serial},
        "name": normalize(page.name),
        "versions": list(page.versions),
        "files": [_pep691_file(page, path, release) for path, release in page.files],
    }
    if page.status:
        status = {"status": page.status}
        if page.status_reason:
            status["reason"] = page.status_reason
        document["project-status"] = status
    return json.dumps(document, ensure_ascii=False)


def _api_file(page: ProjectPage, path: str, release: ReleaseFile) -> dict[str, Any]:
    time = upload_time(release.upload_time)
    return {
        "filename": release.filename,
        "url": page.links.file_href(path, release),
        "digests": {"sha256": release.sha256},
        "size": release.size,
        "requires_python": release.requires_python,
        "packagetype": "bdist_wheel" if release.filename.endswith(".whl") else "sdist",
        "upload_time": time[:19] if time else None,
        "upload_time_iso_8601": time,
        "yanked": release.yanked,
        "yanked_reason": release.yanked_reason,
        "core-metadata": _core_metadata(release),
        "data-dist-info-metadata": _core_metadata(release),
    }


def render_json_api(page: ProjectPage) -> str:
    """The ``web/pypi/{name}/json`` copy, its file URLs pointing into the mirror.

    Links are relative to ``pypi/{name}/json``, which sits as deep as ``simple/{name}/``.
    """
    info = json.loads(page.info_json) if page.info_json else {"name": page.name}
    releases: dict[str, list[dict[str, Any]]] = {version: [] for version in page.versions}
    for path, release in page.files:
        releases.setdefault(release.version or "", []).append(_api_file(page, path, release))
    document = {
        "info": info,
        "last_serial": page.serial,
        "releases": releases,
        "urls": releases.get(str(info.get("version")), []),
        "vulnerabilities": [],
    }
    return json.dumps(document, ensure_ascii=False)


def read_project_json(name: str, text: str, links: Links) -> PublishedProject:
    """What one of our PEP 691 project pages says (the files as paths under web/, with sizes);
    ValueError (or KeyError, TypeError) when the page is damaged."""
    page = json.loads(text)
    files: list[PublishedFile] = []
    for entry in page["files"]:
        path = links.path_of(str(entry["url"]))
        if path is None:
            continue  # the master's file (release-files = false)
        size = entry.get("size")
        files.append(PublishedFile(path, str(entry["hashes"]["sha256"]), size if isinstance(size, int) else None))
        metadata = entry.get("core-metadata")
        if isinstance(metadata, dict) and isinstance(metadata.get("sha256"), str):
            files.append(PublishedFile(path + METADATA, metadata["sha256"], kind="metadata"))
        if links.path_of(str(entry.get("provenance", ""))) == path + PROVENANCE:
            files.append(PublishedFile(path + PROVENANCE, None, kind="provenance"))
    serial = page["meta"].get("_last-serial")
    status = page.get("project-status") or {}
    return PublishedProject(
        name=name, display=str(page["name"]), serial=serial if isinstance(serial, int) else None,
        files=tuple(files), status=str(status["status"]) if isinstance(status, dict) and status.get("status") else None,
    )  # fmt: skip


# -- the root ---------------------------------------------------------------------------------


def _root_head(serial: int) -> str:
    return f'{{"meta": {{"api-version": "{REPOSITORY_VERSION}", "_last-serial": {serial}}}, "projects": [\n'


def _root_line(normalized: str, value: tuple[str, int]) -> str:
    display, serial = value
    return json.dumps({"name": display, "_last-serial": serial}, ensure_ascii=False) + ",\n"


def root_key(line: str) -> Optional[str]:
    """The normalized project name of one line of the JSON root we write, None for other lines."""
    if not line.startswith('{"name": '):
        return None
    try:
        return normalize(json.loads(line.rstrip().rstrip(","))["name"])
    except (ValueError, KeyError, TypeError):
        return None


def _terminated(line: str) -> str:
    return line if line.endswith(",\n") else line.rstrip("\n") + ",\n"


_ROOT_LINES: LineFormat[tuple[str, int]] = LineFormat(root_key, _root_line, _terminated)


def _closed(body: Iterable[str]) -> Iterator[str]:
    """The project lines without the comma after the last one (JSON has no trailing commas)."""
    held = ""
    for chunk in body:
        if chunk:
            if held:
                yield held
            held = chunk
    if held:
        yield held[:-2] + "\n"


def render_root(projects: Iterable[tuple[str, tuple[str, int]]], serial: int) -> Iterator[str]:
    """The PEP 691 root: every project with its ``_last-serial`` (what lets a mirror sync from ours)."""
    yield _root_head(serial)
    yield from _closed(_root_line(name, value) for name, value in projects)
    yield _ROOT_TAIL


def root_serial(first_line: str) -> Optional[int]:
    match = _ROOT_HEAD.match(first_line)
    return int(match.group(1)) if match else None


def merge_root(
    old_blocks: Iterable[list[str]], changes: Mapping[str, Optional[tuple[str, int]]]
) -> Iterator[str]:
    """The JSON root with ``changes`` applied; ValueError when the old one is not ours (rebuild)."""
    blocks = iter(old_blocks)
    first = next(blocks, None)
    old_serial = root_serial(first[0]) if first else None
    if first is None or old_serial is None:
        raise ValueError("the JSON root was not written by this bandersnatch")
    serial = max([old_serial, *(value[1] for value in changes.values() if value)])
    yield _root_head(serial)
    yield from _closed(merge_lines(_chain(first, blocks), changes, _ROOT_LINES, 1))
    yield _ROOT_TAIL


def _chain(first: list[str], rest: Iterator[list[str]]) -> Iterator[list[str]]:
    yield first
    yield from rest
