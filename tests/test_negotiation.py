"""PEP 691 negotiation with q-values (issue 19): `[serve] negotiation = njs` through real nginx.

nginx runs the block `bandersnatch nginx-config` prints for a mirror with `negotiation = njs` and
`fallback = redirect` (so that the 406 and the fallback share a location, as they will in use), with
the module `nginx-config --njs` prints loaded by Debian's libnginx-mod-http-js. A table of Accept
headers is asked of the root and a project folder; pip and uv install through it. The regex `map`
(the default, for an nginx without njs) keeps its own table in tests/test_index.py; here it is only
shown to get the q-value case wrong, which is why njs exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Optional

import pytest
import requests

from tests.conftest import MirrorSetup
from tests.nginx import (
    NOT_INSTALLED,
    Served,
    generated_block,
    generated_njs,
    nginx_binary,
    njs_missing,
    serving,
    world_readable_tempdir,
)
from tests.pypi_master import PyPIMaster
from tests.test_serving import Client, installed, pip_client, uv_client  # noqa: F401 - fixtures

V1_JSON = "application/vnd.pypi.simple.v1+json"
V1_HTML = "application/vnd.pypi.simple.v1+html"
LATEST_JSON = "application/vnd.pypi.simple.latest+json"
PIP_ACCEPT = f"{V1_JSON}, {V1_HTML}; q=0.1, text/html; q=0.01"  # pip 24/25 (collector.py)
UV_ACCEPT = f"{V1_JSON}, {V1_HTML};q=0.2, text/html;q=0.01"  # uv (registry_client.rs)
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
NOT_ACCEPTABLE = None

# Accept header -> the page served (None: 406). A header without a readable element counts as none.
TABLE = [
    (None, "index.html"),  # no Accept: as */*, and */* alone gets HTML, as from PyPI
    ("", "index.html"),
    ("*/*", "index.html"),
    ("text/html", "index.html"),
    (BROWSER, "index.html"),
    (V1_JSON, "index.v1_json"),
    (LATEST_JSON, "index.v1_json"),
    (V1_HTML, "index.v1_html"),
    (PIP_ACCEPT, "index.v1_json"),
    (UV_ACCEPT, "index.v1_json"),
    (f"{V1_JSON};q=0.5, text/html;q=0.9", "index.html"),  # the map's mistake: the higher q wins
    (f"text/html;q=0.9, {V1_JSON};q=0.5", "index.html"),  # order means nothing
    (f"{V1_HTML};q=0.1, {V1_JSON};q=0.9", "index.v1_json"),
    (f"{V1_HTML};q=0.6, text/html;q=0.5", "index.v1_html"),
    (f"TEXT/HTML ; Q=0.5 , {V1_JSON} ;q=0.4", "index.html"),  # names and q are case-insensitive
    (f"{V1_JSON}, text/html", "index.v1_json"),  # a tie among named types: PEP 691's order
    (f"{V1_HTML}, text/html", "index.v1_html"),
    ("*/*, text/html", "index.html"),  # a tie: the named one wins over */*
    ("application/*", "index.v1_json"),
    ("text/*;q=0.3, */*;q=0.2", "index.html"),
    (f"*/*;q=0.9, {V1_JSON};q=0.1", "index.html"),  # the most specific range decides JSON's q
    (f"*/*, {V1_JSON};q=0", "index.html"),  # q=0 refuses JSON only
    (f"{V1_JSON};q=0, text/html;q=0.1", "index.html"),
    (f"{V1_JSON};q=0.000, {V1_HTML}", "index.v1_html"),
    (f"application/*;q=0, {V1_HTML}", "index.v1_html"),  # a named type overrides its type/*
    ("text/html;q=0", NOT_ACCEPTABLE),
    (f"{V1_JSON};q=0, {V1_HTML};q=0, text/html;q=0", NOT_ACCEPTABLE),
    ("*/*;q=0", NOT_ACCEPTABLE),
    ("application/json", NOT_ACCEPTABLE),
    ("image/png, application/xml;q=0.9", NOT_ACCEPTABLE),
    ("garbage", "index.html"),  # nothing readable: as no header
    ("text/html;q=2, ;;, /", "index.html"),  # only malformed elements (q above 1 included)
    (f"text/html;q=0.5x, {V1_JSON};q=0.1", "index.v1_json"),  # the malformed element is skipped
    (f"{V1_JSON};q=1.5, text/html;q=0.2", "index.html"),
    (f"text/html;level, {V1_JSON};q=0.1", "index.v1_json"),
    ("text/html;, application/json", "index.html"),  # an empty parameter is allowed
]
CONTENT_TYPE = {"index.html": "text/html", "index.v1_html": V1_HTML, "index.v1_json": V1_JSON}


def get(url: str, accept: Optional[str] = None, redirects: bool = True) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False  # straight to 127.0.0.1
        session.headers.pop("Accept")  # requests sends */* by default: a case of its own here
        headers = {} if accept is None else {"Accept": accept}
        return session.get(url, headers=headers, timeout=10, allow_redirects=redirects)


def write_config(mirror: MirrorSetup, pypi: PyPIMaster, negotiation: Optional[str], **mirror_options: str) -> None:
    mirror.write_config(pypi.url, **mirror_options)
    with open(mirror.config, "a", encoding="utf-8") as config:
        config.write(f"[serve]\nfallback = redirect\nupstream = {pypi.url}\n")
        if negotiation is not None:
            config.write(f"negotiation = {negotiation}\n")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PyPIMaster, MirrorSetup, Served]]:
    binary = nginx_binary()
    if binary is None:
        pytest.skip(NOT_INSTALLED)
    missing = njs_missing(binary)
    if missing:
        pytest.skip(missing)
    work = tmp_path_factory.mktemp("negotiation")
    with PyPIMaster() as pypi, world_readable_tempdir() as root:
        pypi.add_release("nego-demo", "1.0")
        pypi.add_release("upstream-only", "1.0")
        mirror = MirrorSetup(directory=root / "mirror", config=work / "bandersnatch.conf")
        write_config(mirror, pypi, "njs")
        with open(mirror.config, "a", encoding="utf-8") as config:
            config.write("[plugins]\nenabled = allowlist_project\n[allowlist]\npackages = nego-demo\n")
        synced = mirror.run()
        assert synced.returncode == 0, synced.stderr
        block = generated_block(mirror.config)
        with serving(binary, mirror.web, work / "nginx", block=block, njs=generated_njs()) as served:
            yield pypi, mirror, served


# ------------------------------------------------------------------------------- the printed block
def test_nginx_config_prints_the_njs_block_and_its_module(tmp_path: Path) -> None:
    mirror = MirrorSetup(directory=Path("/srv/pypi"), config=tmp_path / "njs.conf")
    with PyPIMaster() as pypi:
        write_config(mirror, pypi, "njs")
        block = generated_block(mirror.config)
        write_config(mirror, pypi, None)
        default = generated_block(mirror.config)
        write_config(mirror, pypi, "njs", simple_format="JSON")
        json_only = generated_block(mirror.config)
    assert "js_import pypi_accept from /etc/nginx/pypi_accept.js;" in block
    assert "js_set $pypi_page pypi_accept.page;" in block and "map $http_accept" not in block
    assert 'if ($pypi_page = "") { return 406; }' in block
    assert "map $http_accept $pypi_page" in default and "js_" not in default  # stock nginx: the map
    assert "js_" not in json_only and "map " not in json_only and "index index.v1_json;" in json_only
    module = generated_njs()
    assert module.startswith("// PEP 691") and "export default {page, choose};" in module


def test_a_bad_negotiation_is_a_configuration_error(tmp_path: Path) -> None:
    mirror = MirrorSetup(directory=tmp_path / "mirror", config=tmp_path / "bad.conf")
    with PyPIMaster() as pypi:
        write_config(mirror, pypi, "q-values")
    with open(mirror.config, "a", encoding="utf-8") as config:
        config.write("njs-file = relative.js\n")
    printed = mirror.run("nginx-config")
    assert printed.returncode == 1 and printed.stdout == ""
    assert "[serve] negotiation" in printed.stderr and "expected one of map, njs" in printed.stderr
    assert "[serve] njs-file" in printed.stderr


# --------------------------------------------------------------------------------- through nginx
@pytest.mark.parametrize(("accept", "page"), TABLE)
@pytest.mark.parametrize("where", ["", "nego-demo/"])
def test_the_accept_table(site, accept: Optional[str], page: Optional[str], where: str) -> None:
    _, mirror, served = site
    answer = get(f"{served.url}/simple/{where}", accept)
    assert answer.headers["Vary"] == "Accept"
    if page is NOT_ACCEPTABLE:
        assert answer.status_code == 406, answer.text
        return
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].split(";")[0] == CONTENT_TYPE[page]
    assert answer.content == (mirror.web / "simple" / where / page).read_bytes()


def test_the_map_gets_the_q_value_case_wrong_and_njs_right(site, tmp_path: Path) -> None:
    """Why njs: the regex map cannot compare q-values. If this ever passes for the map, the map
    became good enough and the README's word on its limit must change."""
    pypi, mirror, served = site
    accept = f"{V1_JSON};q=0.5, text/html;q=0.9"
    assert get(f"{served.url}/simple/nego-demo/", accept).headers["Content-Type"].startswith("text/html")
    plain = MirrorSetup(directory=mirror.directory, config=tmp_path / "map.conf")
    write_config(plain, pypi, None)
    with serving(nginx_binary(), mirror.web, tmp_path / "nginx", block=generated_block(plain.config)) as by_map:
        assert get(f"{by_map.url}/simple/nego-demo/", accept).headers["Content-Type"] == V1_JSON


