"""From the WAN scenarios to a first full sync of all of PyPI: days, not guesses.

The model has two measured costs per client, both taken behind the same 50 ms, 200 Mbit/s link:
- per request (scenario wa): wall seconds per request answered by the master, with the client's own
  concurrency (a full sync of small files is round trips, not bytes); the requests per project and
  per file are counted by the master, so ours (JSON API + PEP 691 page, .metadata) and upstream
  (JSON API only) are each charged for what they really ask;
- per byte (scenario wb): the share of the link a big download reaches, capped on a faster link by
  the client's CPU per byte (hashing and copying) on one core of this machine.
A sync is then requests x per-request cost + bytes / byte rate. Ours overlaps the two, upstream
barely does; the sum is therefore pessimistic for ours.

Memory at PyPI's scale (``python -m bench.projection memory``): a child process plans a full sync
of 740,000 projects as the engine does (the XML-RPC listing parsed, the names checked and
normalized, the todo written) and reports its peak RSS; the global index at that scale is row 5.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.scenarios import WAN, Result  # noqa: E402

__all__ = ["MIRRORS", "Costs", "costs", "measured_plan_memory", "plan_memory", "project_lines"]

GBIT = 1e9 / 8  # bytes/s


@dataclass(frozen=True)
class Mirror:
    label: str
    projects: int
    files: int
    bytes: float


MIRRORS = (
    Mirror("all of PyPI", 740_000, 12_000_000, 100e12),
    # A subset as operators run them: a few thousand allowlisted projects with their dependencies,
    # recent releases, the platforms they install on.
    Mirror("a filtered mirror (20,000 projects, 300,000 files, 2 TB)", 20_000, 300_000, 2e12),
)


@dataclass(frozen=True)
class Costs:
    client: str
    per_request: float  # wall seconds per request at the client's concurrency
    metadata_per_project: float  # requests that are not files
    per_file: float  # requests per file (the file, .metadata, provenance)
    link_share: float  # of the bandwidth, on a big download
    cpu_per_byte: float  # seconds of CPU per byte downloaded

    def seconds(self, mirror: Mirror, bandwidth: float) -> float:
        requests = mirror.projects * self.metadata_per_project + mirror.files * self.per_file
        rate = min(self.link_share * bandwidth, 1 / self.cpu_per_byte if self.cpu_per_byte else bandwidth)
        return requests * self.per_request + mirror.bytes / rate


def costs(small: Result, big: Result) -> Optional[Costs]:
    """The client's costs from its runs of scenarios wa and wb (None when either is missing)."""
    sample = next((s for s in small.samples if s.requests), None)
    if small.problem or big.problem or not small.summary or not big.summary or not small.files or sample is None:
        return None
    files = sample.file_requests or 0
    return Costs(
        client=small.client.label,
        per_request=small.summary.wall / sample.requests,  # type: ignore[operator]
        metadata_per_project=(sample.requests - files) / small.projects,  # type: ignore[operator]
        per_file=files / small.files,
        link_share=big.bytes / big.summary.wall / (WAN[1] * 1e6 / 8),
        cpu_per_byte=big.summary.cpu / big.bytes,
    )


def _days(seconds: float) -> str:
    return f"{seconds / 86400:.1f} d" if seconds >= 86400 else f"{seconds / 3600:.1f} h"


def project_lines(results: Sequence[Result]) -> list[str]:
    """The projection as Markdown: one row per client and mirror, 1 and 10 Gbit/s at 50 ms."""
    by_client = {}
    for result in results:
        if result.scenario in ("wa", "wb"):
            by_client.setdefault(result.client.label, {})[result.scenario] = result
    found = [c for pair in by_client.values() if len(pair) == 2 and (c := costs(pair["wa"], pair["wb"]))]
    if not found:
        return []
    lines = [
        "Projection of a first full sync at 50 ms round trip (per-request cost from wa, per-byte from wb; "
        "bench/projection.py says how):",
        "",
        "| mirror | client | s/request | requests/project + /file | link share | 1 Gbit/s | 10 Gbit/s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for mirror in MIRRORS:
        for cost in found:
            lines.append(
                f"| {mirror.label} | {cost.client} | {cost.per_request * 1000:.1f} ms "
                f"| {cost.metadata_per_project:.1f} + {cost.per_file:.1f} | {cost.link_share:.0%} "
                f"| {_days(cost.seconds(mirror, GBIT))} | {_days(cost.seconds(mirror, 10 * GBIT))} |"
            )  # fmt: skip
    return lines + [""]


# --------------------------------------------------------------------------- memory at PyPI's scale
def plan_memory(projects: int = 740_000) -> float:
    """Peak RSS (MiB) of planning a full sync of ``projects`` as the engine does, in this process."""
    from bandersnatch.run_summary import RunSummary, accepted
    from bandersnatch.state import Plan, StateFiles
    from bandersnatch.storage import FilesystemStorage

    names = (f"Project_{i}.name-{i % 97}" for i in range(projects))
    body = xmlrpc.client.dumps(({name: i + 1 for i, name in enumerate(names)},), methodresponse=True)
    listed = {str(name): serial for name, serial in xmlrpc.client.loads(body)[0][0].items()}
    del body
    work = accepted(listed.items(), RunSummary())  # the engine's own check and normalization of every name
    with tempfile.TemporaryDirectory() as folder:
        StateFiles(FilesystemStorage(Path(folder))).start(Plan(max(work.values()), work), full=True, options="-")
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measured_plan_memory() -> str:
    """plan_memory() in a child process of its own (this one holds the benchmark's results)."""
    command = [sys.executable, "-m", "bench.projection", "memory"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return done.stdout.strip() or f"planning memory not measured: {done.stderr.strip()[-200:]}"


if __name__ == "__main__":
    if sys.argv[1:2] == ["memory"]:
        print(f"Planning a full sync of 740,000 projects (listing parsed, names checked, todo written): "
              f"peak RSS {plan_memory():.0f} MiB.")
