"""SPEC 14's plan: ``mirror --dry-run [--json]`` says what the next run does, exactly, without writing
anything or fetching any file body; every real run leaves the same plan in plan.json."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from tests.conftest import MirrorSetup
from tests.pypi_master import PyPIMaster
from tests.tree import assert_tree

DAY = 86400.0


def snapshot(directory: Path) -> dict[str, tuple[str, int]]:
    """Every file and folder under the mirror's home: bytes and mtime (a dry run changes neither)."""
    if not directory.exists():
        return {}
    found: dict[str, tuple[str, int]] = {}
    for path in sorted(directory.rglob("*")):
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "folder"
        found[str(path.relative_to(directory))] = (digest, path.stat().st_mtime_ns)
    return found


def dry_run(mirror: MirrorSetup, pypi: PyPIMaster) -> dict[str, Any]:
    """The dry run's JSON plan, checking that it wrote nothing and fetched no file body."""
    before = snapshot(mirror.directory)
    pypi.clear_log()
    result = mirror.run("mirror", "--dry-run", "--json")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(mirror.directory) == before, "the dry run changed the mirror"
    bodies = [path for method, path in pypi.requests if path.startswith("/packages/") and not path.endswith(".metadata")]
    assert bodies == [], f"the dry run fetched file bodies: {bodies}"
    return json.loads(result.stdout)


def real_run(mirror: MirrorSetup, pypi: PyPIMaster) -> dict[str, Any]:
    before = snapshot(mirror.directory)
    pypi.clear_log()
    result = mirror.run()
    assert result.returncode == 0, result.stderr
    plan = json.loads((mirror.directory / "plan.json").read_text())
    after = snapshot(mirror.directory)
    added = {name for name in after if name.startswith("web/packages/") and after[name][0] != "folder"
             and before.get(name, ("",))[0] != after[name][0]}  # fmt: skip
    fetched = {path for method, path in pypi.requests if method == "GET" and path.startswith("/packages/")}
    assert plan["download"]["files"] == len(added)  # what plan.json says is what the run did
    assert {f"web{path}" for path in fetched} <= added
    assert all(name.endswith(".whl.metadata") for name in added - {f"web{path}" for path in fetched})  # from the wheel
    return plan


KEYS = {"serial_from", "serial_to", "add", "update", "remove", "download", "delete", "held_back", "refused"}


def test_the_dry_run_says_what_the_next_run_does_fresh_up_to_date_and_after_a_filter_change(
    pypi: PyPIMaster, mirror: MirrorSetup
) -> None:
    pypi.add_release("foo", "1.0")
    pypi.add_release("foo", "1.1")
    pypi.add_release("bar", "2.0")
    pypi.add_release("baz", "0.1")
    figures = []

    planned = dry_run(mirror, pypi)  # a fresh mirror: everything to add
    assert set(planned) == KEYS
    assert planned["add"] == ["bar", "baz", "foo"] and planned["update"] == planned["remove"] == []
    assert planned["download"]["files"] == 12  # four wheels, their four .metadata, four sdists
    assert not mirror.directory.exists()
    done = real_run(mirror, pypi)
    assert done == planned
    figures.append(("fresh", planned["download"], planned["delete"]))
    assert_tree(mirror.web, pypi)

    planned = dry_run(mirror, pypi)  # up to date: nothing
    assert planned["download"] == {"files": 0, "bytes": 0} and planned["add"] == planned["update"] == []
    assert real_run(mirror, pypi) == planned
    figures.append(("up to date", planned["download"], planned["delete"]))

    pypi.add_release("foo", "1.2")  # changes upstream: one release more, one release gone
    for f in pypi.files("bar"):
        pypi.remove_file("bar", f["filename"])
    pypi.add_release("bar", "2.1")
    planned = dry_run(mirror, pypi)
    assert planned["update"] == ["bar", "foo"] and planned["delete"]["files"] == 3  # wheel, .metadata, sdist
    assert real_run(mirror, pypi) == planned
    figures.append(("changes", planned["download"], planned["delete"]))

    pypi.set_upload_time("baz", "0.1", time.time() - DAY)  # a filter change: a cooldown holds baz back
    pypi.set_upload_time("foo", "1.2", time.time() - DAY)
    with open(mirror.config, "a", encoding="utf-8") as handle:
        handle.write("[cooldown]\ndays = 7\n")
    planned = dry_run(mirror, pypi)
    assert planned["remove"] == ["baz"] and planned["delete"]["projects"] == 1
    assert [(h["project"], h["version"]) for h in planned["held_back"]] == [("baz", "0.1"), ("foo", "1.2")]
    assert planned["delete"]["files"] == 6 and planned["delete"]["bytes"] > 0
    assert real_run(mirror, pypi) == planned
    figures.append(("filter change", planned["download"], planned["delete"]))
    assert_tree(mirror.web, pypi, projects={"foo", "bar"}, keep=lambda p, f: (p, f.version) != ("foo", "1.2"))

    planned = dry_run(mirror, pypi)  # a run that looks at no project still says what is held back
    assert planned["update"] == [] and [h["project"] for h in planned["held_back"]] == ["baz", "foo"]
    assert real_run(mirror, pypi) == planned
    print("dry run == real run:", figures)  # the closing note quotes these


def test_the_human_summary(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    pypi.add_release("foo", "1.0")
    result = mirror.run("mirror", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "add 1 projects, update 0, remove 0" in result.stdout
    assert "download 3 files (" in result.stdout and "held back by the cooldown: 0 releases" in result.stdout


def test_a_refused_run_leaves_its_plan(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    pypi.add_release("foo", "1.0")
    pypi.add_release("bar", "1.0")
    assert mirror.run().returncode == 0
    pypi.remove_project("foo")
    mirror.write_config(pypi.url, max_deletions="0")
    before = _mirror_content(mirror)
    planned = mirror.run("mirror", "--force-check", "--dry-run", "--json")
    assert planned.returncode == 1
    refusal = json.loads(planned.stdout)["refused"]
    assert refusal.startswith("refusing to delete 1 of 2 projects (max-deletions 0)")
    result = mirror.run("mirror", "--force-check")
    assert result.returncode == 1 and refusal in result.stderr
    plan = json.loads((mirror.directory / "plan.json").read_text())
    assert plan["refused"] == refusal and plan["remove"] == [] and plan["download"]["files"] == 0
    assert _mirror_content(mirror) == before


def _mirror_content(mirror: MirrorSetup) -> dict[str, tuple[str, int]]:
    """What readers of the mirror get; the status page (web/_status/) reports the refused run."""
    return {path: value for path, value in snapshot(mirror.directory / "web").items() if not path.startswith("_status")}


def test_json_without_dry_run_is_a_usage_error(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    result = mirror.run("mirror", "--json")
    assert result.returncode == 2 and "--json goes with --dry-run" in result.stderr
    assert not mirror.directory.exists()
