"""A run's scope: which projects and files the filters and the closure hold, and a stable digest
of the filter settings (a changed digest re-plans every project)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from bandersnatch.model import ProjectMetadata, ReleaseFile
from bandersnatch.storage import FilesystemStorage
from bandersnatch.subset.closure import DependencySettings
from bandersnatch.subset.config import SubsetSettings
from bandersnatch.subset.filters import FilterSettings
from bandersnatch.subset.scope import Scope, fingerprint, plan_scope

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


class FakeMaster:
    """One project, app 1.0, whose wheel's .metadata carries ``lines``; counts .metadata reads."""

    def __init__(self, lines: list[str]) -> None:
        self.body = ("Metadata-Version: 2.1\nName: app\nVersion: 1.0\n"
                     + "".join(f"Requires-Dist: {line}\n" for line in lines)).encode()  # fmt: skip
        self.metadata_reads = 0

    def project(self, name: str, serial: int) -> ProjectMetadata:
        if name != "app":
            return ProjectMetadata(name, 1, (release(f"{name}-1.0-py3-none-any.whl"),))
        wheel = dataclasses.replace(release("app-1.0-py3-none-any.whl"),
                                    core_metadata_sha256=hashlib.sha256(self.body).hexdigest())  # fmt: skip
        return ProjectMetadata(name, 1, (wheel,))

    def fetch_small(self, url: str) -> bytes:
        self.metadata_reads += 1
        return self.body

    def release_requires(self, name: str, version: str) -> None:
        """The JSON API of a release without core metadata (lib's wheel): it says nothing."""
        return None


def test_a_bad_requires_dist_line_is_warned_about_once_per_release(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bad = 'broken; os_name === "x"'
    master = FakeMaster(["lib>=1", bad, "unparseable (>=1"])
    storage = FilesystemStorage(tmp_path)
    subset = SubsetSettings(FilterSettings(enabled=frozenset({"allowlist_project"}), allowlist=(Requirement("app"),)),
                            DEPS)  # fmt: skip
    with caplog.at_level(logging.WARNING):
        first = plan_scope(subset, master, storage, {})  # type: ignore[arg-type]
        second = plan_scope(subset, master, storage, {})  # type: ignore[arg-type]
    assert first.needed == second.needed == {"app": frozenset({"1.0"}), "lib": frozenset({"1.0"})}
    warnings = [record.getMessage() for record in caplog.records]
    assert len(warnings) == 1 and master.metadata_reads == 1
    assert warnings[0].startswith(f"Dependency closure: app 1.0: taken as needing nothing: Requires-Dist {bad!r} (")
    assert "Requires-Dist 'unparseable (>=1' (not a valid requirement: " in warnings[0]
    assert "\n" not in warnings[0]


@pytest.mark.parametrize(
    "damaged",
    [
        "[1, 2]",
        '{"releases": []}',
        '{"releases": {"app": "x"}}',
        '{"releases": {"app": {"serial": 1, "versions": {"1.0": 5}}}}',
        '{"releases": {"app": {"serial": "1", "versions": {}}}}',
        '{"requires": {"app": {"1.0": 5}}}',
        '{"requires": {"app": {"1.0": [5]}}}',
        '{"requires": {"app": ["lib"]}}',
        '{"needed": {"app": 5}}',
        '{"needed": {"app": [null]}}',
    ],
)
def test_a_damaged_closure_file_costs_refetches_not_the_run(tmp_path: Path, damaged: str) -> None:
    storage = FilesystemStorage(tmp_path)
    storage.write_state("closure.json", damaged)
    subset = SubsetSettings(FilterSettings(enabled=frozenset({"allowlist_project"}), allowlist=(Requirement("app"),)),
                            DEPS)  # fmt: skip
    scope = plan_scope(subset, FakeMaster(["lib"]), storage, {})  # type: ignore[arg-type]
    assert scope.needed == {"app": frozenset({"1.0"}), "lib": frozenset({"1.0"})}
