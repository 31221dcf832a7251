"""The scenarios of the benchmark, each run for every client against the same loopback master.

Runs of one scenario alternate between the clients (ours, upstream, ours, upstream, ...) so that a
slow moment of the machine does not land on one client only. Every client's mirror is checked
after its sync (all files of the corpus present) before its timings are trusted.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

from .clients import Client, like_for_like
from .end_of_run import SERIAL, expected_index
from .limit import Limit, machine_limit
from .master_driver import CHANGED_FILE_SIZE, MasterProcess, corpus_args
from .measure import Sample, Summary, measure, summarize

__all__ = ["Bench", "Result", "Sizes", "FULL", "QUICK", "WAN"]

ROOT = Path(__file__).resolve().parent.parent
KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30


@dataclass(frozen=True)
class Sizes:
    projects: int  # scenario 1's corpus: log-uniform sizes in `sizes`, plus the `big` files
    files: tuple[int, int]
    sizes: tuple[int, int]
    big: tuple[int, ...]
    changed: int  # scenario 3
    small_projects: int  # scenario 4
    index_projects: int  # scenario 5
    rebuild_projects: int  # scenario 5r (folders to list; 740,000 would take minutes to create)
    big_file: int  # scenario 6
    wan_projects: int  # scenarios wa, wc, wd: projects of 4 files of 16 KiB behind the WAN link
    wan_changed: int  # scenario wd
    wan_big: int  # scenario wb: bytes of big files behind the WAN link
    tiny_projects: int = 3000  # scenario 7: projects of one 1 KiB wheel
    bulk_files: int = 120  # scenario 8: files of log-uniform sizes in bulk_sizes, one per project
    bulk_sizes: tuple[int, int] = (1 * MIB, 8 * MIB)


WAN = (0.05, 200.0)  # the link of scenarios w*: round trip in seconds, bandwidth in Mbit/s
FULL = Sizes(600, (1, 3), (4 * KIB, 4 * MIB), (100 * MIB, 60 * MIB, 40 * MIB, 25 * MIB, 15 * MIB, 10 * MIB),
             200, 5000, 740_000, 100_000, 2 * GIB, 600, 200, 512 * MIB)  # fmt: skip
QUICK = Sizes(30, (1, 2), (4 * KIB, 256 * KIB), (4 * MIB,), 10, 200, 20_000, 500, 32 * MIB, 12, 4, 4 * MIB,
              tiny_projects=30, bulk_files=6, bulk_sizes=(256 * KIB, 1 * MIB))


@dataclass
class Result:
    """One scenario for one client: its samples and what a run moves (for throughput)."""

    scenario: str
    title: str
    client: Client
    samples: list[Sample] = field(default_factory=list)
    bytes: int = 0
    projects: int = 0
    files: int = 0
    problem: Optional[str] = None  # the mirror did not match the master, or a run failed
    note: str = ""

    @property
    def summary(self) -> Optional[Summary]:
        return summarize(self.samples) if self.samples else None

RECENTLY_DELETED = 32  # seconds: ext4's window for freed inodes it will not hand out again (30 s, and a margin)
MANY_INODES = 5_000  # fewer freed inodes than this cost a run nothing measurable


class Bench:
    def __init__(self, sizes: Sizes, clients: Sequence[Client], *, runs: int, work: Path, workers: int = 3,
                 timeout: float = 60, tls: bool = False, say: Callable[[str], None] = print) -> None:
        self.sizes, self.clients, self.runs, self.work = sizes, list(clients), runs, work
        self.workers, self.timeout, self.tls, self.say = workers, timeout, tls, say
        self.results: list[Result] = []
        self.limits: dict[str, Limit] = {}  # scenario -> the plain tools' time over its corpus
        self.corpus: dict[str, Any] = {}
        self._purged = 0.0  # when the trash last lost many inodes (time.monotonic)

    # -- plumbing ----------------------------------------------------------------------------

    def _discard(self, folder: Path) -> None:
        """Set a measured mirror aside instead of deleting it between runs. ext4 without a journal
        (this machine's) skips every inode freed in the last RECENTLY_DELETED seconds when it
        allocates one, reading its inode block each time: right after deleting the previous
        run's 18,000 inodes, a third of a tiny-project run's CPU went there (perf), whoever ran."""
        if folder.exists():
            trash = self.work / "trash"
            trash.mkdir(exist_ok=True)
            folder.rename(trash / f"{len(os.listdir(trash))}")

    def _empty_trash(self) -> None:
        """Delete what runs set aside (at a scenario's end), then wait out ext4's window before
        the next measured run when many inodes went."""
        trash = self.work / "trash"
        if not trash.exists():
            return
        inodes = sum(len(dirs) + len(files) for _, dirs, files in os.walk(trash))
        shutil.rmtree(trash, ignore_errors=True)
        if inodes >= MANY_INODES:
            self._purged = time.monotonic()

    def _settle(self) -> None:
        wait = self._purged + RECENTLY_DELETED - time.monotonic()
        if wait > 0:
            self.say(f"(waiting {wait:.0f} s for ext4 to stop skipping the inodes just freed)")
            time.sleep(wait)

    def _folder(self, scenario: str, client: Client) -> Path:
        return self.work / f"s{scenario}" / client.key

    def _sync(self, client: Client, master: MasterProcess, scenario: str, label: str) -> Sample:
        folder = self._folder(scenario, client)
        config = folder / "bandersnatch.conf"
        folder.mkdir(parents=True, exist_ok=True)
        text = client.config(folder / "mirror", master.url, workers=self.workers, timeout=self.timeout)
        config.write_text(text, encoding="utf-8")
        before = master.command("stats")
        sample = measure(client.mirror_command(config), log=folder / f"{label}.log", env=client.env(master.cert),
                         cwd=folder)  # fmt: skip
        after = master.command("stats")
        sample = dataclasses.replace(sample, master_cpu=after["cpu"] - before["cpu"],
                                     requests=after["requests"] - before["requests"],
                                     file_requests=after["file_requests"] - before["file_requests"])
        self.say(f"  {scenario:>2} {client.label:<26} {label:<10} {sample.wall:8.2f} s  exit {sample.status}")
        return sample

    def _new(self, scenario: str, title: str, client: Client, **kwargs: int) -> Result:
        result = Result(scenario, title, client, **kwargs)  # type: ignore[arg-type]
        self.results.append(result)
        return result

    def _check(self, result: Result, expected_files: int, mirror_of: str = "") -> None:
        """Trust no timing of a mirror that does not have every file of the master."""
        failed = [s for s in result.samples if s.status != 0]
        if failed:
            result.problem = f"exit {failed[0].status}, see {failed[0].log}"
            return
        folder = self._folder(mirror_of or result.scenario, result.client)
        found = count_files(folder / "mirror" / "web" / "packages")
        if found != expected_files:
            result.problem = f"{found} of {expected_files} files mirrored"

    # -- scenarios 1-3: one realistic corpus -------------------------------------------------

    def realistic(self, wanted: set[str]) -> None:
        s = self.sizes
        log = self.work / "master-realistic.log"
        with MasterProcess(corpus_args(s.projects, s.files, s.sizes, s.big), self.tls, log) as master:
            stats = self.corpus = master.stats
            self.say(f"corpus: {stats['projects']} projects, {stats['files']} files, {stats['bytes'] / 1e6:.0f} MB")
            title = f"full sync, {stats['bytes'] / 1e9:.2f} GB in {stats['files']} files"
            full = {c.key: self._new("1", title, c, bytes=stats["bytes"], projects=stats["projects"])
                    for c in self.clients}  # fmt: skip
            urls = self.work / "urls.txt"
            master.command(f"urls {urls}")
            limits = []
            for number in range(self.runs if "1" in wanted else 1):
                for client in self.clients:
                    shutil.rmtree(self._folder("1", client), ignore_errors=True)
                    full[client.key].samples.append(self._sync(client, master, "1", f"full-{number}"))
                if "1" in wanted:  # in turn with the clients: the same state of the machine
                    limits.append(self._machine_limit(urls, master.cert))
            for result in full.values():
                self._check(result, stats["files"])
            if "1" not in wanted:
                self.results[:] = [r for r in self.results if r.scenario != "1"]
            elif all(limits):  # a limit is a best case: the fastest run, not the median
                self.limits["1"] = min(limits, key=lambda limit: limit.seconds)  # type: ignore[union-attr]
            if "2" in wanted:
                self._noop(master, "2", "1")
            if "3" in wanted:
                self._incremental(master, "3", "1", s.changed)

    def _machine_limit(self, urls: Path, cert: Optional[str], scenario: str = "1") -> Optional[Limit]:
        os.sync()
        try:
            limit = machine_limit(urls, self.work, cert)
        except subprocess.CalledProcessError as error:
            self.say(f"   the machine limit could not be measured: {error}")
            return None
        if limit:
            self.say(f"  {scenario:>2} machine limit {' ' * 26}{limit.seconds:8.2f} s")
        return limit

    def _noop(self, master: MasterProcess, scenario: str, mirror_of: str, suffix: str = "") -> None:
        results = {c.key: self._new(scenario, f"no-op run (nothing changed){suffix}", c) for c in self.clients}
        for number in range(self.runs):
            for client in self.clients:
                results[client.key].samples.append(self._sync(client, master, mirror_of, f"noop-{number}"))
        for result in results.values():
            self._check(result, master.command("stats")["files"], mirror_of=mirror_of)

    def _incremental(self, master: MasterProcess, scenario: str, mirror_of: str, count: int, suffix: str = "") -> None:
        title = f"incremental, {count} projects changed{suffix}"
        results = {c.key: self._new(scenario, title, c, bytes=count * CHANGED_FILE_SIZE, projects=count)
                   for c in self.clients}  # fmt: skip
        stats = master.stats
        for number in range(self.runs):
            stats = master.command(f"change {count}")
            for client in self.clients:
                results[client.key].samples.append(self._sync(client, master, mirror_of, f"incr-{number}"))
        for result in results.values():
            self._check(result, stats["files"], mirror_of=mirror_of)

    # -- scenarios w*: the same work behind a WAN-shaped link ----------------------------------

    def wan(self, wanted: set[str]) -> None:
        """wa full sync of small projects, wc no-op, wd incremental (one corpus); wb big files."""
        s, link = self.sizes, f" ({WAN[0] * 1000:g} ms, {WAN[1]:g} Mbit/s)"
        if wanted & {"wa", "wc", "wd"}:
            args = corpus_args(s.wan_projects, (4, 4), (16 * KIB, 16 * KIB), wan=WAN)
            with MasterProcess(args, self.tls, self.work / "master-wan.log") as master:
                self._full("wa", f"full sync, {s.wan_projects} projects x 4 files of 16 KiB{link}", master)
                if "wc" in wanted:
                    self._noop(master, "wc", "wa", link)
                if "wd" in wanted:
                    self._incremental(master, "wd", "wa", s.wan_changed, link)
            if "wa" not in wanted:
                self.results[:] = [r for r in self.results if r.scenario != "wa"]
        if "wb" in wanted:
            sizes = (s.wan_big // 2, s.wan_big // 4, s.wan_big // 4)
            title = f"full sync, 3 big files, {s.wan_big / MIB:g} MiB{link}"
            self._single_corpus("wb", title, corpus_args(0, (0, 0), (1, 1), sizes, wan=WAN))

    def _full(self, scenario: str, title: str, master: MasterProcess, clients: Optional[Sequence[Client]] = None,
              after_round: Optional[Callable[[], None]] = None) -> None:
        stats = master.stats
        clients = self.clients if clients is None else clients
        results = {c.key: self._new(scenario, title, c, bytes=stats["bytes"], projects=stats["projects"],
                                    files=stats["files"]) for c in clients}  # fmt: skip
        self._settle()
        for number in range(self.runs):
            for client in clients:
                self._discard(self._folder(scenario, client))
                results[client.key].samples.append(self._sync(client, master, scenario, f"full-{number}"))
            if after_round is not None:  # in turn with the clients: the same state of the machine
                after_round()
        self._empty_trash()
        for result in results.values():
            self._check(result, stats["files"])

    # -- scenarios 4 and 6: their own corpus --------------------------------------------------

    def many_small(self) -> None:
        count = self.sizes.small_projects
        self._single_corpus("4", f"full sync, {count} small projects", corpus_args(count, (1, 1), (2 * KIB, 20 * KIB)))

    def tiny(self) -> None:
        """Scenario 7: per-project overhead at its purest (one 1 KiB wheel each): ours with its
        defaults (every page format, .metadata), ours doing upstream's work, and upstream."""
        count = self.sizes.tiny_projects
        ours = next(c for c in self.clients if not c.upstream)
        clients = [ours, like_for_like(ours), *(c for c in self.clients if c.upstream)]
        args = corpus_args(count, (1, 1), (KIB, KIB))
        with MasterProcess(args, self.tls, self.work / "master-7.log") as master:
            self._full("7", f"full sync, {count} projects of one 1 KiB wheel", master, clients)
            for client in clients:
                self._discard(self._folder("7", client))
            self._empty_trash()

    def bulk(self) -> None:
        """Scenario 8: many big files, against the plain tools (curl + openssl) over the same bytes."""
        s = self.sizes
        args = corpus_args(s.bulk_files, (1, 1), s.bulk_sizes)
        with MasterProcess(args, self.tls, self.work / "master-8.log") as master:
            stats = master.stats
            low, high = (size / MIB for size in s.bulk_sizes)
            title = f"full sync, {stats['bytes'] / 1e6:.0f} MB in {stats['files']} files of {low:g}-{high:g} MiB"
            urls = self.work / "urls-8.txt"
            master.command(f"urls {urls}")
            limits = []

            def limit() -> None:
                limits.append(self._machine_limit(urls, master.cert, "8"))

            self._full("8", title, master, after_round=limit)
            if limits and all(limits):
                self.limits["8"] = min(limits, key=lambda found: found.seconds)  # type: ignore[union-attr]
            for client in self.clients:
                self._discard(self._folder("8", client))
            self._empty_trash()

    def big_file(self) -> None:
        size = self.sizes.big_file
        title = f"full sync, one {size / GIB:g} GiB file" if size >= GIB else f"one {size / MIB:g} MiB file"
        self._single_corpus("6", title, corpus_args(0, (0, 0), (1, 1), (size,)))

    def _single_corpus(self, scenario: str, title: str, args: list[str]) -> None:
        with MasterProcess(args, self.tls, self.work / f"master-{scenario}.log") as master:
            self._full(scenario, title, master)
            for client in self.clients:
                self._discard(self._folder(scenario, client))
            self._empty_trash()

    # -- scenario 5: the end of a run at PyPI's size ------------------------------------------

    def end_of_run(self, wanted: set[str]) -> None:
        ours = next(c for c in self.clients if not c.upstream)
        if "5" in wanted:
            folder = self.work / "s5" / "mirror"
            self._seed("seed", folder, self.sizes.index_projects)
            index = folder / "web" / "simple" / "index.html"
            shutil.copyfile(index, index.with_name("pristine.html"))
            result = self._new("5", f"end of run, index of {self.sizes.index_projects:,} projects", ours,
                               projects=self.sizes.index_projects)  # fmt: skip
            for number in range(self.runs):
                shutil.copyfile(index.with_name("pristine.html"), index)
                (folder / "status").write_text(f"{SERIAL - 1000}\n", encoding="utf-8")
                result.samples.append(self._measure_end(ours, folder, "5", f"run-{number}"))
            self._check_end(result, index)
        if "5r" in wanted:
            self._rebuild()

    def _rebuild(self) -> None:
        count = self.sizes.rebuild_projects
        folder = self.work / "s5r" / "mirror"
        self._seed("seed-dirs", folder, count)
        index = folder / "web" / "simple" / "index.html"
        title = f"end of run, rebuild from {count:,} folders"
        results = {c.key: self._new("5r", title, c, projects=count) for c in self.clients}
        for number in range(self.runs):
            for client in self.clients:
                index.unlink(missing_ok=True)
                results[client.key].samples.append(self._measure_end(client, folder, "5r", f"rebuild-{number}"))
        for result in results.values():
            self._check_end(result, index)

    def _seed(self, action: str, folder: Path, count: int) -> None:
        shutil.rmtree(folder, ignore_errors=True)
        self.say(f"   seeding {folder} ({action}, {count:,} projects)")
        subprocess.run([sys.executable, "-m", "bench.end_of_run", action, str(folder), "--projects", str(count)],
                       cwd=ROOT, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})  # fmt: skip

    def _measure_end(self, client: Client, folder: Path, scenario: str, label: str) -> Sample:
        if client.upstream:
            command = [str(client.python), str(ROOT / "bench" / "upstream_index.py"), str(folder), str(SERIAL)]
        else:
            command = [str(client.python), "-m", "bench.end_of_run", "run", str(folder)]
        log = folder.parent / f"{client.key}-{label}.log"
        sample = measure(command, log=log, env=client.env(None), cwd=ROOT if not client.upstream else folder)
        self.say(f"  {scenario:>2} {client.label:<26} {label:<10} {sample.wall:8.2f} s  exit {sample.status}")
        return sample

    def _check_end(self, result: Result, index: Path) -> None:
        """The index a run left must list every project once, sorted (a wrong merge is no speed-up)."""
        failed = [s for s in result.samples if s.status != 0]
        if failed:
            result.problem = f"exit {failed[0].status}, see {failed[0].log}"
            return
        expected = expected_index(index.parents[2])
        with open(index, encoding="utf-8") as lines:
            links = (line.strip() for line in lines)  # upstream indents its lines
            keys = [line[9 : line.index('/">')] for line in links if line.startswith('<a href="')]
        if len(keys) != expected or any(a >= b for a, b in zip(keys, keys[1:])):
            result.problem = f"index lists {len(keys)} projects (expected {expected}, sorted, each once)"
        inner = [line for s in result.samples if s.log for line in s.log.read_text().splitlines()
                 if line.startswith("end-of-run work:")]  # fmt: skip
        if inner:
            result.note = f"in-process {sorted(inner)[len(inner) // 2].split(': ', 1)[1]}"


def count_files(folder: Path) -> int:
    """Published release files below ``folder`` (hidden temporary files are not published; the
    PEP 658 .metadata and PEP 740 .provenance files beside them are not release files)."""
    return sum(
        1 for _, _, files in os.walk(folder) for name in files
        if not name.startswith(".") and not name.endswith((".metadata", ".provenance"))
    )  # fmt: skip
