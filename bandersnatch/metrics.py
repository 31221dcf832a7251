"""The mirror's state in the Prometheus text exposition format (version 0.0.4).

What node_exporter's textfile collector reads from ``[mirror] metrics-file`` and what ``bandersnatch
status --prometheus`` prints: the same facts as ``status --json`` plus the history's (last success,
size, the last run's duration and waits). Pure: values in, text out. A value nobody knows (the
master's serial when it could not be asked, a mirror never synced) is left out rather than
invented, as Prometheus expects of an absent fact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Union

from .history import History
from .report import MirrorStatus

__all__ = ["RESULTS", "Metric", "metrics", "render_metrics"]

RESULTS = ("ok", "failed", "error", "interrupted", "running")  # last-run.json's results, one label each
Number = Union[int, float]


@dataclass(frozen=True)
class Metric:
    """One metric family: its name, type, help and samples ({labels} -> value)."""

    name: str
    kind: str  # gauge | counter
    help: str
    samples: tuple[tuple[tuple[tuple[str, str], ...], Number], ...]

    @classmethod
    def one(cls, name: str, kind: str, help: str, value: Optional[Number]) -> Optional[Metric]:
        return None if value is None else cls(name, kind, help, (((), value),))


def _parse_stamp(stamp: Optional[str]) -> Optional[float]:
    """Seconds since the epoch of an ISO 8601 UTC stamp of last-run.json, or None."""
    if not stamp:
        return None
    import calendar
    import time

    try:
        return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))
    except ValueError:
        return None


def metrics(status: MirrorStatus, history: History, *, version: str, master: str, now: float) -> list[Metric]:
    """Every metric, in the order the file lists them."""
    last, point = status.last_run, history.last
    size = history.size
    result = last.result if last else None
    success = history.last_success
    found = [
        Metric("bandersnatch_info", "gauge", "The mirror's bandersnatch version and master.",
               ((( ("master", master), ("version", version)), 1),)),
        Metric.one("bandersnatch_serial", "gauge", "The PyPI serial the mirror has reached.", status.serial),
        Metric.one("bandersnatch_master_serial", "gauge", "The master's serial, when it could be asked.",
                   status.master_serial),
        Metric.one("bandersnatch_lag_serials", "gauge", "How many serials the mirror is behind the master.",
                   status.lag),
        Metric.one("bandersnatch_last_success_timestamp_seconds", "gauge",
                   "When the last run that left nothing owed finished (Unix time).", success),
        Metric.one("bandersnatch_lag_seconds", "gauge",
                   "Seconds since the last successful run, when this was written; "
                   "time() - bandersnatch_last_success_timestamp_seconds is the live value.",
                   None if success is None else max(now - success, 0.0)),
        Metric("bandersnatch_owed_projects", "gauge", "Projects the mirror owes (failed, retried by every run).",
               (((), len(status.owed)),)),
        Metric.one("bandersnatch_projects", "gauge", "Projects on the mirror (folders under web/simple/).",
                   point.projects if point else None),
        Metric.one("bandersnatch_files", "gauge",
                   "Release files on the mirror (a running total; see README, Watching the mirror).",
                   size.files if size else None),
        Metric.one("bandersnatch_bytes", "gauge", "Bytes of the release files on the mirror (a running total).",
                   size.bytes if size else None),
        Metric.one("bandersnatch_run_downloaded_files_total", "counter", "Files the last run downloaded.",
                   last.files if last else None),
        Metric.one("bandersnatch_run_downloaded_bytes_total", "counter", "Bytes the last run downloaded.",
                   last.bytes if last else None),
        Metric.one("bandersnatch_run_deleted_projects_total", "counter", "Projects the last run deleted.",
                   last.deleted if last else None),
        Metric.one("bandersnatch_run_duration_seconds", "gauge", "How long the last run took.",
                   point.duration if point else None),
        Metric.one("bandersnatch_run_wait_seconds", "gauge",
                   "Seconds the last run waited on the master (Retry-After, RateLimit).",
                   point.waited if point else None),
        Metric.one("bandersnatch_run_finished_timestamp_seconds", "gauge", "When the last run finished (Unix time).",
                   _parse_stamp(last.finished) if last else None),
        Metric.one("bandersnatch_run_success", "gauge", "1 when the last run left nothing owed, else 0.",
                   None if result is None else int(result == "ok")),
        None if result is None else Metric(
            "bandersnatch_run_result", "gauge", "The last run's result: 1 for the one it had.",
            tuple(((("result", name),), int(name == result)) for name in RESULTS)),
    ]  # fmt: skip
    return [metric for metric in found if metric is not None]


def _help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _label(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _value(value: Number) -> str:
    if isinstance(value, int):  # bool too: True is 1
        return str(int(value))
    if math.isnan(value):
        return "NaN"
    return repr(float(value))


def render_metrics(families: list[Metric]) -> str:
    """The text exposition format: HELP, TYPE, then the samples of each family."""
    lines = []
    for metric in families:
        lines += [f"# HELP {metric.name} {_help(metric.help)}", f"# TYPE {metric.name} {metric.kind}"]
        for labels, value in metric.samples:
            shown = ",".join(f'{key}="{_label(text)}"' for key, text in labels)
            lines.append(f"{metric.name}{{{shown}}} {_value(value)}" if shown else f"{metric.name} {_value(value)}")
    return "\n".join(lines) + "\n"
