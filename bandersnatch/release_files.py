"""One project's release files and what goes beside them: each file downloaded and verified
(or kept, when a good copy is published already), its PEP 658 .metadata (from the wheel where it
can be) and its PEP 740 provenance, all as transfers of the run's pool, before the page names them.
"""

from __future__ import annotations

import io
import json
import logging
import threading
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Callable, Iterator, Optional

from .core_metadata import READ_WHOLE, from_wheel
from .errors import DigestMismatch, NotFound, TruncatedDownload
from .model import ReleaseFile
from .pages.layout import METADATA, PROVENANCE

if TYPE_CHECKING:
    from .project import SyncOptions, _Downloads

__all__ = ["DOWNLOAD_ATTEMPTS", "serve_all"]

logger = logging.getLogger(__name__)

DOWNLOAD_ATTEMPTS = 3


def serve_all(
    files: list[tuple[str, ReleaseFile]], published: dict[str, str], options: SyncOptions, downloads: _Downloads
) -> tuple[tuple[str, ReleaseFile], ...]:
    """Mirror every file and what goes beside it; the files as the pages may then describe them.

    Each file, .metadata and .provenance is one transfer, all handed to the run's pool at once: on
    a WAN a project costs one round trip for all its files instead of one per file and sidecar.
    Any failure fails the project only after every transfer ended, so its page is never written.
    """
    if not options.links.release_files:
        return tuple((path, _listed_only(release, options)) for path, release in files)
    if not options.links.announces_provenance and any(release.provenance_url for _, release in files):
        _say_once("PEP 740 provenance is mirrored but not announced: its links must be fully qualified; "
                  "set [mirror] public-url (or root_uri)")
    tasks: dict[tuple[int, str], Callable[[], object]] = {}
    for index, (path, release) in enumerate(files):
        listed = published.get(path) == release.sha256
        fetch = partial(_fetch_file, path, release, listed, options, downloads)
        if release.core_metadata_sha256 and options.core_metadata:
            if _readable_wheel(path, options):  # its .metadata is read from it once it is here
                tasks[index, METADATA] = partial(_wheel_and_metadata, path, release, listed, options, downloads)
            else:
                url, digest = release.url + METADATA, release.core_metadata_sha256
                tasks[index, ""] = fetch
                tasks[index, METADATA] = partial(_ensure_beside, path, METADATA, url, digest, options)
        else:
            tasks[index, ""] = fetch
        if release.provenance_url:
            tasks[index, PROVENANCE] = partial(_ensure_beside, path, PROVENANCE, release.provenance_url, None, options)
    run = options.transfers.run_all if options.transfers else _one_after_another
    done = dict(zip(tasks, run(list(tasks.values()))))
    return tuple(
        (path, replace(
            release,
            size=release.size if release.size is not None else options.storage.web_size(path),
            core_metadata_sha256=done.get((index, METADATA)),  # type: ignore[arg-type]
            provenance_url=done.get((index, PROVENANCE)) and release.provenance_url,
        ))  # fmt: skip
        for index, (path, release) in enumerate(files)
    )


_said: set[str] = set()
_saying = threading.Lock()


def _say_once(line: str) -> None:
    """A notice about the configuration, logged once per run rather than once per project."""
    with _saying:
        if line in _said:
            return
        _said.add(line)
    logger.warning("%s", line)


def _listed_only(release: ReleaseFile, options: SyncOptions) -> ReleaseFile:
    """release-files = false: the page links the master's file; its .metadata only when wanted."""
    return release if options.core_metadata else replace(release, core_metadata_sha256=None)


def _one_after_another(tasks: list[Callable[[], object]]) -> list[object]:
    return [task() for task in tasks]


def _fetch_file(path: str, release: ReleaseFile, listed: bool, options: SyncOptions, downloads: _Downloads) -> None:
    downloads.add(_ensure_file(path, release, listed, options))


def _wheel_and_metadata(
    path: str, release: ReleaseFile, listed: bool, options: SyncOptions, downloads: _Downloads
) -> Optional[str]:
    """One transfer task: a wheel, then its .metadata read from it. A wheel of at most READ_WHOLE
    bytes (most of them) is kept in memory as it downloads, so its .metadata is parsed from there
    rather than read back from the disk (nine system calls per wheel)."""
    kept = bytearray() if release.size is not None and release.size <= READ_WHOLE else None
    downloads.add(_ensure_file(path, release, listed, options, kept))
    url, digest = release.url + METADATA, release.core_metadata_sha256
    return _ensure_beside(path, METADATA, url, digest, options, wheel=bytes(kept) if kept else None)


