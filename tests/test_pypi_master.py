"""The fake PyPI master must behave like PyPI over real sockets, or every mirror test built on it lies."""

import hashlib
import io
import os
import ssl
import subprocess
import sys
import time
import tracemalloc
import xmlrpc.client
import zipfile
from urllib.parse import urlsplit

import pytest
import requests

from tests.pypi_master import (
    SIMPLE_JSON,
    WAN_BUFFER,
    WAN_PIECE,
    PyPIMaster,
    WanLink,
    make_wheel,
)


@pytest.fixture
def master():
    with PyPIMaster(changelog_page_size=3) as m:
        yield m


def json_url(master, name):
    return f"{master.url}/pypi/{name}/json"


def served_serial(master, name):
    response = requests.get(json_url(master, name))
    assert response.json()["last_serial"] == int(response.headers["X-PyPI-Last-Serial"])
    return response.json()["last_serial"]


def test_xmlrpc_listing_and_changelog_paging(master):
    master.add_release("Foo.Bar_baz", "1.0")
    master.add_release("other", "2.0")
    rpc = xmlrpc.client.ServerProxy(f"{master.url}/pypi", allow_none=True)
    assert rpc.list_packages_with_serial() == {"Foo.Bar_baz": 3, "other": 6}
    rows, since = [], 0
    while page := rpc.changelog_since_serial(since):
        assert len(page) <= 3
        rows += page
        since = page[-1][4]
    assert [row[4] for row in rows] == list(range(1, 7)) and rpc.changelog_last_serial() == 6
    assert rows[0][:2] == ["Foo.Bar_baz", "1.0"] and rows[0][3] == "new release"
    assert rows[1][3] == "add py3 file Foo_Bar_baz-1.0-py3-none-any.whl"


def test_json_api_serial_header_and_404_after_removal(master):
    master.add_release("Foo.Bar_baz", "1.0", requires_python=">=3.8")
    response = requests.get(json_url(master, "FOO_bar-BAZ"))
    doc = response.json()
    assert response.headers["X-PyPI-Last-Serial"] == str(doc["last_serial"]) == str(master.serial)
    assert doc["info"] == {"name": "Foo.Bar_baz", "version": "1.0", "requires_python": ">=3.8"}
    wheel = doc["urls"][0]
    assert doc["releases"]["1.0"] == doc["urls"] == master.files("foo-bar-baz")
    blake = wheel["digests"]["blake2b_256"]
    assert urlsplit(wheel["url"]).path == f"/packages/{blake[:2]}/{blake[2:4]}/{blake[4:]}/{wheel['filename']}"
    body = requests.get(wheel["url"]).content
    assert hashlib.sha256(body).hexdigest() == wheel["digests"]["sha256"] and len(body) == wheel["size"]
    master.remove_project("foo.bar.baz")
    gone = requests.get(json_url(master, "foo-bar-baz"))
    assert gone.status_code == 404 and gone.json() == {"message": "Not Found"}
    assert requests.get(wheel["url"]).status_code == 404
    assert master.projects() == {}


def test_stale_page_heals_after_purges(master):
    master.add_release("pkg", "1.0")
    old = master.serial
    master.add_release("pkg", "2.0")
    master.stale("pkg", purges_needed=2)
    assert served_serial(master, "pkg") == old
    assert "2.0" not in requests.get(json_url(master, "pkg")).json()["releases"]
    for expected in (old, master.serial):
        assert requests.request("PURGE", json_url(master, "pkg")).status_code == 200
        assert served_serial(master, "pkg") == expected
    assert master.count("PURGE", "/pypi/pkg/json") == 2


def test_stale_forever_and_stale_new_project_is_404(master):
    master.add_release("pkg", "1.0")
    master.stale("pkg", purges_needed=None)
    for _ in range(3):
        requests.request("PURGE", json_url(master, "pkg"))
        assert requests.get(json_url(master, "pkg")).status_code == 404  # the CDN cached "not there yet"


