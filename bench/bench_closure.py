"""Speed of the dependency closure: 1,000 roots over a synthetic dependency graph.

The graph looks like PyPI's: projects with several releases, each release requiring a few
other projects (some behind markers or extras, some pinned to ranges, a few cycles). The fetcher
answers from memory, as the engine's cache does on a warm run, so this measures the closure's
own work: specifier filtering and marker evaluation for every listed environment.

    python bench/bench_closure.py [--projects N] [--roots N] [--seed N]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from packaging.requirements import Requirement  # noqa: E402

from bandersnatch.subset.closure import DependencySettings, closure  # noqa: E402

MARKERS = ("", "", "", '; sys_platform == "win32"', '; python_version < "3.11"', '; extra == "fast"',
           '; platform_machine == "aarch64"')  # fmt: skip


def graph(projects: int, seed: int) -> dict[str, dict[str, list[str]]]:
    rng = random.Random(seed)
    names = [f"p{index}" for index in range(projects)]
    result: dict[str, dict[str, list[str]]] = {}
    for index, name in enumerate(names):
        releases = {}
        for major in range(rng.randint(1, 8)):
            deps = []
            for _ in range(rng.choice((0, 1, 2, 3, 4, 6))):
                target = names[min(projects - 1, int(rng.expovariate(1 / max(1, index or 1))))]
                spec = rng.choice(("", f">={rng.randint(0, 3)}", f"<{rng.randint(1, 8)}", "~=1.0", "!=2.*"))
                deps.append(f"{target}{spec}{rng.choice(MARKERS)}")
            releases[f"{major}.0"] = deps
            if rng.random() < 0.1:
                releases[f"{major + 1}.0rc1"] = deps
        result[name] = releases
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=20_000)
    parser.add_argument("--roots", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    releases = graph(args.projects, args.seed)
    roots = [Requirement(name) for name in random.Random(args.seed).sample(sorted(releases), args.roots)]
    settings = DependencySettings(enabled=True, python_versions=("3.11", "3.12"),
                                  platforms=("linux-x86_64", "windows-amd64", "macos-arm64"))  # fmt: skip
    start = time.perf_counter()
    result = closure(roots, releases.__getitem__, settings)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    closure(roots, releases.__getitem__, settings)
    warm = time.perf_counter() - start
    kept = sum(len(versions) for versions in result.values())
    print(f"closure of {args.roots} roots over {args.projects} projects: {len(result)} projects, {kept} releases; "
          f"{cold:.2f} s first run, {warm:.2f} s again (parsed requirements cached)")


if __name__ == "__main__":
    main()
