"""Web server access logs read for ``update-stats``: the lines, their fields, the downloads.

The logs of a busy mirror are many GB, so one pass streams them through a tight loop that only
counts raw (day, request, user agent) triples; decoding the fields happens afterwards, once per
distinct value. nginx's and Apache's combined and common formats; plain, gzip or bzip2 files.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import zlib
from datetime import date, datetime, timedelta
from functools import partial
from typing import Iterable, NamedTuple, Optional
from urllib.parse import unquote

from ..errors import MirrorError
from ..logfiles import open_log

__all__ = ["DayTable", "Download", "count_logs", "log_files", "parse_line"]

log = logging.getLogger(__name__)

MAX_LINE = 1 << 16  # a line of binary junk without newlines must not fill the memory

# The exact shape of a "combined" line (trailing custom fields allowed) or a "common" one (no
# referer, no agent), for the lines the quick split in Tally.count_lines cannot take.
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

RawKey = tuple[bytes, Optional[bytes]]  # (request line, user agent) as logged; common format: no agent
DayTable = dict[tuple[str, str], int]  # {(path below web/, user agent): downloads}


class Download(NamedTuple):
    """One counted request: the UTC day, the file's path below web/, and the client."""

    day: str
    path: str
    user_agent: str


class Tally:
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


def unescape(field: bytes) -> str:
    """A logged field as the client sent it: nginx writes \\xNN for ", \\ and bytes outside
    printable ASCII, Apache \\" and \\\\ and \\xNN, and C escapes for whitespace. Bytes that are
    not UTF-8 stay visible as \\xNN."""
    if b"\\" in field:
        field = _ESCAPE.sub(_unescape_one, field)
    return field.decode("utf-8", "backslashreplace")


def download_path(request: bytes) -> Optional[str]:
    """The path below web/ that a ``GET /packages/...`` request line fetched, if a release file."""
    target = request[4:]  # after "GET "
    head, _, protocol = target.rpartition(b" ")
    if head and protocol.startswith(b"HTTP/"):  # HTTP/0.9 lines have no protocol
        target = head
    path = unquote(unescape(target.partition(b"?")[0]))[1:]
    return None if path.endswith(_NOT_RELEASE_FILES) else path


def parse_line(line: bytes, today: date = date.max) -> Optional[Download]:
    """What update-stats makes of one log line: a Download, None for other requests.

    Raises ValueError for a line it skips as garbage. It runs the very loop and decoding the
    run uses, so what the tests show of it is what the statistics get.
    """
    tally = Tally(today.isoformat())
    tally.count_lines([line])
    if tally.skipped:
        raise ValueError(f"not an access log line: {line!r}")
    for day, table in tally.days.items():
        for request, agent in table:
            path = download_path(request)
            if path is not None:
                return Download(day, path, unescape(agent or b"-"))
    return None


def log_files(pattern: str) -> list[str]:
    files = sorted(path for path in glob.glob(os.path.expanduser(pattern)) if not os.path.isdir(path))
    if not files:
        raise MirrorError(f"[statistics] access-log-pattern {pattern!r} matches no file; check the path")
    return files


def _read_log(path: str, tally: Tally) -> bool:
    """Count one log into ``tally``; False when it could not be opened at all."""
    try:
        handle = open_log(path)
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


def _decode(tally: Tally) -> dict[str, DayTable]:
    """{day: {(path, user agent): downloads}} for every day the logs cover, decoded and merged."""
    days: dict[str, DayTable] = {}
    paths: dict[bytes, Optional[str]] = {}
    agents: dict[Optional[bytes], str] = {}
    for day, raw_table in tally.days.items():
        table = days[day] = {}
        for (request, agent), count in raw_table.items():
            if request not in paths:
                paths[request] = download_path(request)
            if agent not in agents:
                agents[agent] = unescape(agent or b"-")
            if paths[request] is not None:
                key = (paths[request], agents[agent])
                table[key] = table.get(key, 0) + count
    return days


def count_logs(files: list[str], today: str) -> tuple[int, int, dict[str, DayTable]]:
    """(files read, lines skipped, decoded day tables); the raw table is dropped on return."""
    tally = Tally(today)
    files_read = sum(_read_log(path, tally) for path in files)
    return files_read, tally.skipped, _decode(tally)


