"""Benchmark ``bandersnatch mirror`` against upstream bandersnatch and the machine's own limit.

    python bench/run.py --setup-upstream      # once: upstream from PyPI into bench/.upstream-venv/
    python bench/run.py                       # every scenario, 3 runs each (about 15 minutes)
    python bench/run.py --quick --no-upstream # a smoke test of the harness (CI runs this)

Each scenario starts the tests' loopback master (tests/pypi_master.py) in a process of its own
with a generated corpus and runs every client against it as a separate process, measuring wall
time, CPU time and peak RSS from the kernel; the table shows medians and ours/upstream ratios
from the same invocation, then the issue's targets with PASS/FAIL. It is a benchmark, not a test:
the exit status says whether the harness worked (ours synced every corpus), not whether the
targets were met. Scenarios: 1 full sync of ~1 GB, 2 no-op run, 3 incremental after 200 changes,
4 full sync of 5,000 small projects, 5 end of run on a 740,000-project index (5r: the index
rebuilt by listing folders), 6 one 2 GiB file, 7 full sync of 3,000 projects of one 1 KiB wheel
(ours with defaults and ours HTML-only without .metadata, upstream's work), 8 full sync of ~420 MB
in 120 files of 1-8 MiB against the plain tools (curl + openssl); behind a 50 ms, 200 Mbit/s link (w: all four):
wa full sync of 600 projects x 4 files of 16 KiB, wb 512 MiB of big files, wc no-op, wd incremental.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.clients import find_upstream, ours, setup_upstream  # noqa: E402
from bench.projection import measured_plan_memory, project_lines  # noqa: E402
from bench.report import render  # noqa: E402
from bench.scenarios import FULL, QUICK, Bench  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SCENARIOS = ("1", "2", "3", "4", "5", "5r", "6", "7", "8", "wa", "wb", "wc", "wd")
NOTES = [
    "Every number is the whole process (interpreter start-up and imports included); each client runs "
    "as its own process against the same master, which runs in a third process.",
    "Same config for both: the same workers and timeout, plain http on 127.0.0.1 (allow-non-https). "
    "Upstream: simple-format = HTML (ours writes no PEP 691 JSON pages yet), json = false, "
    "release-files = true, hash-index = false, compare-method = hash, no filter plugins.",
    "`os.sync()` runs before every measured run (untimed), so no client pays for the previous one's "
    "dirty pages. Ours makes its files durable before recording progress (os.sync); upstream never does, "
    "so upstream's wall time leaves writeback to the kernel.",
    "Scenario 5 has no upstream equivalent (upstream always rebuilds the index by listing "
    "web/simple/, which is row 5r); 5r lists fewer folders than 740,000 because creating those "
    "takes minutes and gigabytes of directory blocks; its cost grows linearly.",
]


def _scenarios(text: str) -> set[str]:
    wanted = {part.strip() for part in text.split(",") if part.strip()}
    if "5" in wanted:
        wanted.add("5r")
    if "w" in wanted:  # every WAN scenario
        wanted.discard("w")
        wanted |= {"wa", "wb", "wc", "wd"}
    unknown = wanted - set(SCENARIOS)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown scenario(s) {sorted(unknown)}; choose from {','.join(SCENARIOS)}")
    return wanted


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 run each: a smoke test (seconds)")
    parser.add_argument("--runs", type=int, help="runs per scenario and client (default 3, quick 1)")
    parser.add_argument("--scenarios", type=_scenarios, default=set(SCENARIOS), metavar="1,2,...",
                        help=f"which to run, of {','.join(SCENARIOS)} (5 includes 5r, w all w*)")  # fmt: skip
    parser.add_argument("--no-upstream", action="store_true", help="measure ours only")
    parser.add_argument("--setup-upstream", action="store_true",
                        help="create bench/.upstream-venv/pyXY with upstream from PyPI, then run")  # fmt: skip
    parser.add_argument("--workers", type=int, default=3, help="workers for every client (default 3)")
    parser.add_argument("--tls", action="store_true", help="serve https with a throwaway self-signed certificate")
    parser.add_argument("--keep", action="store_true", help="keep the mirrors and logs in bench/results/work-*/")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.md", help="where the Markdown table goes")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    runs = args.runs or (1 if args.quick else 3)
    if args.setup_upstream:
        setup_upstream()
    clients = [ours()]
    notes = list(NOTES)
    if not args.no_upstream:
        upstream = find_upstream()
        if not upstream:
            print("No upstream bandersnatch in bench/.upstream-venv/ (run with --setup-upstream): ours only.")
            notes.append("Upstream was not measured: no bench/.upstream-venv/ (`--setup-upstream` makes it).")
        clients += upstream
    RESULTS.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="work-", dir=RESULTS))  # concurrent runs do not collide
    bench = Bench(QUICK if args.quick else FULL, clients, runs=runs, work=work, workers=args.workers, tls=args.tls)
    print(f"Clients: {', '.join(c.label for c in clients)}; {runs} run(s) each; logs in {work}", flush=True)
    started = time.monotonic()
    try:
        wanted = args.scenarios
        if wanted & {"1", "2", "3"}:
            bench.realistic(wanted)
        if "4" in wanted:
            bench.many_small()
        if wanted & {"5", "5r"}:
            bench.end_of_run(wanted)
        if "6" in wanted:
            bench.big_file()
        if "7" in wanted:
            bench.tiny()
        if "8" in wanted:
            bench.bulk()
        if wanted & {"wa", "wb", "wc", "wd"}:
            bench.wan(wanted)
    finally:
        order = {name: number for number, name in enumerate(SCENARIOS)}
        bench.results.sort(key=lambda r: order[r.scenario])  # stable: ours before upstream
        projection = project_lines(bench.results)
        if projection and not args.quick:
            projection += [measured_plan_memory(), ""]
        notes.append(f"The whole benchmark took {time.monotonic() - started:.0f} s.")
        table = render(bench.results, bench.limits, runs=runs, quick=args.quick, notes=notes, projection=projection)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(table, encoding="utf-8")
        print("\n" + table + f"(also in {args.output})", flush=True)
        if not args.keep and not any(r.problem for r in bench.results):
            shutil.rmtree(work, ignore_errors=True)  # logs of a problem stay for reading
    broken = [r for r in bench.results if not r.client.upstream and (r.problem or not r.samples)]
    for result in broken:
        print(f"ours failed scenario {result.scenario}: {result.problem or 'no sample'}", file=sys.stderr)
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
