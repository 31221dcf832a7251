"""SPEC 14 through the real command against the loopback master: the [cooldown] (upload times spread
around "now minus N days"), releases and projects PyPI quarantines or deletes, and their return.

The mirror's clock is the real one; the master's upload times are set relative to it
(``PyPIMaster.set_upload_time``), so "time passes" either by waiting for a release placed a few
seconds before its coming of age, or by rewriting an upload time without moving any serial.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from tests.conftest import MirrorSetup
from tests.nginx import NOT_INSTALLED, nginx_binary, serving, world_readable_tempdir
from tests.pypi_master import FileSpec, PyPIMaster, make_wheel
from tests.test_serving import clean_env
from tests.tree import MasterFile, assert_tree

DAY = 86400.0


def configure(mirror: MirrorSetup, pypi: PyPIMaster, sections: str, **options: str) -> None:
    mirror.write_config(pypi.url, **options)
    with open(mirror.config, "a", encoding="utf-8") as handle:
        handle.write(sections)


def run(mirror: MirrorSetup, *args: str) -> str:
    result = mirror.run(*args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def release(pypi: PyPIMaster, name: str, version: str, age_days: float | None, **kwargs: object) -> None:
    pypi.add_release(name, version, **kwargs)  # type: ignore[arg-type]
    pypi.set_upload_time(name, version, None if age_days is None else time.time() - age_days * DAY)


def versions(keep: dict[str, set[str]]) -> Callable[[str, MasterFile], bool]:
    """tree.assert_tree's ``keep``: the releases the policy admits, by project."""
    return lambda project, f: f.version in keep.get(project, set())


def on_disk(mirror: MirrorSetup) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in (mirror.web / "packages").rglob("*"):
        if path.is_file() and not path.name.endswith((".metadata", ".provenance")):
            stem = path.name.removesuffix(".tar.gz").removesuffix(".whl")
            name, version = stem.split("-")[:2]
            found.setdefault(name, set()).add(version)
    return found


def test_only_the_old_enough_are_mirrored_and_the_next_comes_of_age_by_itself(
    pypi: PyPIMaster, mirror: MirrorSetup
) -> None:
    release(pypi, "foo", "1.0", 30)
    release(pypi, "foo", "1.1", 7.5)
    release(pypi, "foo", "1.2", 7 - 6 / DAY)  # comes of age six seconds from now
    release(pypi, "foo", "2.0", 1)
    release(pypi, "young", "0.1", 0.1)  # every release too young: not on the mirror yet
    configure(mirror, pypi, "[cooldown]\ndays = 7\n")
    started = time.time()
    log = run(mirror)
    assert time.time() - started < 5, "the run took too long for this test's six-second window"
    assert "Cooldown: holding back releases younger than 7 days; exempt: none" in log
    assert_tree(mirror.web, pypi, projects={"foo"}, keep=versions({"foo": {"1.0", "1.1"}}))
    assert not (mirror.web / "simple" / "young").exists()
    index = json.loads((mirror.web / "simple" / "foo" / "index.v1_json").read_text())
    assert index["versions"] == ["1.0", "1.1"]  # PEP 700: no held release named either
    due = json.loads((mirror.directory / "cooldown.json").read_text())["due"]
    assert set(due) == {"foo", "young"} and due["foo"]["until"] == pytest.approx(started + 6, abs=5)

    time.sleep(max(0.0, due["foo"]["until"] - time.time()) + 0.5)
    pypi.clear_log()
    log = run(mirror)  # no upstream change at all
    assert "Cooldown: 1 projects have a release coming of age: foo" in log
    fetched = sorted(path.rsplit("/", 1)[1] for method, path in pypi.requests if path.startswith("/packages/"))
    assert fetched == ["foo-1.2-py3-none-any.whl", "foo-1.2.tar.gz"]  # the .metadata: read from the wheel
    assert_tree(mirror.web, pypi, projects={"foo"}, keep=versions({"foo": {"1.0", "1.1", "1.2"}}))

    pypi.set_upload_time("young", "0.1", time.time() - 8 * DAY)  # the master's clock moved instead
    pypi.set_upload_time("foo", "2.0", time.time() - 8 * DAY)
    run(mirror, "sync", "young", "foo")  # sync NAME obeys the same policy, and admits them now
    assert_tree(mirror.web, pypi, keep=versions({"foo": {"1.0", "1.1", "1.2", "2.0"}, "young": {"0.1"}}))


