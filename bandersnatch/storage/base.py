"""The storage interface: everything the engine, the filters and the commands may do to a mirror.

A mirror lives on a filesystem or in an S3-compatible bucket; the rest of the code must not care
which. So this is the only vocabulary they get: paths relative to ``web/`` (checked by
``safe_relative``) for what readers see, names for the state files beside ``web/``, and a lock.
Every implementation keeps the same promises: a reader never sees a partial file or a file whose
hash was not checked, nothing is written outside the mirror, and a second run is kept out.
"""

from __future__ import annotations

import abc
import contextlib
import threading
from pathlib import Path
from typing import IO, Callable, ContextManager, Iterable, Iterator, Optional

from ..errors import DigestMismatch, TruncatedDownload
from ..pages.layout import PROJECTS, safe_relative

__all__ = ["HASH_CHUNK", "Storage", "check_digest", "lines_in_blocks", "safe_relative"]

HASH_CHUNK = 1 << 20
BLOCK = 1 << 20  # about this many bytes of whole lines per block of read_web_blocks
def lines_in_blocks(chunks: Iterable[bytes]) -> Iterator[list[str]]:
    """Byte chunks as blocks of about BLOCK bytes of whole text lines (newlines kept)."""
    pending = b""
    for chunk in chunks:
        pending += chunk
        if len(pending) >= BLOCK:
            cut = pending.rfind(b"\n") + 1
            if cut:
                yield pending[:cut].decode("utf-8", "replace").splitlines(keepends=True)
                pending = pending[cut:]
    if pending:
        yield pending.decode("utf-8", "replace").splitlines(keepends=True)


def check_digest(relative: str, digest: str, written: int, sha256: str, size: Optional[int]) -> None:
    """Raise TruncatedDownload / DigestMismatch unless ``written`` bytes hashing to ``digest`` are
    what the master promised; shared by every backend so they refuse the same files."""
    if size is not None and written < size:
        raise TruncatedDownload(f"{relative}: got {written} of {size} bytes")
    if size is not None and written != size:
        raise DigestMismatch(f"{relative}: got {written} bytes, expected {size}")
    if digest != sha256.lower():
        raise DigestMismatch(f"{relative}: sha256 {digest} does not match the master's {sha256}")