def test_fail_then_success(master):
    master.add_release("pkg", "1.0")
    master.fail("/pypi/pkg/", status=429, times=2, retry_after=7)
    for _ in range(2):
        response = requests.get(json_url(master, "pkg"))
        assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert requests.get(json_url(master, "pkg")).status_code == 200
    master.fail("/pypi", status=503)
    with pytest.raises(xmlrpc.client.ProtocolError):
        xmlrpc.client.ServerProxy(f"{master.url}/pypi").changelog_last_serial()


def test_truncate_and_corrupt_and_slow(master):
    master.add_file("pkg", "1.0", "pkg-1.0.tar.gz", size=3_000_000)
    meta = master.files("pkg")[0]
    path = urlsplit(meta["url"]).path
    master.truncate(path)
    with requests.Session() as session:  # keep-alive: the connection after a truncation must be fresh
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            session.get(meta["url"])
        master.corrupt("/packages/")
        corrupted = session.get(meta["url"]).content
        assert len(corrupted) == meta["size"] and hashlib.sha256(corrupted).hexdigest() != meta["digests"]["sha256"]
        master.slow(path, 0.3, times=1)
        started = time.monotonic()
        good = session.get(meta["url"]).content
        assert time.monotonic() - started >= 0.3
    assert hashlib.sha256(good).hexdigest() == meta["digests"]["sha256"] == hashlib.sha256(
        master.file_content(meta["url"])).hexdigest()


def test_simple_html_and_pep691_json(master):
    master.add_release("Foo.Bar_baz", "1.0", requires_python=">=3.8")
    master.add_release("Foo.Bar_baz", "2.0")
    master.yank("foo-bar-baz", "2.0", reason="bad <build>")
    page = requests.get(f"{master.url}/simple/foo-bar-baz/")
    assert page.headers["Content-Type"].startswith("text/html")
    assert page.headers["X-PyPI-Last-Serial"] == str(master.serial)
    wheel = master.files("foo-bar-baz")[0]
    assert f'<a href="{wheel["url"]}#sha256={wheel["digests"]["sha256"]}" data-requires-python="&gt;=3.8"' in page.text
    assert 'data-yanked="bad &lt;build&gt;"' in page.text
    accept = {"Accept": f"{SIMPLE_JSON}, text/html;q=0.1"}
    doc = requests.get(f"{master.url}/simple/Foo.Bar_baz/", headers=accept)  # redirected to the normalized name
    assert doc.headers["Content-Type"] == SIMPLE_JSON and doc.json()["versions"] == ["1.0", "2.0"]
    files = doc.json()["files"]
    assert files[0]["hashes"] == {"sha256": wheel["digests"]["sha256"]} and files[0]["size"] == wheel["size"]
    assert files[0]["requires-python"] == ">=3.8" and files[-1]["yanked"] == "bad <build>"
    root = requests.get(f"{master.url}/simple/", headers=accept).json()
    assert root["meta"] == {"api-version": "1.1", "_last-serial": master.serial}
    assert root["projects"] == [{"name": "Foo.Bar_baz", "_last-serial": master.serial}]
    assert '<a href="/simple/foo-bar-baz/">Foo.Bar_baz</a>' in requests.get(f"{master.url}/simple/").text
    assert requests.get(f"{master.url}/simple/nope/").status_code == 404


def test_non_ascii_and_raw_hostile_files(master):
    master.add_file("uni", "1.0", "ünï_cødé-1.0-py3-none-any.whl", content=b"\xff" * 10)
    url = master.files("uni")[0]["url"]
    assert url.isascii() and requests.get(url).content == b"\xff" * 10
    assert requests.head(url).headers["Content-Length"] == "10"
    evil_url = f"{master.url}/packages/x/..%2Fevil"
    master.add_raw_file("evil", "1.0", filename="../../etc/evil", url=evil_url, content=b"e")
    master.add_raw_file("evil", "1.0", filename="x\x00y", url="https://elsewhere.invalid/f.whl")
    files = master.files("evil")
    assert [f["filename"] for f in files] == ["../../etc/evil", "x\x00y"]
    assert files[0]["digests"]["sha256"] == hashlib.sha256(b"e").hexdigest()
    assert requests.get(evil_url).content == b"e" and master.count("GET", "/packages/x/../evil") == 1


