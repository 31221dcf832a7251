"""The plan of a run (SPEC section 14): what it adds, updates and removes, downloads and deletes,
and what the cooldown holds back. Every real run writes it to ``plan.json``; ``mirror --dry-run``
prints it without writing anything or fetching any file body.

A dry run decides *exactly* as a run does because it is the same run: the engine and every project
sync go through their ordinary code, with two stand-ins at the edges. ``Recorder`` sits in front of
the storage and counts what the run publishes and deletes (in a real run it then does it; in a dry
run it only reads). ``NoBodies`` sits in front of the master and answers every file download with an
empty body, so the metadata, JSON and page requests a plan needs are made and no file body is.
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Callable, ContextManager, Iterable, Iterator, Optional, Sequence

from .master import Master
from .model import ProjectMetadata
from .pages.layout import BESIDE, METADATA, PROJECTS, is_file_path
from .storage import Storage

__all__ = ["PLAN", "NoBodies", "PlanTally", "Recorder", "render_plan"]

PLAN = "plan.json"


@dataclass
class PlanTally:
    """What one run publishes and deletes, counted from every worker thread."""

    existed: dict[str, bool] = field(default_factory=dict)  # project published: was it there before
    removed: set[str] = field(default_factory=set)  # projects whose pages went
    download_files: int = 0
    download_bytes: int = 0
    delete_files: int = 0
    delete_bytes: int = 0
    release_files_deleted: int = 0  # of them release files (not .metadata or .provenance): the mirror's size
    release_bytes_deleted: int = 0
    release_files_written: int = 0  # release files among the downloads (operator commands' size change)
    release_bytes_written: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def published(self, name: str, existed: Callable[[], bool]) -> None:
        """Note that ``name``'s pages are being written; ``existed`` (a stat) is asked only before
        its first page, outside the lock: one project's pages are written by one thread."""
        if name in self.existed:
            return
        found = existed()
        with self._lock:
            self.existed.setdefault(name, found)

    def downloaded(self, size: int, release: bool = False) -> None:
        with self._lock:
            self.download_files += 1
            self.download_bytes += size
            if release:
                self.release_files_written += 1
                self.release_bytes_written += size

    def deleted(self, size: int, release: bool) -> None:
        with self._lock:
            self.delete_files += 1
            self.delete_bytes += size
            if release:
                self.release_files_deleted += 1
                self.release_bytes_deleted += size

    def removed_project(self, name: str) -> None:
        with self._lock:
            self.removed.add(name)

    def as_json(self, serial_from: Optional[int], serial_to: Optional[int], held: list[dict[str, Any]],
                refused: Optional[str]) -> dict[str, Any]:  # fmt: skip
        """SPEC 14's keys."""
        with self._lock:
            kept = {name for name in self.existed if name not in self.removed}
            return {
                "serial_from": serial_from,
                "serial_to": serial_to,
                "add": sorted(name for name in kept if not self.existed[name]),
                "update": sorted(name for name in kept if self.existed[name]),
                "remove": sorted(self.removed),
                "download": {"files": self.download_files, "bytes": self.download_bytes},
                "delete": {"projects": len(self.removed), "files": self.delete_files, "bytes": self.delete_bytes},
                "held_back": held,
                "refused": refused,
            }


def _page_owner(relative: str) -> Optional[str]:
    """The project a page path under simple/{name}/ belongs to (not the global index)."""
    parts = relative.split("/")
    return parts[1] if len(parts) == 3 and parts[0] == PROJECTS else None


