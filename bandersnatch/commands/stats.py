"""``update-stats``: PEP 381 daily download statistics from the web server's access logs.

A public mirror publishes, per UTC day, how often each file was downloaded by which client, as
``web/local-stats/days/YYYY-MM-DD.bz2``. The logs of a busy mirror are many GB, so one pass streams
them through a tight loop that only counts raw (day, request, user agent) triples; decoding the
fields and finding each file's project happen afterwards, once per distinct value.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import io
import logging
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Iterable, NamedTuple, Optional

from ..errors import UnsafePath
from ..pages.layout import DAYS_FOLDER, PROJECTS, Links, filename_projects
from ..pages.published import read_project
from ..storage import Storage
from . import accesslog
from .accesslog import DayTable, log_files

__all__ = ["DAYS_FOLDER", "HEADER", "StatsSummary", "update_stats"]

log = logging.getLogger(__name__)

HEADER = ("# package", "filename", "useragent", "count")  # PEP 381

@dataclass(frozen=True)
class StatsSummary:
    """What a run did, for the one line the operator sees in syslog."""

    files_read: int
    lines_counted: int
    lines_skipped: int
    files_unknown: int  # downloads of files no page or earlier day file places in a project
    days_written: int  # days whose file holds this run's counts (an unchanged file is left alone)

    def __str__(self) -> str:
        return (
            f"update-stats: {self.files_read} files read, {self.lines_counted} lines counted, "
            f"{self.lines_skipped} lines skipped, {self.files_unknown} downloads of unknown files, "
            f"{self.days_written} days written"
        )


# -- which project a file belongs to ------------------------------------------------------------


def _filename(path: str) -> str:
    return path.rpartition("/")[2]


def _read_page(storage: Storage, links: Links, folder: str) -> Optional[tuple[str, dict[str, str]]]:
    """(display name, {path: sha256}) of one of our project pages, in whatever format the mirror
    writes; None when there is none."""
    try:
        found = read_project(storage, folder, links, display=True)
    except (UnsafePath, OSError):  # a "project name" made up by a hostile request: "..", too long
        return None
    return (found.display, found.release_files) if found else None


def _place_by_name(storage: Storage, links: Links, paths: Iterable[str]) -> dict[str, str]:
    """{path: project} for the paths listed on the page their file name points to.

    A full mirror has 740,000 pages: only the pages named by the downloaded files are read, each
    once, and none is kept after its files are checked.
    """
    wanted: dict[str, list[str]] = {}
    for path in paths:
        for name in filename_projects(_filename(path)):
            wanted.setdefault(name, []).append(path)
    found: dict[str, str] = {}
    for name, group in wanted.items():
        todo = [path for path in group if path not in found]
        page = _read_page(storage, links, name) if todo else None
        if page is not None:
            found.update((path, page[0]) for path in todo if path in page[1])
    return found


def _place_by_scan(storage: Storage, links: Links, paths: set[str]) -> dict[str, str]:
    """The last resort for files whose name does not name their project: read every page once."""
    folders = storage.list_web_dirs(PROJECTS)
    log.info("reading all %d project pages to place %d downloaded files", len(folders), len(paths))
    found: dict[str, str] = {}
    for folder in folders:
        page = _read_page(storage, links, folder)
        if page is not None:
            found.update((path, page[0]) for path in page[1].keys() & paths)
        if len(found) == len(paths):
            break
    return found


def _published(storage: Storage, path: str) -> bool:
    try:
        return storage.web_exists(path)
    except (UnsafePath, OSError):  # "packages/../x" or a name too long, from a hostile request
        return False


class _OldDay(NamedTuple):
    """An existing day file: the run must not shrink it, and need not compress it again."""

    total: int
    digest: bytes  # sha256 of its CSV text


def _read_day_file(storage: Storage, day: str) -> tuple[bytes, list[tuple[str, str, str, int]]]:
    """The CSV text and rows of an existing day file; empty when it is missing or not one of ours."""
    try:
        with storage.open_web(f"{DAYS_FOLDER}/{day}.bz2") as handle:
            data = bz2.decompress(handle.read())
        reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
        return data, [(p, f, a, int(c)) for p, f, a, c in reader if not p.startswith("#")]
    except FileNotFoundError:
        return b"", []
    except (OSError, EOFError, ValueError, csv.Error) as error:
        log.warning("cannot read the day file of %s (%s); rebuilding it from the logs alone", day, error)
        return b"", []


def _previous_days(
    storage: Storage, days: Iterable[str], filenames: set[str]
) -> tuple[dict[str, _OldDay], dict[str, str]]:
    """The day files this run replaces, and the project they give each of ``filenames`` (files
    that left the mirror after an earlier run placed them)."""
    old: dict[str, _OldDay] = {}
    remembered: dict[str, str] = {}
    for day in days:
        data, rows = _read_day_file(storage, day)
        old[day] = _OldDay(sum(row[3] for row in rows), hashlib.sha256(data).digest())
        remembered.update((filename, package) for package, filename, _, _ in rows if filename in filenames)
    return old, remembered


def _place(storage: Storage, links: Links, days: dict[str, DayTable]) -> tuple[dict[str, str], dict[str, _OldDay]]:
    """({path: project} for every downloaded path that can be placed, the previous day files).

    The page a file name points to is asked first, the day files this run replaces next (they
    remember files deleted since), and every page only for what neither can place.
    """
    paths = {path for table in days.values() for path, _ in table}
    found = _place_by_name(storage, links, paths)
    missing = paths - found.keys()
    old, remembered = _previous_days(storage, days, {_filename(path) for path in missing})
    found.update((path, remembered[_filename(path)]) for path in missing if _filename(path) in remembered)
    misnamed = {path for path in missing - found.keys() if _published(storage, path)}
    if misnamed:  # a file that left the mirror is on no page: only these can be on another one
        found.update(_place_by_scan(storage, links, misnamed))
    return found, old


# -- writing the day files ----------------------------------------------------------------------


def _day_rows(table: DayTable, projects: dict[str, str]) -> tuple[dict[tuple[str, str, str], int], int]:
    """({(package, filename, user agent): count}, downloads of files no project claims)."""
    rows: dict[tuple[str, str, str], int] = {}
    unknown = 0
    for (path, agent), count in table.items():
        package = projects.get(path)
        if package is None:
            unknown += count
            continue
        key = (package, _filename(path), agent)
        rows[key] = rows.get(key, 0) + count
    return rows, unknown


def _day_csv(rows: dict[tuple[str, str, str], int]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(sorted((*key, count) for key, count in rows.items()))
    return text.getvalue().encode("utf-8")


def _write_days(
    storage: Storage, days: dict[str, DayTable], projects: dict[str, str], old: dict[str, _OldDay]
) -> tuple[int, int, int]:
    """(downloads counted, downloads of unknown files, days written).

    A day only gains downloads while its logs exist: when the logs hold fewer than its file, a
    log that covered the day was rotated away, and the file stays as it is.
    """
    counted = unknown = written = 0
    for day, table in sorted(days.items()):
        rows, unplaced = _day_rows(table, projects)
        total = sum(rows.values())
        counted, unknown = counted + total, unknown + unplaced
        if total < old[day].total:
            log.info("keeping the day file of %s: it counts %d downloads, the logs now only %d",
                     day, old[day].total, total)
            continue
        data = _day_csv(rows)
        if hashlib.sha256(data).digest() != old[day].digest:  # bzip2 is slow; most days are done
            storage.write_web(f"{DAYS_FOLDER}/{day}.bz2", [bz2.compress(data)])
        written += 1
    return counted, unknown, written


def update_stats(storage: Storage, links: Links, pattern: str, *, today: Optional[date] = None) -> StatsSummary:
    """Rebuild the PEP 381 day file of every UTC day the access logs matching ``pattern`` cover.

    Each day is counted from all logs at once and replaced atomically, so a second run writes the
    same bytes, and today's partial day is simply written again by the next run. ``today`` (UTC,
    default now) bounds the days: a line dated later is damaged, not a download in the future.
    """
    files = log_files(pattern)
    today = today or datetime.now(timezone.utc).date()
    files_read, skipped, days = accesslog.count_logs(files, today.isoformat())
    projects, old = _place(storage, links, days)
    counted, unknown, written = _write_days(storage, days, projects, old)
    return StatsSummary(files_read, counted, skipped, unknown, written)
