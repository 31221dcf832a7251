"""What the master's answers say, as values: serials, the PEP 691 root, a project's documents.

Parsing only, of the bodies and headers master.py received; nothing here talks to the network.
A malformed or hostile answer becomes one UpstreamUnavailable line that names it, never a
traceback, and a serial past MAX_SERIAL is refused: it would freeze change detection for good.
"""

from __future__ import annotations

import functools
import gc
import json
from typing import Any, Callable, Mapping, Optional

from .errors import UnsafePath, UpstreamUnavailable
from .model import ProjectMetadata
from .upstream import parse_json_api, parse_pep691

__all__ = [
    "JSON_API", "MAX_SERIAL", "PEP691_PAGE", "as_serial", "header_serial", "loads", "one_line", "parse_project",
    "parse_root", "served_serial",
]  # fmt: skip

MAX_SERIAL = 2**40  # PyPI is at ~3e7; a serial beyond this is a broken master, not a future one

Parser = Callable[[str, Any, int, str, str], ProjectMetadata]
JSON_API: tuple[Parser, str] = (parse_json_api, "JSON metadata")  # /pypi/{name}/json
PEP691_PAGE: tuple[Parser, str] = (parse_pep691, "PEP 691 page")  # /simple/{name}/ as JSON


def one_line(error: Exception) -> str:
    """The error on one short line: requests nests urllib3's messages into long reprs."""
    text = " ".join(str(error).split())
    return text if len(text) < 300 else text[:300] + "..."


def loads(text: bytes, **kwargs: Any) -> Any:
    """json.loads, with a document nested too deeply for the parser as a ValueError."""
    try:
        return json.loads(text, **kwargs)
    except RecursionError:
        raise ValueError("the document is nested too deeply") from None


def as_serial(value: Any) -> int:
    """A serial from the master, or UpstreamUnavailable."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SERIAL:
        raise UpstreamUnavailable(f"the master sent {value!r} where a serial belongs")
    return value


def header_serial(headers: Mapping[str, str]) -> Optional[int]:
    """``X-PyPI-Last-Serial`` when it is a number (checked by as_serial), else None."""
    header = headers.get("X-PyPI-Last-Serial", "").strip()
    if not (header.isascii() and header.isdigit()):
        return None
    if len(header) > 20:  # int() of thousands of digits is slow, and no serial has them
        shown = header if len(header) <= 40 else header[:40] + "..."
        raise UpstreamUnavailable(f"the master sent {shown} where a serial belongs")
    return as_serial(int(header))


def served_serial(headers: Mapping[str, str], body: Callable[[], bytes], url: str) -> int:
    """``X-PyPI-Last-Serial``, else the body's own serial (a static web server sends no header);
    ``body`` is read only then."""
    header = header_serial(headers)
    if header is not None:
        return header
    try:
        document = loads(body())
        value = document["last_serial"] if "last_serial" in document else document["meta"]["_last-serial"]
    except (ValueError, KeyError, TypeError):
        raise UpstreamUnavailable(f"{url} has no serial (no X-PyPI-Last-Serial, none in the body)") from None
    return as_serial(value)


def _root_entry(pairs: list[tuple[str, int]], entry: dict[str, Any]) -> Any:
    """A root project object goes to ``pairs`` as (name, serial) and leaves only None behind;
    other objects (meta) stay dicts."""
    if "name" in entry and "_last-serial" in entry:
        name = entry["name"]
        if not isinstance(name, str):
            raise ValueError(f"project name {name!r} is not a string")
        pairs.append((name, as_serial(entry["_last-serial"])))
        return None
    return entry


def parse_root(body: bytes, headers: Mapping[str, str], url: str) -> tuple[int, dict[str, int]]:
    """(the master's serial, {name: _last-serial}) of a PEP 691 JSON root.

    PyPI's root is ~30 MB for 740,000 projects: each project object becomes a pair as soon as it
    is parsed (no 740,000 dicts alive at once), and the cyclic GC, which would walk the growing
    heap again and again while nothing parsed can be a cycle, is paused meanwhile.
    """
    pairs: list[tuple[str, int]] = []
    collecting = gc.isenabled()
    gc.disable()
    try:
        document = loads(body, object_hook=functools.partial(_root_entry, pairs))
        if not isinstance(document["projects"], list) or len(document["projects"]) != len(pairs):
            raise ValueError("a project entry without name and _last-serial")
        projects = dict(pairs)
        header = header_serial(headers)
        serial = as_serial(document["meta"]["_last-serial"]) if header is None else header
    except (ValueError, KeyError, TypeError) as error:
        raise UpstreamUnavailable(f"malformed PEP 691 root at {url}: {one_line(error)}") from None
    finally:
        if collecting:
            gc.enable()
    return max(serial, max(projects.values(), default=0)), projects


def parse_project(
    name: str, form: tuple[Parser, str], body: bytes, url: str, serial: int, master: str
) -> ProjectMetadata:
    """A project's document in ``form`` (JSON_API or PEP691_PAGE) as a frozen value, or one
    upstream error; its URLs are relative to ``url``, where it was finally served from."""
    parse, what = form
    try:
        return parse(name, loads(body), serial, url, master)
    except UnsafePath as error:
        raise UpstreamUnavailable(f"{what} for {name}: {error}") from None
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise UpstreamUnavailable(f"malformed {what} for {name}: {error}") from None
