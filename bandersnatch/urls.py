"""What a URL from a master may be: the one owner of that decision (SPEC section 18).

A master (PyPI, its CDN, another mirror, or something hostile) hands us URLs in four places: PEP
503 hrefs, PEP 691 ``url``, the JSON API's ``url`` and PEP 740 ``provenance`` (a PEP 658
``.metadata`` URL is a file URL plus a suffix). Each is resolved against the document it came from
(RFC 3986), must be http(s) with a host, and decides where a file lands under ``web/``. Everything
here is pure, so every hostile shape is table- and property-tested without a network.
"""

from __future__ import annotations

import re
from typing import Optional
from urllib.parse import unquote, urljoin, urlsplit

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from .errors import UnsafePath
from .pages.layout import FILES, safe_relative

__all__ = ["DISTRIBUTION_SUFFIXES", "check_distribution", "file_place", "resolve", "same_origin", "sidecar_allowed"]

# PyPI's accepted upload types: sdists (.tar.gz, .zip) and the legacy ones it still serves
# (bdist_egg, bdist_wininst, bdist_msi, bdist_rpm, bdist_dmg, bdist_deb, bdist_dumb). Wheels are
# checked by their PEP 427 name instead. Anything else (a page, an image, a script) is no
# distribution, and serving it from the mirror's origin would let a master publish web content there.
DISTRIBUTION_SUFFIXES = (
    ".tar.gz", ".zip", ".tar.bz2", ".tar.xz", ".tgz", ".tar", ".egg", ".exe", ".msi", ".rpm", ".dmg", ".deb",
)  # fmt: skip
_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")  # NUL, newlines, DEL: never in a URL we act on
_BAD_CHARACTER = re.compile(r"[\x00-\x1f\x7f\\]")  # ... nor, with backslashes, in a file's name or place


def resolve(document_url: str, reference: str) -> str:
    """``reference`` resolved against the URL of the document that named it (RFC 3986, as pip does).

    Only http(s) URLs with a host are accepted: ``javascript:``, ``data:`` and ``file:`` would reach
    a page as a link or make us read something that is not the master's; UnsafePath names it.
    """
    if not isinstance(reference, str) or _CONTROL.search(reference):
        raise UnsafePath(f"refusing URL {reference!r}: not a string of printable characters")
    try:
        resolved = urljoin(document_url, reference.strip())
        parts = urlsplit(resolved)
        port = parts.port  # a port that is not a number raises ValueError
    except ValueError:
        raise UnsafePath(f"refusing URL {reference!r}: not a valid URL") from None
    if parts.scheme not in _SCHEMES or not parts.hostname or "\\" in parts.netloc or port == 0:
        raise UnsafePath(f"refusing URL {reference!r}: only http(s) URLs with a host are mirrored")
    return resolved


def _origin(url: str) -> tuple[str, str, Optional[int]]:
    parts = urlsplit(url)
    try:
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        port = -1
    return parts.scheme, (parts.hostname or "").lower(), port


def same_origin(first: str, second: str) -> bool:
    """Same scheme, host and port (RFC 6454); an explicit default port equals none."""
    return _origin(first) == _origin(second)


def sidecar_allowed(url: str, file_url: str, master_base: str) -> bool:
    """A ``.metadata`` or provenance comes only from the file's own origin or the master's: any
    other host could be an internal service whose answer a hostile master wants copied to the mirror."""
    return same_origin(url, file_url) or same_origin(url, master_base)


def check_distribution(filename: str) -> str:
    """``filename`` if PyPI accepts it as a distribution file (a PEP 427 wheel or an upload type
    above), else UnsafePath naming it."""
    lowered = filename.lower()
    if lowered.endswith(".whl"):
        try:
            parse_wheel_filename(filename)
        except InvalidWheelFilename:
            raise UnsafePath(f"refusing file {filename!r}: not a valid wheel filename (PEP 427)") from None
        return filename
    stem = next((filename[: -len(s)] for s in DISTRIBUTION_SUFFIXES if lowered.endswith(s)), "")
    if not stem or stem.endswith(".") or "/" in filename or _BAD_CHARACTER.search(filename):
        raise UnsafePath(f"refusing file {filename!r}: not a distribution file type PyPI accepts")
    return filename


def file_place(url: str, master_base: str, filename: str) -> str:
    """Where the file at (resolved) ``url`` lives under ``web/``: ``packages/.../{filename}``.

    Under the master (same origin, path below the master's path) the place is the path relative to
    the master's, so a mirror served under a prefix chains; elsewhere (files.pythonhosted.org) it is
    the URL's own path. Each segment is checked before and after percent-decoding (``%2e%2e``,
    ``%2f``, ``%00``), and the place must end in the file's own name, which must be a distribution.
    """
    check_distribution(filename)
    path = urlsplit(url).path
    base_path = urlsplit(master_base).path.rstrip("/") + "/"
    if same_origin(url, master_base) and path.startswith(base_path):
        path = path[len(base_path) :]
    elif path.startswith("/"):
        path = path[1:]
    decoded = [_segment(segment, url) for segment in path.split("/")]
    relative = safe_relative("/".join(decoded))
    if decoded[0] != FILES or len(decoded) < 2 or decoded[-1] != filename:
        raise UnsafePath(f"refusing file {filename!r} at {url!r}: not packages/.../{filename}")
    return relative


def _segment(raw: str, url: str) -> str:
    """One path segment, decoded; refused when raw or decoded it could leave its folder."""
    try:
        decoded = unquote(raw, errors="strict")
    except UnicodeDecodeError:
        raise UnsafePath(f"refusing URL {url!r}: segment {raw!r} is not UTF-8") from None
    for form in (raw, decoded):
        if form in ("", ".", "..") or "/" in form or _BAD_CHARACTER.search(form):
            raise UnsafePath(f"refusing URL {url!r}: unsafe path segment {form!r}")
    return decoded
