"""``bandersnatch verify``: check the mirror against its own pages, and heal what is wrong.

It never walks the master: the pages say what must be there, a stat says whether it is (a hash with
``--hash``), and one walk of ``packages/`` finds what no page links. Pages are read and files
stat'ed by a few threads (stat and hashing release the GIL), projects in batches so memory holds
one batch plus an 8-byte digest per linked path (about 100 MB at PyPI's 12 million files), never
a model of the whole mirror.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from array import array
from bisect import bisect_left
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import islice
from typing import Callable, ContextManager, Iterable, Iterator, Optional

from ..configuration import Settings
from ..deletion_guard import MassDeletion, check_orphans
from ..history import size_moved_by
from ..pages.html import parse_index_line
from ..pages.index import refresh_index
from ..pages.layout import (
    FILES,
    HTML,
    INDEX,
    INDEX_V1_JSON,
    PAGE_HTML,
    PAGE_V1_JSON,
    PROJECTS,
    PROVENANCE,
    Layout,
    page_path,
    project_folder,
)
from ..pages.pep691 import root_key
from ..pages.published import PublishedFile, read_project, require_mirror
from ..storage import Storage

__all__ = ["KINDS", "Problem", "Report", "format_problem", "repair", "summary_line", "verify_mirror"]

logger = logging.getLogger(__name__)

# What can be wrong, in the order the summary lists them.
KINDS = ("missing", "size", "hash", "no-page", "not-in-index", "orphan")
REFETCH = frozenset({"missing", "size", "hash", "no-page"})  # healed by syncing the project again
THREADS = 8
BATCH = 256  # projects per round of the pool: bounded memory, whatever the mirror's size

Progress = Callable[[int], ContextManager[Callable[[int], None]]]
Resync = Callable[[list[str]], list[str]]  # sync these projects as `mirror` would; the failures


@dataclass(frozen=True)
class Problem:
    kind: str  # one of KINDS
    path: str  # relative to web/
    project: Optional[str]  # normalized; None for an orphan (no page claims it)


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    projects: int = 0
    files: int = 0

    def summary(self) -> dict[str, int]:
        counts = Counter(problem.kind for problem in self.problems)
        return {kind: counts[kind] for kind in KINDS if counts[kind]}

    def healed(self, problem: Problem, refetch: bool, delete_orphans: bool) -> bool:
        """Whether a repair run with these flags deals with ``problem``."""
        return (problem.kind == "orphan" and delete_orphans) or (problem.kind != "orphan" and refetch)

    def as_json(self) -> dict[str, object]:
        return {
            "problems": [{"kind": p.kind, "path": p.path, "project": p.project} for p in self.problems],
            "summary": self.summary(),
            "checked": {"projects": self.projects, "files": self.files},
        }


def format_problem(problem: Problem) -> str:
    return f"{problem.kind}: {problem.path}" + (f" ({problem.project})" if problem.project else "")


def summary_line(report: Report) -> str:
    counts = ", ".join(f"{count} {kind}" for kind, count in report.summary().items())
    found = f"{len(report.problems)} problems ({counts})" if report.problems else "no problems"
    return f"verify: {report.projects} projects, {report.files} files checked, {found}"


def _no_progress(total: int) -> ContextManager[Callable[[int], None]]:
    return contextlib.nullcontext(lambda count: None)


def verify_mirror(
    storage: Storage, layout: Layout, *, check_hash: bool, progress: Optional[Progress] = None
) -> Report:
    """Every problem the mirror has against its own pages and global index."""
    require_mirror(storage)
    report = Report()
    projects = sorted(storage.list_web_dirs(PROJECTS))
    linked = _PathSet()
    paged: set[str] = set()
    with (progress or _no_progress)(len(projects)) as advance, ThreadPoolExecutor(THREADS) as pool:
        names = iter(projects)
        while batch := list(islice(names, BATCH)):
            for name, listed, files, problems in pool.map(
                lambda n: _check_project(storage, layout, n, check_hash), batch
            ):
                report.projects += 1
                report.files += len(files)
                report.problems.extend(problems)
                linked.add(item.path for item in files)
                if listed:
                    paged.add(name)
            advance(len(batch))
    report.problems.extend(_index_problems(storage, layout, paged))
    report.problems.extend(_orphans(storage, linked))
    return report


def _check_project(
    storage: Storage, layout: Layout, name: str, check_hash: bool
) -> tuple[str, bool, tuple[PublishedFile, ...], list[Problem]]:
    """(name, whether the root should list it, the files its page links, their problems)."""
    pages = read_project(storage, name, layout.links)
    if pages is None:
        return name, False, (), [Problem("no-page", _page(layout, name), name)]
    problems = [
        Problem(kind, item.path, name) for item in pages.files if (kind := _check_file(storage, item, check_hash))
    ]
    return name, not pages.quarantined, pages.files, problems


def _page(layout: Layout, name: str) -> str:
    """The page a project folder must hold, in the mirror's own format."""
    return page_path(name, PAGE_HTML if HTML in layout.formats else PAGE_V1_JSON)


