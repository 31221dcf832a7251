"""Pages are rendered and read back by the mirror itself, so they are tested as a round trip."""

from __future__ import annotations

import pytest

from bandersnatch.model import ReleaseFile
from bandersnatch.pages.html import (
    merge_index,
    page_files,
    parse_index_line,
    read_project_html,
    render_index,
    render_project_page,
)
from bandersnatch.pages.layout import Links

SHA = "ab" * 32


def release(filename: str, **extra: object) -> ReleaseFile:
    return ReleaseFile(
        filename=filename, url=f"https://files.example/packages/{filename}", sha256=SHA, **extra
    )  # type: ignore[arg-type]


def test_project_page_has_the_pep_629_meta_tag_and_the_serial() -> None:
    page = render_project_page("Foo.Bar", [("packages/ab/foo-1.0.tar.gz", release("foo-1.0.tar.gz"))], 42)
    assert page.startswith("<!DOCTYPE html>\n<html><head>")
    assert '<meta name="pypi:repository-version" content="1.4">' in page
    assert "<title>Links for Foo.Bar</title>" in page
    assert '<a href="../../packages/ab/foo-1.0.tar.gz#sha256=' + SHA + '">foo-1.0.tar.gz</a><br/>' in page
    assert page.endswith("<!--SERIAL 42-->\n")
    assert read_project_html("foo-bar", page, Links()).serial == 42


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


def blocks(lines: list[str], size: int) -> list[list[str]]:
    return [lines[start : start + size] for start in range(0, len(lines), size)]


@pytest.mark.parametrize("block_size", [3, 4, 5, 1000])
@pytest.mark.parametrize(
    ("old", "changes", "expected"),
    [
        (["b"], {"a": "A", "c": "C"}, ["a", "b", "c"]),
        (["a", "b", "c"], {"b": None}, ["a", "c"]),
        (["a", "b"], {"b": "B2"}, ["a", "b"]),
        ([], {"x": "X"}, ["x"]),
        (["a"], {"z": None}, ["a"]),
        (["a", "c", "e", "g", "i", "k"], {"d": "D", "k": None, "l": "L"}, ["a", "c", "d", "e", "g", "i", "l"]),
    ],
)
def test_merge_index_applies_changes(old: list[str], changes: dict, expected: list[str], block_size: int) -> None:
    lines = "".join(render_index([(name, name.upper()) for name in old])).splitlines(keepends=True)
    page = "".join(merge_index(blocks(lines, block_size), changes))
    merged = [entry for entry in map(parse_index_line, page.splitlines(keepends=True)) if entry]
    assert [name for name, _ in merged] == expected
    assert page == "".join(render_index(merged))
    for name, display in merged:
        assert display == (changes.get(name) or name.upper())


def test_merge_index_passes_unchanged_lines_through_verbatim() -> None:
    head, tail = "".join(render_index([])).split("</body>")
    odd = ['<a href="a/">Odd &amp; Old</a><br/>\n', '<a href="b/">b</a><br/>\n']
    lines = head.splitlines(keepends=True) + odd + ["</body>" + tail]
    page = "".join(merge_index([lines], {"c": "C"}))
    assert '<a href="a/">Odd &amp; Old</a><br/>\n<a href="b/">b</a><br/>\n<a href="c/">C</a><br/>\n' in page


@pytest.mark.parametrize(
    "old",
    [
        "".join(render_index([("b", "b"), ("a", "a")])),
        "<html><body>\n<a href='x/'>x</a>\n</body></html>\n",  # pep381client's, or anyone's
    ],
)
def test_merge_index_refuses_an_index_it_did_not_write(old: str) -> None:
    with pytest.raises(ValueError):
        list(merge_index([old.splitlines(keepends=True)], {}))
