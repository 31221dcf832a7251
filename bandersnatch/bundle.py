"""Air gap: ``export`` writes what changed since a serial as one tar; ``import`` applies it offline.

A tar because it streams both ways (neither side holds a file in memory), any machine can list
it (``tar tf``), and release files are compressed already. Members are ``web/...`` paths: first
the release files and ``.metadata``, then the pages of the changed projects, then the manifest
(``bandersnatch-bundle.json``: the exporting mirror's id, the serials from/to, every project with
its serial, and the sha256 and size of every member). The manifest comes last so export hashes each
member while writing it, reading every file once.

Import reads the bundle twice: once to check every hash, name and serial without writing anything
(a damaged or misplaced bundle leaves the mirror unchanged), then to apply it in the order a reader
may see: files, pages, deletions of projects, the global index, then ``status``. Files a new page
no longer lists are recorded in a state file before the pages change and removed last, so a
re-import after a crash finishes the job.
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
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Iterator, Optional

from .errors import DigestMismatch, MirrorError, StateError
from .global_index import refresh_index
from .layout import PAGE_NAMES, Layout, Links, page_path
from .model import PublishedProject, normalize
from .package import remove_project
from .published import read_project, require_mirror
from .state import GENERATION, GENERATION_FILE, STATUS, Plan, StateFiles
from .storage import HASH_CHUNK, Storage, safe_relative

__all__ = ["BundleRefused", "Transfer", "export_bundle", "import_bundle"]

logger = logging.getLogger(__name__)

FORMAT = 1
MANIFEST = "bandersnatch-bundle.json"
LAST_EXPORT = "last-export"  # "{serial} {floor in ns}", then the projects owed then: where the next export starts
MIRROR_ID = "mirror-id"  # the exporting mirror's identity, made at its first export
ORIGIN = "bundle-origin"  # on the importing side: the id of the mirror its bundles come from
PENDING = "import-pending"  # files to remove once an import's pages are in place


class BundleRefused(MirrorError):
    """The bundle is damaged, belongs to another mirror, or does not follow on from this one."""


@dataclass(frozen=True)
class Transfer:
    """What an export wrote or an import applied."""

    since: int
    to: int
    projects: int  # changed projects carried
    members: int
    bytes: int
    deleted: int = 0


# -------------------------------------------------------------------------------------- export
def export_bundle(storage: Storage, layout: Layout, bundle: Path, since: Optional[int]) -> Transfer:
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
        projects, changed = _changes(storage, layout.links, start, floor, owed_then)
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
    for name in sorted(storage.list_web_dirs("simple")):
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
                mtime = storage.mtime_ns(item.path)
                if mtime is None:
                    raise MirrorError(f"{item.path} is linked but missing; run `bandersnatch verify --repair` first")
                if floor is None or pages.name in whole or mtime >= floor:
                    entry = _add(tar, storage, item.path)
                    if item.sha256 is not None and entry["sha256"] != item.sha256.lower():
                        raise DigestMismatch(f"{item.path} does not match its page; run `verify --hash --repair`")
                    members[f"web/{item.path}"] = entry
            for pages in changed:
                for page in PAGE_NAMES:
                    relative = page_path(pages.name, page)
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


# -------------------------------------------------------------------------------------- import
def import_bundle(storage: Storage, layout: Layout, bundle: Path) -> Transfer:
    """Check ``bundle`` whole, then apply it so that readers only ever see consistent states."""
    with storage.lock():
        manifest = _checked(bundle)
        _check_follows(storage, manifest)
        changed: list[str] = manifest["changed"]
        deleted = sorted(set(storage.list_web_dirs("simple")) - set(manifest["projects"]))
        _record_pending(storage, layout.links, changed)
        written = _apply(storage, bundle, manifest["members"])
        for name in deleted:
            remove_project(name, storage, layout.links)
        refresh_index(storage, layout, changed + deleted)
        _remove_pending(storage, layout.links, changed)
        storage.write_state(GENERATION_FILE, GENERATION + "\n")
        storage.write_state(ORIGIN, manifest["mirror"] + "\n")
        storage.write_state(STATUS, f"{manifest['to']}\n")
    return Transfer(manifest["from"], manifest["to"], len(changed), len(manifest["members"]), written, len(deleted))


def _members(bundle: Path) -> Iterator[tuple[tarfile.TarInfo, IO[bytes]]]:
    try:
        with tarfile.open(bundle, "r|") as tar:
            for member in tar:
                handle = tar.extractfile(member) if member.isfile() else None
                if handle is None:
                    raise BundleRefused(f"{bundle}: {member.name!r} is not a plain file; refusing the bundle")
                yield member, handle
    except (tarfile.TarError, EOFError, OSError) as error:
        raise BundleRefused(f"{bundle} is damaged or not a bundle ({error}); the mirror is unchanged") from None


def _chunks(handle: IO[bytes]) -> Iterator[bytes]:
    while chunk := handle.read(HASH_CHUNK):
        yield chunk


def _checked(bundle: Path) -> dict[str, Any]:
    """The manifest, once every member's name, place in the order and sha256 agree with it."""
    seen: dict[str, dict[str, Any]] = {}
    manifest: Optional[dict[str, Any]] = None
    pages_started = False
    for member, handle in _members(bundle):
        if manifest is not None:
            raise BundleRefused(f"{bundle}: {member.name!r} follows the manifest; refusing the bundle")
        if member.name == MANIFEST:
            manifest = _manifest(bundle, handle.read())
            continue
        pages_started = _check_name(bundle, member.name, pages_started)
        digest = hashlib.sha256()
        for chunk in _chunks(handle):
            digest.update(chunk)
        seen[member.name] = {"sha256": digest.hexdigest(), "size": member.size}
    if manifest is None or seen != manifest["members"]:
        raise BundleRefused(f"{bundle} is damaged: its contents do not match its manifest; the mirror is unchanged")
    return manifest


