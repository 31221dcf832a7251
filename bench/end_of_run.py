"""Scenario 5: the end of a run on a mirror of PyPI's size, without fetching 740,000 pages.

``seed`` writes what such a mirror has on disk that the end of a run reads: a sorted global index
of N projects rendered by ``bandersnatch.pages.html.render_index``, ``status``, ``generation`` and the
pages of the ~200 projects the run touched (150 updated, 40 new, 10 deleted upstream: no page).
``seed-dirs`` makes N empty project folders under ``web/simple/`` instead, for the rebuild case
(no old index: the folders are listed). ``run`` is the measured process: it does exactly the
engine's end-of-run work, ``pages.index.refresh_index(touched)`` then ``StateFiles.finish(serial)``.

    python -m bench.end_of_run seed DIR --projects 740000
    python -m bench.end_of_run run DIR
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time
from pathlib import Path
from typing import Iterator, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bandersnatch.configuration import Settings  # noqa: E402
from bandersnatch.mirror import options_marker  # noqa: E402
from bandersnatch.model import ReleaseFile, normalize  # noqa: E402
from bandersnatch.pages.html import render_index, render_project_page  # noqa: E402
from bandersnatch.pages.index import refresh_index  # noqa: E402
from bandersnatch.pages.layout import Layout  # noqa: E402
from bandersnatch.pages.pep691 import render_root  # noqa: E402
from bandersnatch.state import GENERATION, StateFiles  # noqa: E402
from bandersnatch.storage import FilesystemStorage  # noqa: E402

__all__ = ["SERIAL", "expected_index", "seed", "seed_dirs"]

SERIAL = 25_000_000  # about PyPI's serial today
TOUCHED, NEW, DELETED = 200, 40, 10
_WORDS = ("py", "django", "flask", "aws", "cdk", "data", "tool", "lib", "client", "api", "test", "plugin",
          "async", "web", "ml", "torch", "types", "sdk", "azure", "mgmt", "odoo", "addon", "cli", "utils")


def _names(count: int, seed: int = 740) -> Iterator[str]:
    """Display names of PyPI's mix of lengths and spellings, unique after normalization."""
    rng = random.Random(seed)
    for number in range(count):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(1, 3))]
        name = rng.choice("-_.").join(words) + f"-{number}"
        yield name.title() if rng.random() < 0.15 else name


def _page(name: str, serial: int) -> bytes:
    digest = f"{random.Random(name).getrandbits(256):064x}"
    files = []
    for filename in (f"{name}-1.0-py3-none-any.whl", f"{name}-1.0.tar.gz"):
        path = f"packages/{digest[:2]}/{digest[2:4]}/{digest[4:]}/{filename}"
        files.append((path, ReleaseFile(filename=filename, url=f"https://files.example/{path}", sha256=digest)))
    return render_project_page(name, files, serial).encode()


def seed(directory: Path, projects: int) -> list[str]:
    """A mirror of ``projects`` projects at SERIAL, index only; returns the touched names."""
    storage = FilesystemStorage(directory)
    names = list(_names(projects))
    index = sorted((normalize(name), name) for name in names)
    step = len(names) // (TOUCHED - NEW) or 1
    existing = names[::step][: TOUCHED - NEW]
    deleted = set(existing[:DELETED])
    touched = existing + [f"new-{word}-{k}" for k, word in zip(range(NEW), _WORDS * 2)]
    storage.write_web("simple/index.html", (line.encode() for line in render_index(index)))
    roots = render_root(((key, (name, SERIAL - 1000)) for key, name in index), SERIAL - 1000)
    storage.write_web("simple/index.v1_json", (line.encode() for line in roots))  # as a run leaves it
    for name in touched:
        if name not in deleted:
            storage.write_web(f"simple/{normalize(name)}/index.html", [_page(name, SERIAL)])
    storage.write_state("status", f"{SERIAL - 1000}\n")
    listed = {key for key, _ in index} | {normalize(name) for name in touched if name not in deleted}
    _save_plan(directory, touched, len(listed - {normalize(name) for name in deleted}))
    return touched


def seed_dirs(directory: Path, projects: int) -> None:
    """``projects`` project folders, each with its page, and no global index: the run must rebuild
    it from the listing (a folder without a page is never listed: its link would be a 404)."""
    simple = directory / "web" / "simple"
    simple.mkdir(parents=True, exist_ok=True)
    for name in _names(projects):
        os.mkdir(simple / normalize(name))
        (simple / normalize(name) / "index.html").write_bytes(_page(name, SERIAL - 1000))
    touched = list(_names(TOUCHED, seed=741))
    storage = FilesystemStorage(directory)
    for name in touched:
        storage.write_web(f"simple/{normalize(name)}/index.html", [_page(name, SERIAL)])
    storage.write_state("generation", GENERATION + "\n")
    _save_plan(directory, touched, len({normalize(name) for name in _names(projects)} | set(map(normalize, touched))))


def _save_plan(directory: Path, touched: list[str], expected: int) -> None:
    """The names the measured run gets, and how many projects its index must list then."""
    plan = {"touched": touched, "expected": expected}
    (directory / "touched.json").write_text(json.dumps(plan), encoding="utf-8")


def expected_index(directory: Path) -> int:
    return int(json.loads((directory / "touched.json").read_text(encoding="utf-8"))["expected"])


def run(directory: Path) -> float:
    """The measured work; returns its own wall time (without interpreter start-up and imports)."""
    touched = json.loads((directory / "touched.json").read_text(encoding="utf-8"))["touched"]
    start = time.perf_counter()
    settings = Settings(directory=directory, master="http://127.0.0.1:9", allow_non_https=True)
    storage = FilesystemStorage(directory)
    refresh_index(storage, Layout.from_settings(settings), touched)
    StateFiles(storage).finish(SERIAL, {}, options_marker(settings))
    return time.perf_counter() - start


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.end_of_run", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("seed", "seed-dirs", "run"))
    parser.add_argument("directory", type=Path)
    parser.add_argument("--projects", type=int, default=740_000)
    args = parser.parse_args(argv)
    if args.action == "seed":
        seed(args.directory, args.projects)
    elif args.action == "seed-dirs":
        seed_dirs(args.directory, args.projects)
    else:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s: %(message)s")  # as the CLI
        print(f"end-of-run work: {run(args.directory):.3f} s", flush=True)


if __name__ == "__main__":
    main()
