"""``[cooldown]`` (SPEC section 14): hold each new release back until it is old enough to trust.

The attacks that reach pip users arrive as fresh releases (a hijacked account, a typo-squat) and
are quarantined by PyPI within hours or days; a mirror that admits a release only once the upload
time of its *oldest* file (PEP 700 ``upload-time``) is ``days`` old gives every client behind it
that protection. ``exclude-newer`` freezes the mirror at an instant; ``exempt`` lets named
projects or releases through at once (break-glass for an urgent fix).

A release with no upload time at all is held back (fail closed): nothing says it is old.

The policy is pure: ``decide`` is a function of (files, now, settings) and the clock is the
caller's. ``Gate`` applies it during one run and collects, across the worker threads, what it held
back and when each project's next held release comes of age (``Ledger``); the run keeps that in the
``cooldown.json`` state file (``load_due``/``dump_due``) so the run after that instant brings the
release in although the master did not change.
"""

from __future__ import annotations

import configparser
import json
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Iterable, Optional

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from ..config_values import convert
from ..model import ProjectMetadata, ReleaseFile, normalize

__all__ = [
    "COOLDOWN",
    "CooldownSettings",
    "Decision",
    "Gate",
    "HeldBack",
    "Ledger",
    "decide",
    "dump_due",
    "load_due",
    "load_held",
    "parse_exempt",
    "parse_instant",
    "read_cooldown_settings",
]

COOLDOWN = "cooldown.json"  # state: {"due": {project: {"until": epoch seconds, "serial": n}}}
SECTION = "cooldown"
MAX_DAYS = 3650


@dataclass(frozen=True)
class CooldownSettings:
    """The ``[cooldown]`` section: ``days`` (0: none), ``exclude_newer`` (None: no freeze) and the
    exempt entries as (normalized name, version or None for every release of the project)."""

    days: int = 0
    exclude_newer: Optional[datetime] = None
    exempt: frozenset[tuple[str, Optional[str]]] = frozenset()

    @property
    def enabled(self) -> bool:
        return self.days > 0 or self.exclude_newer is not None

    def exempts(self, name: str, version: Optional[str]) -> bool:
        key = normalize(name)
        return (key, None) in self.exempt or any(
            entry == key and pinned is not None and _same_version(pinned, version) for entry, pinned in self.exempt
        )

    def describe(self) -> str:
        """The one line every run logs: what is held and who is exempt."""
        parts = [f"releases younger than {self.days} days"] if self.days else []
        if self.exclude_newer is not None:
            parts.append(f"uploaded after {_stamp(self.exclude_newer)}")
        exempt = " ".join(sorted(name + (f"=={version}" if version else "") for name, version in self.exempt))
        return f"Cooldown: holding back {' and '.join(parts)}; exempt: {exempt or 'none'}"

    def fingerprint(self) -> str:
        """Stable text for the options marker: a changed section re-plans every project once."""
        exempt = ",".join(sorted(name + (f"=={version}" if version else "") for name, version in self.exempt))
        newer = _stamp(self.exclude_newer) if self.exclude_newer else "-"
        return f"days={self.days},exclude-newer={newer},exempt={exempt or '-'}"


def _same_version(pinned: str, version: Optional[str]) -> bool:
    if version is None:
        return False
    try:
        return Version(pinned) == Version(version)
    except InvalidVersion:
        return pinned == version


def _stamp(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# ------------------------------------------------------------------------------------ reading


def parse_instant(value: str) -> datetime:
    """RFC 3339 in UTC (``2026-11-01T00:00:00Z``, fractions allowed; ``+00:00`` is UTC too)."""
    text = value.strip()
    if not text.endswith(("Z", "z", "+00:00")) or "T" not in text.upper():
        raise ValueError("expected an RFC 3339 UTC instant such as 2026-11-01T00:00:00Z")
    try:
        instant = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1] in "Zz" else text)
    except ValueError:
        raise ValueError("expected an RFC 3339 UTC instant such as 2026-11-01T00:00:00Z") from None
    return instant.astimezone(timezone.utc)