def test_exclude_newer_freezes_and_exempt_lets_one_through(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    freeze = time.time() - 2 * DAY
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(freeze))
    release(pypi, "foo", "1.0", 3)
    release(pypi, "foo", "1.1", 1)  # after the freeze, though older than any days setting here
    release(pypi, "bar", "1.0", 1)
    configure(mirror, pypi, f"[cooldown]\nexclude-newer = {stamp}\n")
    run(mirror)
    assert_tree(mirror.web, pypi, projects={"foo"}, keep=versions({"foo": {"1.0"}}))
    assert json.loads((mirror.directory / "cooldown.json").read_text())["due"] == {}  # a freeze never thaws

    configure(mirror, pypi, f"[cooldown]\nexclude-newer = {stamp}\nexempt =\n    Foo==1.1\n    BAR\n")
    log = run(mirror)  # a changed section re-plans every project, with no upstream change
    assert "every project is checked again" in log
    assert f"uploaded after {stamp}; exempt: bar foo==1.1" in log
    assert_tree(mirror.web, pypi, keep=versions({"foo": {"1.0", "1.1"}, "bar": {"1.0"}}))

    configure(mirror, pypi, f"[cooldown]\nexclude-newer = {stamp}\n")
    log = run(mirror)  # the exemption withdrawn: what it let through goes again
    assert "Removing foo 1.1 (no longer admitted by the filters or the cooldown)" in log
    assert_tree(mirror.web, pypi, projects={"foo"}, keep=versions({"foo": {"1.0"}}))
    assert not (mirror.web / "simple" / "bar").exists()


