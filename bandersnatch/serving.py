"""The nginx server block that serves the mirror, generated from the configuration (SPEC 8, 16).

``bandersnatch nginx-config`` prints it, the README shows it and the tests run it, so the block an
operator copies and the mirror it serves cannot drift apart: the folder (``directory``), the link
form (``root_uri``), the page formats (``simple-format``) and the ``[serve]`` keys all come from
one Settings. Pure text in, text out: nothing here reads a file or talks to a host.

``[serve] fallback`` says what happens to a request under ``/simple/`` or ``/packages/`` that the
mirror cannot answer from disk (what is on disk always wins, ``try_files`` looks there first):

- ``none`` (the default, and what an air-gapped site keeps): 404, as a plain static mirror.
- ``redirect``: 302 to the same path on the upstream (pages) or its file host (files); the client
  then needs a route to the upstream.
- ``proxy``: nginx fetches it from the upstream. The proxied pages' absolute file URLs (PyPI's
  ``https://files.pythonhosted.org/packages/...``) are rewritten by ``sub_filter`` to the mirror's
  own ``/packages/...``, which serves the file from disk if it has it and proxies it otherwise, so
  a client needs no route to the upstream at all.

Both fallbacks apply to every format at once (HTML, PEP 691 JSON, the PEP 658 ``.metadata`` beside
a file): a project page comes whole from the mirror or whole from the upstream, never a mix.
"""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .config_values import convert

if TYPE_CHECKING:
    from .configuration import Settings

__all__ = ["FALLBACKS", "PYPI", "PYPI_FILES", "ServeSettings", "nginx_block", "read_serve_settings"]

FALLBACKS = ("none", "redirect", "proxy")
PYPI, PYPI_FILES = "https://pypi.org", "https://files.pythonhosted.org"
_LISTEN = re.compile(r"^(\[[0-9a-fA-F:]+\]:|[A-Za-z0-9.-]+:)?[0-9]{1,5}( [a-z_]+)*$")
_SERVER_NAME = re.compile(r"^[A-Za-z0-9*._-]+( [A-Za-z0-9*._-]+)*$")
_PLAIN_PATH = re.compile(r"^/[^\s;{}\"'$\\]*$")  # nothing nginx would read as syntax or a variable


@dataclass(frozen=True)
class ServeSettings:
    """``[serve]``: how nginx serves the mirror, and what it does with a miss."""

    fallback: str = "none"  # none | redirect | proxy
    upstream: str = PYPI  # where /simple/ misses go
    files_upstream: str = PYPI_FILES  # where /packages/ misses go; its URLs in proxied pages are rewritten
    listen: str = "80"
    server_name: str = "pypi-mirror.example.org"
    access_log: str = "/var/log/nginx/pypi-access.log"


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/") or parts.query:
        raise ValueError("expected a scheme and host only, such as https://pypi.org")
    if any(c in value for c in " ;{}\"'$\\"):
        raise ValueError("expected a plain URL")
    return value.rstrip("/")


def _pattern(regex: re.Pattern[str], expected: str):  # type: ignore[no-untyped-def]
    def check(value: str) -> str:
        if not regex.match(value):
            raise ValueError(f"expected {expected}")
        return value

    return check


def _fallback(value: str) -> str:
    if value.lower() not in FALLBACKS:
        raise ValueError(f"expected one of {', '.join(FALLBACKS)}")
    return value.lower()


_KEYS = {
    "fallback": _fallback,
    "upstream": _url,
    "files-upstream": _url,
    "listen": _pattern(_LISTEN, "a port or ADDRESS:PORT, such as 80 or 127.0.0.1:8080"),
    "server-name": _pattern(_SERVER_NAME, "host names separated by spaces"),
    "access-log": _pattern(_PLAIN_PATH, "an absolute path without spaces, quotes, ; { } $ or \\"),
}


def read_serve_settings(parser: configparser.ConfigParser, errors: list[str]) -> ServeSettings:
    """``[serve]``, every bad value one line in ``errors``. ``files-upstream`` defaults to PyPI's
    file host for PyPI, else to ``upstream`` itself (a mirror serves its files beside its pages)."""
    section = parser["serve"] if parser.has_section("serve") else {}
    values: dict[str, str] = {}
    for key, raw in section.items():
        if key not in _KEYS:
            errors.append(f"[serve] {key}: unknown key (known: {', '.join(_KEYS)})")
            continue
        value = convert(errors, f"[serve] {key}", str(raw), _KEYS[key], None)
        if value is not None:
            values[key.replace("-", "_")] = value
    upstream = values.get("upstream", PYPI)
    values.setdefault("files_upstream", PYPI_FILES if upstream == PYPI else upstream)
    return ServeSettings(**values)