def _check_file(storage: Storage, item: PublishedFile, check_hash: bool) -> Optional[str]:
    """The kind of problem the file has, or None when it is as its page says."""
    size = storage.web_size(item.path)
    if size is None:
        return "missing"
    if item.size is not None and size != item.size:
        return "size"
    if check_hash and item.sha256 and not storage.file_matches(item.path, item.sha256, None, verify=True):
        return "hash"
    return None


def _index_problems(storage: Storage, layout: Layout, paged: set[str]) -> Iterator[Problem]:
    """Pages the global index misses, and index entries whose page is gone (the HTML root, or the
    JSON one on a mirror that writes only JSON). A quarantined project is in no root (PEP 792)."""
    index, key = INDEX, lambda line: (entry[0] if (entry := parse_index_line(line)) else None)
    if HTML not in layout.formats:
        index, key = INDEX_V1_JSON, root_key
    listed: set[str] = set()
    for block in storage.read_web_blocks(index) or ():
        listed.update(name for line in block if (name := key(line)))
    for name in sorted(paged - listed):
        yield Problem("not-in-index", index, name)
    for name in sorted(listed - paged):
        if not storage.web_exists(project_folder(name)):  # a folder without a page was reported already
            yield Problem("no-page", _page(layout, name), name)


class _PathSet:
    """The paths the pages link, as 8-byte digests in sorted buckets: a set of 12 million path
    strings would take gigabytes. A collision (about 1 in 10^11 per orphan at that size) can only
    hide an orphan, never make a linked file one, so ``--delete`` stays safe."""

    BUCKET_BITS = 12  # sorted a bucket at a time: the temporary list stays small

    def __init__(self) -> None:
        self._buckets = [array("Q") for _ in range(1 << self.BUCKET_BITS)]
        self._sorted = False

    def add(self, paths: Iterable[str]) -> None:
        for path in paths:
            value = _digest(path)
            self._buckets[value >> (64 - self.BUCKET_BITS)].append(value)

    def __contains__(self, path: object) -> bool:
        if not self._sorted:
            for number, bucket in enumerate(self._buckets):
                self._buckets[number] = array("Q", sorted(bucket))
            self._sorted = True
        value = _digest(str(path))
        bucket = self._buckets[value >> (64 - self.BUCKET_BITS)]
        position = bisect_left(bucket, value)
        return position < len(bucket) and bucket[position] == value


def _digest(path: str) -> int:
    return int.from_bytes(hashlib.blake2b(path.encode("utf-8", "surrogateescape"), digest_size=8).digest(), "big")


def _orphans(storage: Storage, linked: _PathSet) -> Iterator[Problem]:
    """Files under packages/ that no page links. Hidden names are a sync's temporary files. A
    ``.provenance`` beside a linked file is not one: without ``public-url`` it is mirrored but
    not announced (PEP 740 links must be fully qualified)."""
    for path in storage.iter_files(FILES):
        if path not in linked and not (path.endswith(PROVENANCE) and path[: -len(PROVENANCE)] in linked):
            yield Problem("orphan", path, None)


def repair(
    report: Report,
    settings: Settings,
    storage: Storage,
    resync: Resync,
    *,
    refetch: bool,
    delete_orphans: bool,
    dry_run: bool,
    allow_mass_deletion: bool = False,
) -> list[str]:
    """Heal what ``report`` found, as far as the flags allow; return the failures (one line each).

    A project with a missing, short or damaged file, or no page, is synced again by ``resync``,
    exactly as ``mirror`` syncs it, with every file re-hashed: only what is missing or wrong is
    downloaded, and a bad file is replaced atomically.

    Orphans are counted against ``[mirror] max-deletions`` first (deletion_guard.check_orphans:
    the limit's share of the projects, applied to the files the pages link), and past it nothing
    at all is done: pages that link nothing here (``root_uri`` written over a full mirror, before
    the pages had one reader) make every file an orphan, and that must not empty ``packages/``. A
    dry run only warns.
    """
    wanted = [p for p in report.problems if p.project and refetch]
    projects = sorted({p.project for p in wanted if p.kind in REFETCH})
    unindexed = sorted({p.project for p in wanted if p.kind == "not-in-index"})
    orphans = [p.path for p in report.problems if p.kind == "orphan"] if delete_orphans else []
    try:
        check_orphans(len(orphans), report.files, report.projects, settings.max_deletions, allow_mass_deletion)
    except MassDeletion as refusal:
        if not dry_run:
            raise
        logger.warning("%s", refusal)
    for name in projects:
        logger.info("%s %s from the master", "Would re-fetch" if dry_run else "Re-fetching", name)
    for path in orphans:
        logger.info("%s orphan %s", "Would delete" if dry_run else "Deleting", path)
    if dry_run:
        return []
    layout = Layout.from_settings(settings)
    failures = resync(projects) if projects else []
    claimed = {item.path for name in projects for item in _files(storage, layout, name)}
    with size_moved_by(storage) as counted:
        for path in orphans:
            if path not in claimed:  # a page re-fetched above may have claimed it again
                counted.remove_web_file(path)
    if unindexed:
        refresh_index(storage, layout, unindexed)
    return failures


def _files(storage: Storage, layout: Layout, name: str) -> tuple[PublishedFile, ...]:
    pages = read_project(storage, name, layout.links)
    return pages.files if pages else ()
