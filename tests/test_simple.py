"""Pages are rendered and read back by the mirror itself, so they are tested as a round trip."""

from __future__ import annotations

import pytest

from bandersnatch.model import ReleaseFile
from bandersnatch.simple import (
    merge_index,
    page_files,
    page_serial,
    parse_index_line,
    render_index,
    render_project_page,
)

SHA = "ab" * 32


def release(filename: str, **extra: object) -> ReleaseFile:
    return ReleaseFile(
        filename=filename, url=f"https://files.example/packages/{filename}", sha256=SHA, **extra
    )  # type: ignore[arg-type]


def test_project_page_has_the_pep_629_meta_tag_and_the_serial() -> None:
    page = render_project_page("Foo.Bar", [("packages/ab/foo-1.0.tar.gz", release("foo-1.0.tar.gz"))], 42)
    assert page.startswith("<!DOCTYPE html>\n<html><head>")
    assert '<meta name="pypi:repository-version" content="1.1">' in page
    assert "<title>Links for Foo.Bar</title>" in page
    assert '<a href="../../packages/ab/foo-1.0.tar.gz#sha256=' + SHA + '">foo-1.0.tar.gz</a><br/>' in page
    assert page.endswith("<!--SERIAL 42-->\n")
    assert page_serial(page) == 42


@pytest.mark.parametrize(
    ("extra", "attribute"),
    [
        ({"requires_python": ">=3.8"}, 'data-requires-python="&gt;=3.8"'),
        ({"requires_python": '<4,>=3"'}, 'data-requires-python="&lt;4,&gt;=3&quot;"'),
        ({"yanked": True}, 'data-yanked=""'),
        (
            {"yanked": True, "yanked_reason": 'broken "build" <b>'},
            'data-yanked="broken &quot;build&quot; &lt;b&gt;"',
        ),
    ],
)
def test_link_attributes_are_escaped(extra: dict, attribute: str) -> None:
    page = render_project_page("foo", [("packages/f/foo-1.whl", release("foo-1.whl", **extra))], 1)
    assert attribute in page


def test_unyanked_file_has_no_yanked_marker() -> None:
    page = render_project_page("foo", [("packages/f/foo-1.whl", release("foo-1.whl", yanked_reason="x"))], 1)
    assert "data-yanked" not in page


@pytest.mark.parametrize(
    "path",
    [
        "packages/ab/cd/caf\u00e9-1.0.tar.gz",
        "packages/x/a b&c<d>.whl",
        "packages/x/100%.zip",
        "packages/x/q?#.whl",
    ],
)
def test_file_paths_survive_a_round_trip(path: str) -> None:
    filename = path.rsplit("/", 1)[1]
    page = render_project_page("foo", [(path, release(filename))], 7)
    assert page_files(page) == {path: SHA}


def test_page_files_ignores_links_outside_the_mirror() -> None:
    page = (
        '<a href="https://evil.example/x.whl#sha256=00">x</a><a href="../../packages/a/b.whl#sha256=11">b</a>'
    )
    assert page_files(page) == {"packages/a/b.whl": "11"}


def test_index_lists_every_project_in_order() -> None:
    html = "".join(render_index([("foo-bar", "Foo.Bar"), ("zope", "zope")]))
    assert '<a href="foo-bar/">Foo.Bar</a><br/>\n<a href="zope/">zope</a><br/>' in html
    assert [parse_index_line(line) for line in html.splitlines() if parse_index_line(line)] == [
        ("foo-bar", "Foo.Bar"),
        ("zope", "zope"),
    ]


@pytest.mark.parametrize(
    ("old", "changes", "expected"),
    [
        (["b"], {"a": "A", "c": "C"}, ["a", "b", "c"]),
        (["a", "b", "c"], {"b": None}, ["a", "c"]),
        (["a", "b"], {"b": "B2"}, ["a", "b"]),
        ([], {"x": "X"}, ["x"]),
        (["a"], {"z": None}, ["a"]),
    ],
)
def test_merge_index_applies_changes(old: list[str], changes: dict, expected: list[str]) -> None:
    lines = list(render_index([(name, name.upper()) for name in old]))
    merged = list(merge_index(lines, changes))
    assert [name for name, _ in merged] == expected
    if "b" in changes and changes["b"]:
        assert ("b", "B2") in merged


def test_merge_index_refuses_an_unsorted_index() -> None:
    lines = ['<a href="b/">b</a><br/>\n', '<a href="a/">a</a><br/>\n']
    with pytest.raises(ValueError, match="not sorted"):
        list(merge_index(lines, {}))
