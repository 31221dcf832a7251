"""The master's metadata of every project a subset mirror holds, as last synced: what a change of
the file-selecting filters (``[environments]``, ``[blocklist] platforms``, release filters)
re-selects from without asking the master again (issue 20: a filter change costs requests in
proportion to what it changes).

Kept in the journal ``seen.journal``: each run appends one line per project it synced (one
write per run, whatever the subset's size), the last line of a project wins, and the journal is
compacted once it holds more than ``COMPACT_FACTOR`` lines per project the mirror has. Only a
mirror with roots (an allowlist or requirements) keeps it: for a mirror of all of PyPI it would
be the whole of PyPI's metadata. A damaged line is skipped (that project is then asked for);
losing the journal costs requests, never correctness.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from packaging.utils import NormalizedName

from ..errors import UnsafePath
from ..model import ProjectMetadata, ReleaseFile, normalize
from ..pages.layout import FILES, safe_relative
from ..storage import Storage

__all__ = ["COMPACT_FACTOR", "SEEN", "SEEN_COUNT", "keep", "load"]

logger = logging.getLogger(__name__)

SEEN = "seen.journal"
SEEN_COUNT = "seen.count"  # lines in the journal since it was last compacted
COMPACT_FACTOR = 4
_FILE_FIELDS = {f.name: f.type for f in dataclasses.fields(ReleaseFile)}


def keep(storage: Storage, projects: Iterable[ProjectMetadata], local: set[str]) -> None:
    """Append what this run synced; compact when the journal outgrew the mirror (its line count
    is kept beside it, so a run never reads the journal only to count it)."""
    lines = [json.dumps(_as_json(project), sort_keys=True) for project in projects]
    if not lines:
        return
    storage.append_journal(SEEN, lines)
    count = _count(storage.read_state(SEEN_COUNT)) + len(lines)
    if count > COMPACT_FACTOR * max(len(local), 1):
        live = {name: project for name, project in load(storage).items() if name in local}
        storage.clear_journal(SEEN)  # a kill here loses the cache: requests next time, no harm
        storage.append_journal(SEEN, [json.dumps(_as_json(p), sort_keys=True) for p in live.values()])
        count = len(live)
    storage.write_state(SEEN_COUNT, f"{count}\n")


def _count(text: Optional[str]) -> int:
    value = (text or "").strip()
    return int(value) if value.isdigit() and len(value) < 12 else 0


def load(storage: Storage) -> dict[NormalizedName, ProjectMetadata]:
    """{project: its metadata as last synced}; the well-formed lines only."""
    return _read(storage.read_journal(SEEN) or "")


def _read(text: str) -> dict[NormalizedName, ProjectMetadata]:
    found: dict[NormalizedName, ProjectMetadata] = {}
    for line in text.splitlines():
        project = _from_json(line)
        if project is not None:
            found[normalize(project.name)] = project
    return found


def _as_json(project: ProjectMetadata) -> dict[str, Any]:
    data = dataclasses.asdict(project)
    data["files"] = [dataclasses.asdict(release) for release in project.files]
    return data


def _from_json(line: str) -> Optional[ProjectMetadata]:
    """A line as written by ``keep``; None for anything else (a cut-off or hand-edited line). A
    file's place is checked again: the journal is input like any other."""
    try:
        data = json.loads(line)
        files = tuple(_file(entry) for entry in data["files"])
        if not isinstance(data["name"], str) or not isinstance(data["serial"], int):
            return None
        texts = {key: data.get(key) for key in ("status", "status_reason", "info_json", "current_version")}
        if not all(value is None or isinstance(value, str) for value in texts.values()):
            return None
        versions = data.get("versions") or []
        if not all(isinstance(version, str) for version in versions):
            return None
        return ProjectMetadata(name=data["name"], serial=data["serial"], files=files, versions=tuple(versions), **texts)
    except (ValueError, KeyError, TypeError, AttributeError, UnsafePath, RecursionError):
        return None


def _file(entry: Mapping[str, Any]) -> ReleaseFile:
    if set(entry) - set(_FILE_FIELDS):
        raise ValueError("unknown fields")
    for key in ("filename", "url", "sha256", "path"):
        if not isinstance(entry[key], str):
            raise TypeError(key)
    for key in ("requires_python", "yanked_reason", "upload_time", "version", "core_metadata_sha256", "provenance_url"):
        if entry.get(key) is not None and not isinstance(entry[key], str):
            raise TypeError(key)
    if entry.get("size") is not None and (isinstance(entry["size"], bool) or not isinstance(entry["size"], int)):
        raise TypeError("size")
    path = safe_relative(entry["path"])
    if not path.startswith(f"{FILES}/") or not path.endswith(f"/{entry['filename']}"):
        raise UnsafePath(f"refusing {path!r}")
    return ReleaseFile(**{**entry, "yanked": bool(entry.get("yanked")), "path": path})
