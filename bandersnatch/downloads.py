"""The run's transfers in flight: one bounded pool that every project's file downloads share.

On a real link a small file costs a round trip, not bandwidth: a project worker that fetched its
files one after another would leave the link idle for most of a full sync. Each project hands its
per-file work (the file, its PEP 658 .metadata, its PEP 740 provenance) to this pool and waits for
all of it, so a project's page is still written only after everything it links is published,
while the number of downloads in flight stays bounded by ``[mirror] download-workers`` whatever
the number of projects waiting (kind to the master's CDN).

The caller runs one of its own tasks itself, holding a slot like the pool's threads: a project
of one file (most changes) then costs no hand-over to another thread and back, which on a fast
link is more than the download (two GIL hand-offs and a wake-up each way).
"""

from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Callable, Sequence, TypeVar

__all__ = ["DEFAULT_DOWNLOAD_WORKERS", "MAX_DOWNLOAD_WORKERS", "Transfers"]

# Measured on a 50 ms, 200 Mbit/s link, 600 projects x 4 files (README, Benchmarks): 4 -> 52 s,
# 10 -> 21 s, 20 -> 13 s, 30 -> 15 s; beyond 20 the metadata of `workers` projects is the bound.
DEFAULT_DOWNLOAD_WORKERS = 20
MAX_DOWNLOAD_WORKERS = 50

T = TypeVar("T")


class Transfers:
    """A pool of ``workers`` download threads shared by a run; a context manager that joins them.

    Tasks must not submit tasks of their own: a task waiting on the pool it runs in could wait forever.
    """

    def __init__(self, workers: int) -> None:
        if not 1 <= workers <= MAX_DOWNLOAD_WORKERS:
            raise ValueError(f"download workers must be 1..{MAX_DOWNLOAD_WORKERS}, not {workers!r}")
        self.workers = workers
        self._slots = threading.BoundedSemaphore(workers)  # transfers in flight: pool threads and callers
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="download")

    def _slotted(self, task: Callable[[], T]) -> T:
        with self._slots:
            return task()

    def run_all(self, tasks: Sequence[Callable[[], T]]) -> list[T]:
        """Every task's result, in the tasks' order, once all have finished.

        When some fail, the others still run to their end (their files are published and counted,
        a half-written one is removed by storage), then the first failure in task order is raised:
        the caller's project fails, and nothing of it is still running when it says so.
        """
        if not tasks:
            return []
        futures = [self._pool.submit(self._slotted, task) for task in tasks[:-1]]
        last: Future[T] = Future()
        try:
            last.set_result(self._slotted(tasks[-1]))
        except Exception as error:  # raised below, once the others have ended
            last.set_exception(error)
        futures.append(last)
        wait(futures)
        for future in futures:
            error = future.exception()
            if error is not None:
                raise error
        return [future.result() for future in futures]

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def __enter__(self) -> Transfers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
