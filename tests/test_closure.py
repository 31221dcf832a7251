"""The dependency closure and the installable-file selector, as tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bandersnatch.subset.closure import (
    DependencySettings,
    bad_requirements,
    closure,
    environments,
    installable,
    requires_dist,
)

GRAPH: dict[str, dict[str, list[str]]] = {
    "app": {
        "1.0": ["lib>=1", 'winonly; sys_platform == "win32"', 'old; python_version < "3.10"',
                'extra-dep; extra == "fast"', "withextras[speed]"],
        "2.0rc1": ["lib>2"],
    },
    "lib": {"0.9": [], "1.0": ["app"], "2.0": [], "3.0b1": []},
    "winonly": {"1": []},
    "old": {"1": []},
    "extra-dep": {"1": []},
    "withextras": {"1": ['speedup; extra == "speed"', 'slow; extra == "other"']},
    "speedup": {"1": ['patched; python_full_version >= "3.12.4"']},
    "patched": {"1": []},
    "slow": {"1": []},
    "pre": {"1.0a1": [], "1.0a2": []},
    "needs-pre": {"1": ["pre"]},
    "needs-pre-pin": {"1": ["lib>=3.0b1"]},
}


def fetch(project: str) -> Mapping[str, Sequence[str]]:
    return GRAPH.get(project, {})


def deps(pythons: str = "3.12", platforms: str = "linux-x86_64", extras: bool = False) -> DependencySettings:
    return DependencySettings(True, tuple(pythons.split()), tuple(platforms.split()), extras)


CORE = {"app": {"1.0", "2.0rc1"}, "lib": {"1.0", "2.0", "3.0b1"}, "withextras": {"1"}, "speedup": {"1"},
        "patched": {"1"}}


@pytest.mark.parametrize(
    ("roots", "settings", "expected"),
    [
        # lib>=1 keeps final releases only; lib>2 matches no final release, so its prerelease is kept
        (["app"], deps(), CORE),
        (["app"], deps(platforms="linux-x86_64 windows-amd64"), {**CORE, "winonly": {"1"}}),
        (["app"], deps(pythons="3.9 3.12"), {**CORE, "old": {"1"}}),
        (["app"], deps(extras=True), {**CORE, "extra-dep": {"1"}}),
        (["app==1.0"], deps(), {"app": {"1.0"}, "lib": {"1.0", "2.0"}, "withextras": {"1"}, "speedup": {"1"},
                                "patched": {"1"}}),
        (["app[fast]==1.0"], deps(), {"app": {"1.0"}, "lib": {"1.0", "2.0"}, "withextras": {"1"},
                                      "speedup": {"1"}, "patched": {"1"}, "extra-dep": {"1"}}),
        (["needs-pre"], deps(), {"needs-pre": {"1"}, "pre": {"1.0a1", "1.0a2"}}),  # only prereleases exist
        (["needs-pre-pin"], deps(), {"needs-pre-pin": {"1"}, "lib": {"3.0b1"}}),  # the specifier admits it
        (["pre"], deps(), {"pre": {"1.0a1", "1.0a2"}}),  # a root keeps what the release filters kept
        # a cycle back to app, whose prerelease a dependency does not take
        (["Lib==1.0"], deps(), {"lib": {"1.0", "2.0"}, "app": {"1.0"}, "withextras": {"1"},
                                "speedup": {"1"}, "patched": {"1"}}),
        (["missing"], deps(), {"missing": set()}),
    ],
)
def test_closure(roots: list[str], settings: DependencySettings, expected: dict[str, set[str]]) -> None:
    result = closure([Requirement(r) for r in roots], fetch, settings)
    assert {name: set(versions) for name, versions in result.items()} == expected


def test_full_version_markers_see_late_patch_releases() -> None:
    result = closure([Requirement("speedup")], fetch, deps(pythons="3.12"))
    assert "patched" in result
    assert "patched" not in closure([Requirement("speedup")], fetch, deps(pythons="3.11"))


def test_each_project_is_fetched_once() -> None:
    calls: list[str] = []

    def counting(project: str) -> Mapping[str, Sequence[str]]:
        calls.append(project)
        return fetch(project)

    closure([Requirement("app"), Requirement("lib")], counting, deps(platforms="linux-x86_64 windows-amd64"))
    assert sorted(calls) == sorted(set(calls))


@pytest.mark.parametrize(
    ("platforms", "filename", "ok"),
    [
        ("linux-x86_64", "x-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", True),
        ("linux-x86_64", "x-1-cp311-cp311-manylinux1_x86_64.whl", True),
        ("linux-x86_64", "x-1-cp311-cp311-manylinux_2_39_x86_64.whl", True),
        ("linux-x86_64", "x-1-cp38-abi3-manylinux_2_17_x86_64.whl", True),
        ("linux-x86_64", "x-1-cp311-cp311-musllinux_1_2_x86_64.whl", False),
        ("linux-x86_64", "x-1-cp311-cp311-manylinux_2_17_aarch64.whl", False),
        ("linux-x86_64", "x-1-cp312-cp312-manylinux_2_17_x86_64.whl", False),
        ("linux-x86_64", "x-1-pp310-pypy310_pp73-manylinux_2_17_x86_64.whl", False),
        ("linux-x86_64", "x-1-cp311-cp311-linux_x86_64.whl", False),
        ("linux-aarch64", "x-1-cp311-cp311-manylinux2014_aarch64.whl", True),
        ("musllinux-x86_64", "x-1-cp311-cp311-musllinux_1_1_x86_64.whl", True),
        ("musllinux-x86_64", "x-1-cp311-cp311-manylinux_2_17_x86_64.whl", False),
        ("windows-amd64", "x-1-cp311-cp311-win_amd64.whl", True),
        ("windows-amd64", "x-1-cp311-cp311-win32.whl", False),
        ("macos-arm64", "x-1-cp311-cp311-macosx_11_0_arm64.whl", True),
        ("macos-arm64", "x-1-cp311-cp311-macosx_10_9_universal2.whl", True),
        ("macos-arm64", "x-1-cp311-cp311-macosx_10_9_x86_64.whl", False),
        ("macos-x86_64", "x-1-cp311-cp311-macosx_10_9_x86_64.whl", True),
        ("windows-amd64", "x-1-py3-none-any.whl", True),
        ("windows-amd64", "x-1-py2.py3-none-any.whl", True),
        ("windows-amd64", "x-1-py2-none-any.whl", False),
        ("windows-amd64", "x-1.tar.gz", True),
        ("windows-amd64", "x-1.zip", True),
        ("windows-amd64", "x-1.win-amd64-py2.7.exe", False),
        ("windows-amd64", "x-1-py2.7.egg", False),
        ("windows-amd64", "not a wheel.whl", False),
    ],
)
def test_installable(platforms: str, filename: str, ok: bool) -> None:
    assert installable(filename, environments(deps(pythons="3.11", platforms=platforms))) is ok


def test_free_threaded_wheels_from_313() -> None:
    name = "x-1-cp313-cp313t-manylinux_2_17_x86_64.whl"
    assert installable(name, environments(deps(pythons="3.13")))
    assert not installable(name.replace("313", "312"), environments(deps(pythons="3.12")))


def test_requires_dist_from_core_metadata() -> None:
    text = ("Metadata-Version: 2.1\nName: app\nVersion: 1.0\nRequires-Dist: lib>=1\n"
            'Requires-Dist: extra-dep; extra == "fast"\nProvides-Extra: fast\n\nlong description\nRequires-Dist: no\n')
    assert requires_dist(text) == ("lib>=1", 'extra-dep; extra == "fast"')
    assert requires_dist("Metadata-Version: 2.1\nName: x\n") == ()


def test_the_corpus_wheels_feed_the_closure() -> None:
    """End to end over real wheel bytes: METADATA -> requires_dist -> closure -> installable files."""
    import io
    import zipfile

    from packaging.utils import parse_wheel_filename

    from .corpus_deps import add_dependency_corpus
    from .pypi_master import PyPIMaster

    with PyPIMaster() as master:
        add_dependency_corpus(master)

        def releases(project: str) -> dict[str, list[str]]:
            found: dict[str, list[str]] = {}
            for entry in master.files(project):
                if entry["filename"].endswith(".whl"):
                    version = str(parse_wheel_filename(entry["filename"])[1])
                    with zipfile.ZipFile(io.BytesIO(master.file_content(entry["url"]))) as wheel:
                        metadata = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
                        found[version] = list(requires_dist(wheel.read(metadata).decode()))
            return found

        settings = deps(pythons="3.12", platforms="linux-x86_64 windows-amd64")
        result = closure([Requirement("webapp")], releases, settings)
        files = [e["filename"] for name in result for e in master.files(name)]
    assert {name: set(v) for name, v in result.items()} == {
        "webapp": {"1.0", "2.0b1"}, "framework": {"2.0", "3.0b1"}, "helpers": {"1.2", "2.0"},
        "cryptolib": {"41.0"}, "colorama": {"0.4.6"},
    }
    wheels = {f for f in files if f.endswith(".whl") and installable(f, environments(settings))}
    assert {f.split("-")[-1] for f in wheels if "cp" in f} == {
        "manylinux_2_17_x86_64.manylinux2014_x86_64.whl", "win_amd64.whl"}
    assert all("-cp312-" in f for f in wheels if "cp" in f)


# Lines any maintainer can publish: unparseable, or parseable with a marker packaging cannot evaluate.
HOSTILE_LINES = [
    'foo; python_version >= "3" and',
    "foo; extra == ",
    "bar (>=1.0",
    'foo; os_name === "x"',
    'foo; python_version ~= "3"',
    "foo; 'a' < 'b'",
    "foo; " + "(" * 1500 + 'os_name == "posix"' + ")" * 1500,  # packaging's parser recurses per parenthesis
]


@pytest.mark.parametrize("line", [*HOSTILE_LINES, 'baz; python_full_version > "3.x.y"'], ids=lambda line: line[:40])
def test_a_bad_requirement_needs_nothing_and_the_others_still_count(line: str) -> None:
    graph = {"app": {"1": [line, "lib", "foo-extra; extra == 'x'"]}, "lib": {"1": []}, "foo": {"1": []},
             "bar": {"1": []}, "baz": {"1": []}}  # fmt: skip
    result = closure([Requirement("app")], lambda name: graph.get(name, {}), deps(platforms="linux-x86_64 windows-amd64"))
    assert {name: set(versions) for name, versions in result.items()} == {"app": {"1"}, "lib": {"1"}}


@pytest.mark.parametrize("line", HOSTILE_LINES, ids=lambda line: line[:40])
def test_bad_requirements_are_named_with_a_reason(line: str) -> None:
    envs = environments(deps(platforms="linux-x86_64 windows-amd64"))
    found = bad_requirements(["lib>=1", line, 'win; sys_platform == "win32"', 'x; extra == "a"'], envs)
    assert [bad for bad, _ in found] == [line]
    assert all(reason and "\n" not in reason for _, reason in found)


def test_a_marker_that_raises_invalid_version_needs_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Older packaging raises InvalidVersion for `python_full_version > "3.x.y"`; 26 compares strings."""
    from packaging.markers import Marker
    from packaging.version import InvalidVersion

    real = Marker.evaluate

    def evaluate(self: Marker, environment: object = None) -> bool:
        if "3.x.y" in str(self):
            raise InvalidVersion("Invalid version: '3.x.y'")
        return real(self, environment)  # type: ignore[arg-type]

    monkeypatch.setattr(Marker, "evaluate", evaluate)
    line = 'baz; python_full_version > "3.x.y"'
    graph = {"app": {"1": [line, 'lib; os_name == "posix"']}, "lib": {"1": []}, "baz": {"1": []}}
    result = closure([Requirement("app")], lambda name: graph.get(name, {}), deps())
    assert set(result) == {"app", "lib"}
    assert bad_requirements([line], environments(deps())) == [
        (line, "its marker cannot be evaluated: InvalidVersion Invalid version: '3.x.y'")]


