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

``[serve] negotiation`` says how a ``/simple/`` folder picks its page from the Accept header: ``map``
(the default, a regex ``map`` that any nginx runs, Debian's stock package included; it cannot
compare q-values) or ``njs`` (``NJS_MODULE``, printed by ``nginx-config --njs`` and imported from
``njs-file``: q-values as RFC 9110 reads them, 406 when nothing fits; needs libnginx-mod-http-js).

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

__all__ = [
    "FALLBACKS", "NEGOTIATIONS", "NJS_MODULE", "PYPI", "PYPI_FILES", "ServeSettings", "nginx_block", "read_serve_settings",
]  # fmt: skip

FALLBACKS = ("none", "redirect", "proxy")
NEGOTIATIONS = ("map", "njs")
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
    negotiation: str = "map"  # map (any nginx) | njs (q-values; Debian's libnginx-mod-http-js)
    njs_file: str = "/etc/nginx/pypi_accept.js"  # where the operator puts `nginx-config --njs`


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


def _one_of(choices: tuple[str, ...]):  # type: ignore[no-untyped-def]
    def check(value: str) -> str:
        if value.lower() not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value.lower()

    return check


_KEYS = {
    "fallback": _one_of(FALLBACKS),
    "upstream": _url,
    "files-upstream": _url,
    "listen": _pattern(_LISTEN, "a port or ADDRESS:PORT, such as 80 or 127.0.0.1:8080"),
    "server-name": _pattern(_SERVER_NAME, "host names separated by spaces"),
    "access-log": _pattern(_PLAIN_PATH, "an absolute path without spaces, quotes, ; { } $ or \\"),
    "negotiation": _one_of(NEGOTIATIONS),
    "njs-file": _pattern(_PLAIN_PATH, "an absolute path without spaces, quotes, ; { } $ or \\"),
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
# PEP 691 with q-values (RFC 9110): njs reads the Accept header; "" is a 406. `nginx-config --njs`
# prints the module, the same for every configuration.
NJS_MODULE = r"""// PEP 691 content negotiation for a bandersnatch mirror, printed by `bandersnatch nginx-config --njs`.
// js_set $pypi_page pypi_accept.page: the page a /simple/ folder answers with, or "" (406) when the
// client accepts none of them. Accept is read as RFC 9110 says (section 12.5.1): q-values, with q=0
// a refusal; */* and type/*, the most specific range that matches a type deciding its q; a malformed
// element ignored, a header without a valid element read as no header. Ties go to the more specific
// match, then to PEP 691's order (JSON, v1+html, text/html) among types the client named, but to
// text/html first among types reached only through */* (as PyPI answers; such clients predate JSON).
var PAGES = [  // [type, subtypes (v1 and its alias "latest"), page]
    ["application", ["vnd.pypi.simple.v1+json", "vnd.pypi.simple.latest+json"], "index.v1_json"],
    ["application", ["vnd.pypi.simple.v1+html", "vnd.pypi.simple.latest+html"], "index.v1_html"],
    ["text", ["html"], "index.html"]
];
var TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
var QVALUE = /^(0(\.[0-9]{0,3})?|1(\.0{0,3})?)$/;

function ranges(accept) {
    var found = [];
    var elements = accept.split(",");
    for (var i = 0; i < elements.length; i++) {
        var parts = elements[i].split(";");
        var range = parts[0].trim().toLowerCase().split("/");
        if (range.length != 2 || !TOKEN.test(range[0]) || !TOKEN.test(range[1])
            || (range[0] == "*" && range[1] != "*")) {
            continue;
        }
        var q = 1, valid = true;
        for (var j = 1; j < parts.length; j++) {
            var parameter = parts[j].trim();
            var equals = parameter.indexOf("=");
            if (parameter == "") {
                continue;
            }
            if (equals < 1) {
                valid = false;
                break;
            }
            if (parameter.slice(0, equals).trim().toLowerCase() == "q") {
                var value = parameter.slice(equals + 1).trim();
                if (!QVALUE.test(value)) { valid = false; break; }
                q = Number(value);
            }
        }
        if (valid) {
            found.push({type: range[0], subtype: range[1], q: q});
        }
    }
    return found;
}

function choose(accept) {
    var given = ranges(accept || "");
    if (given.length == 0) {
        return "index.html";  // no Accept header, or nothing readable in it: as */*
    }
    var best = null;
    for (var i = 0; i < PAGES.length; i++) {
        var type = PAGES[i][0], subtypes = PAGES[i][1], match = null;
        for (var j = 0; j < given.length; j++) {
            var r = given[j];
            var specificity = r.type == "*" ? 1 : r.subtype == "*" ? (r.type == type ? 2 : 0)
                : (r.type == type && subtypes.indexOf(r.subtype) >= 0 ? 3 : 0);
            if (specificity > 0 && (match === null || specificity > match.specificity)) {
                match = {q: r.q, specificity: specificity};
            }
        }
        if (match === null || match.q == 0) {
            continue;
        }
        // among */* matches alone text/html comes first, else PEP 691's order
        var order = match.specificity == 1 ? i : -i;
        if (best === null || match.q > best.q || (match.q == best.q && (match.specificity > best.specificity
                || (match.specificity == best.specificity && order > best.order)))) {
            best = {q: match.q, specificity: match.specificity, order: order, page: PAGES[i][2]};
        }
    }
    return best === null ? "" : best.page;
}

function page(r) {
    if (r.uri.charAt(r.uri.length - 1) != "/") {
        return "index.html";  // only a folder is negotiated; a file is what its name says
    }
    return choose(r.headersIn["Accept"]);
}

export default {page, choose};
"""


def _njs(serve: ServeSettings) -> str:
    return f"""# PEP 691: the page a project folder answers with is chosen by {serve.njs_file} (printed by
# `bandersnatch nginx-config --njs`) from the Accept header's q-values, as RFC 9110 reads them;
# nothing acceptable is a 406. Needs njs (Debian: apt-get install libnginx-mod-http-js).
js_import pypi_accept from {serve.njs_file};
js_set $pypi_page pypi_accept.page;

"""


_TYPES = """\
        types {
            text/html html;
            application/vnd.pypi.simple.v1+html v1_html;
            application/vnd.pypi.simple.v1+json v1_json;
        }
"""
_NOT_ACCEPTABLE = ['        if ($pypi_page = "") { return 406; }  # the client accepts none of the pages (PEP 691)']
# What simple-format writes, and so which index page answers: only ALL negotiates (SPEC 6).
_INDEX = {"ALL": "$pypi_page", "HTML": "index.html", "JSON": "index.v1_json"}


def nginx_block(settings: Settings, serve: ServeSettings) -> str:
    """The http-level text (the ``map`` where formats are negotiated, then the server block)."""
    fallback = serve.fallback
    negotiated = settings.simple_format == "ALL"
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
        *(_NOT_ACCEPTABLE if negotiated and serve.negotiation == "njs" else []),
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
    negotiation = (_njs(serve) if serve.negotiation == "njs" else _MAP) if negotiated else ""
    return header + negotiation + "\n".join(lines) + "\n"


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
