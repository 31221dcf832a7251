"""The filter sections read from a configuration: upstream's spellings, our [dependencies], every error."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

from bandersnatch.subset.config import SubsetSettings, read_subset_settings
from bandersnatch.subset.filters import PLUGINS


def read(text: str, base: Path = Path("/nonexistent")) -> tuple[SubsetSettings, list[str]]:
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
    parser.read_string(text)
    errors: list[str] = []
    return read_subset_settings(parser, base, errors), errors


def test_nothing_configured_filters_nothing() -> None:
    subset, errors = read("[mirror]\ndirectory = /srv\n")
    assert (subset, errors) == (SubsetSettings(), [])


@pytest.mark.parametrize(
    ("text", "enabled"),
    [
        ("[plugins]\nenabled = all\n", set(PLUGINS)),
        ("[plugins]\nenabled =\n    allowlist_project\n    latest_release\n", {"allowlist_project", "latest_release"}),
        ("[plugins]\nenabled = whitelist_project, blacklist_release\n", {"allowlist_project", "blocklist_release"}),
        ("[plugins]\nenabled = regex_project_metadata\n", set()),  # upstream's, not built: a warning
    ],
)
def test_plugins(text: str, enabled: set[str]) -> None:
    subset, errors = read(text)
    assert (set(subset.filters.enabled), errors) == (enabled, [])


def test_upstream_example(tmp_path: Path) -> None:
    (tmp_path / "reqs").mkdir()
    (tmp_path / "reqs" / "requirements-a.txt").write_text("Django==4.2\n")
    (tmp_path / "reqs" / "requirements-b.txt").write_text("flask\n")
    subset, errors = read(
        """
[plugins]
enabled = all
[whitelist]
packages =
    black==18.5   # a comment
    ptr
requirements_path = reqs
requirements =
    requirements-*.txt
[blacklist]
packages = example1
platforms = windows py2.7
[filter_regex]
packages = .+-evil$
releases =
    .+alpha\\d$
[filter_prerelease]
packages = Duck_DB
[latest_release]
keep = 3
sort_by = time
[size_project_metadata]
max_package_size = 1.5G
""",
        tmp_path,
    )
    assert errors == []
    filters = subset.filters
    assert [str(r) for r in filters.allowlist] == ["black==18.5", "ptr"]
    assert [str(r) for r in filters.requirements] == ["Django==4.2", "flask"]
    assert [str(r) for r in filters.blocklist] == ["example1"]
    assert filters.platforms == ("windows", "py2.7")
    assert [p.pattern for p in filters.project_patterns + filters.release_patterns] == [".+-evil$", r".+alpha\d$"]
    assert filters.prerelease_projects == {"duck-db"}
    assert (filters.latest_keep, filters.latest_sort_by) == (3, "time")
    assert filters.max_package_size == int(1.5 * 1024**3)
    assert [str(r) for r in subset.roots] == ["black==18.5", "ptr", "Django==4.2", "flask"]


@pytest.mark.parametrize(
    ("value", "size"), [("1000", 1000), ("1K", 1024), ("2 MiB", 2 * 1024**2), ("1GB", 1024**3), ("1t", 1024**4)]
)
def test_sizes(value: str, size: int) -> None:
    subset, errors = read(f"[size_project_metadata]\nmax_package_size = {value}\n")
    assert (subset.filters.max_package_size, errors) == (size, [])


def test_dependencies(tmp_path: Path) -> None:
    subset, errors = read(
        "[allowlist]\npackages = flask\n[dependencies]\nenabled = true\npython-versions = 3.11 3.12\n"
        "platforms = linux-x86_64 macos-arm64\nextras = yes\n"
    )
    assert errors == []
    assert subset.dependencies.enabled and subset.dependencies.extras
    assert subset.dependencies.python_versions == ("3.11", "3.12")
    assert subset.dependencies.platforms == ("linux-x86_64", "macos-arm64")


def test_every_error_is_collected_one_line_each(tmp_path: Path) -> None:
    _, errors = read(
        """
[plugins]
enabled = allowlist_project project_requirements bogus
[allowlist]
packages =
    fine
    bad>=>1
