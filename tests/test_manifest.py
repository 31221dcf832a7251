"""The bundle manifest's validator: tables of good and bad manifests, and properties over any JSON."""

from __future__ import annotations

import json
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bandersnatch.commands.manifest import (
    BundleRefused,
    Manifest,
    Member,
    check_manifest,
    check_member_path,
    parse_manifest,
    valid_project_name,
)

SHA = "ab" * 32


def good() -> dict[str, Any]:
    return {
        "format": 1,
        "mirror": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "from": 10,
        "to": 20,
        "projects": {"foo": 12, "foo-bar": 20, "a": 0},
        "changed": ["foo-bar"],
        "members": {
            "web/packages/ab/cd/ef/foo_bar-1.0.tar.gz": {"sha256": SHA, "size": 12},
            "web/packages/ab/cd/ef/foo_bar-1.0-py3-none-any.whl.metadata": {"sha256": SHA, "size": 0},
            "web/simple/foo-bar/index.html": {"sha256": SHA, "size": 100},
            "web/simple/foo-bar/index.v1_html": {"sha256": SHA, "size": 100},
            "web/simple/foo-bar/index.v1_json": {"sha256": SHA, "size": 100},
            "web/pypi/foo-bar/json": {"sha256": SHA, "size": 100},
        },
    }


def test_a_good_manifest_becomes_a_typed_value() -> None:
    manifest = parse_manifest(json.dumps(good()).encode())
    assert manifest == Manifest(
        mirror="0f8fad5b-d9cb-469f-a165-70867728950e",
        start=10,
        to=20,
        projects={"foo": 12, "foo-bar": 20, "a": 0},
        changed=("foo-bar",),
        members={name: Member(SHA, entry["size"]) for name, entry in good()["members"].items()},
    )


def test_an_empty_bundle_of_an_empty_mirror_is_well_formed() -> None:
    """The guard, not the validator, decides whether an empty project list may delete anything."""
    manifest = check_manifest({**good(), "from": 0, "to": 0, "projects": {}, "changed": [], "members": {}})
    assert manifest.projects == {} and manifest.start == manifest.to == 0


