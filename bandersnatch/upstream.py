"""The master's JSON (the JSON API and PEP 691 project pages) as frozen values: pure, so every
shape a master may send is table-tested without a network. ``master`` fetches and classifies
errors; this module only reads.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from typing import Any, Optional

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version

from .errors import UnsafePath
from .model import ProjectMetadata, ReleaseFile, normalize
from .urls import file_place, resolve, sidecar_allowed

__all__ = ["parse_json_api", "parse_pep691", "version_of", "with_page_extras"]

logger = logging.getLogger(__name__)

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")


def parse_json_api(name: str, data: Any, serial: int, url: str, master: str) -> ProjectMetadata:
    """The JSON API answer (``/pypi/{name}/json``, fetched from ``url``) as a frozen value;
    ValueError (or KeyError, TypeError) when it is not one, or is about another project; UnsafePath
    for a file URL or name the mirror must not follow (urls.py). File URLs may be relative to
    ``url``: another mirror's JSON API copy links ``../../packages/...``; ``master`` is the
    master's base URL, which file places are taken relative to."""
    info = data["info"]
    display, releases = info["name"], data["releases"]
    if normalize(display) != normalize(name):
        raise ValueError(f"answered for {display!r}")
    files = tuple(
        _release_file(_json_api_entry(entry, url), str(version), master)
        for version, entries in releases.items()
        for entry in entries
    )
    info_json = json.dumps(info, sort_keys=True)
    return ProjectMetadata(
        name=display, serial=serial, files=_unique(files), versions=tuple(map(str, releases)), info_json=info_json,
        current_version=_optional_text(info.get("version")),
    )


def parse_pep691(name: str, data: Any, serial: int, url: str, master: str) -> ProjectMetadata:
    """A PEP 691 project page (fetched from ``url``) as a frozen value; versions come from PEP
    700's list or the filenames. ValueError (or KeyError, TypeError) when it is not one, UnsafePath
    for a URL or file name the mirror must not follow; ``master`` as for parse_json_api.

    PEP 691 names the project normalized; the display name is then the one the caller asked for
    (the changelog's or the root's spelling), as the JSON API's ``info.name`` would have given it.
    A file's version is its release's spelling in PEP 700's ``versions`` (``2024.01.01``, not the
    filename's normalized ``2024.1.1``), as the JSON API's release keys would have given it.
    """
    shown = data["name"]
    if not isinstance(shown, str) or normalize(shown) != normalize(name):
        raise ValueError(f"answered for {shown!r}")
    versions = data.get("versions")
    if versions is not None and not (isinstance(versions, list) and all(isinstance(v, str) for v in versions)):
        raise ValueError(f"bad versions {versions!r}")
    spelled = _spellings(versions or [])
    files = tuple(
        _release_file(_pep691_entry(entry, url), _release_of(entry, spelled), master) for entry in data["files"]
    )
    versions = versions or list(dict.fromkeys(f.version for f in files if f.version))
    status = data.get("project-status") or {}
    if not isinstance(status, dict):
        raise ValueError(f"bad project-status {status!r}")
    return ProjectMetadata(
        name=shown if shown != normalize(shown) else name, serial=serial, files=_unique(files),
        versions=tuple(versions), status=_optional_text(status.get("status")),
        status_reason=_optional_text(status.get("reason")),
    )  # fmt: skip


def _spellings(versions: list[str]) -> dict[str, str]:
    """{normalized version: the release's own spelling} of PEP 700's ``versions``."""
    spelled: dict[str, str] = {}
    for version in versions:
        try:
            spelled.setdefault(str(Version(version)), version)
        except InvalidVersion:
            spelled.setdefault(version, version)
    return spelled


def _release_of(entry: Any, spelled: dict[str, str]) -> Optional[str]:
    """The release a page's file belongs to, spelled as in ``versions``: parsed from a wheel's or
    sdist's name; for other kinds (eggs, .exe, bdist_dumb) the longest listed version the name
    carries after a dash. None when neither says."""
    filename = entry.get("filename") if isinstance(entry, dict) else None
    if not isinstance(filename, str):
        return None  # _release_file refuses it
    parsed = _version_of(filename)
    if parsed is not None:
        return spelled.get(parsed, parsed)
    lowered = filename.lower()
    carried = [v for v in spelled.values() if re.search(rf"-{re.escape(v.lower())}(?:[-.]|$)", lowered)]
    return max(carried, key=len, default=None)