class Recorder(Storage):
    """The run's storage, counting into ``tally``; with ``dry``, every write is left out (and the
    lock and the diff file, which would write too): reads see the mirror as it is."""

    def __init__(self, inner: Storage, tally: PlanTally, dry: bool) -> None:
        super().__init__()
        self.inner, self.tally, self.dry = inner, tally, dry

    # what is counted (and, in a dry run, not done)
    def write_web(self, relative: str, chunks: Iterable[bytes]) -> None:
        owner = _page_owner(relative)
        if owner is not None:
            self.tally.published(owner, lambda: self.inner.web_exists(f"{PROJECTS}/{owner}"))
        if self.dry:
            size = sum(len(chunk) for chunk in chunks)
            if is_file_path(relative):  # a provenance object beside a file
                self.tally.downloaded(size)
            return
        if is_file_path(relative):
            data = b"".join(chunks)
            self.inner.write_web(relative, [data])
            self.tally.downloaded(len(data))
            return
        self.inner.write_web(relative, chunks)

    def write_verified(self, relative: str, chunks: Iterable[bytes], sha256: str, size: Optional[int]) -> int:
        if self.dry:  # NoBodies: no file body comes, only a .metadata (a plan's read-only request)
            counted = sum(len(chunk) for chunk in chunks)
            written = counted or size or 0
        else:
            written = self.inner.write_verified(relative, chunks, sha256, size)
        self.tally.downloaded(written, release=is_file_path(relative) and not relative.endswith(BESIDE))
        return written

    def remove_web_file(self, relative: str) -> None:
        size = self.inner.web_size(relative) if is_file_path(relative) else None  # one stat: None when absent
        if size is not None:
            self.tally.deleted(size, release=not relative.endswith(BESIDE))
        if not self.dry:
            self.inner.remove_web_file(relative)

    def remove_web_tree(self, relative: str) -> None:
        parts = relative.split("/")
        if len(parts) == 2 and parts[0] == PROJECTS and self.inner.web_exists(relative):
            self.tally.removed_project(parts[1])
        if not self.dry:
            self.inner.remove_web_tree(relative)

    def write_state(self, name: str, text: str) -> None:
        if not self.dry:
            self.inner.write_state(name, text)

    def remove_state(self, name: str) -> None:
        if not self.dry:
            self.inner.remove_state(name)

    def append_journal(self, name: str, lines: list[str]) -> None:
        if not self.dry:
            self.inner.append_journal(name, lines)

    def clear_journal(self, name: str) -> None:
        if not self.dry:
            self.inner.clear_journal(name)

    def copy_web(self, source: str, target: str) -> None:
        if not self.dry:
            self.inner.copy_web(source, target)

    def write_web_copies(self, relatives: Sequence[str], body: bytes) -> None:
        owner = _page_owner(relatives[0])
        if owner is not None:
            self.tally.published(owner, lambda: self.inner.web_exists(f"{PROJECTS}/{owner}"))
        if not self.dry:
            self.inner.write_web_copies(relatives, body)

    def flush_all(self) -> None:
        if not self.dry:
            self.inner.flush_all()

    def lock(self) -> ContextManager[None]:
        return contextlib.nullcontext() if self.dry else self.inner.lock()

    def diff_file(self, path: Path) -> ContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext() if self.dry else self.inner.diff_file(path)

    def on_publish(self, callback: Callable[[str], None]) -> None:
        self.inner.on_publish(callback)

    # reading: the mirror as it is
    @property
    def location(self) -> str:
        return self.inner.location

    def state_location(self, name: str) -> str:
        return self.inner.state_location(name)

    def web_location(self, relative: str) -> str:
        return self.inner.web_location(relative)

    def open_web(self, relative: str) -> ContextManager[IO[bytes]]:
        return self.inner.open_web(relative)

    @property
    def seekable(self) -> bool:
        return self.inner.seekable

    def read_web_text(self, relative: str) -> Optional[str]:
        return self.inner.read_web_text(relative)

    def read_web_blocks(self, relative: str) -> Optional[Iterator[list[str]]]:
        return self.inner.read_web_blocks(relative)

    def file_matches(self, relative: str, sha256: str, size: Optional[int], verify: bool) -> bool:
        return self.inner.file_matches(relative, sha256, size, verify)

    def web_size(self, relative: str) -> Optional[int]:
        return self.inner.web_size(relative)

    def mtime_ns(self, relative: str) -> Optional[int]:
        return self.inner.mtime_ns(relative)

    def web_exists(self, relative: str) -> bool:
        return self.inner.web_exists(relative)

    def list_web_dirs(self, relative: str) -> list[str]:
        return self.inner.list_web_dirs(relative)

    def iter_files(self, relative: str) -> Iterator[str]:
        return self.inner.iter_files(relative)

    def is_mirror(self) -> bool:
        return self.inner.is_mirror()

    def is_empty(self) -> bool:
        return self.inner.is_empty()

    def read_state(self, name: str) -> Optional[str]:
        return self.inner.read_state(name)

    def read_journal(self, name: str) -> Optional[str]:
        return self.inner.read_journal(name)


class NoBodies:
    """The master for a dry run: the same metadata, and an empty body for every file download
    (``Recorder.write_verified`` counts the declared size instead)."""

    def __init__(self, master: Master) -> None:
        self._master = master

    def __getattr__(self, name: str) -> Any:
        return getattr(self._master, name)

    def project(self, name: str, serial: int) -> ProjectMetadata:
        return self._master.project(name, serial)

    @contextlib.contextmanager
    def stream(self, url: str, size: Optional[int] = None) -> Iterator[Iterator[bytes]]:
        if url.endswith(METADATA):  # PEP 658: declared by hash only, so its size is asked of the master
            with self._master.stream(url, size) as chunks:
                yield chunks
            return
        yield iter(())


def render_plan(plan: dict[str, Any], as_json: bool) -> str:
    """The plan as JSON, or a short summary for a person."""
    if as_json:
        return json.dumps(plan, indent=1) + "\n"
    download, delete = plan["download"], plan["delete"]
    lines = [
        f"serial {plan['serial_from']} -> {plan['serial_to']}",
        f"add {len(plan['add'])} projects, update {len(plan['update'])}, remove {len(plan['remove'])}",
        f"download {download['files']} files ({download['bytes']} bytes)",
        f"delete {delete['projects']} projects, {delete['files']} files ({delete['bytes']} bytes)",
        f"held back by the cooldown: {len(plan['held_back'])} releases",
    ]
    lines += [f"  {h['project']} {h['version']} until {h['until'] or 'never (no upload time or frozen)'}"
              for h in plan["held_back"][:20]]  # fmt: skip
    if plan["refused"]:
        lines.append(f"refused: {plan['refused']}")
    return "\n".join(lines) + "\n"
