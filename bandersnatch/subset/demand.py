"""``[demand]``: the mirror follows what its clients ask for (SPEC 16).

Each run reads the web server's access logs (the pattern ``update-stats`` reads: plain, ``.gz`` or
``.bz2``, rotated), counts the project pages clients asked for (``GET /simple/NAME/``, whatever the
answer: a miss the fallback served is exactly what should be mirrored next), and keeps per project
the first and last request and a count in ``{directory}/demand.json``. Those projects become roots
beside the allowlist; with ``[demand]`` an empty allowlist means "only what clients ask for".

Each log line counts once across runs and rotations: a log is known by the digest of its first
line (which rotation and compression keep) and the state remembers how many bytes of it were read;
an incomplete last line (nginx still writing it) is left for the next run.

Past ``max-size``, the demanded projects requested longest ago are evicted first: never an
allowlisted root or what the allowlist's closure needs, nor one requested within ``keep-days``. An
evicted project comes back when a client asks for it again.
"""

from __future__ import annotations

import configparser
import glob
import hashlib
import json
import logging
import os
import re
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Iterable, Iterator, Optional
from urllib.parse import unquote

from packaging.utils import canonicalize_name

from ..config_values import boolean, convert
from ..logfiles import open_log

__all__ = [
    "DEMAND", "DemandSettings", "DemandState", "LogRead", "evictions", "read_demand_settings", "read_logs",
    "parse_request",
]  # fmt: skip

logger = logging.getLogger(__name__)

DEMAND = "demand.json"
DAY = 86400
MAX_LINE = 1 << 16
_SIZE = re.compile(r"^([0-9]{1,30}(?:\.[0-9]{1,30})?)\s*([kmgtp]?)(i?b)?$", re.IGNORECASE)
_FIELD = r'(?:[^"\\]|\\.)*'
_LINE = re.compile(
    r'^\S+ \S+ \S+ \[(\d\d/[A-Za-z]{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "(' + _FIELD + r')" (\d{3}) (?:\d+|-)'
    r'(?: "' + _FIELD + r'" "(' + _FIELD + r')")?'
)
_PAGE = re.compile(r"^(?:GET|HEAD) /simple/([^/?#\s]+)/?(?:\?\S*)?(?: HTTP/[0-9.]+)?$")
_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,200}[A-Za-z0-9])?$")


@dataclass(frozen=True)
class DemandSettings:
    """``[demand]``: learn from the access logs; cap the mirror's size."""

    enabled: bool = False
    access_log_pattern: str = ""  # empty: [statistics] access-log-pattern
    max_size: int = 0  # bytes; 0: no cap
    keep_days: float = 30.0
    ignore_agents: Optional[re.Pattern[str]] = None


def _size(value: str) -> int:
    match = _SIZE.match(value)
    if not match:
        raise ValueError("expected bytes or a size such as 500G")
    return int(Decimal(match[1]) * 1024 ** " kmgtp".index(match[2].lower() or " "))


def _days(value: str) -> float:
    days = float(value)
    if not 0 <= days <= 36500:
        raise ValueError("expected days from 0 to 36500")
    return days


def _regex(value: str) -> Optional[re.Pattern[str]]:
    try:
        return re.compile(value) if value else None
    except (re.error, OverflowError, RecursionError) as error:
        raise ValueError(f"not a valid regular expression: {error}") from None


_KEYS = {"enabled": boolean, "access-log-pattern": str, "max-size": _size, "keep-days": _days, "ignore-agents": _regex}


def read_demand_settings(parser: configparser.ConfigParser, errors: list[str]) -> DemandSettings:
    values: dict[str, Any] = {}
    for key, raw in parser["demand"].items():
        if key not in _KEYS:
            errors.append(f"[demand] {key}: unknown key (known: {', '.join(_KEYS)})")
            continue
        values[key.replace("-", "_")] = convert(errors, f"[demand] {key}", str(raw), _KEYS[key], None)
    return DemandSettings(**{k: v for k, v in values.items() if v is not None})


# ----------------------------------------------------------------------------------- the log lines
def _epoch(stamp: str) -> Optional[float]:
    try:
        return datetime.strptime(stamp, "%d/%b/%Y:%H:%M:%S %z").timestamp()
    except ValueError:
        return None


def _unescape(text: str) -> str:
    """nginx writes \\xNN for quotes, backslashes and bytes outside printable ASCII."""
    return re.sub(r"\\x([0-9A-Fa-f]{2})", lambda m: chr(int(m[1], 16)), text) if "\\" in text else text


def parse_request(line: str) -> Optional[tuple[float, Optional[str], str]]:
    """(time, project asked for or None, user agent) of one combined/common log line; None: garbage."""
    match = _LINE.match(line)
    when = _epoch(match[1]) if match else None
    if match is None or when is None:
        return None
    page = _PAGE.match(_unescape(match[2]))
    name = unquote(page[1]) if page else None
    return when, (str(canonicalize_name(name)) if name and _NAME.match(name) else None), _unescape(match[4] or "-")


