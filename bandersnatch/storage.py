"""Every write under the mirror's directory goes through here: path-safe, atomic, world-readable.

A mirror is trusted blindly by every install behind it, so a reader (nginx, pip) must never see a
partial file, a file whose hash was not checked, or anything outside ``web/``. Files are written to
a temporary sibling (a dot-name in the same folder, so the rename is atomic) and renamed into place.
The temporary name is fixed per target: a killed run leaves at most one per file, and the run that
redoes the project truncates and reuses it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import functools
import hashlib
import os
import re
import shutil
import threading
from pathlib import Path
from typing import IO, Callable, Iterable, Iterator, Optional

from .errors import DigestMismatch, LockHeld, MirrorError, TruncatedDownload, UnsafePath

__all__ = ["Storage", "safe_relative"]

FILE_MODE = 0o644
DIR_MODE = 0o755
HASH_CHUNK = 1 << 20
TEMP_SUFFIX = ".tmp"
_CONTROL = re.compile(r"[\x00-\x1f]")  # NUL, newlines and the rest never belong in a mirrored path


def safe_relative(relative: str) -> str:
    """Return ``relative`` if it is a plain path below a folder, else raise UnsafePath.

    Callers pass names already percent-decoded, so ``%2e%2e`` arrives here as ``..``.
    """
    bad = (
        not relative
        or relative.startswith("/")
        or "\\" in relative
        or _CONTROL.search(relative) is not None
        or any(part in ("", ".", "..") for part in relative.split("/"))
    )
    if bad:
        raise UnsafePath(f"refusing unsafe path {relative!r}: it would not stay inside the mirror")
    return relative


@functools.lru_cache(maxsize=1)
def _syncfs() -> Optional[Callable[[int], int]]:
    """The C library's syncfs, loaded on first use (a no-op run never needs ctypes)."""
    import ctypes

    try:
        return getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    except OSError:
        return None


def _temp_sibling(path: Path) -> Path:
    return path.with_name(f".{path.name}{TEMP_SUFFIX}")


