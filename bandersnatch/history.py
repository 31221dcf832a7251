"""The mirror's recent past: one point per run, the last success, and the running size of the mirror.

The metrics file and the status page both need more than the last run: how long since the mirror
last succeeded (a run of failures must not forget it), how big the mirror is, and the last runs
to plot. ``runs.json`` in the state directory keeps them, bounded to MAX_RUNS points, replaced
atomically by storage like every state file.

The size of the mirror (release files under ``web/packages/`` and their bytes; the small
``.metadata`` and ``.provenance`` files beside them are left out) is a running total, never a walk
of millions of files per cron run: counted by one walk when a run starts and there is no total (a
new mirror's walk is of an empty tree, never of the millions of files its first full sync then
downloads; an upgraded mirror pays it once), then moved by the release files each run downloads
and deletes, and by those the operator commands add and remove (``delete``, ``verify --delete``,
``import``: size_moved_by). A file changed by hand is not seen: remove ``runs.json``'s ``size``
(or the file) to have the next run count again.
Projects are counted exactly by one listing of ``web/simple/`` after a run that changed something
(watch.py).
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import asdict, dataclass, fields, replace
from typing import TYPE_CHECKING, Any, Iterator, Optional

from .pages.layout import FILES, METADATA, PROVENANCE
from .plan import PlanTally, Recorder

if TYPE_CHECKING:
    from .storage import Storage

__all__ = [
    "MAX_RUNS", "RUNS", "History", "MirrorSize", "RunPoint", "load_history", "save_history", "size_moved_by",
    "starting_size",
]  # fmt: skip

logger = logging.getLogger(__name__)

RUNS = "runs.json"  # the state file
MAX_RUNS = 500  # points kept: at a run every two minutes, about 17 hours; a day of hourly runs is 3 weeks


@dataclass(frozen=True)
class MirrorSize:
    """Release files under web/packages/ and their bytes (not the .metadata or .provenance beside them)."""

    files: int
    bytes: int


@dataclass(frozen=True)
class RunPoint:
    """One run, as the plots and the metrics need it."""

    finished: str  # ISO 8601 UTC, as last-run.json
    finished_at: float  # the same, in seconds since the epoch
    result: str  # ok | failed | error | interrupted
    duration: float  # seconds
    serial: Optional[int] = None
    master_serial: Optional[int] = None
    files: int = 0  # downloaded by the run
    bytes: int = 0
    deleted: int = 0  # projects deleted by the run
    owed: int = 0
    waited: float = 0.0  # seconds spent waiting on the master (Retry-After, RateLimit)
    projects: Optional[int] = None  # on the mirror after the run
    mirror_files: Optional[int] = None
    mirror_bytes: Optional[int] = None

    @property
    def lag(self) -> Optional[int]:
        if self.serial is None or self.master_serial is None:
            return None
        return max(self.master_serial - self.serial, 0)


@dataclass(frozen=True)
class History:
    """The last runs (oldest first), when the mirror last succeeded, and its counted size."""

    runs: tuple[RunPoint, ...] = ()
    last_success: Optional[float] = None  # seconds since the epoch
    size: Optional[MirrorSize] = None

    @property
    def last(self) -> Optional[RunPoint]:
        return self.runs[-1] if self.runs else None

    def with_run(self, point: RunPoint, size: Optional[MirrorSize]) -> History:
        runs = (*self.runs, point)[-MAX_RUNS:]
        success = point.finished_at if point.result == "ok" else self.last_success
        return replace(self, runs=runs, last_success=success, size=size)

    def to_json(self) -> str:
        document = {
            "last_success": self.last_success,
            "size": None if self.size is None else asdict(self.size),
            "runs": [asdict(point) for point in self.runs],
        }
        return json.dumps(document, separators=(",", ":")) + "\n"

    @classmethod
    def from_json(cls, text: str) -> History:
        data: dict[str, Any] = json.loads(text)
        known = {f.name for f in fields(RunPoint)}
        runs = tuple(RunPoint(**{k: v for k, v in entry.items() if k in known}) for entry in data.get("runs", []))
        size = data.get("size")
        last_success = data.get("last_success")
        return cls(
            runs=runs[-MAX_RUNS:],
            last_success=float(last_success) if last_success is not None else None,
            size=MirrorSize(int(size["files"]), int(size["bytes"])) if size else None,
        )


def load_history(storage: Storage) -> History:
    """The history in the state directory; a damaged one is started afresh (it only feeds plots)."""
    text = storage.read_state(RUNS)
    if text is None:
        return History()
    try:
        return History.from_json(text)
    except (ValueError, TypeError, KeyError, AttributeError) as error:
        logger.warning("Ignoring damaged %s: %s", storage.state_location(RUNS), error)
        return History()


def save_history(storage: Storage, history: History) -> None:
    storage.write_state(RUNS, history.to_json())


def starting_size(storage: Storage) -> MirrorSize:
    """The mirror's size as a run finds it: the running total, or, without one, a walk of
    web/packages/ now, before the run adds to it (see the module's docs)."""
    known = load_history(storage).size
    if known is not None:
        return known
    if storage.web_exists(FILES):  # an empty mirror has nothing to count, and nothing to say
        logger.info("Counting the files under web/%s/ once; later runs add what they download", FILES)
    total_files = total_bytes = 0
    for path in storage.iter_files(FILES):
        if path.endswith((METADATA, PROVENANCE)):
            continue  # a run counts the release files it downloads, not what it keeps beside them
        total_files += 1
        total_bytes += storage.web_size(path) or 0
    return MirrorSize(total_files, total_bytes)


@contextlib.contextmanager
def size_moved_by(storage: Storage) -> Iterator[Storage]:
    """The storage an operator command (``delete``, ``verify --delete``, ``import``) writes and
    deletes through: the release files it adds and removes move the running total in runs.json
    as a run's do (plan.Recorder sizes each), so the status page and the metrics after the next
    run do not count what is gone. A mirror without a total keeps none: its next run counts it."""
    tally = PlanTally()
    try:
        yield Recorder(storage, tally, dry=False)
    finally:
        added = MirrorSize(tally.release_files_written, tally.release_bytes_written)
        removed = MirrorSize(tally.release_files_deleted, tally.release_bytes_deleted)
        try:
            _move_size(storage, added, removed)
        except OSError as error:  # a full disk must not hide the command's own outcome
            logger.warning("Cannot update %s: %s", storage.state_location(RUNS), error)


def _move_size(storage: Storage, added: MirrorSize, removed: MirrorSize) -> None:
    history = load_history(storage)
    if history.size is None or added == removed == MirrorSize(0, 0):
        return
    size = MirrorSize(
        max(history.size.files + added.files - removed.files, 0),
        max(history.size.bytes + added.bytes - removed.bytes, 0),
    )
    save_history(storage, replace(history, size=size))