@dataclass
class LogRead:
    """What one run read: lines, garbage, page requests counted, requests of ignored agents."""

    files: int = 0
    lines: int = 0
    garbage: int = 0
    requests: int = 0
    ignored: int = 0


@dataclass
class DemandState:
    """demand.json: {project: [first, last, count]}, evictions and how far each log was read."""

    projects: dict[str, list[float]] = field(default_factory=dict)
    evicted: dict[str, float] = field(default_factory=dict)  # project: when
    logs: dict[str, int] = field(default_factory=dict)  # digest of a log's first line: bytes read

    @classmethod
    def load(cls, text: Optional[str]) -> DemandState:
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            data = None
        if not isinstance(data, dict):
            logger.warning("Ignoring a damaged %s: demand is learnt afresh from the logs", DEMAND)
            return cls()

        def table(key: str) -> dict[str, Any]:
            value = data.get(key)
            return value if isinstance(value, dict) else {}

        projects = {
            name: [float(v) for v in entry] for name, entry in table("projects").items()
            if isinstance(entry, list) and len(entry) == 3 and all(isinstance(v, (int, float)) for v in entry)
        }  # fmt: skip
        evicted = {n: float(v) for n, v in table("evicted").items() if isinstance(v, (int, float))}
        logs = {d: v for d, v in table("logs").items() if isinstance(v, int) and v >= 0}
        return cls(projects, evicted, logs)

    def dump(self) -> str:
        return json.dumps({"projects": self.projects, "evicted": self.evicted, "logs": self.logs}, sort_keys=True)

    def count(self, name: str, when: float) -> None:
        first, last, count = self.projects.get(name, [when, when, 0])
        self.projects[name] = [min(first, when), max(last, when), count + 1]

    def demanded(self) -> set[str]:
        """The roots clients asked for: every project requested since its last eviction. Log times
        have whole seconds, so a request in the second of the eviction counts as after it (an
        evicted project was requested longer ago than keep-days: such a request is a new one)."""
        return {name for name, (_, last, _) in self.projects.items() if last >= int(self.evicted.get(name, -1.0))}


def _new_lines(path: str, logs: dict[str, int], seen: dict[str, int]) -> Iterator[bytes]:
    """The complete lines of ``path`` not read by an earlier run; records how far it was read."""
    with open_log(path) as handle:
        first = handle.readline(MAX_LINE)
        if not first.endswith(b"\n"):
            return  # empty, or its first line still being written: next run
        digest = hashlib.sha256(first).hexdigest()[:32]
        done = max(logs.get(digest, 0), seen.get(digest, 0))
        position = len(first)
        if done <= 0:
            yield first
        else:
            while position < done:  # compressed logs cannot seek; a plain one reads ahead quickly
                skipped = handle.read(min(done - position, 1 << 20))
                if not skipped:
                    break
                position += len(skipped)
        for line in iter(lambda: handle.readline(MAX_LINE), b""):
            if not line.endswith(b"\n"):
                break  # nginx is still writing it
            position += len(line)
            yield line
        seen[digest] = max(position, seen.get(digest, 0))


def log_files(pattern: str) -> list[str]:
    return sorted(p for p in glob.glob(os.path.expanduser(pattern)) if not os.path.isdir(p))


def read_logs(files: Iterable[str], state: DemandState, settings: DemandSettings) -> LogRead:
    """Count the new page requests of ``files`` into ``state``; the old rotations' digests that no
    file carries any more are forgotten."""
    read, seen = LogRead(), {}
    for path in files:
        try:
            for raw in _new_lines(path, state.logs, seen):
                read.lines += 1
                parsed = parse_request(raw.decode("utf-8", "replace").rstrip("\r\n"))
                if parsed is None:
                    read.garbage += 1
                    continue
                when, name, agent = parsed
                if name is None:
                    continue
                if settings.ignore_agents is not None and settings.ignore_agents.search(agent):
                    read.ignored += 1
                    continue
                read.requests += 1
                state.count(name, when)
            read.files += 1
        except (OSError, EOFError, zlib.error) as error:
            logger.warning("[demand] cannot read all of %s: %s", path, error)
    state.logs = seen
    return read


# ------------------------------------------------------------------------------------------ eviction
def evictions(
    sizes: dict[str, int], state: DemandState, protected: set[str], settings: DemandSettings, now: float
) -> list[str]:
    """The demanded projects to drop so that the mirror (``sizes``: bytes per local project) fits
    ``max-size``: least recently requested first; never a ``protected`` one (the allowlist and its
    closure) nor one asked within ``keep-days``. Pure: the caller removes and logs."""
    total = sum(sizes.values())
    if not settings.max_size or total <= settings.max_size:
        return []
    recent = now - settings.keep_days * DAY
    candidates = sorted(
        (last, name) for name, (_, last, _) in state.projects.items()
        if name in sizes and name in state.demanded() and name not in protected and last < recent
    )  # fmt: skip
    chosen = []
    for _, name in candidates:
        if total <= settings.max_size:
            break
        chosen.append(name)
        total -= sizes[name]
    return chosen


def stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