def _check_name(bundle: Path, name: str, pages_started: bool) -> bool:
    relative = safe_relative(name)
    if relative.startswith("web/packages/") and not pages_started:
        return False
    if relative.startswith("web/simple/") and relative.rsplit("/", 1)[-1] in PAGE_NAMES and relative.count("/") == 3:
        return True
    raise BundleRefused(f"{bundle}: unexpected member {name!r}; refusing the bundle")


def _manifest(bundle: Path, data: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
        valid = manifest["format"] == FORMAT and all(
            isinstance(manifest[key], int) for key in ("from", "to")
        ) and isinstance(manifest["mirror"], str) and isinstance(manifest["projects"], dict)
        valid = valid and isinstance(manifest["changed"], list) and isinstance(manifest["members"], dict)
    except (ValueError, KeyError, TypeError):
        valid = False
    if not valid:
        raise BundleRefused(f"{bundle}: its manifest is not one this bandersnatch writes; the mirror is unchanged")
    return manifest  # type: ignore[no-any-return]


def _check_follows(storage: Storage, manifest: dict[str, Any]) -> None:
    status = StateFiles(storage).status()
    origin = (storage.read_state(ORIGIN) or "").strip()
    span = f"serials {manifest['from']} to {manifest['to']}"
    if status is None:
        if not storage.is_empty() and not storage.is_mirror():
            raise BundleRefused(f"{storage.location} is neither empty nor a mirror; refusing to import into it")
        if manifest["from"] != 0:
            raise BundleRefused(f"the bundle covers {span}, but this mirror is empty: import a full export first")
    elif origin and origin != manifest["mirror"]:
        raise BundleRefused(f"the bundle comes from another mirror ({manifest['mirror']}), not {origin}")
    elif manifest["from"] != status:
        raise BundleRefused(f"the bundle covers {span}, but this mirror is at serial {status}; it does not follow on")


def _record_pending(storage: Storage, links: Links, changed: list[str]) -> None:
    """Remember every file the changed projects' pages list now, before those pages change."""
    old = set((storage.read_state(PENDING) or "").splitlines())
    for name in changed:
        pages = read_project(storage, name, links)
        if pages is not None:
            old.update(item.path for item in pages.files)
    storage.write_state(PENDING, "".join(f"{path}\n" for path in sorted(old)))


def _remove_pending(storage: Storage, links: Links, changed: list[str]) -> None:
    claimed = {item.path for name in changed if (pages := read_project(storage, name, links)) for item in pages.files}
    for path in (storage.read_state(PENDING) or "").splitlines():
        if path and path not in claimed and path.startswith("packages/"):
            storage.remove_web_file(path)
    storage.remove_state(PENDING)


def _apply(storage: Storage, bundle: Path, members: dict[str, dict[str, Any]]) -> int:
    """Publish every member (files come before pages in a checked bundle); return bytes written."""
    written = 0
    for member, handle in _members(bundle):
        if member.name == MANIFEST:
            continue
        relative, entry = member.name[len("web/") :], members[member.name]
        if relative.startswith("packages/") and storage.file_matches(relative, entry["sha256"], entry["size"], True):
            continue  # already here: a re-import after a crash
        storage.write_verified(relative, _chunks(handle), entry["sha256"], entry["size"])
        written += entry["size"]
    return written