# Property tests: Requires-Dist is whatever a publisher wrote, so no text may stop a closure.
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_NAMES = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,8}[A-Za-z0-9])?", fullmatch=True)
_VERSIONS = st.one_of(st.from_regex(r"[0-9]{1,3}(\.[0-9x*]{1,3}){0,3}((a|b|rc|\.post|\.dev)[0-9])?", fullmatch=True),
                      st.text(max_size=6))  # fmt: skip
_OPS = st.sampled_from(["==", "!=", "<", "<=", ">", ">=", "~=", "===", "in", "not in", "=", ""])
_VARIABLES = st.sampled_from(["python_version", "python_full_version", "os_name", "sys_platform", "platform_release",
                              "platform_machine", "implementation_name", "extra", "platform_version", "nonsense"])  # fmt: skip
_QUOTED = st.builds(lambda quote, value: f"{quote}{value}{quote}", st.sampled_from(["'", '"', ""]), _VERSIONS)


@st.composite
def _markers(draw: st.DrawFn, depth: int = 0) -> str:
    left = draw(st.one_of(_VARIABLES, _QUOTED))
    right = draw(st.one_of(_QUOTED, _VARIABLES))
    marker = f"{left} {draw(_OPS)} {right}"
    if depth < 3 and draw(st.booleans()):
        marker = f"{marker} {draw(st.sampled_from(['and', 'or', 'and (', ')']))} {draw(_markers(depth + 1))}"
    return f"({marker})" if draw(st.booleans()) else marker