# PEP 691: which page of a project folder answers this Accept header; the first matching regex wins.
_MAP = r"""# PEP 691: which page of a project folder answers this Accept header. The first matching regex
# wins: JSON refused (q=0) -> HTML; JSON at q=1 (pip, uv) -> JSON; an HTML type at q=1 -> HTML
# (v1+html: that type); JSON at a lower q -> JSON; v1+html at a lower q -> its page; else HTML.
map $http_accept $pypi_page {
    default                                                        index.html;
    "~*simple\.(v1|latest)\+json\s*;\s*q=0(\.0*)?\s*(,|$)"           index.html;
    "~*simple\.(v1|latest)\+json\s*(;\s*q=1(\.0*)?\s*)?(,|$)"         index.v1_json;
    "~*simple\.v1\+html\s*(;\s*q=1(\.0*)?\s*)?(,|$)"                 index.v1_html;
    "~*(text/html|\*/\*)\s*(;\s*q=1(\.0*)?\s*)?(,|$)"                 index.html;
    "~*simple\.(v1|latest)\+json"                                    index.v1_json;
    "~*simple\.v1\+html"                                              index.v1_html;
}

"""
_TYPES = """\
        types {
            text/html html;
            application/vnd.pypi.simple.v1+html v1_html;
            application/vnd.pypi.simple.v1+json v1_json;
        }
"""
# What simple-format writes, and so which index page answers: only ALL negotiates (SPEC 6).
_INDEX = {"ALL": "$pypi_page", "HTML": "index.html", "JSON": "index.v1_json"}


def nginx_block(settings: Settings, serve: ServeSettings) -> str:
    """The http-level text (the ``map`` where formats are negotiated, then the server block)."""
    fallback = serve.fallback
    misses = {"none": "", "redirect": " @pypi_upstream", "proxy": " @pypi_upstream"}[fallback]
    file_misses = "" if fallback == "none" else " @pypi_files"
    lines = [
        "server {",
        f"    listen {serve.listen};",
        f"    server_name {serve.server_name};",
        f"    root {settings.directory / 'web'};",
        "    autoindex on;",
        "    charset utf-8;",
        f"    access_log {serve.access_log} combined;",
        "    location ~ /\\. { return 404; }  # temporary files of a sync in progress",
        "    location /simple/ {",
        f"        index {_INDEX[settings.simple_format]};",
        "        add_header Vary Accept always;",
        _TYPES.rstrip("\n"),
    ]
    if fallback != "none":
        lines.append(f"        try_files $uri $uri/{misses};  # the mirror's own page first")
    lines.append("    }")
    if fallback != "none":
        lines += [
            "    location /packages/ {",
            f"        try_files $uri $uri/{file_misses};  # the mirror's own file (and .metadata) first",
            "    }",
            *_fallback_locations(serve),
        ]
    lines += [
        "    location /pypi/ {  # [mirror] json = true: the JSON API copies",
        "        default_type application/json;",
        "    }",
        "    location ~ \\.provenance$ {  # PEP 740",
        "        default_type application/vnd.pypi.integrity.v1+json;",
        "    }",
        "}",
    ]
    header = _header(settings, serve)
    return header + (_MAP if settings.simple_format == "ALL" else "") + "\n".join(lines) + "\n"


def _header(settings: Settings, serve: ServeSettings) -> str:
    said = f"# fallback = {serve.fallback}"
    if serve.fallback != "none":
        said += f": /simple/ misses to {serve.upstream}, /packages/ misses to {serve.files_upstream}"
    if settings.root_uri:
        said += f"\n# root_uri = {settings.root_uri}: the pages link files there, so serve /packages/ at that origin"
    return said + "\n"


def _fallback_locations(serve: ServeSettings) -> list[str]:
    if serve.fallback == "redirect":
        return [
            f"    location @pypi_upstream {{ return 302 {serve.upstream}$request_uri; }}",
            f"    location @pypi_files {{ return 302 {serve.files_upstream}$request_uri; }}",
        ]
    host = urlsplit(serve.upstream).netloc
    tls = ["        proxy_ssl_server_name on;"] if serve.upstream.startswith("https:") else []
    files_tls = ["        proxy_ssl_server_name on;"] if serve.files_upstream.startswith("https:") else []
    return [
        "    location @pypi_upstream {",
        f"        proxy_pass {serve.upstream};",
        *tls,
        f"        proxy_set_header Host {host};",
        '        proxy_set_header Accept-Encoding "";  # plain bodies, so that sub_filter can rewrite them',
        f"        proxy_redirect {serve.upstream}/ /;  # its redirects (a name to its normal form) stay here",
        "        sub_filter_types application/vnd.pypi.simple.v1+json application/vnd.pypi.simple.v1+html;",
        f'        sub_filter "{serve.files_upstream}/" "$scheme://$http_host/";  # file links lead back here',
        "        sub_filter_once off;",
        "        add_header Vary Accept always;",
        "    }",
        "    location @pypi_files {",
        f"        proxy_pass {serve.files_upstream};",
        *files_tls,
        f"        proxy_set_header Host {urlsplit(serve.files_upstream).netloc};",
        "    }",
    ]
