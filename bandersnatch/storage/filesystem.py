"""The mirror in a directory: path-safe, atomic, world-readable.

Files are written to a temporary sibling (a dot-name in the same folder, so the rename is atomic)
and renamed into place. The temporary name is fixed per target: a killed run leaves at most one
per file, and the run that redoes the project removes it and creates it afresh. Two threads never
write one path at once (the second waits): a temporary sibling found at creation is then always a
killed run's, and no writer can rename another's unverified bytes into place or remove its file.

Everything is published world-readable (nginx runs as another user). The process's umask is read
when the storage opens: under the usual 022 or 002, a new file or folder already has its mode, and
the chmod each would cost (a system call, so a hand-off of the interpreter's lock, per page, file
and folder) is left out; under a stricter one every mode is set explicitly.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import stat
import threading
from pathlib import Path
from typing import IO, Iterable, Iterator, Optional, Sequence

from ..errors import LockHeld, MirrorError
from .base import HASH_CHUNK, Storage, check_digest, safe_relative
from .oscalls import WRITEBACK_FROM, libc_syncfs, process_umask, start_writeback, write_all

__all__ = ["FilesystemStorage"]

FILE_MODE = 0o644
DIR_MODE = 0o755
TEMP_SUFFIX = ".tmp"


def _temp_of(path: str) -> str:
    """The temporary sibling ``path`` is written to: a dot-name in its folder (see the module's docs)."""
    folder, _, name = path.rpartition("/")
    return f"{folder}/.{name}{TEMP_SUFFIX}"


class FilesystemStorage(Storage):
    """The mirror's directory: state files at the top, the published tree under ``web/``."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        self.root = Path(directory)
        self.web = self.root / "web"
        self._web_prefix = f"{self.web}/"
        self._set_modes = bool(process_umask() & (FILE_MODE | DIR_MODE))  # see the module's docs
        self._writing: set[str] = set()  # paths whose temporary sibling a thread is writing
        self._written = threading.Condition()

    @property
    def location(self) -> str:
        return str(self.root)

    def state_location(self, name: str) -> str:
        return str(self.root / name)

    def web_location(self, relative: str) -> str:
        return self.web_path(relative)

    # -- paths -------------------------------------------------------------------------------

    def web_path(self, relative: str) -> str:
        """The absolute path of ``relative`` under web/, refusing anything that could escape it.
        A string, not a Path: a sync asks for several per project, and pathlib's parsing of each
        was a tenth of a small project's interpreter time."""
        return self._web_prefix + safe_relative(relative)

    def ensure_dir(self, path: Path) -> None:
        """Create ``path`` and missing parents as 0755, whatever the umask (nginx runs as another user).

        A parent can vanish under us when another worker prunes folders it emptied; then the
        parent is made again.
        """
        try:
            path.mkdir(DIR_MODE)
        except FileExistsError:
            return
        except FileNotFoundError:
            self.ensure_dir(path.parent)
            self.ensure_dir(path)
            return
        if self._set_modes:
            os.chmod(path, DIR_MODE)

    # -- atomic writes -----------------------------------------------------------------------

    def _create_temp(self, path: str, temp: str) -> int:
        """Create the temporary sibling, making the folder only when it is missing (one failed
        open instead of a failed mkdir per write of a page or file that has its folder). Always a
        new file, so its mode is the one asked for: a killed run's leftover is removed first."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
        try:
            return os.open(temp, flags, FILE_MODE)
        except FileExistsError:
            os.unlink(temp)
        except FileNotFoundError:
            self.ensure_dir(Path(path).parent)
        return os.open(temp, flags, FILE_MODE)

    @contextlib.contextmanager
    def _sole_writer(self, path: str) -> Iterator[None]:
        """Wait until no other thread writes ``path``, then hold it. On PyPI two projects never
        name one file, but a hostile master can have two pages name the same path in one run."""
        with self._written:
            while path in self._writing:
                self._written.wait()
            self._writing.add(path)
        try:
            yield
        finally:
            with self._written:
                self._writing.discard(path)
                self._written.notify_all()

    @contextlib.contextmanager
    def _open_fd(self, path: str, durable: bool = False) -> Iterator[int]:
        """A raw descriptor on the temporary sibling, renamed over ``path`` when the ``with`` ends
        without an error (after an fsync when ``durable``); removed otherwise. No file object: its
        buffer, isatty ioctl, fstat and lseek are syscalls and copies a page or a file never needs."""
        with self._sole_writer(path):
            with self._fd_of_temp(path, durable) as fd:
                yield fd

    @contextlib.contextmanager
    def _fd_of_temp(self, path: str, durable: bool) -> Iterator[int]:
        temp = _temp_of(path)
        fd = self._create_temp(path, temp)
        published = False
        try:
            try:
                if self._set_modes:
                    os.fchmod(fd, FILE_MODE)
                yield fd
                if durable:
                    os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, path)
            published = True
        finally:
            if not published:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)

    @contextlib.contextmanager
    def _open_atomic(self, path: Path, durable: bool = False) -> Iterator[IO[bytes]]:
        with self._open_fd(str(path), durable) as fd, open(fd, "wb", closefd=False) as handle:
            yield handle

    def write_web(self, relative: str, chunks: Iterable[bytes]) -> None:
        with self._open_fd(self.web_path(relative)) as fd:
            for chunk in chunks:
                write_all(fd, chunk)
        self._announce(relative)

    def write_verified(self, relative: str, chunks: Iterable[bytes], sha256: str, size: Optional[int]) -> int:
        """Hashing happens while the chunks stream to the temporary sibling, so the file is read
        once and never held in memory; a mismatch leaves nothing behind. Each chunk is hashed and
        written straight from the caller's buffer (os.write, no file object's copy), both with the
        GIL released; it may be overwritten as soon as the next is asked for."""
        digest = hashlib.sha256()
        written = 0
        with self._open_fd(self.web_path(relative)) as fd:
            for chunk in chunks:
                digest.update(chunk)
                written += write_all(fd, chunk)
            check_digest(relative, digest.hexdigest(), written, sha256, size)
            if written >= WRITEBACK_FROM:
                start_writeback(fd)
        self._announce(relative)
        return written

    def write_web_copies(self, relatives: Sequence[str], body: bytes) -> None:
        """The first name is written, the others are hard links to it: one inode and one write
        per project page instead of two, and each name is still replaced atomically on its own."""
        first, *others = relatives
        self.write_web(first, [body])
        for relative in others:
            self.copy_web(first, relative)

    def copy_web(self, source: str, target: str) -> None:
        """A hard link through a temporary sibling renamed over ``target`` (never a partial file,
        never a moment without one); a copy where the filesystem cannot link (or the folder is
        missing: the copy makes it). Safe because nothing here ever changes a published file in
        place: every write is a new inode renamed over the name."""
        path = self.web_path(target)
        temp = _temp_of(path)
        with self._sole_writer(path):
            try:
                os.link(self.web_path(source), temp)
            except OSError:  # EPERM, EXDEV, EMLINK, a leftover temporary sibling, a missing folder
                linked = False
            else:
                linked = True
                try:
                    os.replace(temp, path)
                except OSError:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(temp)
                    raise
        if not linked:
            super().copy_web(source, target)  # written through _open_fd, which holds the path itself
            return
        self._announce(target)

    # -- reading and checking ----------------------------------------------------------------

    def open_web(self, relative: str) -> IO[bytes]:
        return open(self.web_path(relative), "rb")

    @property
    def seekable(self) -> bool:
        return True

    def file_matches(self, relative: str, sha256: str, size: Optional[int], verify: bool) -> bool:
        """Re-hashing every file of a project on every update would cost more than the update
        itself, so the hash is read only when ``verify``."""
        path = self.web_path(relative)
        try:
            actual_size = os.stat(path).st_size
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
        try:
            found = os.stat(self.web_path(relative))
        except (FileNotFoundError, NotADirectoryError):
            return None
        return None if stat.S_ISDIR(found.st_mode) else found.st_size

    def mtime_ns(self, relative: str) -> Optional[int]:
        try:
            return os.stat(self.web_path(relative)).st_mtime_ns
        except (FileNotFoundError, NotADirectoryError):
            return None

    def web_exists(self, relative: str) -> bool:
        """A file, or a folder with a file somewhere below (the contract: an object store has no
        empty folders, and a refused download may leave some here); the walk stops at the first.
        One stat for a file or nothing: a sync asks this of every file it is about to fetch."""
        path = self.web_path(relative)
        try:
            found = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        if not stat.S_ISDIR(found.st_mode):
            return True
        return any(files for _, _, files in os.walk(path))

    def list_web_dirs(self, relative: str) -> list[str]:
        try:
            with os.scandir(self.web_path(relative)) as entries:
                return [entry.name for entry in entries if entry.is_dir() and not entry.name.startswith(".")]
        except FileNotFoundError:
            return []

    def iter_files(self, relative: str) -> Iterator[str]:
        """One scandir per folder and no path arithmetic: at millions of files os.walk's join and
        relpath per entry cost more than the directory reads themselves."""
        web, pending = f"{self.web}/", [safe_relative(relative)]
        while pending:
            folder = pending.pop()
            try:
                with os.scandir(web + folder) as entries:
                    for entry in entries:
                        if entry.name.startswith("."):
                            continue
                        if entry.is_dir(follow_symlinks=False):
                            pending.append(f"{folder}/{entry.name}")
                        else:
                            yield f"{folder}/{entry.name}"
            except (FileNotFoundError, NotADirectoryError):
                continue

    def is_empty(self) -> bool:
        if not self.root.exists():
            return True
        return all(entry.name == ".lock" for entry in self.root.iterdir())

    # -- removal -----------------------------------------------------------------------------

    def remove_web_file(self, relative: str) -> None:
        """Also the folders it leaves empty, up to (not including) web/."""
        path = self.web_path(relative)
        removed = False
        for target in (path, _temp_of(path)):
            try:
                os.unlink(target)
                removed = True
            except FileNotFoundError:
                pass
        if removed:  # nothing removed, no folder emptied (a page format never written, say)
            self._prune_empty(Path(path).parent)

    def remove_web_tree(self, relative: str) -> None:
        path = Path(self.web_path(relative))
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
        with self._open_atomic(self.root / name, durable=True) as handle:
            handle.write(text.encode("utf-8"))
        self._fsync_dir(self.root)

    def remove_state(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.root / name).unlink()

    def append_journal(self, name: str, lines: list[str]) -> None:
        """One append and one fsync per batch: a line cut short by a crash is skipped on reading."""
        with open(self.root / name, "a", encoding="utf-8") as handle:
            handle.writelines(f"{line}\n" for line in lines)
            handle.flush()
            os.fsync(handle.fileno())

    def read_journal(self, name: str) -> Optional[str]:
        return self.read_state(name)

    def clear_journal(self, name: str) -> None:
        self.remove_state(name)

    def flush_all(self) -> None:
        """syncfs(2) flushes only the mirror's filesystem, not the machine's (nginx logs, other
        services); os.sync() where the C library lacks it."""
        fd = os.open(self.root, os.O_RDONLY)
        try:
            syncfs = libc_syncfs()
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
