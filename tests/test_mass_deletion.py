"""``[mirror] max-deletions`` end to end: the real command against the loopback master.

A master that suddenly lists a handful of projects, a changelog full of deletions, and
``verify --delete`` on a mirror whose pages link nothing locally must each stop before deleting
more than the limit, say so in one line and exit 1; ``--allow-mass-deletion`` proceeds.
"""

from __future__ import annotations

import hashlib
import json
import subprocess

from bandersnatch.model import normalize
from tests.conftest import MirrorSetup, assert_mirror_matches
from tests.pypi_master import PyPIMaster, generate_corpus

ADVICE = "run with --allow-mass-deletion or raise [mirror] max-deletions"


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


RECORDS = ("last-run.json", "plan.json", "runs.json")  # what reports a run, the refused one too


def state_of(setup: MirrorSetup, ignore: tuple[str, ...] = RECORDS) -> dict[str, str]:
    """Every file of the mirror's home by its sha256, but the records of the refused run (and the
    status page, web/_status/, which shows it)."""
    return {
        str(path.relative_to(setup.directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(setup.directory.rglob("*"))
        if path.is_file() and path.name not in ignore and "_status" not in path.parts
    }


def projects_on(setup: MirrorSetup) -> set[str]:
    return {path.name for path in (setup.web / "simple").iterdir() if path.is_dir()}


def synced(pypi: PyPIMaster, mirror: MirrorSetup, count: int = 12, **options: object) -> list[str]:
    generate_corpus(pypi, count, seed=7, files_per_project=(1, 2))
    mirror.write_config(pypi.url, **options)
    ok(mirror.run())
    return sorted(pypi.projects())


def test_a_master_listing_a_handful_of_projects_stops_a_full_sync_before_anything_is_written(
    pypi: PyPIMaster, mirror: MirrorSetup
) -> None:
    names = synced(pypi, mirror, max_deletions=3)
    for name in names[2:]:
        pypi.remove_project(name)
    before = state_of(mirror)
    result = mirror.run("mirror", "--force-check")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if " ERROR: " in line]
    assert len(errors) == 1, result.stderr
    assert errors[0].endswith(f"ERROR: refusing to delete 10 of 12 projects (max-deletions 3); {ADVICE}")
    assert state_of(mirror) == before  # no page, file or state file touched
    assert json.loads((mirror.directory / "plan.json").read_text())["refused"].startswith("refusing to delete")
    assert json.loads((mirror.directory / "last-run.json").read_text())["result"] == "error"
    ok(mirror.run("mirror", "--force-check", "--allow-mass-deletion"))
    assert_mirror_matches(mirror.web, pypi)


def test_a_root_listing_a_handful_of_projects_stops_an_incremental_run(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    """api-method = simple: deletions come from the PEP 691 root's diff, known when planning."""
    names = synced(pypi, mirror, api_method="simple", max_deletions=3)
    for name in names[2:]:
        pypi.remove_project(name)
    pypi.add_release("newcomer", "1.0")  # refused with the rest: the whole run stops
    before = state_of(mirror)
    result = mirror.run()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"ERROR: refusing to delete 10 of 12 projects (max-deletions 3); {ADVICE}" in result.stderr
    assert state_of(mirror) == before and "newcomer" not in projects_on(mirror)
    ok(mirror.run("mirror", "--allow-mass-deletion"))
    assert_mirror_matches(mirror.web, pypi)


def test_a_master_that_lists_nothing_or_one_project_never_empties_the_mirror(
    pypi: PyPIMaster, mirror: MirrorSetup
) -> None:
    names = synced(pypi, mirror)  # the default limit (100) is above the whole mirror here
    for name in names:
        pypi.remove_project(name)
    pypi.add_release("newcomer", "1.0")  # the master lists one project, none of ours
    before = state_of(mirror)
    result = mirror.run("mirror", "--force-check")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"refusing to delete 12 of 12 projects (max-deletions 100 by default); {ADVICE}" in result.stderr
    assert state_of(mirror) == before
    assert projects_on(mirror) == {normalize(name) for name in names}


def test_deletions_found_during_a_run_stop_at_the_limit_and_stay_owed(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    """The changelog names deleted projects; each 404 takes one from the run's budget."""
    names = synced(pypi, mirror, max_deletions=3)
    gone = names[:8]
    for name in gone:
        pypi.remove_project(name)
    pypi.add_release("bystander", "1.0")  # the rest of the run still happens
    result = mirror.run()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    remaining = projects_on(mirror) & {normalize(name) for name in gone}
    assert len(remaining) == 5  # 3 deleted, 5 kept
    assert "bystander" in projects_on(mirror)
    owed = json.loads((mirror.directory / "last-run.json").read_text())["owed"]
    assert {entry["project"] for entry in owed} == {name for name in gone if normalize(name) in remaining}
    assert all("refusing to delete 4 of 12 projects (max-deletions 3); " + ADVICE in entry["error"] for entry in owed)
    assert all(line.split()[0] in {e["project"] for e in owed} for line in mirror.todo().splitlines()[1:])
    ok(mirror.run("mirror", "--allow-mass-deletion"))
    assert_mirror_matches(mirror.web, pypi)
    assert mirror.todo() is None


def test_max_deletions_zero_keeps_every_project_without_the_flag(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    names = synced(pypi, mirror, max_deletions=0)
    pypi.remove_project(names[5])
    result = mirror.run()
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"refusing to delete 1 of 12 projects (max-deletions 0); {ADVICE}" in result.stderr
    assert normalize(names[5]) in projects_on(mirror)
    ok(mirror.run("mirror", "--allow-mass-deletion"))
    assert normalize(names[5]) not in projects_on(mirror)


def test_ordinary_deletions_within_the_limit_just_happen(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    names = synced(pypi, mirror)
    pypi.remove_project(names[3])
    ok(mirror.run())
    assert_mirror_matches(mirror.web, pypi)


def test_verify_delete_refuses_when_the_pages_link_no_local_file(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    """release-files = false written over a full mirror: the pages now link the master's files, so
    every file here is an orphan, and verify --delete would delete all of packages/ at once."""
    synced(pypi, mirror)
    mirror.write_config(pypi.url, release_files="false")
    ok(mirror.run())  # the options changed: every page is rewritten with the master's links
    files = sorted(str(p.relative_to(mirror.web)) for p in (mirror.web / "packages").rglob("*") if p.is_file())
    assert files
    before = state_of(mirror)
    result = mirror.run("verify", "--delete")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"ERROR: refusing to delete {len(files)} orphan files while the pages link 0 " in result.stderr
    assert result.stderr.rstrip().endswith(ADVICE)
    assert state_of(mirror) == before
    dry = mirror.run("verify", "--delete", "--dry-run")
    assert "WARNING: refusing to delete" in dry.stderr and state_of(mirror) == before
    ok(mirror.run("verify", "--delete", "--allow-mass-deletion"))
    assert not any(p.is_file() for p in (mirror.web / "packages").rglob("*"))


def test_verify_delete_still_removes_a_few_orphans(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    synced(pypi, mirror)
    orphan = mirror.web / "packages/aa/bb/cc/stray-1.0.tar.gz"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"stray")
    ok(mirror.run("verify", "--delete"))
    assert not orphan.exists()
    assert_mirror_matches(mirror.web, pypi)


def test_verify_delete_with_max_deletions_zero_needs_the_flag(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    synced(pypi, mirror, max_deletions=0)
    orphan = mirror.web / "packages/aa/bb/cc/stray-1.0.tar.gz"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"stray")
    result = mirror.run("verify", "--delete")
    assert result.returncode == 1 and "refusing to delete 1 orphan files" in result.stderr
    assert orphan.exists()
    ok(mirror.run("verify", "--delete", "--allow-mass-deletion"))
    assert not orphan.exists()