def parse_exempt(value: str) -> frozenset[tuple[str, Optional[str]]]:
    """``NAME`` or ``NAME==VERSION`` entries, separated by spaces or lines; names normalized."""
    entries = set()
    for word in value.split():
        name, equals, version = word.partition("==")
        try:
            checked = canonicalize_name(name, validate=True)
            if equals:
                Version(version)
        except (ValueError, InvalidVersion):
            raise ValueError(f"{word!r} is not NAME or NAME==VERSION") from None
        entries.add((str(checked), version if equals else None))
    return frozenset(entries)


def _days(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or int(value) > MAX_DAYS:
        raise ValueError(f"expected a whole number of days from 0 to {MAX_DAYS}")
    return int(value)


_KEYS = {"days": _days, "exclude-newer": parse_instant, "exempt": parse_exempt}


def read_cooldown_settings(parser: configparser.ConfigParser, errors: list[str]) -> Optional[CooldownSettings]:
    """The ``[cooldown]`` section, or None without one; one line per bad value in ``errors``."""
    if not parser.has_section(SECTION):
        return None
    values: dict[str, Any] = {}
    for key, raw in parser.items(SECTION, raw=True):
        canonical = key.lower().replace("_", "-")
        if canonical not in _KEYS:
            errors.append(f"[cooldown] {key}: unknown key (expected days, exclude-newer, exempt)")
            continue
        value = convert(errors, f"[cooldown] {canonical}", raw, _KEYS[canonical], None)
        if value is not None:
            values[canonical.replace("-", "_")] = value
    return CooldownSettings(**values)


# ------------------------------------------------------------------------------------ the policy


@dataclass(frozen=True)
class HeldBack:
    """A release the cooldown keeps off the mirror; ``until`` None: no date will admit it (a freeze,
    or no upload time)."""

    project: str
    version: str
    until: Optional[float]  # epoch seconds
    untimed: bool = False  # no file of it has an upload time (fail closed)

    def as_json(self) -> dict[str, Any]:
        until = None if self.until is None else _stamp(datetime.fromtimestamp(self.until, timezone.utc))
        return {"project": self.project, "version": self.version, "until": until}


@dataclass(frozen=True)
class Decision:
    """What the policy admits of one project's files, and what it holds back."""

    files: tuple[ReleaseFile, ...]  # the admitted ones; the very tuple given when nothing is held
    held: tuple[HeldBack, ...] = ()

    @property
    def next_due(self) -> Optional[float]:
        """When the first held release comes of age (None: none ever will by itself)."""
        return min((h.until for h in self.held if h.until is not None), default=None)


def _upload_time(text: Optional[str]) -> Optional[float]:
    if not text:
        return None
    try:
        instant = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "Zz" else text)
    except ValueError:
        return None
    if instant.tzinfo is None:  # PEP 700 says UTC; a naive stamp is read as such
        instant = instant.replace(tzinfo=timezone.utc)
    return instant.timestamp()


def _release_key(release: ReleaseFile) -> str:
    return release.version or release.filename


def decide(name: str, files: tuple[ReleaseFile, ...], now: float, settings: CooldownSettings) -> Decision:
    """Admit the releases whose oldest file was uploaded at least ``days`` before ``now`` and not
    after ``exclude-newer``; exempt ones always. Pure: ``now`` is the caller's clock."""
    if not settings.enabled or not files:
        return Decision(files)
    oldest: dict[str, Optional[float]] = {}
    for release in files:
        key, uploaded = _release_key(release), _upload_time(release.upload_time)
        known = oldest.get(key)
        oldest[key] = uploaded if known is None else known if uploaded is None else min(known, uploaded)
    freeze = settings.exclude_newer.timestamp() if settings.exclude_newer else None
    name = normalize(name)
    held: dict[str, HeldBack] = {}
    for key, uploaded in oldest.items():
        if settings.exempts(name, key):
            continue
        if uploaded is None:
            held[key] = HeldBack(name, key, None, untimed=True)
        elif freeze is not None and uploaded > freeze:
            held[key] = HeldBack(name, key, None)
        elif uploaded + settings.days * 86400 > now:
            held[key] = HeldBack(name, key, uploaded + settings.days * 86400)
    if not held:
        return Decision(files)
    return Decision(tuple(f for f in files if _release_key(f) not in held), tuple(held.values()))


# ------------------------------------------------------------------------------------ one run


