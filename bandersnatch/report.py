"""What the operator reads: the summary line of a run and the answer of ``bandersnatch status``.

Pure functions from the state's values to text or JSON, so the wording is tested without a run.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Optional

from .state import LastRun, OwedProject, StateFiles

__all__ = ["MirrorStatus", "human_bytes", "mirror_status", "render_status", "status_json", "summary_line"]

SHOWN_FAILURES = 5  # a summary line names this many owed projects, then counts the rest


def human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1000 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")


def _owed_brief(entry: OwedProject) -> str:
    since = (entry.first_failure or "?").replace("T", " ")[:16]
    reason = entry.error or "not attempted yet"
    prefix = f"Failed to sync {entry.project}: "
    return f"{entry.project} (since {since}, {reason[len(prefix):] if reason.startswith(prefix) else reason})"


def summary_line(record: LastRun) -> str:
    """``synced 120 projects, 431 files (2.1 GB), deleted 3, 1 failing: foo (since ..., why); serial N``"""
    line = (
        f"synced {record.synced} projects, {record.files} files ({human_bytes(record.bytes)}), "
        f"deleted {record.deleted}, {len(record.owed)} failing"
    )
    if record.owed:
        named = ", ".join(_owed_brief(entry) for entry in record.owed[:SHOWN_FAILURES])
        more = len(record.owed) - SHOWN_FAILURES
        line += f": {named}" + (f" and {more} more" if more > 0 else "")
    line = f"{line}; serial {record.serial}"
    if record.waited >= 0.5:  # the master asked us to slow down (Retry-After, RateLimit)
        line += f"; waited {record.waited:.0f} s on the master"
    return line


@dataclass(frozen=True)
class MirrorStatus:
    """Where the mirror stands: its serial, the master's, and the last run's record."""

    serial: Optional[int]
    master_serial: Optional[int]
    last_run: Optional[LastRun]
    owed: list[OwedProject]

    @property
    def lag(self) -> Optional[int]:
        if self.serial is None or self.master_serial is None:
            return None
        return max(self.master_serial - self.serial, 0)

    @property
    def healthy(self) -> bool:
        """Lag alone is not failure: a master ahead of us is what the next cron run is for."""
        return (
            self.serial is not None
            and not self.owed
            and self.last_run is not None
            and self.last_run.result == "ok"
        )


def mirror_status(state: StateFiles, master_serial: Optional[int]) -> MirrorStatus:
    """The status from the state files; owed projects as the last run left them (a run in
    progress has not decided yet which of its projects will stay owed)."""
    last = state.last_run()
    return MirrorStatus(state.status(), master_serial, last, last.owed if last else [])


def status_json(status: MirrorStatus) -> str:
    last = status.last_run
    document = {
        "serial": status.serial,
        "master_serial": status.master_serial,
        "lag": status.lag,
        "healthy": status.healthy,
        "last_run": None if last is None else {
            "result": last.result, "started": last.started, "finished": last.finished, "error": last.error,
            "synced": last.synced, "files": last.files, "bytes": last.bytes, "deleted": last.deleted,
            "waited": last.waited,
        },
        "owed": [asdict(entry) for entry in status.owed],
    }  # fmt: skip
    return json.dumps(document, indent=2)


def render_status(status: MirrorStatus) -> str:
    lines = [
        f"serial: {'never synced' if status.serial is None else status.serial}",
        f"master: {'unknown' if status.master_serial is None else status.master_serial}"
        + ("" if status.lag is None else f" (lag {status.lag})"),
    ]
    last = status.last_run
    if last is None:
        lines.append("last run: none recorded")
    else:
        lines.append(
            f"last run: {last.result}, started {last.started}, finished {last.finished or '-'}"
            + (f": {last.error}" if last.error else "")
        )
        lines.append(f"  {summary_line(last)}")
    lines.append(f"owed: {len(status.owed)} projects")
    for entry in status.owed:
        lines.append(
            f"  {entry.project} (serial {entry.serial}): {entry.error or 'not attempted yet'}; "
            f"first failure {entry.first_failure or '-'}, {entry.attempts} attempts"
        )
    lines.append("healthy" if status.healthy else "NOT healthy")
    return "\n".join(lines) + "\n"
