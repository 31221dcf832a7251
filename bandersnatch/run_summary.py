"""What one run (or ``sync NAME``) did, gathered from its projects' results: the summary the CLI
picks the exit status from, and the record last-run.json keeps of it. Pure: no I/O here."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Optional

from .errors import MirrorError
from .model import normalize
from .pages.layout import check_name
from .project import ProjectResult
from .state import LastRun, OwedProject

__all__ = ["RunSummary", "accepted", "counted", "fill_record"]

logger = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """The outcome of one run, from every project's result; the CLI picks the exit status from it."""

    synced: int = 0
    files: int = 0
    bytes: int = 0
    deleted: int = 0
    failed: list[ProjectResult] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    owed: dict[str, int] = field(default_factory=dict)
    serial: Optional[int] = None
    plan: Optional[dict[str, Any]] = None  # SPEC 14: what the run did (or, dry, would do); plan.json

    @property
    def ok(self) -> bool:
        return not self.owed and not self.refused

    def add(self, result: ProjectResult) -> None:
        self.files += result.files
        self.bytes += result.bytes
        if result.ok:
            self.synced += 1
            self.deleted += result.deleted
        else:
            self.failed.append(result)


def counted(summary: RunSummary, advance: Callable[[int], None]) -> Callable[[Optional[ProjectResult]], None]:
    """Each project the pool is done with into the run's progress and, if it ran, its summary."""

    def count(result: Optional[ProjectResult]) -> None:
        advance(1)
        if result is not None:
            summary.add(result)

    return count


def accepted(projects: Iterable[tuple[str, int]], summary: RunSummary) -> dict[str, int]:
    """Valid names only, one entry per project with the highest serial asked: two spellings of
    one name must never be synced by two workers at once. An invalid name is refused, said once."""
    kept: dict[str, tuple[str, int]] = {}
    for name, serial in projects:
        try:
            key = normalize(check_name(name))
        except MirrorError as error:
            logger.error("%s", error)
            summary.refused.append(name)
            continue
        kept[key] = (name, max(serial, kept.get(key, (name, 0))[1]))
    return dict(kept.values())


def fill_record(
    record: LastRun, summary: RunSummary, previous: Optional[LastRun], now: str, evicted: Optional[list[str]]
) -> LastRun:
    """The run's counts and owed projects into ``record`` (finished ``now``); an owed project keeps
    the time it first failed and counts attempts across runs (``previous``: the last record), so
    an operator sees how long it has been stuck."""
    before_run = {entry.project: entry for entry in (previous or LastRun("")).owed}
    errors = {result.name: result.error for result in summary.failed}
    owed = []
    for name, serial in summary.owed.items():
        before = before_run.get(name)
        error = errors.get(name)
        owed.append(OwedProject(
            project=name,
            serial=serial,
            error=error or (before.error if before else None),
            first_failure=(before.first_failure if before else None) or (now if error else None),
            attempts=(before.attempts if before else 0) + (name in errors),
        ))  # fmt: skip
    record.finished = now
    if evicted is not None:
        record.evicted = evicted
    record.serial, record.owed = summary.serial, owed
    record.synced, record.files, record.bytes, record.deleted = (
        summary.synced, summary.files, summary.bytes, summary.deleted
    )  # fmt: skip
    return record
