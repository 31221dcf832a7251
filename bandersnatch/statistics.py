"""``update-stats``: PEP 381 daily download statistics from the web server's access logs.

A public mirror publishes, per UTC day, how often each file was downloaded by which client, as
``web/local-stats/days/YYYY-MM-DD.bz2``. The logs of a busy mirror are many GB, so one pass streams
them through a tight loop that only counts raw (day, request, user agent) triples; decoding the
fields and finding each file's project happen afterwards, once per distinct value.
"""

from __future__ import annotations

import bz2
import csv
import glob
import gzip
import hashlib
import html
import io
import logging
import os
import re
import zlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import partial
from typing import IO, Iterable, NamedTuple, Optional
from urllib.parse import unquote

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)

from .errors import MirrorError, UnsafePath
from .model import normalize
from .simple import page_files
from .storage import Storage

__all__ = ["DAYS_FOLDER", "HEADER", "Download", "StatsSummary", "parse_line", "update_stats"]

log = logging.getLogger(__name__)

DAYS_FOLDER = "local-stats/days"
HEADER = ("# package", "filename", "useragent", "count")  # PEP 381
MAX_LINE = 1 << 16  # a line of binary junk without newlines must not fill the memory

# The exact shape of a "combined" line (trailing custom fields allowed) or a "common" one (no
# referer, no agent), for the lines the quick split in _Tally.count_lines cannot take.
_STAMP = rb"\[(\d\d/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\]"
_FIELD = rb'[^"\\]*(?:\\.[^"\\]*)*'
_EXACT = re.compile(
    rb"\S+ \S+ \S+ " + _STAMP + rb' "(' + _FIELD + rb')"( \d{3} )(?:\d+|-)'
    rb'(?: "' + _FIELD + rb'" "(' + _FIELD + rb')"(?: [^\n]*)?)?\r?\n?\Z'
)
_MINUTE = re.compile(rb"(\d\d)/([A-Za-z]{3})/(\d{4}):(\d\d):(\d\d) ([+-])(\d\d)(\d\d)\Z")
_ESCAPE = re.compile(rb"\\(x[0-9A-Fa-f]{2}|.)", re.S)
_C_ESCAPES = {b"n": b"\n", b"t": b"\t", b"r": b"\r", b"v": b"\v", b"f": b"\f"}  # Apache's whitespace
_MONTHS = {m.encode(): i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_NOT_RELEASE_FILES = ("/", ".metadata", ".provenance", ".asc")  # listings, PEP 658/740 files, signatures
_LEGACY_NAME = re.compile(r"(.+?)-\d")  # eggs, installers, old tarballs: name-1.0...
_TITLE = re.compile(r"<title>Links for (.*?)</title>")
_COMPRESSED = ((b"\x1f\x8b", gzip.open), (b"BZh", bz2.open))  # logrotate's compress, or bzip2

RawKey = tuple[bytes, Optional[bytes]]  # (request line, user agent) as logged; common format: no agent
DayTable = dict[tuple[str, str], int]  # {(path below web/, user agent): downloads}


class Download(NamedTuple):
    """One counted request: the UTC day, the file's path below web/, and the client."""

    day: str
    path: str
    user_agent: str


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


class _Tally:
    """One run's raw count tables: per UTC day, {(request line, user agent) as logged: count}."""

    def __init__(self, today: str) -> None:
        self.today = today
        self.days: dict[str, dict[RawKey, int]] = {}
        self._minutes: dict[bytes, Optional[dict[RawKey, int]]] = {}  # None: impossible or future
        self.skipped = 0

    def count_lines(self, lines: Iterable[bytes]) -> None:
        """The hot loop: it runs once per line of many GB, so a usual line costs a split and a count.

        nginx writes a quote inside a field as \\x22, so its lines split at every quote into the
        fields of the combined format; Apache's \\", the common format, odd encodings and junk go
        to the exact pattern. Lines come in time order, so the day is looked up when the second
        changes.
        """
        table_of = self._table
        last_stamp, table, skipped = b"", None, 0
        try:
            for raw in lines:
                parts = raw.split(b'"', 6)
                if (
                    len(parts) == 7
                    and parts[4] == b" "
                    and parts[0][-2:] == b"] "
                    and parts[5][-1:] != b"\\"  # else the agent went on after an escaped quote
                    and raw.isascii()
                ):
                    stamp, request, status, agent = parts[0][-28:-2], parts[1], parts[2][:5], parts[5]
                else:
                    fields = _exact_fields(raw)
                    if fields is None:
                        skipped += 1
                        continue
                    stamp, request, status, agent = fields
                if stamp != last_stamp:
                    last_stamp, table = stamp, table_of(stamp)
                if table is None:
                    skipped += 1
                elif status == b" 200 " and request.startswith(b"GET /packages/"):  # 206 is a part
                    key = (request, agent)
                    table[key] = table.get(key, 0) + 1
        finally:
            self.skipped += skipped

    def _table(self, stamp: bytes) -> Optional[dict[RawKey, int]]:
        minute = stamp[:17] + stamp[20:]  # seconds never change the UTC day
        if minute not in self._minutes:
            day = _utc_day(minute)  # a line from the future is damaged, not a download to come
            self._minutes[minute] = self.days.setdefault(day, {}) if day and day <= self.today else None
        return self._minutes[minute]


def _utc_day(minute: bytes) -> Optional[str]:
    """'10/Oct/2026:23:55 -0700' -> '2026-10-11'; None for an impossible date."""
    match = _MINUTE.match(minute)
    if match is None or match[2] not in _MONTHS:
        return None
    day, month, year, hour, mins, sign, zone_hours, zone_minutes = match.groups()
    try:
        local = datetime(int(year), _MONTHS[month], int(day), int(hour), int(mins))
    except ValueError:  # 31/Feb, 25 o'clock
        return None
    offset = timedelta(hours=int(zone_hours), minutes=int(zone_minutes))
    return (local + offset if sign == b"-" else local - offset).date().isoformat()


def _exact_fields(raw: bytes) -> Optional[tuple[bytes, bytes, bytes, Optional[bytes]]]:
    """(time, request, " status ", agent) of a line the quick split cannot take; None for junk."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:  # an odd encoding: the fields could not be told apart safely
        return None
    match = _EXACT.match(raw)
    return match.groups() if match else None


def _unescape_one(match: re.Match[bytes]) -> bytes:
    escape = match[1]
    return bytes([int(escape[1:], 16)]) if len(escape) == 3 else _C_ESCAPES.get(escape, escape)


def _unescape(field: bytes) -> str:
    """A logged field as the client sent it: nginx writes \\xNN for ", \\ and bytes outside
    printable ASCII, Apache \\" and \\\\ and \\xNN, and C escapes for whitespace. Bytes that are
    not UTF-8 stay visible as \\xNN."""
    if b"\\" in field:
        field = _ESCAPE.sub(_unescape_one, field)
    return field.decode("utf-8", "backslashreplace")


def _download_path(request: bytes) -> Optional[str]:
    """The path below web/ that a ``GET /packages/...`` request line fetched, if a release file."""
    target = request[4:]  # after "GET "
    head, _, protocol = target.rpartition(b" ")
    if head and protocol.startswith(b"HTTP/"):  # HTTP/0.9 lines have no protocol
        target = head
    path = unquote(_unescape(target.partition(b"?")[0]))[1:]
    return None if path.endswith(_NOT_RELEASE_FILES) else path


def parse_line(line: bytes, today: date = date.max) -> Optional[Download]:
    """What update-stats makes of one log line: a Download, None for other requests.

    Raises ValueError for a line it skips as garbage. It runs the very loop and decoding the
    run uses, so what the tests show of it is what the statistics get.
    """
    tally = _Tally(today.isoformat())
    tally.count_lines([line])
    if tally.skipped:
        raise ValueError(f"not an access log line: {line!r}")
    for day, table in tally.days.items():
        for request, agent in table:
            path = _download_path(request)
            if path is not None:
                return Download(day, path, _unescape(agent or b"-"))
    return None


# -- reading the logs ---------------------------------------------------------------------------


def _log_files(pattern: str) -> list[str]:
    files = sorted(path for path in glob.glob(os.path.expanduser(pattern)) if not os.path.isdir(path))
    if not files:
        raise MirrorError(f"[statistics] access-log-pattern {pattern!r} matches no file; check the path")
    return files


def _open_log(path: str) -> IO[bytes]:
    """Rotated logs are compressed; the content says how, whatever the file is called."""
    with open(path, "rb") as probe:
        head = probe.read(3)
    for magic, opener in _COMPRESSED:
        if head.startswith(magic):
            # GzipFile.readline is Python code; a BufferedReader around it reads lines in C
            return io.BufferedReader(opener(path, "rb"), buffer_size=1 << 16)  # type: ignore[arg-type]
    return open(path, "rb")


def _read_log(path: str, tally: _Tally) -> bool:
    """Count one log into ``tally``; False when it could not be opened at all."""
    try:
        handle = _open_log(path)
    except OSError as error:
        log.warning("cannot read %s: %s; skipping it", path, error.strerror or error)
        return False
    with handle:
        try:
            tally.count_lines(iter(partial(handle.readline, MAX_LINE), b""))
        except (EOFError, OSError, zlib.error) as error:  # a truncated or damaged compressed log
            tally.skipped += 1
            log.warning("%s ends in damaged data (%s); the rest of it is skipped", path, error)
    return True


def _decode(tally: _Tally) -> dict[str, DayTable]:
    """{day: {(path, user agent): downloads}} for every day the logs cover, decoded and merged."""
    days: dict[str, DayTable] = {}
    paths: dict[bytes, Optional[str]] = {}
    agents: dict[Optional[bytes], str] = {}
    for day, raw_table in tally.days.items():
        table = days[day] = {}
        for (request, agent), count in raw_table.items():
            if request not in paths:
                paths[request] = _download_path(request)
            if agent not in agents:
                agents[agent] = _unescape(agent or b"-")
            if paths[request] is not None:
                key = (paths[request], agents[agent])
                table[key] = table.get(key, 0) + count
    return days


def _count_logs(files: list[str], today: str) -> tuple[int, int, dict[str, DayTable]]:
    """(files read, lines skipped, decoded day tables); the raw table is dropped on return."""
    tally = _Tally(today)
    files_read = sum(_read_log(path, tally) for path in files)
    return files_read, tally.skipped, _decode(tally)


# -- which project a file belongs to ------------------------------------------------------------


def _filename(path: str) -> str:
    return path.rpartition("/")[2]


def _candidate_names(filename: str) -> list[str]:
    """The projects a file name points to: wheels and sdists by their own rules (PEP 427, 625),
    older kinds (eggs, installers, .tar.bz2) by the part before the first "-digit"."""
    names = []
    try:
        parse = parse_wheel_filename if filename.endswith(".whl") else parse_sdist_filename
        names.append(parse(filename)[0])
    except (InvalidWheelFilename, InvalidSdistFilename):
        pass
    legacy = _LEGACY_NAME.match(filename)
    if legacy:
        names.append(normalize(legacy[1]))
    return list(dict.fromkeys(names))


def _read_page(storage: Storage, folder: str) -> Optional[tuple[str, dict[str, str]]]:
    """(display name, {path: sha256}) of one of our project pages; None when there is none."""
    try:
        page = storage.read_web_text(f"simple/{folder}/index.html")
    except (UnsafePath, OSError):  # a "project name" made up by a hostile request: "..", too long
        return None
    if page is None:
        return None
    title = _TITLE.search(page)
    return (html.unescape(title[1]) if title else folder), page_files(page)


def _place_by_name(storage: Storage, paths: Iterable[str]) -> dict[str, str]:
    """{path: project} for the paths listed on the page their file name points to.

    A full mirror has 740,000 pages: only the pages named by the downloaded files are read, each
    once, and none is kept after its files are checked.
    """
    wanted: dict[str, list[str]] = {}
    for path in paths:
        for name in _candidate_names(_filename(path)):
            wanted.setdefault(name, []).append(path)
    found: dict[str, str] = {}
    for name, group in wanted.items():
        todo = [path for path in group if path not in found]
        page = _read_page(storage, name) if todo else None
        if page is not None:
            found.update((path, page[0]) for path in todo if path in page[1])
    return found


def _place_by_scan(storage: Storage, paths: set[str]) -> dict[str, str]:
    """The last resort for files whose name does not name their project: read every page once."""
    folders = storage.list_web_dirs("simple")
    log.info("reading all %d project pages to place %d downloaded files", len(folders), len(paths))
    found: dict[str, str] = {}
    for folder in folders:
        page = _read_page(storage, folder)
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


def _place(storage: Storage, days: dict[str, DayTable]) -> tuple[dict[str, str], dict[str, _OldDay]]:
    """({path: project} for every downloaded path that can be placed, the previous day files).

    The page a file name points to is asked first, the day files this run replaces next (they
    remember files deleted since), and every page only for what neither can place.
    """
    paths = {path for table in days.values() for path, _ in table}
    found = _place_by_name(storage, paths)
    missing = paths - found.keys()
    old, remembered = _previous_days(storage, days, {_filename(path) for path in missing})
    found.update((path, remembered[_filename(path)]) for path in missing if _filename(path) in remembered)
    misnamed = {path for path in missing - found.keys() if _published(storage, path)}
    if misnamed:  # a file that left the mirror is on no page: only these can be on another one
        found.update(_place_by_scan(storage, misnamed))
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


def update_stats(storage: Storage, pattern: str, *, today: Optional[date] = None) -> StatsSummary:
    """Rebuild the PEP 381 day file of every UTC day the access logs matching ``pattern`` cover.

    Each day is counted from all logs at once and replaced atomically, so a second run writes the
    same bytes, and today's partial day is simply written again by the next run. ``today`` (UTC,
    default now) bounds the days: a line dated later is damaged, not a download in the future.
    """
    files = _log_files(pattern)
    today = today or datetime.now(timezone.utc).date()
    files_read, skipped, days = _count_logs(files, today.isoformat())
    projects, old = _place(storage, days)
    counted, unknown, written = _write_days(storage, days, projects, old)
    return StatsSummary(files_read, counted, skipped, unknown, written)
