"""Air gap, the sending side: ``export`` writes what changed since a serial as one tar.

A tar because it streams both ways (neither side holds a file in memory), any machine can list
it (``tar tf``), and release files are compressed already. Members are ``web/...`` paths: first
the release files and ``.metadata``, then the pages of the changed projects, then the manifest
(``bandersnatch-bundle.json``: the exporting mirror's id, the serials from/to, every project with
its serial, and the sha256 and size of every member). The manifest comes last so export hashes each
member while writing it, reading every file once. ``bundle_import`` is the receiving side;
``manifest`` is the format both share.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tarfile
import time
import uuid
from pathlib import Path
from typing import IO, Any, Optional

from ..configuration import Settings
from ..errors import DigestMismatch, MirrorError, StateError
from ..model import PublishedProject, normalize
from ..pages.layout import (
    PAGE_NAMES,
    PROJECTS,
    PROVENANCE,
    Layout,
    Links,
    json_api_copy,
    page_path,
)
from ..pages.published import read_project, require_mirror
from ..state import Plan, StateFiles
from ..storage import Storage
from .manifest import FORMAT, MANIFEST, Transfer

__all__ = ["export_bundle"]

logger = logging.getLogger(__name__)

LAST_EXPORT = "last-export"  # "{serial} {floor in ns}", then the projects owed then: where the next export starts
MIRROR_ID = "mirror-id"  # the exporting mirror's identity, made at its first export


def export_bundle(storage: Storage, settings: Settings, bundle: Path, since: Optional[int]) -> Transfer:
    """Write everything changed since ``since`` (default: the last export) to ``bundle``."""
    require_mirror(storage)
    with storage.lock():
        state = StateFiles(storage)
        status = state.status()
        if status is None:
            raise MirrorError(f"{storage.location} has never finished a sync: nothing to export yet")
        last, floor, owed_then = _last_export(storage)
        start = last if since is None else since
        floor = floor if start == last and start else None  # file times only mean something then
        started = time.time_ns()
        projects, changed = _changes(storage, Layout.from_settings(settings).links, start, floor, owed_then)
        mirror_id = storage.read_state(MIRROR_ID) or f"{uuid.uuid4()}\n"
        header = {"format": FORMAT, "mirror": mirror_id.strip(), "from": start, "to": status, "projects": projects}
        members = _write_tar(storage, bundle, changed, (floor, owed_then), header)
        storage.write_state(MIRROR_ID, mirror_id)
        # An owed project is behind the status: whatever it gets later may be older than this
        # export's start (files fetched before a failure), so the next export carries it whole.
        owed = sorted({normalize(name) for name in (state.todo() or Plan(status, {})).projects})
        storage.write_state(LAST_EXPORT, f"{status} {started}\n" + "".join(f"{name}\n" for name in owed))
    total = sum(entry["size"] for entry in members.values())
    return Transfer(start, status, len(changed), len(members), total)


def _last_export(storage: Storage) -> tuple[int, Optional[int], set[str]]:
    """(serial, start time in ns, projects owed then) of the last export; (0, None, {}) before one."""
    lines = (storage.read_state(LAST_EXPORT) or "0 -\n").splitlines()
    parts = lines[0].split() if lines else []
    if len(parts) != 2 or not parts[0].isdigit():
        raise StateError(f"{storage.state_location(LAST_EXPORT)} is damaged; pass --since SERIAL")
    return int(parts[0]), int(parts[1]) if parts[1].isdigit() else None, set(lines[1:])


def _changes(
    storage: Storage, links: Links, since: int, floor: Optional[int], owed_then: set[str]
) -> tuple[dict[str, int], list[PublishedProject]]:
    """Every project with its serial, and the changed ones: a newer serial, a page written since
    the last export (``sync NAME``, an owed project that healed), or owed at the last export."""
    projects, changed = {}, []
    for name in sorted(storage.list_web_dirs(PROJECTS)):
        pages = read_project(storage, name, links)
        if pages is None:
            continue
        projects[name] = pages.serial or 0
        if since == 0 or projects[name] > since or name in owed_then or _written_since(storage, name, floor):
            changed.append(pages)
    return projects, changed


def _written_since(storage: Storage, name: str, floor: Optional[int]) -> bool:
    if floor is None:
        return False
    return any(
        mtime >= floor
        for mtime in (storage.mtime_ns(page_path(name, page)) for page in PAGE_NAMES)
        if mtime is not None
    )


def _write_tar(
    storage: Storage,
    bundle: Path,
    changed: list[PublishedProject],
    since: tuple[Optional[int], set[str]],
    header: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """The tar of ``changed``: of each, the files written since the floor in ns (all of them without
    one, or for the projects ``whole`` lists), its pages, and the manifest last."""
    floor, whole = since
    members: dict[str, dict[str, Any]] = {}
    partial = bundle.with_name(f".{bundle.name}.partial")
    try:
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
            for pages, item in ((pages, item) for pages in changed for item in pages.files):
                if f"web/{item.path}" in members:
                    continue  # a .provenance carried beside its file already
                mtime = storage.mtime_ns(item.path)
                if mtime is None:
                    raise MirrorError(f"{item.path} is linked but missing; run `bandersnatch verify --repair` first")
                if floor is None or pages.name in whole or mtime >= floor:
                    entry = _add(tar, storage, item.path)
                    if item.sha256 is not None and entry["sha256"] != item.sha256.lower():
                        raise DigestMismatch(f"{item.path} does not match its page; run `verify --hash --repair`")
                    members[f"web/{item.path}"] = entry
                    beside = item.path + PROVENANCE  # mirrored even where no public-url lets pages announce it
                    if item.kind == "file" and f"web/{beside}" not in members and storage.web_exists(beside):
                        members[f"web/{beside}"] = _add(tar, storage, beside)
            for pages in changed:  # with json = true, the JSON API copy travels with the pages
                for relative in (*(page_path(pages.name, page) for page in PAGE_NAMES), json_api_copy(pages.name)):
                    if storage.web_size(relative) is not None:
                        members[f"web/{relative}"] = _add(tar, storage, relative)
            data = json.dumps({**header, "changed": [p.name for p in changed], "members": members}).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
            tar.addfile(info, _BytesReader(data))
        os.replace(partial, bundle)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(partial)
    return members


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self.data, self.position = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self.data) if size < 0 else self.position + size
        chunk, self.position = self.data[self.position : end], min(end, len(self.data))
        return chunk


class _Hashing:
    """A file read through tarfile, hashed on the way: every byte is read once."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle, self.digest = handle, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self.handle.read(size)
        self.digest.update(chunk)
        return chunk


def _add(tar: tarfile.TarFile, storage: Storage, relative: str) -> dict[str, Any]:
    """The published file ``relative`` as the member ``web/{relative}``; its manifest entry."""
    info = tarfile.TarInfo(f"web/{relative}")
    size, mtime = storage.web_size(relative), storage.mtime_ns(relative)
    if size is None or mtime is None:
        raise MirrorError(f"{relative} vanished while exporting; is another run writing the mirror?")
    info.size, info.mode, info.mtime = size, 0o644, mtime // 1_000_000_000
    with storage.open_web(relative) as handle:
        reader = _Hashing(handle)
        tar.addfile(info, reader)
    return {"sha256": reader.digest.hexdigest(), "size": size}