class Storage:
    """The mirror's directory: state files at the top, the published tree under ``web/``."""

    def __init__(self, directory: Path) -> None:
        self.root = Path(directory)
        self.web = self.root / "web"
        self._published: list[Callable[[Path], None]] = []

    def on_publish(self, callback: Callable[[Path], None]) -> None:
        """Call ``callback`` with every file published under web/ from now on (diff-file)."""
        self._published.append(callback)

    # -- paths -------------------------------------------------------------------------------

    def web_path(self, relative: str) -> Path:
        """The absolute path of ``relative`` under web/, refusing anything that could escape it."""
        return self.web / safe_relative(relative)

    def ensure_dir(self, path: Path) -> None:
        """Create ``path`` and missing parents as 0755, whatever the umask (nginx runs as another user).

        A parent can vanish under us when another worker prunes folders it emptied; then the
        parent is made again.
        """
        try:
            path.mkdir()
        except FileExistsError:
            return
        except FileNotFoundError:
            self.ensure_dir(path.parent)
            self.ensure_dir(path)
            return
        os.chmod(path, DIR_MODE)

    # -- atomic writes -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _open_atomic(self, path: Path, durable: bool = False) -> Iterator[IO[bytes]]:
        self.ensure_dir(path.parent)
        temp = _temp_sibling(path)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
        published = False
        try:
            os.fchmod(fd, FILE_MODE)
            with os.fdopen(fd, "wb") as handle:
                yield handle
                if durable:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(temp, path)
            published = True
            if self.web in path.parents:
                for callback in self._published:
                    callback(path)
        finally:
            if not published:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)

    def write_web(self, relative: str, chunks: Iterable[bytes]) -> None:
        """Publish a generated file (an index page, last-modified, a statistics day) atomically."""
        with self._open_atomic(self.web_path(relative)) as handle:
            for chunk in chunks:
                handle.write(chunk)

    def write_verified(
        self, relative: str, chunks: Iterable[bytes], sha256: str, size: Optional[int]
    ) -> int:
        """Publish a release file only if its bytes hash to ``sha256`` (and add up to ``size``);
        the number of bytes written.

        Hashing happens while the chunks stream to the temporary sibling, so the file is read once
        and never held in memory; a mismatch leaves nothing behind.
        """
        digest = hashlib.sha256()
        written = 0
        with self._open_atomic(self.web_path(relative)) as handle:
            for chunk in chunks:
                digest.update(chunk)
                handle.write(chunk)
                written += len(chunk)
            if size is not None and written < size:
                raise TruncatedDownload(f"{relative}: got {written} of {size} bytes")
            if size is not None and written != size:
                raise DigestMismatch(f"{relative}: got {written} bytes, expected {size}")
            if digest.hexdigest() != sha256.lower():
                raise DigestMismatch(
                    f"{relative}: sha256 {digest.hexdigest()} does not match the master's {sha256}"
                )
        return written

    def copy_web(self, source: str, target: str) -> None:
        """Publish a copy of a published file (index.v1_html: the same bytes as index.html)."""
        with open(self.web_path(source), "rb") as handle, self._open_atomic(self.web_path(target)) as out:
            shutil.copyfileobj(handle, out, HASH_CHUNK)

    # -- reading and checking ----------------------------------------------------------------

    def read_web_text(self, relative: str) -> Optional[str]:
        """A published text file's content, or None when it does not exist or is not text."""
        try:
            return self.web_path(relative).read_text(encoding="utf-8")
        except (FileNotFoundError, NotADirectoryError, UnicodeDecodeError, IsADirectoryError):
            return None

    def read_web_blocks(self, relative: str) -> Optional[Iterator[list[str]]]:
        """A published text file in blocks of about 1 MB of whole lines, or None when absent.

        The global index is too big to read whole and too long to handle line by line.
        """
        path = self.web_path(relative)
        return _blocks(path) if path.is_file() else None

    def file_matches(self, relative: str, sha256: str, size: Optional[int], verify: bool) -> bool:
        """Whether a good copy of the file is already published (e.g. by pep381client).

        The size is always checked; the hash only when ``verify``, because re-hashing every file of
        a project on every update would cost more than the update itself.
        """
        path = self.web_path(relative)
        try:
            actual_size = path.stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            return False
        if size is not None and actual_size != size:
            return False
        if not verify:
            return True
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(HASH_CHUNK):
                digest.update(chunk)
        return digest.hexdigest() == sha256.lower()

    def web_size(self, relative: str) -> Optional[int]:
        """A published file's size, or None when it is not there."""
        try:
            return self.web_path(relative).stat().st_size
        except (FileNotFoundError, NotADirectoryError):
            return None

    def web_exists(self, relative: str) -> bool:
        return self.web_path(relative).exists()

    def list_web_dirs(self, relative: str) -> list[str]:
        """Names of the folders in a web/ folder (the projects under simple/); empty when absent."""
        try:
            with os.scandir(self.web_path(relative)) as entries:
                return [entry.name for entry in entries if entry.is_dir() and not entry.name.startswith(".")]
        except FileNotFoundError:
            return []

    # -- removal -----------------------------------------------------------------------------

    def remove_web_file(self, relative: str) -> None:
        """Delete a published file and the folders it leaves empty, up to (not including) web/."""
        path = self.web_path(relative)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        with contextlib.suppress(FileNotFoundError):
            _temp_sibling(path).unlink()
        self._prune_empty(path.parent)

    def remove_web_tree(self, relative: str) -> None:
        path = self.web_path(relative)
        shutil.rmtree(path, ignore_errors=True)
        self._prune_empty(path.parent)

    def _prune_empty(self, folder: Path) -> None:
        while folder != self.web and self.web in folder.parents:
            try:
                folder.rmdir()
            except OSError as error:
                if error.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                    return
                raise
            folder = folder.parent

    # -- state files (beside web/, never served) ---------------------------------------------

    def read_state(self, name: str) -> Optional[str]:
        try:
            return (self.root / name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as error:
            raise MirrorError(f"cannot read state file {self.root / name}: {error}") from None

    def write_state(self, name: str, text: str) -> None:
        """Replace a state file durably: it decides what the next run does after a power loss."""
        with self._open_atomic(self.root / name, durable=True) as handle:
            handle.write(text.encode("utf-8"))
        self._fsync_dir(self.root)

    def remove_state(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.root / name).unlink()

    def open_journal(self, name: str) -> "Journal":
        return Journal(self.root / name)

    @contextlib.contextmanager
    def diff_file(self, path: Path) -> Iterator[None]:
        """Record every file this run publishes in ``path`` (upstream's diff-file), one absolute
        path per line; the list appears whole when the run ends, for tools that copy it onward."""
        lock = threading.Lock()
        failure: Optional[BaseException] = None
        with self._open_atomic(path) as handle:

            def record(published: Path) -> None:
                with lock:
                    handle.write(f"{published}\n".encode("utf-8", "surrogateescape"))

            self._published.append(record)
            try:
                yield
            except BaseException as error:  # noqa: BLE001 - a failed run published files too
                failure = error
            finally:
                self._published.remove(record)
        if failure is not None:
            raise failure

    def flush_all(self) -> None:
        """Push every file written so far to disk, so a journal entry never outlives its data.

        syncfs(2) flushes only the mirror's filesystem, not the machine's (nginx logs, other
        services); os.sync() where the C library lacks it.
        """
        fd = os.open(self.root, os.O_RDONLY)
        try:
            syncfs = _syncfs()
            if syncfs is None or syncfs(fd) != 0:
                os.sync()
        finally:
            os.close(fd)

    def _fsync_dir(self, folder: Path) -> None:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- the lock ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold ``.lock`` (flock) for the whole run; a second run fails at once instead of waiting."""
        self.ensure_dir(self.root)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, FILE_MODE)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LockHeld(
                    f"another bandersnatch run holds {self.root / '.lock'}; not starting a second one"
                ) from None
            yield
        finally:
            os.close(fd)


def _blocks(path: Path) -> Iterator[list[str]]:
    with open(path, encoding="utf-8", errors="replace") as handle:
        while block := handle.readlines(1 << 20):
            yield block


class Journal:
    """An append-only state file of lines, made durable in batches (one fsync per batch)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: Optional[IO[str]] = None

    def append(self, lines: Iterable[str]) -> None:
        if self._handle is None:
            self._handle = open(self.path, "a", encoding="utf-8")
        self._handle.writelines(f"{line}\n" for line in lines)
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