def edit(**changes: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda m: {**m, **changes}


def member(name: str, value: Any) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda m: {**m, "members": {**m["members"], name: value}}


def without(key: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda m: {k: v for k, v in m.items() if k != key}


FILE = "web/packages/ab/cd/ef/x-1.0.tar.gz"
BAD = {
    "not an object": lambda m: [m],
    "format missing": without("format"),
    "format 2": edit(format=2),
    "format True": edit(format=True),
    "format '1'": edit(format="1"),
    "extra key": edit(signature="x"),
    "mirror empty": edit(mirror=""),
    "mirror with newline": edit(mirror="abc\n"),
    "mirror a number": edit(mirror=5),
    "from negative": edit(**{"from": -1}),
    "to negative": edit(to=-5),
    "to before from": edit(to=9),
    "from True": edit(**{"from": True}),
    "to False": edit(to=False),
    "from a float": edit(**{"from": 10.0}),
    "from a string": edit(**{"from": "10"}),
    "to null": edit(to=None),
    "projects a list": edit(projects=["foo"]),
    "project serial string": edit(projects={"foo": "12", "foo-bar": 20}),
    "project serial negative": edit(projects={"foo": -12, "foo-bar": 20}),
    "project serial bool": edit(projects={"foo": True, "foo-bar": 20}),
    "project serial float": edit(projects={"foo": 1.5, "foo-bar": 20}),
    "project name upper": edit(projects={"Foo": 1, "foo-bar": 20}),
    "project name underscore": edit(projects={"foo_x": 1, "foo-bar": 20}),
    "project name dot": edit(projects={"foo.x": 1, "foo-bar": 20}),
    "project name double dash": edit(projects={"foo--x": 1, "foo-bar": 20}),
    "project name trailing newline": edit(projects={"foo\n": 1, "foo-bar": 20}),
    "project name leading dash": edit(projects={"-foo": 1, "foo-bar": 20}),
    "project name empty": edit(projects={"": 1, "foo-bar": 20}),
    "project name path": edit(projects={"../x": 1, "foo-bar": 20}),
    "project name space": edit(projects={"foo bar": 1, "foo-bar": 20}),
    "project name non-ascii": edit(projects={"fóo": 1, "foo-bar": 20}),
    "changed a string": edit(changed="foo-bar"),
    "changed holds a number": edit(changed=["foo-bar", 3]),
    "changed holds null": edit(changed=[None]),
    "changed twice": edit(changed=["foo-bar", "foo-bar"]),
    "changed not a project": edit(changed=["foo-bar", "ghost"]),
    "changed not normalized": edit(changed=["Foo-Bar"]),
    "changed trailing newline": edit(changed=["foo-bar\n"]),
    "members a list": edit(members=[]),
    "member no size": member(FILE, {"sha256": SHA}),
    "member no sha256": member(FILE, {"size": 1}),
    "member extra key": member(FILE, {"sha256": SHA, "size": 1, "md5": "x"}),
    "member size string": member(FILE, {"sha256": SHA, "size": "1"}),
    "member size negative": member(FILE, {"sha256": SHA, "size": -1}),
    "member size bool": member(FILE, {"sha256": SHA, "size": True}),
    "member size float": member(FILE, {"sha256": SHA, "size": 1.0}),
    "member sha256 short": member(FILE, {"sha256": "ab", "size": 1}),
    "member sha256 upper": member(FILE, {"sha256": SHA.upper(), "size": 1}),
    "member sha256 not hex": member(FILE, {"sha256": "g" * 64, "size": 1}),
    "member sha256 newline": member(FILE, {"sha256": SHA + "\n", "size": 1}),
    "member entry a list": member(FILE, [SHA, 1]),
    "member dotdot": member("web/packages/../../status", {"sha256": SHA, "size": 1}),
    "member absolute": member("/web/packages/x", {"sha256": SHA, "size": 1}),
    "member outside web": member("status", {"sha256": SHA, "size": 1}),
    "member web other": member("web/last-modified", {"sha256": SHA, "size": 1}),
    "member global index": member("web/simple/index.html", {"sha256": SHA, "size": 1}),
    "member odd page": member("web/simple/foo-bar/evil.html", {"sha256": SHA, "size": 1}),
    "member deep page": member("web/simple/foo-bar/x/index.html", {"sha256": SHA, "size": 1}),
    "member page folder upper": member("web/simple/Foo-Bar/index.html", {"sha256": SHA, "size": 1}),
    "member page folder underscore": member("web/simple/foo_bar/index.html", {"sha256": SHA, "size": 1}),
    "member page not changed": member("web/simple/foo/index.html", {"sha256": SHA, "size": 1}),
    "member json copy not changed": member("web/pypi/foo/json", {"sha256": SHA, "size": 1}),
    "member packages folder only": member("web/packages", {"sha256": SHA, "size": 1}),
    "member empty part": member("web/packages//x", {"sha256": SHA, "size": 1}),
    "member dot part": member("web/packages/./x", {"sha256": SHA, "size": 1}),
    "member backslash": member("web/packages/a\\b", {"sha256": SHA, "size": 1}),
    "member nul": member("web/packages/a\x00b", {"sha256": SHA, "size": 1}),
    "member newline": member("web/packages/a\nb", {"sha256": SHA, "size": 1}),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_manifest_is_refused_in_one_line(case: str) -> None:
    with pytest.raises(BundleRefused) as caught:
        parse_manifest(json.dumps(BAD[case](good())).encode())
    message = str(caught.value)
    assert "\n" not in message and message.endswith("the mirror is unchanged")


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[" * 50_000 + b"]" * 50_000, "not JSON"),  # deeper than the parser's recursion
        (b'{"format": 1, "format": 1}', "appears twice"),
        (json.dumps(good())[:-1].encode() + b', "to": 0}', "appears twice"),
        (b"1e999999", "not a JSON object"),
        (b"NaN", "not a JSON object"),
    ],
)
def test_bytes_that_are_no_manifest(data: bytes, says: str) -> None:
    with pytest.raises(BundleRefused, match=says):
        parse_manifest(data)


@pytest.mark.parametrize(
    ("name", "valid"),
    [("a", True), ("foo-bar", True), ("f00", True), ("0", True), ("Foo", False), ("foo_bar", False),
     ("foo.bar", False), ("foo--bar", False), ("foo-", False), ("-foo", False), ("", False),
     ("foo\n", False), ("foo/bar", False), (".", False), ("..", False), (5, False), (None, False)],
)  # fmt: skip
def test_valid_project_name(name: object, valid: bool) -> None:
    assert valid_project_name(name) is valid


@pytest.mark.parametrize(
    ("path", "place"),
    [
        ("web/packages/ab/x.whl", ("file", "")),
        ("web/packages/x.whl", ("file", "")),
        ("web/simple/foo/index.html", ("page", "foo")),
        ("web/simple/foo/index.v1_html", ("page", "foo")),
        ("web/simple/foo/index.v1_json", ("page", "foo")),
        ("web/pypi/foo/json", ("page", "foo")),
    ],
)
def test_member_paths_import_writes(path: str, place: tuple[str, str]) -> None:
    assert check_member_path(path) == place


# ---------------------------------------------------------------------------------- properties
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)
KEYS = ("format", "mirror", "from", "to", "projects", "changed", "members")


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(JSONISH)
def test_any_json_value_is_a_manifest_or_refused(value: object) -> None:
    try:
        assert isinstance(check_manifest(value), Manifest)
    except BundleRefused:
        pass


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(KEYS), JSONISH)
def test_any_value_in_any_field_of_a_good_manifest_is_valid_or_refused(key: str, value: object) -> None:
    """Near misses: a good manifest with one field replaced by anything at all."""
    try:
        manifest = check_manifest({**good(), key: value})
    except BundleRefused:
        return
    assert type(manifest.start) is int and type(manifest.to) is int and 0 <= manifest.start <= manifest.to
    assert all(valid_project_name(name) and type(serial) is int and serial >= 0 for name, serial in manifest.projects.items())
    assert set(manifest.changed) <= set(manifest.projects)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_any_bytes_are_a_manifest_or_refused(data: bytes) -> None:
    try:
        parse_manifest(data)
    except BundleRefused:
        pass


@settings(max_examples=1500)
@given(st.text(max_size=40))
def test_any_member_path_is_placed_safely_or_refused(path: str) -> None:
    try:
        kind, project = check_member_path(path)
    except BundleRefused:
        return
    parts = path.split("/")
    assert parts[0] == "web" and ".." not in parts and "" not in parts and not path.startswith("/")
    assert kind == "file" or valid_project_name(project)


@settings(max_examples=1000)
@given(
    st.dictionaries(st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True), st.integers(0, 10**12), max_size=6),
    st.integers(0, 10**12),
    st.integers(0, 10**12),
)
def test_well_formed_manifests_are_accepted(projects: dict[str, int], start: int, span: int) -> None:
    """The validator must not refuse what export writes: any normalized names, any serials in order."""
    names = [name for name in projects if "--" not in name]
    kept = {name: projects[name] for name in names}
    changed = sorted(kept)[: len(kept) // 2]
    members = {f"web/simple/{name}/index.html": {"sha256": SHA, "size": 1} for name in changed}
    manifest = check_manifest({**good(), "from": start, "to": start + span, "projects": kept,
                               "changed": changed, "members": members})  # fmt: skip
    assert manifest.projects == kept and manifest.changed == tuple(changed)
