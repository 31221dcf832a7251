"""The run's project threads: every project synced once, at most a window of them in flight, each
finished one journaled in batches once its files are durable, and stop-on-error honoured.

A project's failure is its result, never the run's exception: a bug or an OS error in one project
(a full disk, a permission) fails that project, and the rest go on (or, with ``stop-on-error``,
what has not started yet is dropped and stays owed).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Callable, Iterable, Iterator, Optional

from .project import ProjectResult, SyncOptions, sync_project

__all__ = ["JOURNAL_INTERVAL", "run_projects"]

logger = logging.getLogger(__name__)

JOURNAL_INTERVAL = 2.0  # seconds between durable journal batches (one sync() each)


def run_projects(
    projects: dict[str, int],
    options: SyncOptions,
    recheck: set[str],
    *,
    threads: int,
    stop_on_error: bool,
    on_result: Callable[[Optional[ProjectResult]], None],
    journal: Callable[[list[str]], None],
) -> dict[str, int]:
    """Sync ``projects`` (name: serial) on ``threads`` threads, re-hashing the files of those in
    ``recheck``; the ones still owed afterwards (failed, or never started once stop-on-error
    halted the run). ``on_result`` hears of each project the pool is done with (None: dropped
    unstarted); ``journal`` is handed the finished ones, as ``name serial`` lines, in batches.

    Projects waiting on their files must not keep the next ones from fetching metadata, so the
    caller gives a thread per download as well; the master lets only ``workers`` of them fetch
    metadata at once, the transfers only ``download-workers`` files.
    """
    rechecking = replace(options, verify_existing=True)
    pending = dict(projects)
    finished: list[str] = []
    last_batch = time.monotonic()
    halt = threading.Event()  # set by the failing worker itself, before its thread takes more work

    def work(item: tuple[str, int]) -> Optional[ProjectResult]:
        if halt.is_set():
            return None
        result = _sync_safely(item[0], item[1], rechecking if item[0] in recheck else options)
        if not result.ok and stop_on_error:
            halt.set()
        return result

    with ThreadPoolExecutor(threads, thread_name_prefix="sync") as pool:
        for result in _bounded(pool, work, projects.items(), threads * 2, halt.is_set):
            on_result(result)
            if result is None:
                continue
            if result.ok:
                del pending[result.name]
                finished.append(f"{result.name} {result.serial}")
            else:
                logger.error("%s", result.error)
            if finished and time.monotonic() - last_batch > JOURNAL_INTERVAL:
                journal(finished)
                finished.clear()
                last_batch = time.monotonic()
    if finished:
        journal(finished)
    return pending


def _sync_safely(name: str, serial: int, options: SyncOptions) -> ProjectResult:
    """A bug or an OS error in one project fails that project, not the run."""
    try:
        return sync_project(name, serial, options)
    except Exception as error:  # noqa: BLE001 - reported as the project's failure
        logger.debug("Unexpected error syncing %s", name, exc_info=True)
        return ProjectResult(name, serial, f"{name}: {type(error).__name__}: {error}")


_END = object()


def _bounded(
    pool: ThreadPoolExecutor,
    function: Callable[[tuple[str, int]], Optional[ProjectResult]],
    items: Iterable[tuple[str, int]],
    window: int,
    stop: Callable[[], bool],
) -> Iterator[Optional[ProjectResult]]:
    """Results of ``function`` over ``items`` as they finish, with at most ``window`` in flight.

    Submitting 740,000 futures at once would cost gigabytes; a window keeps memory flat. Each
    future reports itself to a queue when done: ``concurrent.futures.wait`` would lock and
    unlock every running future on each completion, a fifth of the interpreter's time in a
    sync of small projects.
    """
    pending = iter(items)
    done: queue.SimpleQueue[Future[Optional[ProjectResult]]] = queue.SimpleQueue()
    running: set[Future[Optional[ProjectResult]]] = set()
    while True:
        while len(running) < window and not stop():
            item = next(pending, _END)
            if item is _END:
                break
            future = pool.submit(function, item)  # type: ignore[arg-type]
            running.add(future)
            future.add_done_callback(done.put)
        if stop():  # let what already started finish; drop what only waits in the queue
            for future in [future for future in running if future.cancel()]:
                running.discard(future)
        if not running:
            return
        future = done.get()
        if future in running:  # a cancelled one reports itself too, after leaving ``running``
            running.discard(future)
            yield future.result()