def test_big_generated_file_streams_without_being_stored(master):
    size = 200 * 2**20
    tracemalloc.start()
    try:
        master.add_file("big", "1.0", "big-1.0-py3-none-any.whl", size=size)
        meta = master.files("big")[0]
        digest, received = hashlib.sha256(), 0
        with requests.get(meta["url"], stream=True) as response:
            for chunk in response.iter_content(1 << 20):
                digest.update(chunk)
                received += len(chunk)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert received == size and digest.hexdigest() == meta["digests"]["sha256"]
    assert peak < 32 * 2**20, f"{peak} bytes allocated while serving a {size} byte file"


def test_default_release_is_a_real_wheel_pip_installs(master, tmp_path):
    wheel = zipfile.ZipFile(io.BytesIO(make_wheel("Foo.Bar_baz", "1.0")))
    record = wheel.read("Foo_Bar_baz-1.0.dist-info/RECORD").decode()
    assert "Name: Foo.Bar_baz\nVersion: 1.0\n" in wheel.read("Foo_Bar_baz-1.0.dist-info/METADATA").decode()
    assert "foo_bar_baz/__init__.py,sha256=" in record and wheel.testzip() is None
    master.add_release("Foo.Bar_baz", "1.0")
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--isolated", "--quiet", "--no-deps", "--disable-pip-version-check",
         "--only-binary", ":all:", "--index-url", f"{master.url}/simple/", "--target", str(tmp_path), "foo-bar-baz"],
        check=True, env=env, timeout=60,
    )
    assert (tmp_path / "foo_bar_baz" / "__init__.py").read_text() == '__version__ = "1.0"\n'


def test_standalone_tls_server_prints_cert_and_url_and_stops_on_sigterm():
    command = [sys.executable, "-m", "tests.pypi_master", "--projects", "5", "--seed", "1", "--tls"]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=root)
    try:
        cert = process.stdout.readline().split(" ", 1)[1].strip()
        url = process.stdout.readline().split(" ", 1)[1].strip()
        assert url.startswith("https://127.0.0.1:")
        projects = xmlrpc.client.ServerProxy(f"{url}/pypi", context=ssl.create_default_context(cafile=cert))
        assert list(projects.list_packages_with_serial())[:2] == ["Foo.Bar_baz", "Unicode-Demo"]
        doc = requests.get(f"{url}/pypi/unicode-demo/json", verify=cert).json()
        assert doc["urls"][0]["filename"].startswith("Unicodé_Démo-1.0")
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0


def test_pep_658_metadata_provenance_and_project_status_as_pypi_serves_them(master):
    master.add_release("Meta.Demo", "1.0")
    wheel, sdist = master.files("meta-demo")
    assert wheel["filename"].endswith(".whl") and sdist["core-metadata"] is False
    metadata = requests.get(wheel["url"] + ".metadata").content
    assert wheel["core-metadata"] == {"sha256": hashlib.sha256(metadata).hexdigest()}
    assert b"Name: Meta.Demo" in metadata
    provenance = master.attest("meta-demo", wheel["filename"])
    accept = {"Accept": SIMPLE_JSON}
    files = requests.get(f"{master.url}/simple/meta-demo/", headers=accept).json()["files"]
    assert files[0]["provenance"] == provenance and requests.get(provenance).json()["version"] == 1
    assert "provenance" not in master.files("meta-demo")[0]  # the JSON API has no provenance

    moved = requests.get(f"{master.url}/pypi/Meta.Demo/json", allow_redirects=False)
    assert moved.status_code == 301 and moved.headers["Location"] == "/pypi/meta-demo/json"
    serial = master.serial
    master.set_status("meta-demo", "archived", "no longer maintained")
    assert master.serial == serial  # archiving moves no serial on PyPI
    page = requests.get(f"{master.url}/simple/meta-demo/", headers=accept).json()
    assert page["project-status"] == {"status": "archived", "reason": "no longer maintained"}
    master.set_status("meta-demo", "quarantined")
    assert requests.get(f"{master.url}/pypi/meta-demo/json").status_code == 404
    page = requests.get(f"{master.url}/simple/meta-demo/", headers=accept).json()
    assert page["files"] == [] and page["project-status"]["status"] == "quarantined"