@st.composite
def _requirement_lines(draw: st.DrawFn) -> str:
    line = draw(_NAMES)
    if draw(st.booleans()):
        line += "[" + ",".join(draw(st.lists(_NAMES, max_size=3))) + draw(st.sampled_from(["]", ""]))
    if draw(st.booleans()):
        specifiers = draw(st.lists(st.builds("{}{}".format, _OPS, _VERSIONS), max_size=3))
        line += draw(st.sampled_from([" ", " (", ""])) + ",".join(specifiers) + draw(st.sampled_from(["", ")"]))
    if draw(st.booleans()):
        line += draw(st.sampled_from(["; ", ";", " ; "])) + draw(_markers())
    if draw(st.booleans()):  # cut it anywhere: truncated and half-written lines
        line = line[: draw(st.integers(0, len(line)))]
    return line


_LINES = st.lists(st.one_of(st.text(max_size=60), _requirement_lines()), max_size=6)
_ALL_ENVS = deps(pythons="3.9 3.13", platforms="linux-x86_64 windows-amd64 macos-arm64", extras=True)
PROPERTY_EXAMPLES = 600  # per test below; the report in the commit counts them


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=_LINES, more=_LINES)
def test_no_requires_dist_text_stops_a_closure(lines: list[str], more: list[str]) -> None:
    graph = {"app": {"1": lines}, "lib": {"1": more, "2": lines}}
    fetched = closure([Requirement("app"), Requirement("lib")], lambda name: graph.get(name, {"1": more}), _ALL_ENVS)
    assert all(canonicalize_name(name) == name for name in fetched)
    assert {"app", "lib"} <= set(fetched)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(lines=_LINES)
