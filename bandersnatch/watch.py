"""What a run leaves for those who watch the mirror without a shell on its host.

After every run (failed ones too) the engine calls ``after_run``: one point more in the history
(``runs.json``), ``web/_status/index.html`` and ``status.json`` (served with the mirror), and the
metrics file for node_exporter's textfile collector when ``[mirror] metrics-file`` is set.
``status --prometheus`` prints the same metrics from the state files and the master's serial.
None of it may hide the run's own outcome: a failure here is a warning.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Optional

from . import __version__
from .errors import MirrorError
from .history import History, MirrorSize, RunPoint, load_history, save_history
from .metrics import metrics, render_metrics
from .pages.layout import PROJECTS, STATUS_JSON, STATUS_PAGE
from .pages.status_page import render_status_page
from .report import MirrorStatus, mirror_status, status_json
from .state import LastRun, StateFiles, utc_stamp

if TYPE_CHECKING:
    from .configuration import Settings
    from .storage import Storage

__all__ = ["after_run", "prometheus_text", "status_document"]

logger = logging.getLogger(__name__)


def status_document(report: MirrorStatus, history: History, *, now: float) -> dict[str, Any]:
    """What web/_status/status.json holds: ``status --json``'s keys, and the history's facts."""
    document: dict[str, Any] = json.loads(status_json(report))
    last, size = history.last, history.size
    document.update(
        generated=utc_stamp(now),
        version=__version__,
        last_success=None if history.last_success is None else utc_stamp(history.last_success),
        mirror={
            "projects": last.projects if last else None,
            "files": size.files if size else None,
            "bytes": size.bytes if size else None,
        },
    )
    return document


def after_run(
    settings: Settings, storage: Storage, record: LastRun, *, duration: float, waited: float,
    master_serial: Optional[int], now: float, size_before: Optional[MirrorSize], deleted: MirrorSize,
) -> None:  # fmt: skip
    """Record the run in the history, then write the status page and the metrics file.
    ``size_before`` is history.starting_size's, or None when the run ended before it was taken
    (the history then keeps the size it had); the run's downloads are added, the release files
    it ``deleted`` taken away."""
    try:
        history = _recorded(storage, record, duration, waited, master_serial, now, size_before, deleted)
        report = MirrorStatus(record.serial, master_serial, record, record.owed)
        document = status_document(report, history, now=now)
        storage.write_web(STATUS_JSON, [json.dumps(document, indent=1).encode("utf-8") + b"\n"])
        storage.write_web(STATUS_PAGE, [render_status_page(document, history.runs).encode("utf-8")])
        if settings.metrics_file is not None:
            text = render_metrics(metrics(report, history, version=__version__, master=settings.master, now=now))
            storage.write_local(settings.metrics_file, text)
    except (MirrorError, OSError) as error:  # a full disk must not hide the run's own result
        logger.warning("Cannot write the run's status page or metrics: %s", error)


def _recorded(
    storage: Storage, record: LastRun, duration: float, waited: float, master_serial: Optional[int], now: float,
    size_before: Optional[MirrorSize], deleted: MirrorSize,
) -> History:  # fmt: skip
    history = load_history(storage)
    before = history.last.projects if history.last else None
    unchanged = record.synced == 0 and record.deleted == 0 and record.files == 0 and not record.owed
    # A run that synced and deleted nothing left the folders as they were: a no-op cron run does not
    # list 740,000 of them a second time (the deletion guard already did once)
    projects = before if unchanged and before is not None else len(storage.list_web_dirs(PROJECTS))
    size = history.size if size_before is None else MirrorSize(
        max(size_before.files + record.files - deleted.files, 0),
        max(size_before.bytes + record.bytes - deleted.bytes, 0),
    )
    point = RunPoint(
        finished=record.finished or utc_stamp(now), finished_at=now, result=record.result,
        duration=round(duration, 3), serial=record.serial, master_serial=master_serial, files=record.files,
        bytes=record.bytes, deleted=record.deleted, owed=len(record.owed), waited=round(waited, 3),
        projects=projects, mirror_files=size.files if size else None, mirror_bytes=size.bytes if size else None,
    )  # fmt: skip
    history = history.with_run(point, size)
    save_history(storage, history)
    return history


def prometheus_text(settings: Settings, storage: Storage, master_serial: Optional[int], now: float) -> tuple[MirrorStatus, str]:
    """``status --prometheus``: the metrics file's text, from the state files and the master's serial."""
    report = mirror_status(StateFiles(storage), master_serial)
    history = load_history(storage)
    return report, render_metrics(metrics(report, history, version=__version__, master=settings.master, now=now))
