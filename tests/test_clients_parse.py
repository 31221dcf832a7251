"""An outside judge of our pages: pypi-simple (a PEP 503/691/700/740/792 client nobody here wrote)
parses every page the mirror writes, in HTML and in JSON, and both formats must say the same.

The tree check (tests/tree.py) compares pages with the master through our own reading of the PEPs;
this one asks whether a client's reading agrees, so a misreading shared by the writer and the test
cannot hide. A pair marked xfail(strict) shows an issue 17 symptom on today's code.
"""

from __future__ import annotations

import json
import warnings
from typing import Any, Iterator

import pytest

pypi_simple = pytest.importorskip("pypi_simple", reason="pypi-simple is in the test extra")

from tests.conftest import MirrorSetup  # noqa: E402
from tests.pypi_master import PyPIMaster  # noqa: E402

PUBLIC_URL = "https://mirror.example/"
BASE = "https://mirror.example/simple/"  # where a client would have fetched the pages from


def corpus(pypi: PyPIMaster) -> None:
    pypi.add_release("Foo.Bar", "1.0")
    pypi.add_release("Foo.Bar", "2.0", requires_python=">=3.8")
    pypi.yank("Foo.Bar", "1.0", reason="bad <build>")
    pypi.add_release("attested", "1.0")
    wheel = next(f["filename"] for f in pypi.files("attested") if f["filename"].endswith(".whl"))
    pypi.attest("attested", wheel, {"version": 1, "attestation_bundles": []})
    pypi.add_release("bad-one", "1.0")
    pypi.set_status("bad-one", "quarantined", "malware report")
    pypi.add_release("old-one", "1.0")
    pypi.set_status("old-one", "archived", "unmaintained")


@pytest.fixture(scope="module", params=["json", "json+public-url"])
def synced(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MirrorSetup]:
    work = tmp_path_factory.mktemp("clients")
    options: dict[str, Any] = {"json": "true"}
    if request.param == "json+public-url":
        options["public_url"] = PUBLIC_URL
    with PyPIMaster() as pypi:
        corpus(pypi)
        mirror = MirrorSetup(directory=work / "mirror", config=work / "bandersnatch.conf")
        mirror.write_config(pypi.url, **options)
        result = mirror.run()
        assert result.returncode == 0, result.stderr
        yield mirror


def parsed(mirror: MirrorSetup, project: str) -> tuple[Any, Any]:
    """The project's HTML and JSON pages as pypi-simple reads them; any warning it raises (a
    malformed attribute, an api-version it does not know) is an error here."""
    folder = mirror.web / "simple" / project
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        html = pypi_simple.ProjectPage.from_html(project, (folder / "index.html").read_bytes(), f"{BASE}{project}/")
        data = json.loads((folder / "index.v1_json").read_text(encoding="utf-8"))
        page = pypi_simple.ProjectPage.from_json_data(data, f"{BASE}{project}/")
    return html, page


def projects(mirror: MirrorSetup) -> list[str]:
    return sorted(p.name for p in (mirror.web / "simple").iterdir() if p.is_dir())


FIELDS = ("filename", "url", "digests", "requires_python", "is_yanked", "yanked_reason", "has_metadata",
          "metadata_digests", "provenance_url")  # fmt: skip


PROJECTS = ["attested", "bad-one", "foo-bar", "old-one"]


def fields(package: Any) -> dict[str, Any]:
    """What a client takes from a file link; HTML cannot say "no metadata" (PEP 658: the attribute
    is absent), pypi-simple reads that as None where JSON says False: the same answer."""
    values = {name: getattr(package, name) for name in FIELDS}
    values["has_metadata"] = bool(values["has_metadata"])
    return values


def test_the_mirror_holds_the_projects_parsed_below(synced: MirrorSetup) -> None:
    assert projects(synced) == PROJECTS


@pytest.mark.parametrize(
    "project",
    [
        "attested", "bad-one", "foo-bar", "old-one",
    ],
)  # fmt: skip
def test_every_project_page_parses_and_both_formats_agree(synced: MirrorSetup, project: str) -> None:
    html, page = parsed(synced, project)
    assert [fields(p) for p in html.packages] == [fields(p) for p in page.packages]
    assert html.repository_version == page.repository_version
    assert (html.status, html.status_reason) == (page.status, page.status_reason)
    if html.last_serial is not None:
        assert html.last_serial == page.last_serial


def test_what_a_client_reads_is_what_the_master_published(synced: MirrorSetup) -> None:
    """Yanks with their reason, requires-python, PEP 658 metadata and PEP 792 status reach a client."""
    _, foo = parsed(synced, "foo-bar")
    yanked = {p.filename: (p.is_yanked, p.yanked_reason) for p in foo.packages}
    assert sorted(yanked.values()) == [(False, None)] * 2 + [(True, "bad <build>")] * 2
    assert {p.requires_python for p in foo.packages if "2.0" in p.filename} == {">=3.8"}
    assert all(p.has_metadata == p.filename.endswith(".whl") for p in foo.packages)
    assert all(p.url.startswith(f"{BASE.removesuffix('simple/')}packages/") for p in foo.packages)
    _, old = parsed(synced, "old-one")
    assert (old.status, old.status_reason) == ("archived", "unmaintained")


def test_provenance_is_a_fully_qualified_https_url_or_absent(synced: MirrorSetup) -> None:
    folder = synced.web / "simple" / "attested"
    data = json.loads((folder / "index.v1_json").read_text(encoding="utf-8"))
    raw = {f["filename"]: f.get("provenance") for f in data["files"]}
    # pypi-simple resolves a relative link against the page; read the raw value as a client without
    # a base URL would, so a relative link cannot pass for a qualified one
    page = pypi_simple.ProjectPage.from_json_data(data)
    assert {p.filename: p.provenance_url for p in page.packages} == raw
    announced = [url for url in raw.values() if url]
    assert all(url.startswith("https://") for url in announced), announced
    expected = 1 if "public-url" in synced.config.read_text() else 0  # SPEC 6: no base, no provenance
    assert len(announced) == expected


def test_the_roots_parse_agree_and_leave_out_the_quarantined_project(synced: MirrorSetup) -> None:
    root = synced.web / "simple"
    html = pypi_simple.IndexPage.from_html((root / "index.html").read_bytes())
    data = json.loads((root / "index.v1_json").read_text(encoding="utf-8"))
    page = pypi_simple.IndexPage.from_json_data(data)
    assert html.projects == page.projects
    assert "bad-one" not in page.projects and "old-one" in page.projects
    versions = {parsed(synced, project)[1].repository_version for project in projects(synced)}
    assert page.repository_version == html.repository_version == max(versions, key=lambda v: tuple(map(int, v.split("."))))
