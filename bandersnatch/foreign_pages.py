"""The pages of a foreign index (any PEP 503 / PEP 691 repository) as values: pure.

A foreign index (pypiserver, devpi, PyTorch's per-CUDA wheel indexes, a static tree) has no
serials, no XML-RPC and no JSON API, and may serve HTML only. Its root lists the projects; a
project page lists files whose hash, where there is one, is the URL fragment (``#sha256=``,
PEP 503) or ``hashes.sha256`` (PEP 691). HTML is read with the standard library's html.parser
(attributes come unescaped, as PEP 503 requires of clients). Nothing here does I/O: the caller
hashes a file that came without a sha256 and places it with ``placed``.

Files land under ``web/packages/`` at a place derived from their sha256
(``packages/ab/cd/<sha256>/<filename>``): foreign URL layouts vary (``/packages/...``,
``/whl/cu121/...``, another host), and a content address cannot collide or climb out.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from typing import Any, Optional
from urllib.parse import unquote, urldefrag, urlsplit

from .errors import UnsafePath
from .model import ProjectMetadata, ReleaseFile, normalize
from .pages.layout import FILES, safe_relative
from .upstream import version_of
from .urls import check_distribution, resolve

__all__ = ["SIMPLE_ACCEPT", "hashed_place", "parse_project_page", "parse_root", "placed"]

# PEP 691's recommended Accept: JSON when the index has it, else its HTML.
SIMPLE_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
_JSON = "application/vnd.pypi.simple.v1+json"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class _Anchors(HTMLParser):
    """Every <a> of a page: its attributes and its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict[str, Optional[str]], str]] = []
        self._open: Optional[tuple[dict[str, Optional[str]], list[str]]] = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, Optional[str]]]) -> None:
        if tag == "a":
            self._close()
            self._open = (dict(attrs), [])

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._close()

    def _close(self) -> None:
        if self._open is not None:
            self.anchors.append((self._open[0], "".join(self._open[1]).strip()))
            self._open = None


def _anchors(body: bytes) -> list[tuple[dict[str, Optional[str]], str]]:
    parser = _Anchors()
    parser.feed(body.decode("utf-8", "replace"))
    parser.close()
    parser._close()
    return parser.anchors


def parse_root(body: bytes, content_type: str) -> list[str]:
    """The project names a root lists (PEP 691 ``projects[].name``, or PEP 503 anchor texts);
    ValueError when it is neither."""
    if content_type.startswith(_JSON):
        projects = json.loads(body)["projects"]
        names = [entry["name"] for entry in projects]
    else:
        names = [text or unquote(urlsplit(attrs.get("href") or "").path.rstrip("/").rsplit("/", 1)[-1])
                 for attrs, text in _anchors(body)]  # fmt: skip
    if not all(isinstance(name, str) and name for name in names):
        raise ValueError("a project without a name")
    return list(dict.fromkeys(names))


def parse_project_page(name: str, body: bytes, content_type: str, url: str, serial: int) -> ProjectMetadata:
    """A project page (fetched from ``url``) as a ProjectMetadata whose files carry an empty
    ``sha256`` and ``path`` where the index gave no sha256: the caller hashes them and calls
    ``placed``. ValueError for a page that is not one, UnsafePath for a URL or name refused."""
    if content_type.startswith(_JSON):
        data = json.loads(body)
        if not isinstance(data.get("name"), str) or normalize(data["name"]) != normalize(name):
            raise ValueError(f"answered for {data.get('name')!r}")
        files = [_json_file(entry, url) for entry in data["files"]]
    else:
        files = [_html_file(attrs, url) for attrs, _ in _anchors(body) if attrs.get("href")]
    unique = {f.filename: f for f in reversed(files)}
    kept = tuple(unique[f.filename] for f in files if unique.get(f.filename) is f)
    versions = tuple(dict.fromkeys(f.version for f in kept if f.version))
    return ProjectMetadata(name=name, serial=serial, files=kept, versions=versions)


