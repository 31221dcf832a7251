"""Air gap, the receiving side: ``import`` applies a bundle (``bundle_export``) offline.

Import reads the bundle twice: once to check everything without writing anything (every member a
plain file at a path import may write, each once, in order; the manifest's schema, names and
serials, manifest.parse_manifest; every hash; every page's links; the serials against the mirror;
the deletion guard), so a damaged, hostile or misplaced bundle leaves the mirror unchanged, then
to apply it in the order a reader may see: files, pages, deletions of projects, the global index,
then ``status``. Files a new page no longer lists are recorded in a state file before the pages
change and removed last, so a re-import after a crash finishes the job.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import tarfile
from pathlib import Path
from typing import IO, Iterator, Mapping, Optional

from ..configuration import Settings
from ..deletion_guard import check_projects
from ..errors import UnsafePath
from ..history import size_moved_by
from ..model import PublishedFile
from ..pages.html import read_project_html
from ..pages.index import refresh_index
from ..pages.layout import (
    PAGE_V1_JSON,
    PROJECTS,
    Layout,
    Links,
    is_file_path,
)
from ..pages.pep691 import read_project_json
from ..pages.published import other_owner, read_project
from ..project import remove_project
from ..state import GENERATION, GENERATION_FILE, STATUS, StateFiles
from ..storage import HASH_CHUNK, Storage, safe_relative
from .manifest import (
    MANIFEST,
    BundleRefused,
    Manifest,
    Member,
    Transfer,
    check_member_path,
    parse_manifest,
    valid_project_name,
)

__all__ = ["import_bundle"]

logger = logging.getLogger(__name__)

ORIGIN = "bundle-origin"  # on the importing side: the id of the mirror its bundles come from
PENDING = "import-pending"  # files to remove once an import's pages are in place
MAX_PAGE = 64 << 20  # a page read whole on import: PyPI's largest project pages are a few MB
# The manifest names every project and every member before it: its size follows theirs (a full
# export of PyPI lists ~900,000 projects in ~40 MB and each member in ~150 bytes).
MAX_MANIFEST, MANIFEST_PER_MEMBER = 128 << 20, 1 << 10


def import_bundle(storage: Storage, settings: Settings, bundle: Path, allow_mass_deletion: bool = False) -> Transfer:
    """Check ``bundle`` whole, then apply it so that readers only ever see consistent states.

    Everything that can refuse the bundle (its members, its manifest, the serials, the deletion
    guard) runs before the first write. The bundle is opened once and read twice through the same
    handle, so a file swapped at its path between the two passes cannot slip in.
    """
    links = Layout.from_settings(settings).links
    with storage.lock(), _open(bundle) as handle:
        manifest = _checked(storage, links, bundle, handle)
        _check_follows(storage, manifest)
        changed = list(manifest.changed)
        deleted = _deleted(storage, manifest)
        check_projects(len(deleted), len(storage.list_web_dirs(PROJECTS)), settings.max_deletions, allow_mass_deletion)
        _record_pending(storage, links, changed)
        handle.seek(0)
        with size_moved_by(storage) as counted:
            written = _apply(counted, bundle, handle, manifest.members)
            for name in deleted:
                remove_project(name, counted, links)
            refresh_index(counted, Layout.from_settings(settings), changed + deleted)
            _remove_pending(counted, links, changed)
        storage.write_state(GENERATION_FILE, GENERATION + "\n")
        storage.write_state(ORIGIN, manifest.mirror + "\n")
        storage.write_state(STATUS, f"{manifest.to}\n")
    return Transfer(manifest.start, manifest.to, len(changed), len(manifest.members), written, len(deleted))


@contextlib.contextmanager
def _open(bundle: Path) -> Iterator[IO[bytes]]:
    try:
        handle = open(bundle, "rb")
    except OSError as error:
        raise BundleRefused(f"cannot read {bundle}: {error.strerror}; the mirror is unchanged") from None
    with handle:
        yield handle


def _deleted(storage: Storage, manifest: Manifest) -> list[str]:
    """The mirror's projects the bundle no longer lists. A folder that is no normalized project
    name was never made by a sync; it is left alone (and said so), never deleted by a guess."""
    deleted = []
    for name in sorted(set(storage.list_web_dirs(PROJECTS)) - set(manifest.projects)):
        if valid_project_name(name):
            deleted.append(name)
        else:
            logger.warning("Leaving web/simple/%s alone: not a project folder this mirror writes", name)
    return deleted


_DAMAGED = (tarfile.TarError, EOFError, OSError, ValueError)


def _members(bundle: Path, handle: IO[bytes]) -> Iterator[tuple[tarfile.TarInfo, IO[bytes]]]:
    """The bundle's members, each a plain file: a link, device or folder refuses the bundle.

    Reading a member's data can fail too (a bundle cut short ends inside it); the caller's reads
    are inside ``_damaged``, which turns that into the same one line.
    """
    with _damaged(bundle), tarfile.open(fileobj=handle, mode="r|") as tar:
        for member in tar:
            data = tar.extractfile(member) if member.type in _PLAIN else None
            if data is None:
                raise BundleRefused(f"{bundle}: {member.name!r} is not a plain file; refusing the bundle")
            yield member, data


@contextlib.contextmanager
def _damaged(bundle: Path) -> Iterator[None]:
    try:
        yield
    except _DAMAGED as error:
        raise BundleRefused(f"{bundle} is damaged or not a bundle ({error}); the mirror is unchanged") from None


_PLAIN = (tarfile.REGTYPE, tarfile.AREGTYPE)


def _chunks(bundle: Path, data: IO[bytes]) -> Iterator[bytes]:
    """A member's data; a read that fails (the bundle ends inside it) refuses the bundle, while
    what the consumer does with a chunk (a full disk while writing it) stays its own error."""
    while True:
        with _damaged(bundle):
            chunk = data.read(HASH_CHUNK)
        if not chunk:
            return
        yield chunk


def _read_all(bundle: Path, member: tarfile.TarInfo, data: IO[bytes], limit: int) -> bytes:
    """A member read whole into memory (a page, the manifest), refused past ``limit`` bytes: a
    crafted bundle must not make import hold gigabytes. The tar header states the size, so an
    oversized member is refused before any of it is read."""
    if member.size > limit:
        raise BundleRefused(f"{bundle}: {member.name!r} has {member.size} bytes, more than {limit}; refusing the bundle")
    body = b"".join(_chunks(bundle, data))
    if len(body) > limit:  # not past a tar header's size, but nothing here trusts it alone
        raise BundleRefused(f"{bundle}: {member.name!r} is longer than {limit} bytes; refusing the bundle")
    return body


def _checked(storage: Storage, links: Links, bundle: Path, handle: IO[bytes]) -> Manifest:
    """The manifest, once every member is a plain file at a path import may write, in its place
    in the order (files, then pages, then the manifest), once, with the sha256 and size the
    manifest gives, and once every page links only files that the bundle or the mirror holds."""
    seen: dict[str, Member] = {}
    manifest: Optional[Manifest] = None
    pages_started = False
    for member, data in _members(bundle, handle):
        if manifest is not None:
            raise BundleRefused(f"{bundle}: {member.name!r} follows the manifest; refusing the bundle")
        if member.name == MANIFEST:
            manifest = parse_manifest(_read_all(bundle, member, data, MAX_MANIFEST + MANIFEST_PER_MEMBER * len(seen)))
            continue
        if member.name in seen:
            raise BundleRefused(f"{bundle}: {member.name!r} appears twice; refusing the bundle")
        kind, _ = _place(bundle, member.name)
        if kind == "file" and pages_started:
            raise BundleRefused(f"{bundle}: the file {member.name!r} comes after the pages; refusing the bundle")
        pages_started = pages_started or kind == "page"
        if kind == "page":
            body = _read_all(bundle, member, data, MAX_PAGE)
            seen[member.name] = Member(hashlib.sha256(body).hexdigest(), len(body))
            _check_links(storage, links, bundle, member.name, body, seen)
            continue
        digest, size = hashlib.sha256(), 0
        for chunk in _chunks(bundle, data):
            digest.update(chunk)
            size += len(chunk)
        seen[member.name] = Member(digest.hexdigest(), size)
    if manifest is None or seen != dict(manifest.members):
        raise BundleRefused(f"{bundle} is damaged: its contents do not match its manifest; the mirror is unchanged")
    return manifest


def _place(bundle: Path, name: str) -> tuple[str, str]:
    try:
        return check_member_path(name)
    except BundleRefused:
        raise BundleRefused(f"{bundle}: unexpected member {name!r}; refusing the bundle") from None


def _check_links(
    storage: Storage, links: Links, bundle: Path, name: str, body: bytes, seen: dict[str, Member]
) -> None:
    """Every file the page ``name`` links locally is among the bundle's files (with the page's
    hash) or already published on the mirror (by size, when the page gives one), and belongs to
    no other project: a page must never promise what the mirror cannot serve, nor claim a file
    another project published first (the sync refuses such a page too)."""
    project = name.split("/")[2]
    current = read_project(storage, project, links) if not name.startswith("web/pypi/") else None
    listed = {item.path for item in current.files} if current else set()
    for item in _links(bundle, name, body, links):
        member = seen.get(f"web/{item.path}")
        if item.path not in listed and storage.web_exists(item.path):
            owner = other_owner(storage, links, project, item.path)
            if owner is not None:
                raise BundleRefused(f"{bundle}: the page {name!r} links {item.path!r}, which belongs to project "
                                    f"{owner}; refusing the bundle")  # fmt: skip
        if member is not None and _agrees(member, item):
            continue
        if member is None and (storage.file_matches(item.path, item.sha256, item.size, verify=False)
                               if item.sha256 else storage.web_exists(item.path)):  # fmt: skip
            continue
        raise BundleRefused(
            f"{bundle}: the page {name!r} links {item.path!r}, which neither the bundle nor the mirror holds; "
            "refusing the bundle"
        )


def _agrees(member: Member, item: PublishedFile) -> bool:
    return (item.sha256 is None or member.sha256 == item.sha256.lower()) and item.size in (None, member.size)


def _links(bundle: Path, name: str, body: bytes, links: Links) -> Iterator[PublishedFile]:
    """Each local file a bundled page links, read by the pages' own readers; a JSON API copy
    (web/pypi/) repeats the pages and is not read."""
    if name.startswith("web/pypi/"):
        return
    project = name.split("/")[2]
    try:
        text = body.decode("utf-8")
        read = read_project_json if name.endswith(PAGE_V1_JSON) else read_project_html
        files = read(project, text, links).files
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        raise BundleRefused(f"{bundle}: the page {name!r} cannot be read; refusing the bundle") from None
    for item in files:
        try:
            relative = safe_relative(item.path)
        except UnsafePath:
            raise BundleRefused(f"{bundle}: the page {name!r} links the unsafe path {item.path!r}; refusing it") from None
        if not is_file_path(relative):
            raise BundleRefused(f"{bundle}: the page {name!r} links {item.path!r} outside packages/; refusing it")
        yield item


def _check_follows(storage: Storage, manifest: Manifest) -> None:
    status = StateFiles(storage).status()
    origin = (storage.read_state(ORIGIN) or "").strip()
    span = f"serials {manifest.start} to {manifest.to}"
    if status is None:
        if not storage.is_empty() and not storage.is_mirror():
            raise BundleRefused(f"{storage.location} is neither empty nor a mirror; refusing to import into it")
        if manifest.start != 0:
            raise BundleRefused(f"the bundle covers {span}, but this mirror is empty: import a full export first")
    elif origin and origin != manifest.mirror:
        raise BundleRefused(f"the bundle comes from another mirror ({manifest.mirror}), not {origin}")
    elif manifest.start != status:
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
        if path and path not in claimed and is_file_path(path):
            storage.remove_web_file(path)
    storage.remove_state(PENDING)


def _apply(storage: Storage, bundle: Path, handle: IO[bytes], members: Mapping[str, Member]) -> int:
    """Publish every member (files come before pages in a checked bundle); return bytes written."""
    written = 0
    for member, data in _members(bundle, handle):
        if member.name == MANIFEST:
            continue
        entry = members.get(member.name)
        if entry is None:  # the checked pass saw another bundle: the file changed under us
            raise BundleRefused(f"{bundle} changed while being imported ({member.name!r}); import it again")
        relative = member.name[len("web/") :]
        if is_file_path(relative) and storage.file_matches(relative, entry.sha256, entry.size, True):
            continue  # already here: a re-import after a crash
        storage.write_verified(relative, _chunks(bundle, data), entry.sha256, entry.size)
        written += entry.size
    return written
