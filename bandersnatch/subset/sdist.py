"""Requires-Dist of a release that has only an sdist, from the sdist's own PKG-INFO.

Before Metadata 2.2 (PEP 643) an sdist's PKG-INFO says nothing reliable about dependencies: the
build may compute them. From 2.2 on a field is trustworthy unless the PKG-INFO names it
``Dynamic``; so only then are its Requires-Dist lines taken, and otherwise the caller asks the
JSON API. Pure: bytes in, lines out; nothing is extracted to disk, and every read is bounded
(PKG-INFO is a few KB; an archive member claiming more is not metadata).
"""

from __future__ import annotations

import io
import tarfile
import zipfile
from email.parser import HeaderParser
from typing import Optional

from packaging.version import InvalidVersion, Version

__all__ = ["MAX_PKG_INFO", "sdist_requires"]

MAX_PKG_INFO = 1 << 20
# A hostile sdist can hide PKG-INFO behind a gzip bomb: walking a compressed tar means inflating
# it. PKG-INFO sits at the top of every real sdist, so the walk stops past these bounds (and the
# JSON API is asked instead).
MAX_MEMBERS = 10_000
MAX_INFLATED = 512 << 20
_TRUSTED = Version("2.2")  # PEP 643: fields not marked Dynamic are final from this version on


def sdist_requires(filename: str, body: bytes) -> Optional[tuple[str, ...]]:
    """The Requires-Dist lines the sdist vouches for, or None when it vouches for none (an
    older Metadata-Version, Requires-Dist marked Dynamic, no readable top-level PKG-INFO)."""
    text = _pkg_info(filename, body)
    if text is None:
        return None
    headers = HeaderParser().parsestr(text)
    try:
        if Version(str(headers.get("Metadata-Version", "0"))) < _TRUSTED:
            return None
    except InvalidVersion:
        return None
    dynamic = {str(field).strip().lower() for field in headers.get_all("Dynamic") or ()}
    if "requires-dist" in dynamic:
        return None
    return tuple(str(line) for line in headers.get_all("Requires-Dist") or ())


def _pkg_info(filename: str, body: bytes) -> Optional[str]:
    """The text of ``{top}/PKG-INFO`` (the one at the archive's first level, PEP 625)."""
    try:
        if filename.endswith(".zip"):
            with zipfile.ZipFile(io.BytesIO(body)) as archive:
                for info in archive.infolist():
                    if _top_level(info.filename) and info.file_size <= MAX_PKG_INFO:
                        with archive.open(info) as member:
                            return member.read(MAX_PKG_INFO).decode("utf-8", "replace")
            return None
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:*") as archive:
            for count, member in enumerate(archive):
                if member.isfile() and _top_level(member.name) and member.size <= MAX_PKG_INFO:
                    handle = archive.extractfile(member)
                    return handle.read(MAX_PKG_INFO).decode("utf-8", "replace") if handle else None
                if count >= MAX_MEMBERS or member.offset_data + member.size > MAX_INFLATED:
                    return None  # the next header lies beyond what is worth inflating
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
        return None
    return None


def _top_level(path: str) -> bool:
    parts = path.strip("/").split("/")
    return len(parts) == 2 and parts[1] == "PKG-INFO" and parts[0] not in ("", ".", "..")
