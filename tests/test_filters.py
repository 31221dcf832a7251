"""Upstream's filter plugins, one table per plugin, as upstream's "Mirror filtering" describes them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from packaging.requirements import Requirement

from bandersnatch.model import ReleaseFile
from bandersnatch.subset.filters import (
    FilterSettings,
    platform_rules,
    project_allowed,
    release_version,
    select_files,
)


def settings(*plugins: str, **values: Any) -> FilterSettings:
    for key in ("allowlist", "blocklist", "requirements"):
        if key in values:
            values[key] = tuple(Requirement(line) for line in values[key])
    for key in ("project_patterns", "release_patterns"):
        if key in values:
            values[key] = tuple(re.compile(p) for p in values[key])
    return FilterSettings(enabled=frozenset(plugins), **values)


def files(*names: str, size: int = 10) -> list[ReleaseFile]:
    return [ReleaseFile(name, f"https://files/packages/{name}", "0" * 64, size=size) for name in names]


def kept(config: FilterSettings, project: str, names: list[str], **kwargs: Any) -> list[str]:
    return [f.filename for f in select_files(config, project, files(*names), **kwargs)]


RELEASES = ["foo-1.0.tar.gz", "foo-1.5.tar.gz", "foo-2.0b1.tar.gz", "foo-2.0.tar.gz", "foo-2.0-py3-none-any.whl"]


@pytest.mark.parametrize(
    ("config", "name", "allowed"),
    [
        (settings(), "anything", True),
        (settings("allowlist_project", allowlist=["Foo.Bar", "black==18.5"]), "foo-bar", True),
        (settings("allowlist_project", allowlist=["Foo.Bar", "black==18.5"]), "BLACK", True),
        (settings("allowlist_project", allowlist=["Foo.Bar"]), "other", False),
        (settings("allowlist_project"), "other", True),  # an empty allowlist filters nothing
        (settings(allowlist=["foo"]), "other", True),  # listed but the plugin is not enabled
        (settings("blocklist_project", blocklist=["Evil_Pkg"]), "evil.pkg", False),
        (settings("blocklist_project", blocklist=["evil>=2"]), "evil", True),  # a range is a release filter
        (settings("blocklist_project", blocklist=["evil[x]"]), "evil", True),  # upstream: bare names only
        (settings("regex_project", project_patterns=[r".+-evil$"]), "very-evil", False),
        (settings("regex_project", project_patterns=[r".+-evil$"]), "evil", True),
        (settings("project_requirements", requirements=["Django==4.2"]), "django", True),
        (settings("project_requirements", requirements=["Django==4.2"]), "flask", False),
        # upstream runs every project plugin: both allowlists must agree
        (settings("allowlist_project", "project_requirements", allowlist=["a"], requirements=["b"]), "a", False),
    ],
)
def test_project_allowed(config: FilterSettings, name: str, allowed: bool) -> None:
    assert project_allowed(config, name) is allowed


@pytest.mark.parametrize(
    ("config", "allowed"),
    [
        (settings("allowlist_project", "blocklist_project", allowlist=["a"], blocklist=["dep"]), False),
        (settings("allowlist_project", allowlist=["a"]), True),
        (settings("regex_project", project_patterns=["dep"]), False),
    ],
)
def test_a_dependency_passes_the_allowlists_but_not_the_blocklists(config: FilterSettings, allowed: bool) -> None:
    assert project_allowed(config, "dep", dependency=True) is allowed


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (settings(), RELEASES),
        (settings("allowlist_release", allowlist=["foo>=1.5,<2"]), ["foo-1.5.tar.gz"]),  # <2 excludes 2.0b1
        (settings("allowlist_release", allowlist=["foo>=1.5,<=2.0b1"]), ["foo-1.5.tar.gz", "foo-2.0b1.tar.gz"]),
        (settings("allowlist_release", allowlist=["foo==1.0", "foo==2.0"]),
         ["foo-1.0.tar.gz", "foo-2.0.tar.gz", "foo-2.0-py3-none-any.whl"]),
        (settings("allowlist_release", allowlist=["other==1"]), []),  # not listed: no release
        (settings("blocklist_release", blocklist=["foo>=1.4,!=2.0b1"]), ["foo-1.0.tar.gz", "foo-2.0b1.tar.gz"]),
        (settings("blocklist_release", blocklist=["foo"]), []),
        (settings("blocklist_release", blocklist=["other<9"]), RELEASES),
        (settings("regex_release", release_patterns=[r".+b\d$"]), RELEASES[:2] + RELEASES[3:]),
        (settings("prerelease_release"), RELEASES[:2] + RELEASES[3:]),
        (settings("prerelease_release", prerelease_projects=frozenset({"bar"})), RELEASES),
        (settings("prerelease_release", prerelease_projects=frozenset({"foo"})), RELEASES[:2] + RELEASES[3:]),
        (settings("latest_release", latest_keep=2), RELEASES[2:]),
        (settings("latest_release", latest_keep=9), RELEASES),
        (settings("latest_release", latest_keep=0), RELEASES),
        (settings("project_requirements_pinned", requirements=["foo==1.5"]), ["foo-1.5.tar.gz"]),
        # a pinned range overrules the other release filters (upstream's documented exception)
        (settings("project_requirements_pinned", "blocklist_release", requirements=["foo<2"], blocklist=["foo"]),
         ["foo-1.0.tar.gz", "foo-1.5.tar.gz"]),
        (settings("project_requirements_pinned", "blocklist_release", requirements=["foo"], blocklist=["foo==1.0"]),
         RELEASES[1:]),
        # every enabled release filter must agree
        (settings("prerelease_release", "blocklist_release", blocklist=["foo==1.0"]), ["foo-1.5.tar.gz"] + RELEASES[3:]),
    ],
)
def test_release_filters(config: FilterSettings, expected: list[str]) -> None:
    assert kept(config, "Foo", RELEASES) == expected


def test_latest_release_keeps_the_current_release_and_sorts_by_time() -> None:
    by_time = [
        ReleaseFile("foo-3.0.tar.gz", "u", "0" * 64, upload_time="2020-01-01T00:00:00Z"),
        ReleaseFile("foo-1.0.tar.gz", "u", "0" * 64, upload_time="2021-01-01T00:00:00Z"),
        ReleaseFile("foo-4.0a1.tar.gz", "u", "0" * 64, upload_time="2022-01-01T00:00:00Z"),
    ]
    by_version = [f.filename for f in select_files(settings("latest_release", latest_keep=1), "foo", by_time)]
    assert by_version == ["foo-3.0.tar.gz"]  # 4.0a1 ranks first, but the current release is 3.0
    time = settings("latest_release", latest_keep=2, latest_sort_by="time")
    assert [f.filename for f in select_files(time, "foo", by_time)] == ["foo-3.0.tar.gz", "foo-4.0a1.tar.gz"]


@pytest.mark.parametrize(
    ("platforms", "filename", "excluded"),
    [
        (["windows"], "foo-1.0-cp311-cp311-win_amd64.whl", True),
        (["windows"], "foo-1.0.win32.exe", True),
        (["windows"], "foo-1.0.msi", True),
        (["windows"], "foo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", False),
        (["macos"], "foo-1.0-cp311-cp311-macosx_11_0_arm64.whl", True),
        (["linux"], "foo-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", True),
        (["linux"], "foo-1.0-cp311-cp311-musllinux_1_1_x86_64.whl", True),
        (["linux"], "foo-1.0-1.x86_64.rpm", True),
        (["freebsd"], "foo-1.0.freebsd-13.tar.gz", True),
        (["linux", "windows", "macos"], "foo-1.0.tar.gz", False),  # sdists always stay
        (["linux"], "renamed-1.0.tar.gz", False),
        (["linux", "windows", "macos"], "foo-1.0-py3-none-any.whl", False),
        (["py2"], "foo-1.0-py2.py3-none-any.whl", True),  # upstream: "-py2." matches universal wheels
        (["py3"], "foo-1.0-py3-none-any.whl", True),
        (["py3.11"], "foo-1.0-cp311-cp311-win_amd64.whl", True),
        (["py3.11"], "foo-1.0-cp312-cp312-win_amd64.whl", False),
        (["py2.7"], "foo-1.0-py2.7.egg", True),
        (["win_arm64"], "foo-1.0-cp311-cp311-win_arm64.whl", True),
        (["win_arm64"], "foo-1.0-cp311-cp311-win_amd64.whl", False),
        (["manylinux_2_28_aarch64"], "foo-1.0-cp311-cp311-manylinux_2_28_aarch64.whl", True),
        (["manylinux2014_aarch64"], "foo-1.0-cp311-cp311-manylinux2014_x86_64.whl", False),
    ],
)
def test_exclude_platform(platforms: list[str], filename: str, excluded: bool) -> None:
    config = settings("exclude_platform", platforms=tuple(platforms))
    assert kept(config, "foo", [filename]) == ([] if excluded else [filename])


@pytest.mark.parametrize("name", ["linx", "win64", "py4", "py3.99", ""])
def test_unknown_platforms_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unknown platform"):
        platform_rules([name])


@pytest.mark.parametrize(
    ("config", "project", "expected"),
    [
        (settings("size_project_metadata", max_package_size=50), "foo", RELEASES),  # 5 files x 10 bytes
        (settings("size_project_metadata", max_package_size=49), "foo", []),
        (settings("size_project_metadata", max_package_size=49, allowlist=["foo"]), "foo", RELEASES),
        (settings("size_project_metadata", max_package_size=49, allowlist=["bar"]), "foo", []),
        (settings(max_package_size=1), "foo", RELEASES),  # not enabled
    ],
)
def test_size_project_metadata(config: FilterSettings, project: str, expected: list[str]) -> None:
    assert kept(config, project, RELEASES) == expected


def test_a_dependency_skips_the_allowlist_release_filters_only() -> None:
    config = settings("allowlist_release", "prerelease_release", allowlist=["other==1"])
    assert kept(config, "foo", RELEASES, dependency=True) == RELEASES[:2] + RELEASES[3:]


@pytest.mark.parametrize(
    ("filename", "version"),
    [
        ("foo_bar-1.0-py3-none-any.whl", "1.0"),
        ("foo_bar-2.0rc1.tar.gz", "2.0rc1"),
        ("foo-bar-1.0.zip", "1.0"),
        ("Foo.Bar-0.3.tar.bz2", "0.3"),
        ("foo_bar-1.0-py2.7.egg", "1.0"),
        ("foo-bar-1.0.win32-py2.7.exe", "1.0"),
        ("foo-bar-1.0.linux-x86_64.tar.gz", "1.0"),
        ("README", None),
    ],
)
def test_release_version_from_the_filename(filename: str, version: str | None) -> None:
    assert release_version("foo.bar", ReleaseFile(filename, "u", "0" * 64)) == version


def test_release_version_prefers_the_model_field() -> None:
    class Versioned:
        filename, version = "foo-1.0.tar.gz", "1.0.post0"

    assert release_version("foo", Versioned()) == "1.0.post0"
