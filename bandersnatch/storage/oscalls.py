"""The system calls the filesystem storage needs beyond ``os``: syncfs and sync_file_range from the
C library (Linux; None elsewhere, loaded on first use, so a no-op run never imports ctypes), the
process's umask read without changing it, and a write that is never short."""

from __future__ import annotations

import functools
import os
from typing import Callable, Optional

__all__ = ["WRITEBACK_FROM", "process_umask", "libc_syncfs", "start_writeback", "write_all"]

WRITEBACK_FROM = 1 << 20  # files this large start their writeback as soon as they are written


@functools.lru_cache(maxsize=1)
def _sync_file_range() -> Optional[Callable[[int, int, int, int], int]]:
    """The C library's sync_file_range (Linux), or None."""
    import ctypes

    try:
        function = getattr(ctypes.CDLL(None, use_errno=True), "sync_file_range", None)
    except OSError:
        return None
    if function is not None:
        function.argtypes = (ctypes.c_int, ctypes.c_longlong, ctypes.c_longlong, ctypes.c_uint)
    return function


def start_writeback(fd: int) -> None:
    """Ask the kernel to start writing the file's dirty pages now, without waiting for them
    (SYNC_FILE_RANGE_WRITE): the disk then works while the next files download, and the run's
    syncfs before it records progress finds little left to do. Durability still comes from
    that syncfs; this only moves the work earlier."""
    function = _sync_file_range()
    if function is not None:
        function(fd, 0, 0, 2)  # SYNC_FILE_RANGE_WRITE; a failure only means no head start


@functools.lru_cache(maxsize=1)
def libc_syncfs() -> Optional[Callable[[int], int]]:
    """The C library's syncfs, loaded on first use (a no-op run never needs ctypes)."""
    import ctypes

    try:
        return getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    except OSError:
        return None


def process_umask() -> int:
    """The process's umask, read without changing it (Linux's /proc/self/status); elsewhere by
    setting it and back, before any worker thread creates a file."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_all(fd: int, chunk: bytes) -> int:
    """Write all of ``chunk`` (a short write, on a signal or a nearly full disk, is continued)."""
    done = os.write(fd, chunk)
    while done < len(chunk):
        done += os.write(fd, memoryview(chunk)[done:])
    return done
