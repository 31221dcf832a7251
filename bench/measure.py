"""Measuring one process: wall time, CPU time (user + system) and peak RSS, from the kernel.

Wall time is ``perf_counter`` around the child; CPU and peak RSS come from ``os.wait4``, which
reports the child together with any grandchildren it waited for (upstream's process pools). The
whole process is measured, interpreter start-up and imports included: that is what cron pays.
launch.py does the measuring, from a small process of its own (see there why).
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

__all__ = ["Sample", "Summary", "measure", "summarize"]

LAUNCHER = Path(__file__).with_name("launch.py")


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds
    cpu: float  # seconds, user + system
    rss: float  # peak resident set, MiB
    status: int
    log: Optional[Path] = None
    sys: float = 0.0  # seconds in the kernel (part of cpu)
    master_cpu: Optional[float] = None  # what the master process used meanwhile (the cores are shared)
    requests: Optional[int] = None  # what the master answered meanwhile (the projection's per-request cost)
    file_requests: Optional[int] = None  # of them, files and what lies beside them (/packages/)


@dataclass(frozen=True)
class Summary:
    """The median of several samples, metric by metric (the runs are noisy in different ways)."""

    wall: float
    cpu: float
    rss: float
    runs: int
    failed: int  # samples whose process exited non-zero
    sys: float = 0.0
    master_cpu: Optional[float] = None

    @property
    def ok(self) -> bool:
        return self.failed == 0


def measure(
    command: Sequence[str], *, log: Path, env: Optional[Mapping[str, str]] = None, cwd: Optional[Path] = None,
    timeout: float = 3600,
) -> Sample:
    """Run ``command`` with stdout and stderr in ``log`` and measure it (through launch.py).

    Dirty pages of earlier runs are written back first (``os.sync``, not timed): a client that
    syncs its own writes must not also pay for what the previous client left in the page cache.
    """
    os.sync()
    log.parent.mkdir(parents=True, exist_ok=True)
    figures = log.with_suffix(".rusage")
    figures.unlink(missing_ok=True)
    with open(log, "wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-S", "-I", str(LAUNCHER), str(figures), *command], stdout=output,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=dict(env) if env is not None else None,
            cwd=cwd, start_new_session=True,
        )  # fmt: skip
        try:
            process.wait(timeout)
        except BaseException:  # a hung client fails its sample, not the whole benchmark
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    if process.returncode != 0 or not figures.exists():
        return Sample(float(timeout), 0.0, 0.0, process.returncode or -1, log)
    wall, user, system, rss_kib, status = figures.read_text(encoding="ascii").split()
    return Sample(float(wall), float(user) + float(system), int(rss_kib) / 1024, int(status), log, float(system))


def summarize(samples: Sequence[Sample]) -> Summary:
    masters = [s.master_cpu for s in samples if s.master_cpu is not None]
    return Summary(
        wall=statistics.median(s.wall for s in samples),
        cpu=statistics.median(s.cpu for s in samples),
        rss=statistics.median(s.rss for s in samples),
        runs=len(samples),
        failed=sum(1 for s in samples if s.status != 0),
        sys=statistics.median(s.sys for s in samples),
        master_cpu=statistics.median(masters) if masters else None,
    )