@dataclass
class Ledger:
    """What the gate decided in one run, from every worker: per project examined, its held
    releases and the serial it was seen at."""

    held: dict[str, tuple[HeldBack, ...]] = field(default_factory=dict)
    serials: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, name: str, serial: int, decision: Decision) -> None:
        with self._lock:
            self.held[normalize(name)] = decision.held
            self.serials[normalize(name)] = serial

    def held_back(self, before: Optional[dict[str, tuple[HeldBack, ...]]] = None) -> list[HeldBack]:
        """Every release held back: this run's decisions, and ``before``'s for the projects this
        run did not look at (an incremental run looks only at what changed)."""
        with self._lock:
            merged = {**(before or {}), **self.held}
        return sorted((h for held in merged.values() for h in held), key=lambda h: (h.project, h.version))

    def held_state(self, before: dict[str, tuple[HeldBack, ...]]) -> dict[str, tuple[HeldBack, ...]]:
        with self._lock:
            return {name: held for name, held in {**before, **self.held}.items() if held}

    def due(self, before: dict[str, tuple[float, int]]) -> dict[str, tuple[float, int]]:
        """The state to keep: ``before``'s entries of projects not examined in this run, and for
        the examined ones when their next held release comes of age (and the serial seen)."""
        with self._lock:
            kept = {name: entry for name, entry in before.items() if name not in self.held}
            for name, held in self.held.items():
                until = Decision((), held).next_due
                if until is not None:
                    kept[name] = (until, self.serials[name])
        return kept


class Gate:
    """The policy for one run, at one instant: every project sync and the closure ask it."""

    def __init__(self, settings: CooldownSettings, now: float) -> None:
        self.settings, self.now, self.ledger = settings, now, Ledger()

    def admit(self, project: ProjectMetadata) -> ProjectMetadata:
        """The project as the mirror may see it: without its held releases (recorded)."""
        decision = decide(project.name, project.files, self.now, self.settings)
        self.ledger.record(project.name, project.serial, decision)
        return project if decision.files is project.files else replace(project, files=decision.files)


def due_now(due: dict[str, tuple[float, int]], now: float) -> dict[str, int]:
    """{project: serial} of the projects whose next held release has come of age."""
    return {name: serial for name, (until, serial) in due.items() if until <= now}


def load_due(text: Optional[str]) -> dict[str, tuple[float, int]]:
    """cooldown.json's entries; a damaged file or entry is dropped (a full re-plan finds them again
    when the options change; otherwise the release comes in with the project's next change)."""
    entries = _section(text, "due")
    due = {}
    for name, entry in entries.items():
        if isinstance(entry, dict) and isinstance(entry.get("until"), (int, float)) and isinstance(entry.get("serial"), int):
            due[str(name)] = (float(entry["until"]), int(entry["serial"]))
    return due


def load_held(text: Optional[str]) -> dict[str, tuple[HeldBack, ...]]:
    """What cooldown.json says each project holds back (for the plan of a run that did not look
    at that project again); damaged entries are dropped."""
    held: dict[str, tuple[HeldBack, ...]] = {}
    for name, entries in _section(text, "held").items():
        if isinstance(entries, list):
            held[str(name)] = tuple(
                HeldBack(str(name), entry["version"], entry.get("until"))
                for entry in entries
                if isinstance(entry, dict) and isinstance(entry.get("version"), str)
                and (entry.get("until") is None or isinstance(entry.get("until"), (int, float)))
            )  # fmt: skip
    return held


def _section(text: Optional[str], key: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if text else {}
    except (ValueError, RecursionError):
        return {}
    entries = data.get(key) if isinstance(data, dict) else None
    return entries if isinstance(entries, dict) else {}


def dump_due(due: dict[str, tuple[float, int]], held: Optional[dict[str, tuple[HeldBack, ...]]] = None) -> str:
    entries = {name: {"until": until, "serial": serial} for name, (until, serial) in sorted(due.items())}
    releases = {
        name: [{"version": h.version, "until": h.until} for h in releases]
        for name, releases in sorted((held or {}).items()) if releases
    }  # fmt: skip
    return json.dumps({"due": entries, "held": releases}, indent=1) + "\n"


def untimed(held: Iterable[HeldBack]) -> list[HeldBack]:
    return [h for h in held if h.untimed]
