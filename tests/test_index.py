"""The modern index (SPEC section 6) end to end: the loopback master, a real sync, nginx with the
README's configuration, and pip and uv resolving through PEP 691 JSON and PEP 658 .metadata."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterator

import pytest
import requests

from bandersnatch.errors import ProjectGone
from bandersnatch.master import Master
from bandersnatch.session import make_session
from tests.conftest import MirrorSetup
from tests.nginx import (
    NOT_INSTALLED,
    Served,
    nginx_binary,
    serving,
    world_readable_tempdir,
)
from tests.pypi_master import FileSpec, PyPIMaster
from tests.test_serving import clean_env, uv_binary

V1_JSON = "application/vnd.pypi.simple.v1+json"
V1_HTML = "application/vnd.pypi.simple.v1+html"
PIP_ACCEPT = f"{V1_JSON}, {V1_HTML}; q=0.1, text/html; q=0.01"  # pip 24/25 (collector.py)
UV_ACCEPT = f"{V1_JSON}, {V1_HTML};q=0.2, text/html;q=0.01"  # uv (registry_client.rs)


def get(url: str, accept: str | None = None) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False
        return session.get(url, headers={"Accept": accept} if accept else {}, timeout=10)


@pytest.fixture(scope="module")
def served_mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PyPIMaster, MirrorSetup, Served]]:
    binary = nginx_binary()
    if binary is None:
        pytest.skip(NOT_INSTALLED)
    work = tmp_path_factory.mktemp("index")
    with PyPIMaster() as pypi, world_readable_tempdir() as root:
        pypi.add_release("Index.Demo", "1.0")
        pypi.add_release("Index.Demo", "2.0", requires_python=">=3.8")
        pypi.add_release("dep-demo", "1.0")
        mirror = MirrorSetup(directory=root / "mirror", config=work / "bandersnatch.conf")
        mirror.write_config(pypi.url, json="true")
        synced = mirror.run()
        assert synced.returncode == 0, synced.stderr
        with serving(binary, mirror.web, work / "nginx") as served:
            yield pypi, mirror, served


@pytest.mark.parametrize(
    ("accept", "page", "content_type"),
    [
        (None, "index.html", "text/html"),
        ("*/*", "index.html", "text/html"),
        ("text/html", "index.html", "text/html"),
        (V1_HTML, "index.v1_html", V1_HTML),
        (V1_JSON, "index.v1_json", V1_JSON),
        ("application/vnd.pypi.simple.latest+json", "index.v1_json", V1_JSON),
        (PIP_ACCEPT, "index.v1_json", V1_JSON),
        (UV_ACCEPT, "index.v1_json", V1_JSON),
        (f"text/html, {V1_JSON};q=0.5", "index.html", "text/html"),
        (f"{V1_JSON};q=0, text/html;q=0.1", "index.html", "text/html"),
        (f"{V1_HTML};q=0.1, {V1_JSON};q=0.9", "index.v1_json", V1_JSON),
    ],
)
@pytest.mark.parametrize("where", ["", "index-demo/"])
def test_the_readme_nginx_negotiates_the_format(served_mirror, accept, page, content_type, where) -> None:
    _, mirror, served = served_mirror
    answer = get(f"{served.url}/simple/{where}", accept)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].split(";")[0] == content_type
    assert answer.headers["Vary"] == "Accept"
    assert answer.content == (mirror.web / "simple" / where / page).read_bytes()


class _Strict(HTMLParser):
    """Collects the anchors; the pages must parse as the HTML5 the spec writes (no stray markup)."""

    def __init__(self) -> None:
        super().__init__()
        self.anchors: list[dict[str, str | None]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append(tag)
        if tag == "a":
            self.anchors.append(dict(attrs))


def check_project_json(document: dict) -> None:
    """PEP 691 + 700 schema of a project page, written out (no schema library needed)."""
    assert set(document) <= {"meta", "name", "files", "versions", "project-status"}
    assert isinstance(document["meta"]["api-version"], str) and isinstance(document["meta"]["_last-serial"], int)
    assert isinstance(document["versions"], list)
    for entry in document["files"]:
        assert set(entry) >= {"filename", "url", "hashes", "size", "yanked", "core-metadata"}
        assert isinstance(entry["size"], int)
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", entry["upload-time"])
        assert isinstance(entry["yanked"], (bool, str))
        assert entry["core-metadata"] is False or set(entry["core-metadata"]) == {"sha256"}
        assert any(entry["filename"].startswith(f"{v}") or f"-{v}" in entry["filename"] for v in document["versions"])


def test_pages_agree_and_validate(served_mirror) -> None:
    _, mirror, _ = served_mirror
    folder = mirror.web / "simple" / "index-demo"
    document = json.loads((folder / "index.v1_json").read_text())
    check_project_json(document)
    html_page = (folder / "index.html").read_text()
    assert (folder / "index.v1_html").read_text() == html_page
    parser = _Strict()
    parser.feed(html_page)
    hrefs = {a["href"].partition("#")[0]: a for a in parser.anchors}
    for entry in document["files"]:
        anchor = hrefs[entry["url"]]
        if entry["core-metadata"]:
            digest = "sha256=" + entry["core-metadata"]["sha256"]
            assert anchor["data-core-metadata"] == anchor["data-dist-info-metadata"] == digest
            assert (folder / (entry["url"] + ".metadata")).resolve().is_file()
        else:
            assert "data-core-metadata" not in anchor
    api = json.loads((mirror.web / "pypi" / "index-demo" / "json").read_text())
    copied = {f["filename"]: f for files in api["releases"].values() for f in files}
    assert {f["filename"]: f["url"] for f in copied.values()} == {f["filename"]: f["url"] for f in document["files"]}
    root = json.loads((mirror.web / "simple" / "index.v1_json").read_text())
    assert {p["name"]: p["_last-serial"] for p in root["projects"]} == {
        "Index.Demo": document["meta"]["_last-serial"],
        "dep-demo": json.loads((mirror.web / "simple/dep-demo/index.v1_json").read_text())["meta"]["_last-serial"],
    }


def test_latest_pip_resolves_from_metadata_files_without_wheel_bodies(served_mirror, tmp_path: Path) -> None:
    """The pip of the test environment, which CI (.ci/run) upgrades to the latest: a dry run
    installs nothing, so it may resolve against the mirror from here."""
    _, _, served = served_mirror
    before = served.access_log.read_text()
    report = tmp_path / "report.json"
    run = subprocess.run(
        [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "--no-cache-dir", "install",
         "--dry-run", "--report", str(report), "--index-url", f"{served.url}/simple/", "index-demo"],
        capture_output=True, text=True, timeout=180, env=clean_env(),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(report.read_text())["install"][0]["metadata"]["version"] == "2.0"
    log = served.access_log.read_text()[len(before) :]
    assert re.search(r'"GET /simple/index-demo/ HTTP/1.1" 200', log), log
    assert re.search(r"\.whl\.metadata HTTP/1\.1\" 200", log), log
    assert not re.search(r"\.whl HTTP/1\.1\" 200", log), log


def test_uv_installs_through_the_json_pages(served_mirror, tmp_path: Path) -> None:
    _, _, served = served_mirror
    uv = uv_binary()
    if uv is None:
        pytest.skip("uv is not installed")
    before = served.access_log.read_text()
    target = tmp_path / "venv"
    env = clean_env()
    subprocess.run([uv, "venv", "--no-config", str(target)], check=True, capture_output=True, env=env, timeout=60)
    run = subprocess.run(
        [uv, "pip", "install", "--no-config", "--no-cache", "--python", str(target / "bin" / "python"),
         "--index-url", f"{served.url}/simple/", "index-demo==1.0"],
        capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    log = served.access_log.read_text()[len(before) :]
    assert "uv/" in log and '"GET /simple/index-demo/ HTTP/1.1" 200' in log


# ---------------------------------------------------------------------------- changes and faults
def pages(mirror: MirrorSetup, name: str) -> tuple[str, dict, dict]:
    folder = mirror.web / "simple" / name
    api = mirror.web / "pypi" / name / "json"
    return (
        (folder / "index.html").read_text(),
        json.loads((folder / "index.v1_json").read_text()),
        json.loads(api.read_text()) if api.exists() else {},
    )


def test_yank_unyank_remove_and_quarantine_reach_every_format(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    mirror.write_config(pypi.url, json="true")
    pypi.add_release("life-cycle", "1.0")
    pypi.add_release("life-cycle", "2.0")
    pypi.yank("life-cycle", "1.0", reason="bad <build>")
    assert mirror.run().returncode == 0
    html_page, document, api = pages(mirror, "life-cycle")
    assert html_page.count('data-yanked="bad &lt;build&gt;"') == 2
    assert [f["yanked"] for f in document["files"]][:2] == ["bad <build>"] * 2
    assert [f["yanked_reason"] for f in api["releases"]["1.0"]] == ["bad <build>"] * 2

    pypi.unyank("life-cycle", "1.0")
    (wheel, *_) = [f["filename"] for f in pypi.files("life-cycle") if f["filename"].endswith("2.0-py3-none-any.whl")]
    pypi.remove_file("life-cycle", wheel)
    assert mirror.run().returncode == 0
    html_page, document, api = pages(mirror, "life-cycle")
    assert "data-yanked" not in html_page and all(f["yanked"] is False for f in document["files"])
    assert wheel not in html_page and wheel not in json.dumps(document) and wheel not in json.dumps(api)
    assert not [p for p in mirror.web.rglob(f"{wheel}*")]  # the file and its .metadata went

    pypi.set_status("life-cycle", "quarantined", "malware report")
    assert mirror.run().returncode == 0
    html_page, document, api = pages(mirror, "life-cycle")
    assert document["files"] == [] and document["project-status"] == {"status": "quarantined", "reason": "malware report"}
    assert "<a " not in html_page.partition("<body>")[2] and 'content="quarantined"' in html_page
    assert api == {} and not list((mirror.web / "packages").rglob("*.*"))
    root = json.loads((mirror.web / "simple" / "index.v1_json").read_text())
    assert root["projects"] == []  # PEP 792: PyPI's root leaves a quarantined project out
    assert "life-cycle" not in (mirror.web / "simple" / "index.html").read_text()

    pypi.set_status("life-cycle", None)
    assert mirror.run().returncode == 0  # back from quarantine: files, page and root entry return
    root = json.loads((mirror.web / "simple" / "index.v1_json").read_text())
    assert [p["name"] for p in root["projects"]] == ["life-cycle"]
    assert list((mirror.web / "packages").rglob("*.whl"))


@pytest.mark.parametrize("fault", ["corrupt", "404"])
def test_a_bad_metadata_file_costs_only_its_attribute(pypi: PyPIMaster, mirror: MirrorSetup, fault: str) -> None:
    # a wheel the mirror cannot read its METADATA from, so the .metadata is asked of the master
    pypi.add_release("meta-fault", "1.0", [FileSpec("meta_fault-1.0-py3-none-any.whl", content=b"no zip")])
    (wheel,) = [f for f in pypi.files("meta-fault") if f["filename"].endswith(".whl")]
    path = wheel["url"].split("/", 3)[3]
    if fault == "corrupt":
        pypi.corrupt(f"/{path}.metadata", times=None)
    else:
        pypi.fail(f"/{path}.metadata", status=404, times=None)
    result = mirror.run()
    assert result.returncode == 0, result.stderr
    assert re.search(r"WARNING: Not mirroring \S+\.whl\.metadata", result.stderr), result.stderr
    html_page, document, _ = pages(mirror, "meta-fault")
    assert "data-core-metadata" not in html_page and all(f["core-metadata"] is False for f in document["files"])
    assert (mirror.web / path).is_file() and not (mirror.web / f"{path}.metadata").exists()


def test_changing_the_page_options_rewrites_every_project_without_downloading_again(
    pypi: PyPIMaster, mirror: MirrorSetup
) -> None:
    pypi.add_release("format-demo", "1.0")
    mirror.write_config(pypi.url, simple_format="HTML", core_metadata="false")
    assert mirror.run().returncode == 0
    folder = mirror.web / "simple" / "format-demo"
    assert (folder / "index.html").exists() and not (folder / "index.v1_json").exists()
    assert not list(mirror.web.rglob("*.metadata")) and "data-core-metadata" not in (folder / "index.html").read_text()
    assert not (mirror.web / "simple" / "index.v1_json").exists()

    pypi.clear_log()
    mirror.write_config(pypi.url, simple_format="ALL")
    assert mirror.run().returncode == 0
    assert (folder / "index.v1_json").exists() and (mirror.web / "simple" / "index.v1_json").exists()
    assert len(list(mirror.web.rglob("*.metadata"))) == 1 and "data-core-metadata" in (folder / "index.html").read_text()
    fetched = [path for method, path in pypi.requests if method == "GET" and path.startswith("/packages/")]
    assert fetched == []  # no release file again, and each .metadata read from the wheel on disk

    mirror.write_config(pypi.url, simple_format="JSON")
    assert mirror.run().returncode == 0
    assert not (folder / "index.html").exists() and not (mirror.web / "simple" / "index.html").exists()
    assert json.loads((folder / "index.v1_json").read_text())["files"]


def test_a_mirror_reads_another_mirror_served_by_nginx(pypi: PyPIMaster, tmp_path: Path) -> None:
    """Chaining: a hub with json = false has no JSON API, and nginx sends no X-PyPI-Last-Serial; the
    project then comes from its PEP 691 page, its serial from the body, and the hub's root lists it."""
    binary = nginx_binary()
    if binary is None:
        pytest.skip(NOT_INSTALLED)
    pypi.add_release("Chain.Demo", "1.0")
    pypi.add_release("other-demo", "1.0")
    with world_readable_tempdir() as root:
        hub = MirrorSetup(directory=root / "hub", config=tmp_path / "hub.conf")
        hub.write_config(pypi.url)
        assert hub.run().returncode == 0
        with serving(binary, hub.web, tmp_path / "nginx") as served:
            master = Master(served.url, timeout=5, session=make_session(1))
            chained = master.project("Chain.Demo", 0)
            assert not master.json_api_only and chained.serial == pypi.projects()["Chain.Demo"]
            needing_info = Master(served.url, timeout=5, session=make_session(1), json_api=True)
            assert needing_info.project("Chain.Demo", 0) == chained and needing_info.pep691_only
            assert {f.filename: f.sha256 for f in chained.files} == {
                f["filename"]: f["digests"]["sha256"] for f in pypi.files("Chain.Demo")
            }
            wheel = next(f for f in chained.files if f.filename.endswith(".whl"))
            assert wheel.version == "1.0" and wheel.core_metadata_sha256 and wheel.url.startswith(served.url)
            assert master.project("other-demo", 0).versions == ("1.0",)
            root_page = get(f"{served.url}/simple/", V1_JSON).json()
            assert root_page["projects"] == [{"name": n, "_last-serial": s} for n, s in sorted(pypi.projects().items())]
            with pytest.raises(ProjectGone):
                master.project("never-there", 0)


