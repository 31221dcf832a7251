"""The map of web/ (layout.py) and the link forms (links.py): tables, and properties that must
hold for any input a master could send."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bandersnatch.errors import UnsafePath
from bandersnatch.model import ReleaseFile
from bandersnatch.pages.layout import (
    Layout,
    Links,
    check_name,
    file_path,
    filename_projects,
    media_type,
    safe_relative,
)

SHA = "a" * 64


def release(filename: str, url: str, **extra: object) -> ReleaseFile:
    return ReleaseFile(filename=filename, url=url, sha256=SHA, **extra)  # type: ignore[arg-type]


def test_a_file_place_comes_only_from_the_masters_checked_answer() -> None:
    checked = release("foo-1.0.tar.gz", "https://f.example/packages/ab/foo-1.0.tar.gz", path="packages/ab/foo-1.0.tar.gz")
    assert file_path(checked) == "packages/ab/foo-1.0.tar.gz"
    with pytest.raises(UnsafePath, match="its place was never checked"):
        file_path(release("foo-1.0.tar.gz", "https://f.example/packages/ab/foo-1.0.tar.gz"))


@pytest.mark.parametrize("name", ["Foo.Bar_baz", "a", "x1", "zope.interface"])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", "..", "../x", "a/b", "-a", "a-", "a b", "a\nb", "foo\n", "foo\r", "\nfoo", "caf\u00e9"])
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(UnsafePath, match="refusing project name"):
        check_name(name)



@pytest.mark.parametrize(
    ("links", "href"),
    [
        (Links(), "../../packages/ab/foo-1.0.tar.gz"),
        (Links(root_uri="https://files.example/m"), "https://files.example/m/packages/ab/foo-1.0.tar.gz"),
        (Links(root_uri="https://files.example/m", release_files=False), "https://files.example/m/packages/ab/foo-1.0.tar.gz"),
        (Links(release_files=False), "https://master.example/packages/ab/foo-1.0.tar.gz"),
    ],
)
def test_file_links_in_every_form(links: Links, href: str) -> None:
    file = release("foo-1.0.tar.gz", "https://master.example/packages/ab/foo-1.0.tar.gz")
    assert links.file_href("packages/ab/foo-1.0.tar.gz", file) == href
    expected = None if links.master_files else "packages/ab/foo-1.0.tar.gz"
    assert links.path_of(href) == expected  # the one reader finds the path again, or knows it is not ours


@pytest.mark.parametrize(
    ("links", "provenance"),
    [
        (Links(), None),  # PEP 740: a relative URL is invalid, so none is announced
        (Links(public_url="https://mirror.example/pypi"), "https://mirror.example/pypi/packages/a/x.whl.provenance"),
        (Links(root_uri="https://files.example", public_url="https://mirror.example"),
         "https://files.example/packages/a/x.whl.provenance"),
        (Links(release_files=False), "https://master.example/x.whl.provenance"),
    ],
)  # fmt: skip
def test_provenance_links_are_fully_qualified_or_absent(links: Links, provenance: str) -> None:
    file = release("x.whl", "https://master.example/packages/a/x.whl", provenance_url="https://master.example/x.whl.provenance")
    assert links.provenance_href("packages/a/x.whl", file) == provenance
    if provenance and not links.master_files:
        assert links.path_of(provenance) == "packages/a/x.whl.provenance"


def test_layout_pages_follow_simple_format() -> None:
    assert Layout(formats=frozenset({"html"})).pages("Foo.Bar") == ["simple/foo-bar/index.html", "simple/foo-bar/index.v1_html"]
    assert Layout(formats=frozenset({"json"})).pages("foo") == ["simple/foo/index.v1_json"]
    assert Layout(formats=frozenset({"json"})).roots == ["simple/index.v1_json"]


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("simple/foo/index.v1_json", "application/vnd.pypi.simple.v1+json"),
        ("simple/foo/index.html", "text/html"),
        ("pypi/foo/json", "application/json"),
        ("packages/a/x.whl.provenance", "application/vnd.pypi.integrity.v1+json"),
        ("packages/a/x.whl", None),
    ],
)
def test_media_types(path: str, kind: str) -> None:
    assert media_type(path) == kind


@pytest.mark.parametrize(
    ("filename", "projects"),
    [
        ("Foo_Bar-1.0-py3-none-any.whl", ["foo-bar"]),
        ("foo-bar-1.0.tar.gz", ["foo-bar"]),
        ("python-foo-2.0.0.win32.exe", ["python-foo"]),
        ("Imaging-1.1.7.tar.gz", ["imaging"]),
        ("setup.exe", []),
    ],
)
def test_filename_projects(filename: str, projects: list[str]) -> None:
    assert filename_projects(filename) == projects


# ------------------------------------------------------------------------------------- properties
PIECES = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)


@settings(max_examples=2000, deadline=None)
@given(st.lists(PIECES, min_size=1, max_size=6).map("/".join))
def test_safe_relative_never_lets_a_path_escape(relative: str) -> None:
    try:
        checked = safe_relative(relative)
    except UnsafePath:
        return
    parts = checked.split("/")
    assert not checked.startswith("/") and "\\" not in checked and "\x00" not in checked
    assert all(part not in ("", ".", "..") for part in parts)


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=40))
def test_check_name_accepts_only_whole_pep_508_names(name: str) -> None:
    try:
        check_name(name)
    except UnsafePath:
        return
    assert name == name.strip() and "/" not in name and "\n" not in name and name[0].isalnum() and name[-1].isalnum()


@settings(max_examples=1000, deadline=None)
@given(st.lists(PIECES.filter(lambda p: p not in ("", ".", "..") and "/" not in p), min_size=1, max_size=4))
def test_relative_links_round_trip_for_any_path(parts: list[str]) -> None:
    path = "/".join(["packages", *parts])
    file = release(parts[-1], "https://master.example/" + path)
    for links in (Links(), Links(root_uri="https://files.example/m")):
        assert links.path_of(links.file_href(path, file)) == path