def _ensure_beside(
    path: str, suffix: str, url: str, sha256: Optional[str], options: SyncOptions, wheel: Optional[bytes] = None
) -> Optional[str]:
    """A PEP 658 .metadata (checked against ``sha256``) or PEP 740 .provenance beside the file.

    Returns what the page may promise (the hash, or "present"). When the master has no good copy
    (404, a hash that keeps not matching, not JSON), None: the file loses its attribute, it is
    logged, and nothing else fails. A transient failure fails the project instead, so the next
    run fetches it rather than leaving the attribute off until the project changes again.
    ``wheel``: the verified bytes of the file, when they were kept as it downloaded.
    """
    target, storage = path + suffix, options.storage
    if sha256 is None and storage.web_exists(target):
        return "present"
    if sha256 is not None and storage.file_matches(target, sha256, None, verify=True):
        return sha256
    if suffix == METADATA and sha256 is not None and _metadata_from_wheel(path, sha256, options, wheel):
        return sha256
    try:
        if sha256 is not None:  # Master.stream caps a .metadata at [mirror] max-metadata-size
            _fetch_verified(target, url, sha256, None, options)
            return sha256
        body = options.master.fetch_small(url)
        if not isinstance(json.loads(body), dict):
            raise ValueError("not a JSON object")
        storage.write_web(target, [body])
        return "present"
    except (NotFound, DigestMismatch, ValueError, RecursionError) as error:
        logger.warning("Not mirroring %s: %s", url, error)
        storage.remove_web_file(target)
        return None


def _metadata_from_wheel(path: str, sha256: str, options: SyncOptions, wheel: Optional[bytes]) -> bool:
    """Publish a wheel's .metadata from the wheel (its bytes kept in memory, else the file on disk)
    when it hashes to what the master promised (core_metadata.from_wheel); False sends the caller
    to the master."""
    storage, limit = options.storage, options.master.max_metadata_size
    if not _readable_wheel(path, options):
        return False
    try:
        if wheel is not None:
            body = from_wheel(io.BytesIO(wheel), sha256, limit)
        else:
            with storage.open_web(path) as handle:
                body = from_wheel(handle, sha256, limit)
    except OSError:  # not on disk (a dry run fetches no file body)
        return False
    if body is None:
        return False
    storage.write_verified(path + METADATA, [body], sha256, len(body))
    return True


def _readable_wheel(path: str, options: SyncOptions) -> bool:
    """A wheel on a store that reads it cheaply (a local, seekable file): its .metadata can come
    out of it rather than from the master."""
    return path.endswith(".whl") and options.storage.seekable


def _ensure_file(
    path: str, release: ReleaseFile, listed: bool, options: SyncOptions, kept: Optional[bytearray] = None
) -> Optional[int]:
    """Download the file unless a good copy is published already; the bytes fetched, or None.

    A file our own page lists with the same hash was verified when it was written, so only its
    size is checked; anything else (a pep381client leftover, a resumed run) is hashed. ``kept``
    receives the bytes of a download (not of a copy already published).
    """
    verify = options.verify_existing or not listed
    if options.storage.file_matches(path, release.sha256, release.size, verify=verify):
        return None
    return _fetch_verified(path, release.url, release.sha256, release.size, options, kept)


def _fetch_verified(
    path: str, url: str, sha256: str, size: Optional[int], options: SyncOptions, kept: Optional[bytearray] = None
) -> int:
    """Download ``url`` to ``path``, published only once its hash matched; a download that broke
    off or came corrupt is tried again, up to DOWNLOAD_ATTEMPTS times. The bytes written; with
    ``kept``, also those bytes, once they are verified."""
    for attempt in range(1, DOWNLOAD_ATTEMPTS):
        try:
            return _download(path, url, sha256, size, options, kept)
        except (TruncatedDownload, DigestMismatch) as error:
            logger.warning("%s; retrying (%d of %d)", error, attempt, DOWNLOAD_ATTEMPTS)
    return _download(path, url, sha256, size, options, kept)


def _download(
    path: str, url: str, sha256: str, size: Optional[int], options: SyncOptions, kept: Optional[bytearray]
) -> int:
    logger.debug("Downloading %s", url)
    with options.master.stream(url, size) as chunks:  # stops as soon as the body passes ``size``
        if kept is not None:
            kept.clear()  # a download tried again starts afresh
            chunks = _keeping(chunks, kept)
        return options.storage.write_verified(path, chunks, sha256, size)


def _keeping(chunks: Iterator[bytes], kept: bytearray) -> Iterator[bytes]:
    """The chunks, copied into ``kept`` as they pass (each may be a view the next overwrites)."""
    for chunk in chunks:
        kept += chunk
        yield chunk
