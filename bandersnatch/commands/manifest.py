"""A bundle's manifest (``bandersnatch-bundle.json``), checked whole before import writes anything.

A pure function of the manifest's bytes: the schema and every type, the serials (non-negative, in
order), every project name (a valid PEP 508 name, already PEP 503-normalized: the importer makes
folders and deletes by these names), and every member's path and hash. A bundle crosses an air gap
by hand, so it is treated as hostile input: whatever is wrong is refused in one line naming the
bad value, never a traceback and never halfway through writing.

The manifest is not signed: this checks that the bundle is well formed and (with the tar pass in
bundle_import) that its bytes match the manifest, not who made it (README, "Air gap").
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import MirrorError
from ..model import normalize
from ..pages.layout import (
    PAGE_NAMES,
    VALID_NAME,
    is_file_path,
    json_api_copy,
    page_path,
)

__all__ = [
    "FORMAT",
    "MANIFEST",
    "Transfer",
    "BundleRefused",
    "Manifest",
    "Member",
    "check_manifest",
    "check_member_path",
    "parse_manifest",
    "valid_project_name",
]

FORMAT = 1
MANIFEST = "bandersnatch-bundle.json"
WEB = "web/"  # members are the mirror's paths under web/ (layout.py), with this prefix
_KEYS = frozenset({"format", "mirror", "from", "to", "projects", "changed", "members"})
_SHA256 = re.compile(r"[0-9a-f]{64}\Z")
_MIRROR_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z")  # goes into a state file: no newline
_PATH_PART = re.compile(r"[^\x00-\x1f\x7f/\\]+\Z")


class BundleRefused(MirrorError):
    """The bundle is damaged, belongs to another mirror, or does not follow on from this one."""


@dataclass(frozen=True)
class Transfer:
    """What an export wrote or an import applied (the one line each command prints)."""

    since: int
    to: int
    projects: int  # changed projects carried
    members: int
    bytes: int
    deleted: int = 0


@dataclass(frozen=True)
class Member:
    sha256: str  # lower-case hex
    size: int


@dataclass(frozen=True)
class Manifest:
    """A checked manifest: every field has the type and form the importer relies on."""

    mirror: str
    start: int  # "from": the serial the bundle follows on from
    to: int
    projects: Mapping[str, int]  # every project of the exporting mirror, normalized, with its serial
    changed: tuple[str, ...]  # the projects whose pages (and new files) the bundle carries
    members: Mapping[str, Member]  # tar member name ("web/...") -> its hash and size


def valid_project_name(name: object) -> bool:
    """A valid PEP 508 name in its PEP 503-normalized form (what a folder under simple/ is named)."""
    return isinstance(name, str) and VALID_NAME.fullmatch(name) is not None and normalize(name) == name


def check_member_path(name: str) -> tuple[str, str]:
    """(kind, project) of a tar member name: ("file", "") for ``web/packages/...``, ("page", name) for
    a project's page or JSON API copy, exactly where layout.py puts them. Raises BundleRefused
    otherwise."""
    parts = name.split("/")
    plain = name.startswith(WEB) and all(part not in ("", ".", "..") and _PATH_PART.match(part) for part in parts)
    relative = name[len(WEB) :]
    if plain and is_file_path(relative) and len(parts) >= 3:
        return "file", ""
    project = parts[2] if plain and len(parts) == 4 else ""
    if valid_project_name(project) and relative in (*(page_path(project, page) for page in PAGE_NAMES),
                                                    json_api_copy(project)):  # fmt: skip
        return "page", project
    raise BundleRefused(f"unexpected member {name!r} in the bundle; refusing it, the mirror is unchanged")


def _refuse(what: str) -> BundleRefused:
    return BundleRefused(f"the bundle's manifest is not one this bandersnatch writes: {what}; the mirror is unchanged")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        duplicate = next(key for key in keys if keys.count(key) > 1)
        raise _refuse(f"the key {duplicate[:80]!r} appears twice")
    return dict(pairs)


def _serial(value: object) -> bool:
    return type(value) is int and value >= 0  # not bool: True is an int to Python, not a serial


def parse_manifest(data: bytes) -> Manifest:
    """The checked manifest in ``data``; BundleRefused naming the first thing that is wrong."""
    try:
        raw = json.loads(data.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except BundleRefused:
        raise
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise _refuse("not JSON") from None
    return check_manifest(raw)


def check_manifest(raw: object) -> Manifest:
    """The same checks on an already decoded value (what the property tests feed)."""
    if not isinstance(raw, dict):
        raise _refuse("not a JSON object")
    if set(raw) != _KEYS:
        raise _refuse(f"keys {sorted(map(str, raw))!r}, expected {sorted(_KEYS)!r}")
    if type(raw["format"]) is not int or raw["format"] != FORMAT:
        raise _refuse(f"format {raw['format']!r}, expected {FORMAT}")
    mirror = raw["mirror"]
    if not isinstance(mirror, str) or not _MIRROR_ID.match(mirror):
        raise _refuse(f"mirror id {_short(mirror)}")
    start, to = raw["from"], raw["to"]
    if not _serial(start) or not _serial(to) or to < start:
        raise _refuse(f"serials from {_short(start)} to {_short(to)}")
    manifest = Manifest(mirror, start, to, *_projects(raw["projects"], raw["changed"]), _members(raw["members"]))
    _check_pages_changed(manifest)
    return manifest


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _projects(projects: object, changed: object) -> tuple[dict[str, int], tuple[str, ...]]:
    if not isinstance(projects, dict):
        raise _refuse(f"projects {_short(projects)}, expected an object of name: serial")
    for name, serial in projects.items():
        if not valid_project_name(name):
            raise _refuse(f"project name {_short(name)} is not a normalized PEP 508 name")
        if not _serial(serial):
            raise _refuse(f"project {name!r} has serial {_short(serial)}")
    if not isinstance(changed, list):
        raise _refuse(f"changed {_short(changed)}, expected a list of names")
    for name in changed:
        if not valid_project_name(name):
            raise _refuse(f"changed project {_short(name)} is not a normalized PEP 508 name")
        if name not in projects:
            raise _refuse(f"changed project {name!r} is not among its projects")
    if len(set(changed)) != len(changed):
        raise _refuse("a changed project is listed twice")
    return projects, tuple(changed)


def _members(members: object) -> dict[str, Member]:
    if not isinstance(members, dict):
        raise _refuse(f"members {_short(members)}, expected an object of path: {{sha256, size}}")
    checked = {}
    for name, entry in members.items():
        if not isinstance(name, str):
            raise _refuse(f"member name {_short(name)}")
        check_member_path(name)
        if not isinstance(entry, dict) or set(entry) != {"sha256", "size"}:
            raise _refuse(f"member {name!r} has {_short(entry)}, expected {{sha256, size}}")
        sha256, size = entry["sha256"], entry["size"]
        if not isinstance(sha256, str) or not _SHA256.match(sha256) or not _serial(size):
            raise _refuse(f"member {name!r} has sha256 {_short(sha256)} and size {_short(size)}")
        checked[name] = Member(sha256, size)
    return checked


def _check_pages_changed(manifest: Manifest) -> None:
    """Every page member belongs to a changed project: the importer refreshes the index and the
    pending removals for ``changed`` only, so a page of any other project must not slip in."""
    changed = set(manifest.changed)
    for name in manifest.members:
        kind, project = check_member_path(name)
        if kind == "page" and project not in changed:
            raise _refuse(f"member {name!r} is a page of {project!r}, which is not among the changed projects")