def with_page_extras(metadata: ProjectMetadata, page: Optional[ProjectMetadata]) -> ProjectMetadata:
    """The JSON API's project with what only the PEP 691 page says: status and provenance."""
    if page is None:
        return metadata
    # Only for the very file the page describes: a page listing the file at another URL could
    # otherwise lend a provenance from its own (checked) origin to a file from elsewhere.
    provenance = {(f.filename, f.url): f.provenance_url for f in page.files if f.provenance_url}
    files = tuple(replace(f, provenance_url=provenance.get((f.filename, f.url))) for f in metadata.files)
    return replace(metadata, files=files, status=page.status, status_reason=page.status_reason)


def _unique(files: tuple[ReleaseFile, ...]) -> tuple[ReleaseFile, ...]:
    unique: dict[str, ReleaseFile] = {}
    for release in files:
        unique.setdefault(release.filename, release)
    return tuple(unique.values())


def _json_api_entry(entry: dict[str, Any], base: str) -> dict[str, Any]:
    """A JSON API file entry in the shape of a PEP 691 one, so one function checks both."""
    return {
        "filename": entry["filename"], "url": resolve(base, entry["url"]), "sha256": entry["digests"]["sha256"],
        "size": entry.get("size"), "requires_python": entry.get("requires_python"),
        "yanked": bool(entry.get("yanked", False)), "yanked_reason": entry.get("yanked_reason"),
        "upload_time": entry.get("upload_time_iso_8601"),
        "core_metadata": entry.get("core-metadata", entry.get("data-dist-info-metadata")),
    }  # fmt: skip


def _pep691_entry(entry: dict[str, Any], base: str) -> dict[str, Any]:
    yanked = entry.get("yanked", False)
    provenance = entry.get("provenance")
    return {
        "filename": entry["filename"], "url": resolve(base, entry["url"]), "sha256": entry["hashes"]["sha256"],
        "size": entry.get("size"), "requires_python": entry.get("requires-python"),
        "yanked": bool(yanked), "yanked_reason": yanked if isinstance(yanked, str) else None,
        "upload_time": entry.get("upload-time"),
        "core_metadata": entry.get("core-metadata", entry.get("dist-info-metadata")),
        "provenance": provenance if isinstance(provenance, str) else None, "base": base,
    }  # fmt: skip


def _release_file(entry: dict[str, Any], version: Optional[str], master: str) -> ReleaseFile:
    sha256, size, filename, url = entry["sha256"], entry["size"], entry["filename"], entry["url"]
    if not isinstance(filename, str):
        raise ValueError(f"bad filename {filename!r}")
    if not isinstance(sha256, str) or not _SHA256.match(sha256):
        raise ValueError(f"bad sha256 {sha256!r} for {filename!r}")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise ValueError(f"bad size {size!r} for {filename!r}")
    return ReleaseFile(
        filename=filename,
        url=url,
        sha256=sha256.lower(),
        size=size,
        requires_python=_optional_text(entry["requires_python"]),
        yanked=entry["yanked"],
        yanked_reason=_optional_text(entry["yanked_reason"]),
        upload_time=_optional_text(entry["upload_time"]),
        version=version or _version_of(filename),
        core_metadata_sha256=_core_metadata(entry["core_metadata"]),
        provenance_url=_provenance(entry.get("provenance"), entry.get("base", ""), url, master),
        path=file_place(url, master, filename),
    )


def _provenance(reference: Optional[str], base: str, file_url: str, master: str) -> Optional[str]:
    """PEP 740's provenance URL when the mirror may fetch it: http(s), from the file's or the
    master's origin. Any other is dropped (one warning): the page then says nothing of it, and no
    internal service a hostile master points at is ever asked."""
    if reference is None:
        return None
    try:
        url = resolve(base, reference)
    except UnsafePath as error:
        logger.warning("Not mirroring the provenance of %s: %s", file_url, error)
        return None
    if not sidecar_allowed(url, file_url, master):
        logger.warning("Not mirroring provenance %r of %s: not on the file's or the master's host", url, file_url)
        return None
    return url


def _core_metadata(value: Any) -> Optional[str]:
    """PEP 658/714: ``{"sha256": ...}`` promises a checkable ``.metadata``; ``true`` alone cannot be verified."""
    digest = value.get("sha256") if isinstance(value, dict) else None
    return digest.lower() if isinstance(digest, str) and _SHA256.match(digest) else None


def _optional_text(value: Any) -> Optional[str]:
    return str(value) if value else None


def version_of(filename: str) -> Optional[str]:
    """A file's version from its name; None for odd names (the mirror's removal log uses it too)."""
    return _version_of(filename)


def _version_of(filename: str) -> Optional[str]:
    """A file's version from its name (PEP 691 pages have no release keys); None for odd names."""
    try:
        if filename.endswith(".whl"):
            return str(parse_wheel_filename(filename)[1])
        return str(parse_sdist_filename(filename)[1])
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