class _FakeClock:
    """Time that moves only when the link sleeps: the link's arithmetic, with nothing timed."""

    def __init__(self):
        self.now, self.sleeps = 100.0, []

    def sleep(self, seconds):
        self.sleeps.append(round(seconds, 6))
        self.now += max(seconds, 0)


@pytest.mark.parametrize(
    "bandwidth, sizes, expected",
    [
        (WAN_PIECE, [WAN_PIECE], [1 - WAN_BUFFER]),  # one piece: its time on the link (an idle link's buffer)
        (WAN_PIECE, [2 * WAN_PIECE], [1 - WAN_BUFFER, 1.0]),  # paced piece by piece
        (WAN_PIECE, [WAN_PIECE // 2, WAN_PIECE // 2], [0.5 - WAN_BUFFER, 0.5]),
        (None, [10 * WAN_PIECE], []),  # no cap: no waiting at all
    ],
)
def test_wan_link_paces_pieces_at_the_bandwidth(bandwidth, sizes, expected):
    clock = _FakeClock()
    link = WanLink(0.05, bandwidth, clock=lambda: clock.now, sleep=clock.sleep)
    sent = [bytes(piece) for size in sizes for piece in link.pieces(b"x" * size)]
    assert sum(map(len, sent)) == sum(sizes)
    assert clock.sleeps == expected


def test_wan_link_bandwidth_is_shared_by_every_connection():
    """Two answers queued at the same moment: the second leaves after the first, not beside it."""
    now, sleeps = [0.0], []
    link = WanLink(0.0, WAN_PIECE, clock=lambda: now[0], sleep=sleeps.append)  # time stands still
    next(link.pieces(b"a" * WAN_PIECE))
    next(link.pieces(b"b" * WAN_PIECE))
    assert sleeps == [1.0, 2.0]


def test_a_late_sender_catches_up_only_within_the_links_buffer():
    now, sleeps = [0.0], []
    link = WanLink(0.0, WAN_PIECE, clock=lambda: now[0], sleep=sleeps.append)
    pieces = link.pieces(b"a" * 3 * WAN_PIECE)
    next(pieces)  # leaves at 1.0
    now[0] = 1.005  # the sender comes back a little late: the buffer covers it, no time lost
    next(pieces)
    now[0] = 5.0  # far too late: the link idled, that time is gone
    next(pieces)
    now[0] = 6.0 - WAN_BUFFER / 2  # a small piece that fits in the buffer leaves at once
    assert bytes(next(link.pieces(b"b"))) == b"b"
    assert sleeps == pytest.approx([1.0, 0.995, 1 - WAN_BUFFER])


def test_wan_link_delays_every_answer_and_each_new_connection():
    delays = []
    link = WanLink(0.05, None, sleep=delays.append)
    with PyPIMaster(link=link) as master, requests.Session() as session:
        master.add_release("pkg", "1.0")
        for _ in range(3):
            assert session.get(json_url(master, "pkg")).status_code == 200
    assert delays == [0.05] * 4  # one handshake (keep-alive after it), three answers


@pytest.mark.parametrize("rtt, bandwidth", [(-1, None), (0.05, 0), (0.05, -5)])
def test_wan_link_refuses_impossible_links(rtt, bandwidth):
    with pytest.raises(ValueError, match="rtt >= 0 and bandwidth > 0"):
        WanLink(rtt, bandwidth)
