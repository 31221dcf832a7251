"""Where a sync spends its time: ``bandersnatch mirror`` under py-spy against a scenario's corpus.

    pip install py-spy
    python -m bench.profile --scenario 1            # the ~1 GB corpus (4: 5,000 small projects,
                                                    # 7: 3,000 tiny ones, 8: ~420 MB of 1-8 MiB files)
    python -m bench.profile --scenario 4 --threads idle   # include threads waiting on I/O or locks

py-spy samples every thread (cProfile sees only the main one, and the work is in the pool's
threads); by default only the one holding the GIL, i.e. where the interpreter's CPU goes. The collapsed stacks are kept in bench/results/profile-<scenario>.txt (load them in
speedscope) and summarised here: the functions with the most samples on top of the stack (self)
and on the stack at all (inclusive), as a share of all samples.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.clients import ours  # noqa: E402
from bench.master_driver import MasterProcess, corpus_args  # noqa: E402
from bench.scenarios import FULL, KIB, QUICK, Sizes  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def _corpus(scenario: str, sizes: Sizes) -> list[str]:
    if scenario == "4":
        return corpus_args(sizes.small_projects, (1, 1), (2 * KIB, 20 * KIB))
    if scenario == "6":
        return corpus_args(0, (0, 0), (1, 1), (sizes.big_file,))
    if scenario == "7":
        return corpus_args(sizes.tiny_projects, (1, 1), (KIB, KIB))
    if scenario == "8":
        return corpus_args(sizes.bulk_files, (1, 1), sizes.bulk_sizes)
    return corpus_args(sizes.projects, sizes.files, sizes.sizes, sizes.big)


_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]*)(?::\d+)?\)$")


def _frame(frame: str) -> tuple[str, str]:
    """(function with its file, package) of a py-spy frame ``name (path/file.py:line)``."""
    match = _FRAME.match(frame)
    if not match:
        return frame, frame
    path = match.group("file")
    parts = path.split("/")
    anchor = next((i for i, part in enumerate(parts) if part in ("site-packages", "lib", "bandersnatch")), -1)
    package = parts[anchor + 1] if anchor >= 0 and parts[anchor] != "bandersnatch" else parts[0]
    if "python3" in package and len(parts) > anchor + 2:
        package = parts[anchor + 2]  # lib/python3.11/http/client.py -> http
    package = package.removesuffix(".py")
    return f"{match.group('function')} ({'/'.join(parts[-2:])})", package


def summarize(collapsed: Path, top: int = 25) -> str:
    """Self and inclusive sample shares per function (and self per package) from py-spy's raw output."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = [_frame(frame) for frame in stack.split(";") if frame]
        total += int(count)
        if frames:
            own[frames[-1][0]] += int(count)
            packages[frames[-1][1]] += int(count)
        for name in {name for name, _ in frames}:
            inclusive[name] += int(count)
    total = total or 1
    lines = [f"{total} samples", "", "self %   package (where the innermost frame is)"]
    lines += [f"{100 * n / total:6.1f}   {name}" for name, n in packages.most_common(12)]
    lines += ["", "self %   function"]
    lines += [f"{100 * n / total:6.1f}   {name}" for name, n in own.most_common(top)]
    lines += ["", "incl %   function"]
    lines += [f"{100 * n / total:6.1f}   {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=("1", "4", "6", "7", "8"), default="1")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", choices=("gil", "active", "idle"), default="gil",
                        help="sample the thread holding the GIL (default: where the CPU goes), every "
                             "running thread, or every thread including waiting ones")  # fmt: skip
    parser.add_argument("--rate", type=int, default=250, help="samples per second")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--summarize", type=Path, metavar="FILE", help="only summarise collapsed stacks saved before")
    args = parser.parse_args(argv)
    if args.summarize:
        print(summarize(args.summarize))
        return 0
    if not shutil.which("py-spy"):
        print("py-spy is not installed: pip install py-spy", file=sys.stderr)
        return 1
    client = ours()
    RESULTS.mkdir(parents=True, exist_ok=True)
    collapsed = RESULTS / f"profile-{args.scenario}.txt"
    with tempfile.TemporaryDirectory(dir=RESULTS, prefix="profile-") as folder, \
            MasterProcess(_corpus(args.scenario, QUICK if args.quick else FULL)) as master:  # fmt: skip
        config = Path(folder) / "bandersnatch.conf"
        config.write_text(client.config(Path(folder) / "mirror", master.url, workers=args.workers, timeout=60))
        command = ["py-spy", "record", "--format", "raw", "--rate", str(args.rate), "--output", str(collapsed),
                   *{"gil": ["--gil"], "active": [], "idle": ["--idle"]}[args.threads], "--",
                   *client.mirror_command(config)]  # fmt: skip
        with open(collapsed.with_suffix(".log"), "wb") as log:
            subprocess.run(command, env=client.env(None), check=True, stdout=log, stderr=subprocess.STDOUT)
    print(summarize(collapsed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
