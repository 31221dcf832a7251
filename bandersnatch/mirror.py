"""The sync engine: what a run does, with the lock, the todo and the global index (its project
threads are project_pool's).

No project can hold the mirror back. A run syncs what changed since the last run *and* retries
what is owed; a project that fails stays owed in ``todo`` with the serial it must reach, while the
``status`` moves on for everything else. The order of writes makes a run safe to kill at any
moment: the todo is written before any work, finished projects are journaled only after their
files are on disk, the global index is written before the status, and the todo is cut down to the
still-owed projects only after the status moved (state.StateFiles).
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    ContextManager,
    Optional,
)

from .changes import ChangeSource
from .configuration import Settings
from .deletion_guard import DeletionBudget, MassDeletion, check_run
from .downloads import Transfers
from .errors import MirrorError, UpstreamUnavailable
from .history import MirrorSize, starting_size
from .master import Master
from .model import normalize
from .pages.index import refresh_index
from .pages.layout import PROJECTS, Layout, project_folder
from .plan import PLAN, NoBodies, PlanTally, Recorder
from .project import pages_marker, sync_options
from .project_pool import run_projects
from .report import summary_line
from .run_summary import RunSummary, accepted, counted, fill_record
from .state import (
    DONE,
    LAST_RUN,
    TODO,
    LastRun,
    Plan,
    StateFiles,
    utc_stamp,
)
from .storage import Storage

if TYPE_CHECKING:
    from .subset.cooldown import Gate
    from .subset.demand_run import DemandRun
    from .subset.scope import Refilter, Scope

__all__ = ["Mirror", "RunSummary", "options_marker"]

logger = logging.getLogger(__name__)

Progress = Callable[[int], ContextManager[Callable[[int], None]]]


def _no_progress(total: int) -> ContextManager[Callable[[int], None]]:
    return contextlib.nullcontext(lambda count: None)


class Mirror:
    """One run of ``bandersnatch mirror`` over the directory in ``settings``."""

    def __init__(
        self,
        settings: Settings,
        master: Master,
        storage: Storage,
        changes: ChangeSource,
        progress: Optional[Progress] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.master = master
        self.storage = storage
        self.changes = changes
        self.state = StateFiles(storage)
        self.progress = progress or _no_progress
        self.clock = clock
        self._allow_mass_deletion = False  # synchronize's flag, for _guard_deletions
        self._deletions: Optional[DeletionBudget] = None  # the run's max-deletions budget
        self._gate: Optional[Gate] = None  # the run's [cooldown] policy at the run's instant
        self._serials: tuple[Optional[int], Optional[int]] = (None, None)  # the plan's serial_from, serial_to
        self._cooldown_before: Optional[str] = None  # cooldown.json as the run found it
        self._demand: Optional[DemandRun] = None  # [demand]: the run's roots and evictions
        self._refilter: Optional[Refilter] = None  # a change of the filters alone: what it affects
        self._known: Optional[dict[str, Any]] = None  # subset.seen: metadata as last synced, when used

    def synchronize(
        self, force_check: bool = False, allow_mass_deletion: bool = False, dry_run: bool = False
    ) -> RunSummary:
        """Sync what changed and what is owed; record the outcome in last-run.json whatever happens,
        and the run's plan in plan.json (SPEC 14), a refused run's too.

        ``force_check`` re-checks every project as a full sync does (only missing or wrong files
        are fetched), without the operator deleting state files by hand. ``allow_mass_deletion``
        lifts ``[mirror] max-deletions`` (deletion_guard) for this run. ``dry_run``: the same run
        deciding the same way, writing nothing and fetching no file body (plan.py); its plan is
        the summary's, and a refusal is the plan's ``refused`` rather than an error.
        """
        tally, home = PlanTally(), self.storage
        self.storage = Recorder(home, tally, dry_run)
        self.state = StateFiles(self.storage)
        if dry_run:
            self.master = NoBodies(self.master)  # type: ignore[assignment]
            return self._plan_only(force_check, allow_mass_deletion, tally)
        return self._run(force_check, allow_mass_deletion, tally, lambda refused: self._write_plan(home, tally, refused))

    def _write_plan(self, home: Storage, tally: PlanTally, refused: Optional[str]) -> None:
        """plan.json, under the run's lock: a run that never got the lock (another run holds it,
        or the store cannot keep one) has no plan, and must not overwrite the holder's."""
        try:
            home.write_state(PLAN, json.dumps(self._plan(tally, refused), indent=1) + "\n")
        except OSError as error:  # a full disk must not hide the run's own outcome
            logger.warning("Cannot write %s: %s", home.state_location(PLAN), error)

    def _plan_only(self, force_check: bool, allow_mass_deletion: bool, tally: PlanTally) -> RunSummary:
        summary = RunSummary()
        self._allow_mass_deletion = allow_mass_deletion
        refused = None
        try:
            self._synchronize(summary, force_check)
        except MassDeletion as error:
            refused = str(error)
            summary.refused.append(refused)
        summary.plan = self._plan(tally, refused)
        return summary

    def _plan(self, tally: PlanTally, refused: Optional[str]) -> dict[str, Any]:
        """The plan's JSON; ``held_back`` lists every release the cooldown holds, also of projects
        this run did not look at again (cooldown.json as the run found it)."""
        held: list[dict[str, Any]] = []
        if self._gate is not None:
            from .subset.cooldown import load_held

            earlier = load_held(self._cooldown_before)
            held = [h.as_json() for h in self._gate.ledger.held_back(earlier)]
        return tally.as_json(*self._serials, held, refused)

    def _run(
        self, force_check: bool, allow_mass_deletion: bool, tally: PlanTally,
        write_plan: Callable[[Optional[str]], None],
    ) -> RunSummary:  # fmt: skip
        self._allow_mass_deletion = allow_mass_deletion
        with self.storage.lock(), self._diff_file():
            started = self.clock()
            record = LastRun(started=utc_stamp(started))
            summary = RunSummary()
            refused: Optional[str] = None
            size_before: Optional[MirrorSize] = None
            try:
                size_before = starting_size(self.storage)
                self._synchronize(summary, force_check)
                record.result = "ok" if summary.ok else "failed"
            except MassDeletion as error:
                refused = str(error)
                record.result, record.error = "error", refused
                raise
            except KeyboardInterrupt:
                record.result = "interrupted"
                raise
            except (MirrorError, OSError) as error:
                record.result, record.error = "error", str(error)
                raise
            finally:
                record.waited = round(getattr(self.master, "waited", 0.0), 3)
                write_plan(refused)
                self._record(record, summary)
                self._watch(record, started, size_before, tally)
            return summary

    # -- planning ----------------------------------------------------------------------------

    def sync_projects(self, names: list[str]) -> RunSummary:
        """``bandersnatch sync NAME...``: these projects, now, re-hashing what they have; the status
        and the todo stay as they are (the next run still does what it owes)."""
        with self.storage.lock(), self._diff_file():
            summary = self.resync(names)
            record = self._fill(LastRun(""), summary)
            record.serial = self.state.status()
            logger.info("%s", summary_line(record))
            return summary

    def resync(self, names: list[str]) -> RunSummary:
        """Sync these projects exactly as ``mirror`` would (formats, JSON copies, filters, closure),
        re-hashing every file they have, and refresh their index entries. The caller holds the
        lock: ``sync NAME`` and ``verify --repair`` both come through here."""
        summary = RunSummary()
        work = accepted(((name, 0) for name in names), summary)
        known = {name for name in work if self.storage.web_exists(project_folder(name))}
        self._start_cooldown()
        scope = self._scope(work)
        summary.owed = self._execute(work, set(work), summary, scope)
        if scope is not None:
            from .subset.refilter_run import keep_seen

            keep_seen(self.storage, scope)
        self._end_cooldown()
        refresh_index(self.storage, self.layout, work)
        for name in work.keys() - known:
            if scope is not None and not scope.holds(name):
                logger.error("Not syncing %r: the filters exclude it", name)
                summary.refused.append(name)
            elif not self.storage.web_exists(project_folder(name)):
                logger.error("Unknown project %r: neither the master nor the mirror has it", name)
                summary.refused.append(name)
        return summary

    def _diff_file(self) -> ContextManager[None]:
        path = self.settings.diff_file
        if path is None:
            return contextlib.nullcontext()
        if self.settings.diff_append_epoch:
            path = path.with_name(f"{path.name}-{int(self.clock())}")
        return self.storage.diff_file(path)

    def _synchronize(self, summary: RunSummary, force_check: bool) -> None:
        current = self.state.generation_current() and not force_check
        status = self.state.status() if current else None
        todo = self.state.todo() if current else None
        summary.serial = status
        owed = todo.still_owed(self.state.done()) if todo else {}
        summary.owed = owed  # until the run says otherwise
        base = todo.target if todo else status
        if base is None:
            projects = self._everything()
            target = max(projects.values(), default=0)
            logger.info("Full sync of %d projects up to serial %d", len(projects), target)
        else:
            projects, target = self.changes.changes_since(base)
        self._serials = (status, target)
        if base is not None:
            if projects:
                logger.info("%d projects changed since serial %d", len(projects), base)
            if self.state.options() != self._marker():
                from .subset.refilter_run import filters_only_changed, seen_metadata

                self._refilter = filters_only_changed(
                    self.storage, self.settings.subset, self.state.options(), self._marker()
                )
                if self._refilter is not None and self._refilter.files:
                    self._known = seen_metadata(self.storage, self.settings.subset)
                    if self._known is None:
                        self._refilter = None
                if self._refilter is None:
                    logger.info("The page or filter options changed: every project is checked again")
                    projects = {**self._everything(), **projects}  # changed ones keep their newer serial
                elif self._known is not None:
                    logger.info("The filters that select files changed: %d projects are selected again from "
                                "their metadata as last synced", len(self._known))  # fmt: skip
                    projects = {**{p.name: p.serial for p in self._known.values()}, **projects}
        if owed:
            logger.info("%d projects owed by earlier runs are retried", len(owed))
        self._guard_deletions(projects)
        projects = {**self._start_cooldown(), **projects}  # releases come of age: no upstream change needed
        demanded = self._start_demand()
        scope = self._scope(projects)
        asked = [*owed.items(), *projects.items(), *(scope.reselected.items() if scope else ()), *demanded.items()]
        if self._refilter is not None:
            from .subset.refilter_run import refiltered_work

            asked += refiltered_work(self._refilter, scope, self.storage, self.changes.all_projects).items()
        work = self._scoped(accepted(asked, summary), scope)
        if not work:
            if todo is not None or target != status or self._refilter is not None:
                self._finish(target, {}, summary)  # only refused names changed, or the todo is done
            else:
                logger.info("Nothing to do: the mirror is at serial %s", status)
            return
        self.state.start(Plan(target, work), full=status is None and todo is None, options=self._marker())
        self._remember_filters()
        # Re-hash existing files of a full sync and of owed work: a power loss may have left an
        # interrupted run's files at their names before their data reached the disk.
        recheck = work.keys() if status is None else owed.keys()
        pending = self._execute(work, set(recheck), summary, scope)
        if scope is not None:
            from .subset.refilter_run import keep_seen

            keep_seen(self.storage, scope)
        self._end_cooldown()
        refresh_index(self.storage, self.layout, work)
        self._finish(target, pending, summary)

    def _start_cooldown(self) -> dict[str, int]:
        """[cooldown] (subset.cooldown_run): the run's gate; the projects whose held release has
        come of age since, to sync again."""
        if self.settings.cooldown is None:
            self._gate = None
            return {}
        from .subset.cooldown_run import start_cooldown

        self._gate, self._cooldown_before, due = start_cooldown(self.settings.cooldown, self.storage, self.clock())
        return due

    def _end_cooldown(self) -> None:
        if self._gate is not None:
            from .subset.cooldown_run import end_cooldown

            end_cooldown(self._gate, self.storage)

    def _guard_deletions(self, projects: dict[str, int]) -> None:
        """deletion_guard.check_run: refused whole, or the run's budget."""
        local = set(self.storage.list_web_dirs(PROJECTS))
        self._deletions = check_run(
            projects, local, self.settings.max_deletions, self.settings.delete_packages, self._allow_mass_deletion
        )

    def _scope(self, changed: dict[str, int]) -> Optional[Scope]:
        """The filters and the dependency closure for this run; None when none are configured
        (their modules are not even imported then: a no-op cron run is mostly imports)."""
        subset = self._demand.subset if self._demand is not None else self.settings.subset
        if subset is None:
            return None
        from .subset.scope import plan_scope

        admit = {"admit": self._gate.admit} if self._gate is not None else {}
        scope = plan_scope(subset, self.master, self.storage, changed, known=self._known, **admit)
        return self._demand.wrap(scope) if self._demand is not None else scope

    def _start_demand(self) -> dict[str, int]:
        """[demand] (SPEC 16): the access logs' new lines counted, evictions chosen; the projects
        to fetch (asked for, not held) and to drop (evicted), serial 0: no minimum."""
        if self.settings.demand is None:
            return {}
        from .subset.demand_run import start_demand

        self._demand = start_demand(self.settings, self.storage, self.layout.links, self.clock(), self._deletions)
        return self._demand.work


    def _remember_filters(self) -> None:
        """The filters, and what a change source without serials saw (foreign.ForeignIndex.commit):
        both kept once the run's work is owed, so a refused or killed run finds the same changes again."""
        commit = getattr(self.changes, "commit", None)
        if commit is not None:
            commit(self.storage)  # the run's storage: a dry run's records and writes nothing
        if self.settings.subset is not None or self.storage.read_state("filters.json") is not None:
            from .subset.refilter_run import remember_filters

            remember_filters(self.storage, self.settings.subset)

    def _scoped(self, work: dict[str, int], scope: Optional[Scope]) -> dict[str, int]:
        """What the filters hold, and what the mirror has that they no longer hold (to be dropped,
        without asking the master): a filtered full sync does not visit 740,000 projects."""
        if scope is None or scope.everything:
            return work
        local = set(self.storage.list_web_dirs(PROJECTS))
        return {name: serial for name, serial in work.items() if scope.holds(name) or normalize(name) in local}

    def _everything(self) -> dict[str, int]:
        """Every project the master lists and, to be deleted, those only the mirror still has."""
        projects = self.changes.all_projects()
        self._add_local_only(projects)
        return projects

    def _add_local_only(self, projects: dict[str, int]) -> None:
        """A full sync also checks projects we have but the master no longer lists (404: deleted)."""
        local = self.storage.list_web_dirs(PROJECTS)
        if not projects and local:
            raise UpstreamUnavailable("the master lists no projects at all; refusing to empty the mirror")
        if self.settings.delete_packages:
            listed = {normalize(name) for name in projects}
            projects.update((name, 0) for name in local if name not in listed)

    def _finish(self, target: int, owed: dict[str, int], summary: RunSummary) -> None:
        self.state.finish(target, owed, self._marker())
        self._remember_filters()
        summary.serial, summary.owed = target, owed
        if owed:
            logger.error("%d projects are owed; they stay in %s for the next run", len(owed), self.storage.state_location(TODO))

    # -- running -----------------------------------------------------------------------------

    def _execute(
        self, projects: dict[str, int], recheck: set[str], summary: RunSummary, scope: Optional[Scope]
    ) -> dict[str, int]:
        """Sync ``projects`` in the pool (project_pool); the ones still owed afterwards (failed, or
        never started because stop-on-error halted the run)."""
        transfers = Transfers(self.settings.download_workers)
        options = sync_options(
            self.settings, self.master, self.storage, scope=scope, transfers=transfers, deletions=self._deletions,
            gate=self._gate,
        )
        with transfers, self.progress(len(projects)) as advance:
            return run_projects(
                projects, options, recheck, threads=self.settings.workers + self.settings.download_workers,
                stop_on_error=self.settings.stop_on_error, on_result=counted(summary, advance), journal=self._journal,
            )  # fmt: skip

    def _journal(self, finished: list[str]) -> None:
        """Mark projects done only once their files are on disk, so a power loss cannot skip them."""
        self.storage.flush_all()
        self.storage.append_journal(DONE, finished)

    # -- the record --------------------------------------------------------------------------

    def _record(self, record: LastRun, summary: RunSummary) -> None:
        """Write last-run.json, and end the run with its summary line."""
        self._fill(record, summary)
        try:
            self.state.write_last_run(record)
        except OSError as error:  # a full disk must not hide the run's own error
            logger.warning("Cannot write %s: %s", self.storage.state_location(LAST_RUN), error)
        if record.result in ("ok", "failed"):  # an error is its own one line, printed by the CLI
            logger.info("%s", summary_line(record))

    def _fill(self, record: LastRun, summary: RunSummary) -> LastRun:
        evicted = list(self._demand.evicted) if self._demand is not None else None
        return fill_record(record, summary, self.state.last_run(), utc_stamp(self.clock()), evicted)

    def _watch(self, record: LastRun, started: float, size_before: Optional[MirrorSize], tally: PlanTally) -> None:
        """The history, the status page and the metrics file (watch.after_run), after every run.
        The master's serial is the run's target when the run got that far (ok or failed); the
        mirror's size moves by the release files the run downloaded and deleted."""
        from .watch import after_run

        now = self.clock()
        known = record.serial if record.result in ("ok", "failed") else None
        after_run(
            self.settings, self.storage, record, duration=now - started, waited=record.waited,
            master_serial=known, now=now, size_before=size_before,
            deleted=MirrorSize(tally.release_files_deleted, tally.release_bytes_deleted),
        )  # fmt: skip

    @property
    def layout(self) -> Layout:
        return Layout.from_settings(self.settings)

    def _marker(self) -> str:
        return options_marker(self.settings)


def options_marker(settings: Settings) -> str:
    """What the pages depend on beyond the master's data (state.StateFiles.options): the page
    options and the filters; a change re-checks every project once."""
    pages = pages_marker(Layout.from_settings(settings), settings.core_metadata)
    cooldown = f" cooldown={settings.cooldown.fingerprint()}" if settings.cooldown is not None else ""
    if settings.subset is None:
        return f"{pages} subset=-{cooldown}"
    from .subset.scope import fingerprint

    return f"{pages} subset={fingerprint(settings.subset)}{cooldown}"
