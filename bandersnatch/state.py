"""The mirror's state files: their formats, and the order in which they change.

``status`` is the serial the mirror has reached for every project that is not owed; ``todo``
holds the owed projects (an interrupted run's work and the projects that failed), each with the
serial it must reach; ``todo.done`` journals the projects of that todo that finished since it was
written; ``last-run.json`` is the operator's view of the last run. Every file is replaced
atomically (storage), and the run writes them in an order that a kill at any moment survives: see
``Mirror`` for the sequence.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Optional

from .errors import StateError
from .storage import Storage

__all__ = [
    "GENERATION",
    "LastRun",
    "OwedProject",
    "Plan",
    "StateFiles",
    "format_todo",
    "parse_done",
    "parse_todo",
    "utc_stamp",
]

logger = logging.getLogger(__name__)

GENERATION = "1"  # the on-disk format; a different value (or none) forces a full sync
STATUS, TODO, DONE, GENERATION_FILE, LAST_RUN = "status", "todo", "todo.done", "generation", "last-run.json"
OPTIONS = "options"  # the page and filter options the published pages were made with


def utc_stamp(seconds: Optional[float] = None) -> str:
    """ISO 8601 UTC to the second: what last-run.json and the summary line show."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


@dataclass(frozen=True)
class Plan:
    """Projects to bring to their serials, and the serial the mirror reaches once they are done."""

    target: int
    projects: dict[str, int]

    def still_owed(self, done: set[tuple[str, int]]) -> dict[str, int]:
        """The projects that the journal (``done``) does not mark as finished at their serial."""
        return {name: serial for name, serial in self.projects.items() if (name, serial) not in done}


def format_todo(plan: Plan) -> str:
    return f"{plan.target}\n" + "".join(f"{name} {serial}\n" for name, serial in plan.projects.items())


def parse_todo(text: str) -> Optional[Plan]:
    """The plan in a todo file, or None when the file is damaged (then it is safe to drop: the
    status did not move past its work, so the changelog names the same projects again)."""
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


def parse_done(text: Optional[str]) -> set[tuple[str, int]]:
    """The journal's (name, serial) pairs; a line cut short by a crash is skipped, which only
    means that project is synced once more."""
    done = set()
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            done.add((parts[0], int(parts[1])))
    return done


@dataclass(frozen=True)
class OwedProject:
    """A project the mirror still owes, and how long it has been failing (kept across runs)."""

    project: str
    serial: int
    error: Optional[str]
    first_failure: Optional[str]
    attempts: int


@dataclass
class LastRun:
    """What last-run.json holds: the last run's outcome, for ``bandersnatch status`` and monitoring."""

    started: str
    finished: Optional[str] = None
    result: str = "running"  # ok | failed | error | interrupted
    error: Optional[str] = None
    serial: Optional[int] = None
    synced: int = 0
    files: int = 0
    bytes: int = 0
    deleted: int = 0
    owed: list[OwedProject] = field(default_factory=list)
    waited: float = 0.0  # seconds the run waited on the master (Retry-After, RateLimit)
    evicted: list[str] = field(default_factory=list)  # [demand] max-size: projects this run evicted

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str) -> LastRun:
        data: dict[str, Any] = json.loads(text)
        owed = [OwedProject(**entry) for entry in data.pop("owed", [])]
        known = {key: value for key, value in data.items() if key in cls.__dataclass_fields__}
        return cls(**known, owed=owed)


class StateFiles:
    """Reads and writes the state files of one mirror directory."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def generation_current(self) -> bool:
        generation = (self.storage.read_state(GENERATION_FILE) or "").strip()
        if generation != GENERATION:
            logger.info("Mirror format %r is not %r: full sync", generation or "none", GENERATION)
        return generation == GENERATION

    def status(self) -> Optional[int]:
        text = self.storage.read_state(STATUS)
        if text is None:
            return None
        if not text.strip().isdigit():
            raise StateError(
                f"status file {self.storage.state_location(STATUS)} holds {text[:40]!r}, not a serial; "
                "delete it and todo to force a full resync"
            )
        return int(text)

    def todo(self) -> Optional[Plan]:
        text = self.storage.read_state(TODO)
        if text is None:
            return None
        plan = parse_todo(text)
        if plan is None:
            logger.warning("Ignoring damaged todo file %s; its work is found again", self.storage.state_location(TODO))
        return plan

    def done(self) -> set[tuple[str, int]]:
        return parse_done(self.storage.read_journal(DONE))

    def options(self) -> Optional[str]:
        text = self.storage.read_state(OPTIONS)
        return None if text is None else text.strip()

    def start(self, plan: Plan, full: bool, options: str) -> None:
        """Record the run's work before doing any of it, so a killed run is resumed, not forgotten.

        The journal goes after the new todo is in place: the todo already leaves out what the
        journal said was done. The options go last: once the todo holds every project they
        affect, the change is owed work like any other.
        """
        if full:
            self.storage.remove_state(STATUS)
            self.storage.write_state(GENERATION_FILE, GENERATION + "\n")
        self.storage.write_state(TODO, format_todo(plan))
        self.storage.clear_journal(DONE)
        self._record_options(options)

    def _record_options(self, options: str) -> None:
        if options != self.options():
            self.storage.write_state(OPTIONS, options + "\n")

    def finish(self, target: int, owed: dict[str, int], options: str) -> None:
        """Move the status to ``target`` and keep only ``owed`` in the todo.

        The status first: a kill before the todo is rewritten leaves the run's todo and journal,
        which the next run reads as the same owed projects.
        """
        self.storage.flush_all()
        self.storage.write_state(STATUS, f"{target}\n")
        if owed:
            self.storage.write_state(TODO, format_todo(Plan(target, owed)))
        else:
            self.storage.remove_state(TODO)
        self.storage.clear_journal(DONE)
        self._record_options(options)

    def last_run(self) -> Optional[LastRun]:
        """The previous run's record; a damaged one is ignored (it only carries failure counts)."""
        text = self.storage.read_state(LAST_RUN)
        if text is None:
            return None
        try:
            return LastRun.from_json(text)
        except (ValueError, TypeError, AttributeError) as error:
            logger.warning("Ignoring damaged %s: %s", self.storage.state_location(LAST_RUN), error)
            return None

    def write_last_run(self, record: LastRun) -> None:
        self.storage.write_state(LAST_RUN, record.to_json())