def test_bad_requirements_never_raises_and_names_only_given_lines(lines: list[str]) -> None:
    found = bad_requirements(lines, environments(_ALL_ENVS))
    assert all(line in lines and reason and "\n" not in reason for line, reason in found)


@settings(max_examples=PROPERTY_EXAMPLES, deadline=None)
@given(text=st.text(max_size=300), lines=_LINES)
def test_requires_dist_reads_any_text(text: str, lines: list[str]) -> None:
    assert all(isinstance(line, str) for line in requires_dist(text))
    metadata = "Metadata-Version: 2.1\nName: x\n" + "".join(f"Requires-Dist: {line}\n" for line in lines)
    assert all(isinstance(line, str) for line in requires_dist(metadata))


def test_a_wheel_name_with_a_bad_version_is_not_installable(monkeypatch: pytest.MonkeyPatch) -> None:
    """packaging 22-25's parse_wheel_filename raises InvalidVersion for `x-1.x-py3-none-any.whl`."""
    from packaging.version import InvalidVersion, Version

    import bandersnatch.subset.closure

    def old_parse(filename: str) -> object:
        Version(filename.split("-")[1])
        raise AssertionError("only bad versions are passed here")

    monkeypatch.setattr(bandersnatch.subset.closure, "parse_wheel_filename", old_parse)
    with pytest.raises(InvalidVersion):
        old_parse("x-1.x-py3-none-any.whl")
    assert not installable("x-1.x-py3-none-any.whl", environments(deps()))


@pytest.mark.parametrize(("specifier", "expected"), [("", {"1.0", "2.0", "1.0.linux"}), (">=1.5", {"2.0"})])
def test_unparseable_versions_as_packaging_26_treats_them_on_older_packaging(specifier: str, expected: set[str]) -> None:
    """packaging 22-25's SpecifierSet.filter raised InvalidVersion for a version such as 1.0.linux."""
    from packaging.specifiers import SpecifierSet
    from packaging.version import Version

    from bandersnatch.subset.closure import _select

    class OldSpecifierSet(SpecifierSet):
        def filter(self, iterable, prereleases=None):  # type: ignore[no-untyped-def,override]
            items = list(iterable)
            for item in items:
                Version(item)  # raises InvalidVersion, as packaging before 26
            return super().filter(items, prereleases)

    versions = ["1.0", "2.0", "1.0.linux"]
    assert _select(OldSpecifierSet(specifier), versions) == _select(SpecifierSet(specifier), versions) == expected