def test_provenance_is_mirrored_beside_its_file_and_the_page_points_at_the_copy(
    pypi: PyPIMaster, mirror: MirrorSetup
) -> None:
    pypi.add_release("attested", "1.0")
    wheel = next(f for f in pypi.files("attested") if f["filename"].endswith(".whl"))
    bundle = {"version": 1, "attestation_bundles": [{"publisher": {"kind": "GitHub"}, "attestations": []}]}
    pypi.attest("attested", wheel["filename"], bundle)
    result = mirror.run()  # no public-url: mirrored, but a relative link would be invalid (PEP 740)
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("provenance is mirrored but not announced") == 1
    html, page, _ = pages(mirror, "attested")
    assert "provenance" not in html and all("provenance" not in f for f in page["files"])
    path = wheel["url"].split("/", 3)[3]
    local = mirror.web / f"{path}.provenance"
    assert json.loads(local.read_text()) == bundle
    assert mirror.run("verify").returncode == 0  # mirrored but unannounced is no orphan

    mirror.write_config(pypi.url, public_url="https://mirror.example/pypi")
    assert mirror.run().returncode == 0
    html, page, _ = pages(mirror, "attested")
    (entry,) = [f for f in page["files"] if f["filename"] == wheel["filename"]]
    assert entry["provenance"] == f"https://mirror.example/pypi/{path}.provenance"  # fully qualified
    assert f'data-provenance="https://mirror.example/pypi/{path}.provenance"' in html
    assert tuple(map(int, page["meta"]["api-version"].split("."))) >= (1, 3)  # PEP 740 needs 1.3
    assert all("provenance" not in f for f in page["files"] if f["filename"] != wheel["filename"])
    pypi.remove_file("attested", wheel["filename"])
    assert mirror.run().returncode == 0
    assert not local.exists()  # deleted with its file
