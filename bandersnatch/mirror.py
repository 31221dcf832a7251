"""The sync engine: state files, the lock, the todo, the thread pool and the global index.

The order of writes is what makes a run safe to kill at any moment: the todo is written before
any work, finished projects are journaled only after their files are on disk, the global index is
written before the status, and the status moves only when every project of the run succeeded.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Callable, ContextManager, Iterable, Iterator, Optional

from .configuration import Settings
from .errors import MirrorError, StateError, UpstreamUnavailable
from .master import Master
from .model import normalize
from .package import ProjectResult, SyncOptions, check_name, sync_project
from .global_index import HTML, JSON, project_changes, write_global_index
from .storage import Journal, Storage

__all__ = ["GENERATION", "Mirror", "Plan", "RunSummary", "format_todo", "parse_todo"]

logger = logging.getLogger(__name__)

GENERATION = "1"  # the on-disk format; a different value (or none) forces a full sync
STATUS, TODO, DONE, GENERATION_FILE = "status", "todo", "todo.done", "generation"
PAGE_FORMATS = {"ALL": frozenset({HTML, JSON}), "HTML": frozenset({HTML}), "JSON": frozenset({JSON})}
JOURNAL_INTERVAL = 2.0  # seconds between durable journal batches (one sync() each)

Progress = Callable[[int], ContextManager[Callable[[int], None]]]


@dataclass(frozen=True)
class Plan:
    """The work of one run: every project to bring to its serial, and the serial reached then."""

    target: int
    projects: dict[str, int]


@dataclass
class RunSummary:
    synced: int = 0
    failed: list[ProjectResult] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    serial: Optional[int] = None

    @property
    def ok(self) -> bool:
        return not self.failed and not self.refused


def format_todo(plan: Plan) -> str:
    return f"{plan.target}\n" + "".join(f"{name} {serial}\n" for name, serial in plan.projects.items())


def parse_todo(text: str) -> Optional[Plan]:
    """The plan in a todo file, or None when the file is damaged (then it is safe to drop:
    the status did not move, so the same work is found again)."""
    lines = text.splitlines()
    if not lines or not lines[0].strip().isdigit():
        return None
    projects = {}
    for line in lines[1:]:
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit():
            return None
        projects[parts[0]] = int(parts[1])
    return Plan(int(lines[0]), projects)


def _parse_done(text: Optional[str]) -> set[tuple[str, int]]:
    done = set()
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            done.add((parts[0], int(parts[1])))
    return done


def _no_progress(total: int) -> ContextManager[Callable[[int], None]]:
    return contextlib.nullcontext(lambda count: None)


class Mirror:
    """One run of ``bandersnatch mirror`` over the directory in ``settings``."""

    def __init__(
        self, settings: Settings, master: Master, storage: Storage, progress: Optional[Progress] = None
    ) -> None:
        self.settings = settings
        self.master = master
        self.storage = storage
        self.progress = progress or _no_progress

    def synchronize(self) -> RunSummary:
        """Resume an interrupted run if there is one, else sync what changed since the status."""
        with self.storage.lock():
            generation = (self.storage.read_state(GENERATION_FILE) or "").strip()
            current = generation == self._generation()
            if not current:
                logger.info("Mirror format %r is not %r: full sync", generation or "none", self._generation())
            status = self._read_status() if current else None
            todo = self._read_todo() if current else None
            summary = RunSummary(serial=status)
            if todo is not None:
                logger.info("Resuming an interrupted run towards serial %d", todo.target)
                self._run(todo, summary, resumed=True, verify=True)
                return summary
            plan = self._plan(status, summary)
            if plan.projects:
                self._start(plan, full=status is None)
                self._run(plan, summary, resumed=False, verify=status is None)
            elif status is not None and plan.target > status:
                self._complete(plan.target, summary)  # only refused names changed
            else:
                logger.info("Nothing to do: the mirror is at serial %s", status)
            return summary

    # -- state -------------------------------------------------------------------------------

    def _read_status(self) -> Optional[int]:
        text = self.storage.read_state(STATUS)
        if text is None:
            return None
        if not text.strip().isdigit():
            raise StateError(
                f"status file {self.storage.root / STATUS} holds {text[:40]!r}, not a serial; "
                "delete it and todo to force a full resync"
            )
        return int(text)

    def _read_todo(self) -> Optional[Plan]:
        text = self.storage.read_state(TODO)
        if text is None:
            return None
        plan = parse_todo(text)
        if plan is None:
            logger.warning("Ignoring damaged todo file %s; its work is found again", self.storage.root / TODO)
        return plan

    def _start(self, plan: Plan, full: bool) -> None:
        """Record the work before doing any of it, so a killed run is resumed, not forgotten."""
        self.storage.remove_state(DONE)
        self.storage.write_state(TODO, format_todo(plan))
        if full:
            self.storage.remove_state(STATUS)
            self.storage.write_state(GENERATION_FILE, self._generation() + "\n")

    def _complete(self, target: int, summary: RunSummary) -> None:
        self.storage.flush_all()
        self.storage.write_state(STATUS, f"{target}\n")
        self.storage.remove_state(TODO)
        self.storage.remove_state(DONE)
        summary.serial = target
        logger.info("The mirror is at serial %d (%d projects synced in this run)", target, summary.synced)

    # -- planning ----------------------------------------------------------------------------

    def _plan(self, status: Optional[int], summary: RunSummary) -> Plan:
        if status is None:
            projects = self.master.all_projects()
            target = max(projects.values(), default=0)
            self._add_local_only(projects)
            logger.info("Full sync of %d projects up to serial %d", len(projects), target)
        else:
            projects, target = self.master.changes_since(status)
            if projects:
                logger.info("%d projects changed since serial %d", len(projects), status)
        return Plan(target, self._accepted(projects, summary))

    def _add_local_only(self, projects: dict[str, int]) -> None:
        """A full sync also checks projects we have but the master no longer lists (404: deleted)."""
        local = self.storage.list_web_dirs("simple")
        if not projects and local:
            raise UpstreamUnavailable("the master lists no projects at all; refusing to empty the mirror")
        if self.settings.delete_packages:
            listed = {normalize(name) for name in projects}
            projects.update((name, 0) for name in local if name not in listed)

    def _accepted(self, projects: dict[str, int], summary: RunSummary) -> dict[str, int]:
        """Valid names only, one entry per project: two spellings of one name must never be
        synced by two workers at once."""
        accepted: dict[str, tuple[str, int]] = {}
        for name, serial in projects.items():
            try:
                key = normalize(check_name(name))
            except MirrorError as error:
                logger.error("%s", error)
                summary.refused.append(name)
                continue
            accepted[key] = (name, max(serial, accepted.get(key, (name, 0))[1]))
        return dict(accepted.values())

    # -- running -----------------------------------------------------------------------------

    def _run(self, plan: Plan, summary: RunSummary, resumed: bool, verify: bool) -> None:
        """Sync the plan's projects; the status moves only if every one of them succeeded."""
        done = _parse_done(self.storage.read_state(DONE)) if resumed else set()
        remaining = {name: serial for name, serial in plan.projects.items() if (name, serial) not in done}
        if resumed:
            logger.info("%d of %d projects left to do", len(remaining), len(plan.projects))
        options = self._options(verify)
        self._execute(remaining, options, summary)
        self._write_index(plan.projects)
        if summary.failed:
            logger.error(
                "%d of %d projects failed; they stay in %s for the next run",
                len(summary.failed), len(remaining), self.storage.root / TODO,
            )  # fmt: skip
        else:
            self._complete(plan.target, summary)

    def _execute(self, projects: dict[str, int], options: SyncOptions, summary: RunSummary) -> None:
        journal = self.storage.open_journal(DONE)
        finished: list[str] = []
        last_batch = time.monotonic()
        halt = threading.Event()  # set by the failing worker itself, before its thread takes more work

        def work(item: tuple[str, int]) -> Optional[ProjectResult]:
            if halt.is_set():
                return None
            result = _sync_safely(item[0], item[1], options)
            if not result.ok and self.settings.stop_on_error:
                halt.set()
            return result

        try:
            with (
                self.progress(len(projects)) as advance,
                ThreadPoolExecutor(self.settings.workers, thread_name_prefix="sync") as pool,
            ):
                for result in _bounded(pool, work, projects.items(), self.settings.workers * 2, halt.is_set):
                    advance(1)
                    if result is None:
                        continue
                    if result.ok:
                        summary.synced += 1
                        finished.append(f"{result.name} {result.serial}")
                    else:
                        summary.failed.append(result)
                        logger.error("%s", result.error)
                    if finished and time.monotonic() - last_batch > JOURNAL_INTERVAL:
                        self._journal(journal, finished)
                        last_batch = time.monotonic()
            self._journal(journal, finished)
        finally:
            journal.close()

    def _journal(self, journal: Journal, finished: list[str]) -> None:
        """Mark projects done only once their files are on disk, so a power loss cannot skip them."""
        if finished:
            self.storage.flush_all()
            journal.append(finished)
            finished.clear()

    def _options(self, verify: bool) -> SyncOptions:
        settings = self.settings
        return SyncOptions(
            master=self.master,
            storage=self.storage,
            delete_packages=settings.delete_packages,
            verify_existing=verify,
            formats=PAGE_FORMATS[settings.simple_format],
            core_metadata=settings.core_metadata,
            json=settings.json,
            root_uri=settings.root_uri,
            release_files=settings.release_files,
        )

    def _generation(self) -> str:
        """The format version and the page options: changing simple-format, core-metadata, ...
        makes the next run a full re-check that writes what is missing and downloads nothing twice."""
        return f"{GENERATION} {self._options(False).marker}"

    # -- the global index --------------------------------------------------------------------

    def _write_index(self, touched: Iterable[str]) -> None:
        formats = PAGE_FORMATS[self.settings.simple_format]
        write_global_index(self.storage, project_changes(self.storage, touched), formats)


def _sync_safely(name: str, serial: int, options: SyncOptions) -> ProjectResult:
    """A bug or an OS error in one project (disk full, permissions) fails that project, not the run."""
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

    Submitting 740,000 futures at once would cost gigabytes; a window keeps memory flat.
    """
    pending = iter(items)
    running: set[Future[Optional[ProjectResult]]] = set()
    while True:
        while len(running) < window and not stop():
            item = next(pending, _END)
            if item is _END:
                break
            running.add(pool.submit(function, item))  # type: ignore[arg-type]
        if stop():  # let what already started finish; drop what only waits in the queue
            running = {future for future in running if not future.cancel()}
        if not running:
            return
        finished, running = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            yield future.result()