def test_a_release_without_upload_time_is_held_and_said_once(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    release(pypi, "foo", "1.0", 30)
    release(pypi, "foo", "1.1", None)
    release(pypi, "bar", "2.0", None)
    configure(mirror, pypi, "[cooldown]\ndays = 1\n")
    log = run(mirror)
    assert_tree(mirror.web, pypi, projects={"foo"}, keep=versions({"foo": {"1.0"}}))
    lines = [line for line in log.splitlines() if "no upload time" in line]
    assert len(lines) == 1 and "2 releases" in lines[0] and "bar 2.0" in lines[0] and "foo 1.1" in lines[0], log


@pytest.mark.parametrize("setting", ["days = seven", "exclude-newer = 2026-11-01", "exempt = foo>=1", "days = 99999"])
def test_a_bad_value_is_one_line_naming_the_key(pypi: PyPIMaster, mirror: MirrorSetup, setting: str) -> None:
    configure(mirror, pypi, f"[cooldown]\n{setting}\n")
    result = mirror.run()
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"[cooldown] {setting.split(' =')[0]} = " in lines[0], result.stderr
    assert not (mirror.web / "simple").exists()


def _wheel(name: str, version: str, *requires: str) -> list[FileSpec]:
    return [FileSpec(f"{name}-{version}-py3-none-any.whl", content=make_wheel(name, version, requires_dist=requires))]


CLOSURE = """
[plugins]
enabled = allowlist_project
[allowlist]
packages = app
[dependencies]
enabled = true
python-versions = 3.12
platforms = linux-x86_64
[cooldown]
days = 7
"""


def test_a_root_whose_newest_release_is_too_young_resolves_against_the_previous_one(
    pypi: PyPIMaster, mirror: MirrorSetup
) -> None:
    release(pypi, "app", "1.0", 30, files=_wheel("app", "1.0", "oldlib<2"))
    release(pypi, "app", "2.0", 7 - 6 / DAY, files=_wheel("app", "2.0", "newlib", "oldlib>=2"))
    release(pypi, "oldlib", "1.5", 30, files=_wheel("oldlib", "1.5"))
    release(pypi, "oldlib", "2.0", 30, files=_wheel("oldlib", "2.0"))
    release(pypi, "newlib", "1.0", 30, files=_wheel("newlib", "1.0"))
    release(pypi, "unrelated", "1.0", 30)
    configure(mirror, pypi, CLOSURE)
    started = time.time()
    run(mirror)
    assert time.time() - started < 5, "the run took too long for this test's six-second window"
    assert on_disk(mirror) == {"app": {"1.0"}, "oldlib": {"1.5"}}
    assert_tree(mirror.web, pypi, projects={"app", "oldlib"}, keep=versions({"app": {"1.0"}, "oldlib": {"1.5"}}))

    time.sleep(max(0.0, started + 6.5 - time.time()))
    log = run(mirror)  # app 2.0 came of age: the closure resolves again over it, with no upstream change
    assert "have a release coming of age: app" in log
    assert on_disk(mirror) == {"app": {"1.0", "2.0"}, "oldlib": {"1.5", "2.0"}, "newlib": {"1.0"}}


def test_a_quarantined_release_goes_and_comes_back_the_others_untouched(
    pypi: PyPIMaster, mirror: MirrorSetup
) -> None:
    pypi.add_release("foo", "1.0")
    pypi.add_release("foo", "1.1")
    pypi.add_release("bar", "1.0")
    run(mirror)
    assert_tree(mirror.web, pypi)
    kept = {p: p.stat().st_mtime_ns for p in (mirror.web / "packages").rglob("foo-1.0*")}

    for f in pypi.files("foo"):  # PyPI's per-release quarantine: the release vanishes from the JSON
        if f["filename"].startswith("foo-1.1"):
            pypi.remove_file("foo", f["filename"])
    log = run(mirror)
    assert "Removing foo 1.1 (no longer on the master)" in log
    assert log.count("Removing ") == 1  # one line for the project, before the per-file lines
    assert_tree(mirror.web, pypi)
    assert on_disk(mirror) == {"foo": {"1.0"}, "bar": {"1.0"}}
    assert {p: p.stat().st_mtime_ns for p in (mirror.web / "packages").rglob("foo-1.0*")} == kept

    pypi.add_release("foo", "1.1")  # released from quarantine
    run(mirror)
    assert_tree(mirror.web, pypi)
    assert on_disk(mirror) == {"foo": {"1.0", "1.1"}, "bar": {"1.0"}}


def test_a_quarantined_project_loses_its_files_and_comes_back(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    pypi.add_release("foo", "1.0")
    pypi.add_release("bar", "1.0")
    run(mirror)
    pypi.set_status("foo", "quarantined", "malware")
    log = run(mirror)
    assert "Removing foo 1.0 (the project is quarantined)" in log
    assert_tree(mirror.web, pypi)
    assert on_disk(mirror) == {"bar": {"1.0"}}
    pypi.set_status("foo", None)
    run(mirror)
    assert_tree(mirror.web, pypi)
    assert on_disk(mirror) == {"foo": {"1.0"}, "bar": {"1.0"}}


def test_the_cooldown_state_is_kept_atomically_and_only_with_a_cooldown(
    pypi: PyPIMaster, mirror: MirrorSetup
) -> None:
    release(pypi, "foo", "1.0", 1)
    run(mirror)
    assert not (mirror.directory / "cooldown.json").exists()
    assert_tree(mirror.web, pypi)
    configure(mirror, pypi, "[cooldown]\ndays = 7\n")
    log = run(mirror)  # a cooldown added: what it holds back goes from a mirror that had it
    assert "Removing foo 1.0 (the filters and the cooldown admit none of its files)" in log
    assert not (mirror.web / "simple" / "foo").exists() and on_disk(mirror) == {}
    assert [p.name for p in mirror.directory.iterdir() if p.name.startswith(".") and p.name != ".lock"] == []
    assert isinstance(json.loads((mirror.directory / "cooldown.json").read_text())["due"]["foo"]["until"], float)



def test_pip_through_nginx_installs_the_newest_admitted_version_and_refuses_the_held_one(
    pypi: PyPIMaster, tmp_path: Path
) -> None:
    binary = nginx_binary()
    if binary is None:
        pytest.skip(NOT_INSTALLED)
    release(pypi, "foo", "1.0", 30)
    release(pypi, "foo", "1.1", 10)
    release(pypi, "foo", "1.2", 2)  # the fresh one a hijacked account would have uploaded
    with world_readable_tempdir() as root:
        mirror = MirrorSetup(directory=root / "mirror", config=tmp_path / "b.conf")
        configure(mirror, pypi, "[cooldown]\ndays = 7\n")
        run(mirror)
        pypi.stop()  # from here on the mirror alone
        with serving(binary, mirror.web, tmp_path / "nginx") as served:

            def install(requirement: str) -> subprocess.CompletedProcess:
                return subprocess.run(
                    [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "--no-cache-dir",
                     "install", "--no-deps", "--target", str(tmp_path / requirement), "--index-url",
                     f"{served.url}/simple/", requirement],
                    capture_output=True, text=True, timeout=300, env=clean_env(),
                )  # fmt: skip

            newest = install("foo")
            assert newest.returncode == 0, newest.stdout + newest.stderr
            assert [p.name for p in (tmp_path / "foo").glob("*.dist-info")] == ["foo-1.1.dist-info"]
            held = install("foo==1.2")
            assert held.returncode != 0 and "No matching distribution found for foo==1.2" in held.stderr, held.stderr