def test_files_and_misses_are_not_negotiated(site) -> None:
    pypi, mirror, served = site
    direct = get(f"{served.url}/simple/nego-demo/index.v1_json", "text/html")  # a file is what its name says
    assert direct.status_code == 200 and direct.headers["Content-Type"] == V1_JSON
    miss = get(f"{served.url}/simple/upstream-only/", PIP_ACCEPT, redirects=False)  # not mirrored: the fallback
    assert miss.status_code == 302 and miss.headers["Location"] == f"{pypi.url}/simple/upstream-only/"
    refused = get(f"{served.url}/simple/upstream-only/", "application/json", redirects=False)
    assert refused.status_code == 406  # refused before the fallback: the upstream could not do better


def test_pip_and_uv_install_and_read_json(site, client_name: str, request: pytest.FixtureRequest) -> None:
    _, mirror, served = site
    client: Client = request.getfixturevalue(f"{client_name}_client")
    before = served.access_log.read_text(encoding="utf-8") if served.access_log.exists() else ""
    installed(client.install(f"{served.url}/simple/", "nego-demo==1.0", reinstall=True))
    assert client.version("nego-demo") == "1.0"
    json_size = (mirror.web / "simple" / "nego-demo" / "index.v1_json").stat().st_size
    lines = served.access_log.read_text(encoding="utf-8")[len(before):].splitlines()
    pages = [line for line in lines if '"GET /simple/nego-demo/ ' in line]
    assert pages and all(f'" 200 {json_size} ' in line for line in pages), pages  # the JSON page each time


@pytest.fixture(params=["pip", "uv"])
def client_name(request: pytest.FixtureRequest) -> str:
    return request.param