class Storage(abc.ABC):
    """A mirror's home: state files at the top, the published tree under ``web/``."""

    def __init__(self) -> None:
        self._published: list[Callable[[str], None]] = []

    # -- where it is (for messages and the diff file) ----------------------------------------

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """The mirror's home as the operator configured it, for messages (a path or s3:// URL)."""

    @abc.abstractmethod
    def state_location(self, name: str) -> str:
        """Where a state file lives, for messages that tell the operator what to look at."""

    @abc.abstractmethod
    def web_location(self, relative: str) -> str:
        """Where a published file lives, as the diff file lists it for tools that copy it onward."""

    def on_publish(self, callback: Callable[[str], None]) -> None:
        """Call ``callback`` with the web_location of every file published from now on (diff-file)."""
        self._published.append(callback)

    def _announce(self, relative: str) -> None:
        for callback in self._published:
            callback(self.web_location(relative))

    # -- writing under web/ --------------------------------------------------------------------

    @abc.abstractmethod
    def write_web(self, relative: str, chunks: Iterable[bytes]) -> None:
        """Publish a generated file (a page, last-modified, a statistics day), whole or not at all."""

    @abc.abstractmethod
    def write_verified(self, relative: str, chunks: Iterable[bytes], sha256: str, size: Optional[int]) -> int:
        """Publish a release file only if its bytes hash to ``sha256`` (and add up to ``size``); the
        number of bytes written. Raises TruncatedDownload / DigestMismatch and leaves nothing behind."""

    def copy_web(self, source: str, target: str) -> None:
        """Publish a copy of a published file (index.v1_html: the same bytes as index.html)."""
        with self.open_web(source) as handle:
            self.write_web(target, iter(lambda: handle.read(HASH_CHUNK), b""))

    # -- reading and checking --------------------------------------------------------------------

    @abc.abstractmethod
    def open_web(self, relative: str) -> ContextManager[IO[bytes]]:
        """A published file as a binary stream; FileNotFoundError when it is not there."""

    def read_web_text(self, relative: str) -> Optional[str]:
        """A published text file's content, or None when it does not exist or is not text."""
        try:
            with self.open_web(relative) as handle:
                return handle.read().decode("utf-8")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, UnicodeDecodeError):
            return None

    def read_web_blocks(self, relative: str) -> Optional[Iterator[list[str]]]:
        """A published text file in blocks of about 1 MB of whole lines, or None when absent.

        The global index is too big to read whole and too long to handle line by line.
        """
        if self.web_size(relative) is None:
            return None
        return self._blocks(relative)

    def _blocks(self, relative: str) -> Iterator[list[str]]:
        with self.open_web(relative) as handle:
            yield from lines_in_blocks(iter(lambda: handle.read(HASH_CHUNK), b""))

    @abc.abstractmethod
    def file_matches(self, relative: str, sha256: str, size: Optional[int], verify: bool) -> bool:
        """Whether a good copy of the file is already published (e.g. by pep381client).

        The size is always checked; the hash only when ``verify``.
        """

    @abc.abstractmethod
    def web_size(self, relative: str) -> Optional[int]:
        """A published file's size, or None when it is not there."""

    @abc.abstractmethod
    def mtime_ns(self, relative: str) -> Optional[int]:
        """When a published file was last written (ns since the epoch), or None when absent."""

    @abc.abstractmethod
    def web_exists(self, relative: str) -> bool:
        """Whether a file or a non-empty folder is published at ``relative``."""

    @abc.abstractmethod
    def list_web_dirs(self, relative: str) -> list[str]:
        """Names of the folders in a web/ folder (the projects under simple/); empty when absent."""

    @abc.abstractmethod
    def iter_files(self, relative: str) -> Iterator[str]:
        """Every published file below the folder ``relative`` (paths relative to web/), skipping
        hidden names, which are a sync's temporary files."""

    def is_mirror(self) -> bool:
        """Whether a mirror lives here at all (web/simple/ exists)."""
        return self.web_exists(PROJECTS)

    @abc.abstractmethod
    def is_empty(self) -> bool:
        """Whether the mirror's home holds nothing but (perhaps) the lock."""

    # -- removal ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def remove_web_file(self, relative: str) -> None:
        """Delete a published file (nothing happens when it is not there)."""

    @abc.abstractmethod
    def remove_web_tree(self, relative: str) -> None:
        """Delete a published folder and everything below it."""

    # -- state files (beside web/, never served) ---------------------------------------------------

    @abc.abstractmethod
    def read_state(self, name: str) -> Optional[str]:
        """A state file's text, or None when it does not exist."""

    @abc.abstractmethod
    def write_state(self, name: str, text: str) -> None:
        """Replace a state file durably: it decides what the next run does after a crash."""

    @abc.abstractmethod
    def remove_state(self, name: str) -> None:
        """Delete a state file (nothing happens when it is not there)."""

    @abc.abstractmethod
    def append_journal(self, name: str, lines: list[str]) -> None:
        """Add a batch of lines to a journal durably, without rewriting what it already holds."""

    @abc.abstractmethod
    def read_journal(self, name: str) -> Optional[str]:
        """Every line the journal holds, in any order, or None when there is none."""

    @abc.abstractmethod
    def clear_journal(self, name: str) -> None:
        """Drop the journal."""

    def flush_all(self) -> None:
        """Make every file written so far durable, so a journal entry never outlives its data.

        A no-op where a write is durable once it returns (an object store's PUT).
        """

    @abc.abstractmethod
    def lock(self) -> ContextManager[None]:
        """Hold the run lock for the whole ``with``; raise LockHeld at once when another run has it."""

    # -- local files outside the mirror ------------------------------------------------------------

    def write_local(self, path: Path, text: str) -> None:
        """Replace the local file ``path`` (the metrics file for node_exporter's textfile collector)
        atomically: a reader sees the old file or the new one, never half of one. Always a local
        path, whatever the backend: the collector reads the host's filesystem."""
        temp = path.with_name(f".{path.name}.tmp")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            temp.write_text(text, encoding="utf-8")
            temp.chmod(0o644)
            temp.replace(path)
        finally:
            temp.unlink(missing_ok=True)

    # -- the diff file -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def diff_file(self, path: Path) -> Iterator[None]:
        """Record every file this run publishes in the local file ``path`` (upstream's diff-file),
        one location per line; the list appears whole when the run ends (written atomically via a
        temporary sibling), for tools that copy it onward."""
        lock = threading.Lock()
        temp = path.with_name(f".{path.name}.tmp")
        failure: Optional[BaseException] = None
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(temp, "wb") as handle:

                def record(published: str) -> None:
                    with lock:
                        handle.write(f"{published}\n".encode("utf-8", "surrogateescape"))

                self._published.append(record)
                try:
                    yield
                except BaseException as error:  # noqa: BLE001 - a failed run published files too
                    failure = error
                finally:
                    self._published.remove(record)
            temp.chmod(0o644)
            temp.replace(path)
        finally:
            temp.unlink(missing_ok=True)
        if failure is not None:
            raise failure
