"""A run's scope: which projects and files the filters and the closure hold, and a stable digest
of the filter settings (a changed digest re-plans every project)."""

from __future__ import annotations

import re

from packaging.requirements import Requirement

from bandersnatch.closure import DependencySettings
from bandersnatch.filter_config import SubsetSettings
from bandersnatch.filters import FilterSettings
from bandersnatch.model import ProjectMetadata, ReleaseFile
from bandersnatch.scope import Scope, fingerprint

ALLOW = FilterSettings(enabled=frozenset({"allowlist_project"}), allowlist=(Requirement("Web.App"),))
DEPS = DependencySettings(enabled=True, python_versions=("3.11",), platforms=("linux-x86_64",))


def release(filename: str) -> ReleaseFile:
    return ReleaseFile(filename=filename, url=f"https://files.example/packages/aa/{filename}", sha256="0" * 64)


def test_no_filters_hold_everything_unchanged() -> None:
    scope = Scope(SubsetSettings())
    files = (release("x-1.0.tar.gz"),)
    assert scope.everything and scope.holds("anything") and scope.select(ProjectMetadata("x", 1, files)) is files


def test_the_closure_decides_dependencies_and_their_releases() -> None:
    scope = Scope(SubsetSettings(ALLOW, DEPS), needed={"web-app": frozenset({"1.0"}), "dep": frozenset({"2.0"})})
    assert scope.holds("web_app") and scope.holds("Dep") and not scope.holds("other")
    files = tuple(release(name) for name in (
        "dep-1.0.tar.gz", "dep-2.0.tar.gz", "dep-2.0-cp311-cp311-manylinux_2_17_x86_64.whl",
        "dep-2.0-cp311-cp311-win_amd64.whl", "dep-2.0-cp39-cp39-manylinux_2_17_x86_64.whl"))  # fmt: skip
    kept = [f.filename for f in scope.select(ProjectMetadata("dep", 1, files))]
    assert kept == ["dep-2.0.tar.gz", "dep-2.0-cp311-cp311-manylinux_2_17_x86_64.whl"]


def test_the_fingerprint_is_stable_and_follows_every_setting() -> None:
    many = frozenset({"allowlist_project", "blocklist_project", "regex_project", "exclude_platform"})
    base = SubsetSettings(FilterSettings(enabled=many, project_patterns=(re.compile("^x"),)))
    same = SubsetSettings(FilterSettings(enabled=frozenset(sorted(many, reverse=True)),
                                         project_patterns=(re.compile("^x"),)))  # fmt: skip
    assert fingerprint(base) == fingerprint(same)
    assert fingerprint(base) != fingerprint(SubsetSettings(FilterSettings(enabled=many)))
    assert fingerprint(base) != fingerprint(SubsetSettings(base.filters, DEPS))