def hashed_place(sha256: str, filename: str) -> str:
    """``packages/ab/cd/<sha256>/<filename>``: where a foreign index's file lives under web/."""
    if not _SHA256.match(sha256):
        raise UnsafePath(f"refusing file {filename!r}: {sha256!r} is not a sha256")
    return safe_relative(f"{FILES}/{sha256[:2]}/{sha256[2:4]}/{sha256}/{check_distribution(filename)}")


def placed(release: ReleaseFile, sha256: str) -> ReleaseFile:
    """The file with its (computed) sha256 and the place derived from it."""
    return replace(release, sha256=sha256, path=hashed_place(sha256, release.filename))


def _html_file(attrs: dict[str, Optional[str]], page_url: str) -> ReleaseFile:
    """PEP 503 anchor: href with ``#sha256=`` (other hash names are not enough to vouch for a
    file), data-requires-python, data-yanked (PEP 592), data-core-metadata / data-dist-info-metadata
    (PEP 658/714)."""
    target, fragment = urldefrag(resolve(page_url, attrs["href"] or ""))
    algorithm, _, value = fragment.partition("=")
    sha256 = value.lower() if algorithm == "sha256" and _SHA256.match(value.lower()) else ""
    metadata = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
    yanked = "data-yanked" in attrs
    return _file(target, sha256, {
        "requires_python": attrs.get("data-requires-python"), "yanked": yanked,
        "yanked_reason": attrs.get("data-yanked") or None, "core_metadata": _metadata_hash(metadata),
    })  # fmt: skip


def _json_file(entry: dict[str, Any], page_url: str) -> ReleaseFile:
    target = urldefrag(resolve(page_url, entry["url"]))[0]
    sha256 = (entry.get("hashes") or {}).get("sha256")
    sha256 = sha256.lower() if isinstance(sha256, str) and _SHA256.match(sha256.lower()) else ""
    metadata = entry.get("core-metadata", entry.get("dist-info-metadata"))
    metadata_hash = metadata.get("sha256") if isinstance(metadata, dict) else None
    yanked = entry.get("yanked", False)
    size = entry.get("size")
    digest = metadata_hash.lower() if isinstance(metadata_hash, str) else ""
    release = _file(target, sha256, {
        "requires_python": entry.get("requires-python"), "yanked": bool(yanked),
        "yanked_reason": yanked if isinstance(yanked, str) else None,
        "core_metadata": digest if _SHA256.match(digest) else None,
        "upload_time": entry.get("upload-time") if isinstance(entry.get("upload-time"), str) else None,
    }, entry["filename"])  # fmt: skip
    if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
        release = replace(release, size=size)
    return release


def _file(url: str, sha256: str, extra: dict[str, Any], filename: Optional[str] = None) -> ReleaseFile:
    """PEP 691 names the file; PEP 503 by the last segment of its URL."""
    if filename is None:
        filename = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    if not isinstance(filename, str):
        raise ValueError(f"bad filename {filename!r}")
    check_distribution(filename)
    requires = extra.get("requires_python")
    release = ReleaseFile(
        filename=filename, url=url, sha256="",
        requires_python=requires if isinstance(requires, str) and requires else None,
        yanked=extra["yanked"], yanked_reason=extra.get("yanked_reason"), upload_time=extra.get("upload_time"),
        version=version_of(filename), core_metadata_sha256=extra.get("core_metadata"),
    )  # fmt: skip
    return placed(release, sha256) if sha256 else release


def _metadata_hash(value: Optional[str]) -> Optional[str]:
    """``sha256=<hex>`` promises a checkable .metadata; ``true`` alone cannot be verified."""
    algorithm, _, digest = (value or "").partition("=")
    return digest.lower() if algorithm == "sha256" and _SHA256.match(digest.lower()) else None