requirements = missing.txt
[blocklist]
platforms = windows linx
[filter_regex]
packages = (
[latest_release]
keep = -1
sort_by = size
[size_project_metadata]
max_package_size = lots
[dependencies]
enabled = maybe
python_versions = 3.x
platforms = vms
""",
        tmp_path,
    )
    assert all("\n" not in error for error in errors)
    assert [error.split(":")[0].split(" =")[0] for error in errors] == [
        "[plugins] enabled",
        "[dependencies] enabled",
        "[dependencies] python_versions",
        "[dependencies] platforms",
        "[allowlist] packages",
        "[allowlist] requirements",
        "[filter_regex] packages",
        "[latest_release] keep",
        "[latest_release] sort_by",
        "[blocklist] platforms",
        "[size_project_metadata] max_package_size",
    ]
    assert "'bogus'" in errors[0] and "'linx'" in errors[9]


def test_dependencies_need_roots() -> None:
    _, errors = read("[dependencies]\nenabled = true\n")
    assert errors == ["[dependencies] enabled = true needs [allowlist] packages or requirements to start from"]


def test_keys_canonicalized_by_the_main_reader_are_found() -> None:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = lambda key: key.lower().replace("_", "-")  # type: ignore[assignment,method-assign]
    parser.read_string("[latest_release]\nkeep = 2\nsort_by = time\n")
    subset = read_subset_settings(parser, Path("/"), [])
    assert (subset.filters.latest_keep, subset.filters.latest_sort_by) == (2, "time")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[filter_regex]\npackages = a{99999999999}\n",
         "[filter_regex] packages: 'a{99999999999}' is not a valid regular expression: "),
        ("[filter_regex]\nreleases = " + "(" * 2000 + "\n", "[filter_regex] releases: '((((("),
        ("[size_project_metadata]\nmax_package_size = 12XB\n", "max_package_size = '12XB': expected bytes or a size"),
        ("[size_project_metadata]\nmax_package_size = -5\n", "max_package_size = '-5': expected bytes or a size"),
        ("[size_project_metadata]\nmax_package_size = 1e999\n", "max_package_size = '1e999': expected bytes"),
        ("[size_project_metadata]\nmax_package_size = " + "9" * 400 + "P\n", "expected bytes or a size"),
        ("[size_project_metadata]\nmax_package_size = \u0663\n", "expected bytes or a size"),  # an Arabic-Indic 3
        ("[latest_release]\nkeep = -1\n", "[latest_release] keep = '-1': expected a whole number from 0 to 999999999"),
        ("[latest_release]\nkeep = abc\n", "keep = 'abc': expected a whole number"),
        ("[latest_release]\nkeep = 1e999\n", "keep = '1e999': expected a whole number"),
        ("[latest_release]\nkeep = \u00b2\n", "keep = '\u00b2': expected a whole number"),  # superscript 2: isdigit()
        ("[latest_release]\nkeep = " + "9" * 5000 + "\n", "expected a whole number from 0 to 999999999"),
        ("[blocklist]\nplatforms = manylinux_1_2_x[\n", "unknown platform 'manylinux_1_2_x['"),
        ("[allowlist]\npackages = foo==>1\n", "[allowlist] packages: 'foo==>1' is not a valid requirement"),
        ("[allowlist]\npackages = foo[bar\n", "[allowlist] packages: 'foo[bar' is not a valid requirement"),
        ("[allowlist]\npackages = foo; " + "(" * 1500 + "\n", "is not a valid requirement: "),  # ours, or newer packaging's own nesting limit
        ("[dependencies]\nenabled = true\npython-versions = 3.\u0663\n[allowlist]\npackages = a\n",
         "[dependencies] python_versions = '3.\u0663': expected versions such as 3.11"),
    ],
    ids=lambda value: value[:40],
)
def test_bad_values_are_one_line_each(text: str, message: str) -> None:
    _, errors = read(text)
    assert len(errors) == 1 and message in errors[0] and "\n" not in errors[0]


REQUIREMENTS = "[plugins]\nenabled = project_requirements\n[allowlist]\npackages = foo\n"


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ("requirements = a\x00.txt\n", r"[allowlist] requirements: 'a\x00.txt': a control character (\x00) in a path"),
        ("requirements = a\x00*.txt\n", r"[allowlist] requirements: 'a\x00*.txt': a control character (\x00)"),
        ("requirements_path = r\x1b\nrequirements = ok.txt\n", r"[allowlist] requirements_path = 'r\x1b': a control"),
        ("requirements = ***\n", "[allowlist] requirements: '***': "),
        ("requirements = missing-*.txt\n", "[allowlist] requirements: 'missing-*.txt' matches no file in"),
        ("requirements = folder.txt\n", "cannot read requirements file"),
        ("requirements = uv.lock\n", "uv.lock: 'package' must be an array of tables, not a string"),
    ],
    ids=lambda value: value[:30],
)
def test_bad_requirement_files_are_one_line_each(tmp_path: Path, lines: str, message: str) -> None:
    (tmp_path / "folder.txt").mkdir()
    (tmp_path / "ok.txt").write_text("ok\n")
    (tmp_path / "uv.lock").write_text('package = "x"\n')
    _, errors = read(REQUIREMENTS + lines, tmp_path)
    assert any(message in error for error in errors), errors
    assert all("\n" not in error for error in errors)


def test_globs_take_files_and_may_be_absolute(tmp_path: Path) -> None:
    (tmp_path / "requirements-old.txt").mkdir()  # a folder a glob matches is not a requirements file
    (tmp_path / "requirements-a.txt").write_text("a\n")
    subset, errors = read(REQUIREMENTS + f"requirements =\n    requirements-*.txt\n    {tmp_path}/requirements-*.txt\n",
                          tmp_path)  # fmt: skip
    assert errors == [] and [str(r) for r in subset.filters.requirements] == ["a", "a"]
