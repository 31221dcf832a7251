"""No project holds the mirror back: broken projects stay owed while every other one moves on.

Through the real command against the loopback master: permanent faults beside healthy releases
over several runs, what last-run.json and ``bandersnatch status`` say meanwhile, a random fault
campaign, change detection from the PEP 691 root, and a disk that fills up.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from bandersnatch.pages.html import read_project_html
from bandersnatch.pages.layout import Links
from tests.conftest import (
    MirrorSetup,
    assert_mirror_matches,
    master_tree,
    metadata_tree,
    mirrored_files,
    sha256_of,
)
from tests.pypi_master import FileSpec, PyPIMaster, generate_corpus

BROKEN = ("broken-file", "broken-json", "stale-page")


def file_path(url: str) -> str:
    return unquote(urlsplit(url).path)


def last_run(mirror: MirrorSetup) -> dict:
    return json.loads((mirror.directory / "last-run.json").read_text())


def assert_readers_see_only_good_files(mirror: MirrorSetup, pypi: PyPIMaster) -> None:
    """Every page links files (and announces .metadata) that are there with the master's hash; no
    file has a wrong hash."""
    known = {path: sha for files in master_tree(pypi).values() for path, sha in files.items()}
    for page in (mirror.web / "simple").glob("*/index.html"):
        for item in read_project_html("", page.read_text(encoding="utf-8"), Links()).files:
            assert item.sha256 is None or sha256_of(mirror.web / item.path) == item.sha256, item.path
    for path in mirrored_files(mirror.web):
        if not Path(path).name.startswith("."):
            assert sha256_of(mirror.web / path) == known.get(path, sha256_of(mirror.web / path)), path


def test_broken_projects_never_hold_back_the_rest(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    for name in (*BROKEN, "healthy"):
        pypi.add_release(name, "1.0")
    assert mirror.run().returncode == 0
    pypi.add_release("broken-file", "2.0", [FileSpec("broken_file-2.0.tar.gz", size=5_000)])
    pypi.fail(file_path(pypi.files("broken-file")[-1]["url"]), times=None)
    pypi.add_release("broken-json", "2.0")
    pypi.fail("/simple/broken-json/", times=None)
    pypi.add_release("stale-page", "2.0")
    pypi.stale("stale-page", purges_needed=None)
    first_failure = None
    for attempt in (1, 2, 3):
        pypi.add_release("healthy", f"{attempt + 1}.0")
        result = mirror.run()
        assert result.returncode == 1 and "Traceback" not in result.stderr
        page = (mirror.web / "simple/healthy/index.html").read_text()
        assert f"healthy-{attempt + 1}.0.tar.gz" in page  # the new release arrived in this very run
        assert mirror.status() == pypi.serial
        owed = sorted(line.split()[0] for line in (mirror.todo() or "").splitlines()[1:])
        assert owed == sorted(BROKEN)
        record = last_run(mirror)
        assert record["result"] == "failed" and record["serial"] == pypi.serial
        assert sorted(entry["project"] for entry in record["owed"]) == sorted(BROKEN)
        assert {entry["attempts"] for entry in record["owed"]} == {attempt}
        stamps = {entry["project"]: entry["first_failure"] for entry in record["owed"]}
        assert first_failure in (None, stamps)  # unchanged while they keep failing
        first_failure = stamps
        summary = result.stderr.strip().splitlines()[-1]
        pattern = rf"INFO: synced \d+ projects, \d+ files \(.*\), deleted 0, 3 failing: .*; serial {pypi.serial}(; waited \d+ s on the master)?$"
        assert re.search(pattern, summary), summary
        assert "broken-json (since " in summary and "HTTP 500" in summary
        status = mirror.run("status")
        assert status.returncode == 1
        assert "owed: 3 projects" in status.stdout and "NOT healthy" in status.stdout
    pypi.clear_faults()
    result = mirror.run()
    assert result.returncode == 0, result.stderr
    assert_mirror_matches(mirror.web, pypi)
    assert mirror.todo() is None and last_run(mirror)["owed"] == []
    status = mirror.run("status", "--json")
    assert status.returncode == 0, status.stdout + status.stderr
    report = json.loads(status.stdout)
    assert report["serial"] == report["master_serial"] == pypi.serial and report["lag"] == 0
    assert report["last_run"]["result"] == "ok" and report["owed"] == []


def test_status_shows_lag_without_calling_it_failure(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    pypi.add_release("one", "1.0")
    assert mirror.run().returncode == 0
    pypi.add_release("two", "1.0")
    status = mirror.run("status", "--json")
    report = json.loads(status.stdout)
    assert status.returncode == 0 and report["healthy"] is True
    assert report["lag"] == pypi.serial - mirror.status() > 0


def test_status_of_a_mirror_never_synced_exits_1(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    status = mirror.run("status")
    assert status.returncode == 1
    assert "serial: never synced" in status.stdout and "last run: none recorded" in status.stdout


def test_api_method_simple_needs_no_xmlrpc(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    generate_corpus(pypi, 8, seed=7)
    pypi.add_release("Goes.Away", "1.0")
    mirror.write_config(pypi.url, api_method="simple")
    assert mirror.run().returncode == 0
    assert_mirror_matches(mirror.web, pypi)
    pypi.add_release("new-one", "1.0")
    pypi.add_release("Foo.Bar_baz", "7.0")
    pypi.remove_project("Goes.Away")
    pypi.clear_log()
    result = mirror.run()
    assert result.returncode == 0, result.stderr
    assert_mirror_matches(mirror.web, pypi)
    assert mirror.status() == pypi.serial
    assert pypi.count("POST") == 0
    assert len(pypi.metadata_requests()) == 3  # the two changed and the one deleted, nothing else
    pypi.clear_log()
    assert "Nothing to do" in mirror.run().stderr
    assert pypi.requests == [("GET", "/simple/")]


def test_fault_campaign_converges_within_two_runs(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    """5% HTTP 500, 2% truncated, 1% corrupt and 1% reset on files, 3% 500 on JSON."""
    generate_corpus(pypi, 80, seed=8, files_per_project=(1, 4), size_range=(2_000, 200_000))
    files = sum(len(pypi.files(name)) for name in pypi.projects())
    pypi.chaos("/packages/", seed=1, fail=0.05, truncate=0.02, corrupt=0.01, reset=0.01)
    pypi.chaos("/pypi/", seed=2, fail=0.03)
    runs, dropped = 0, set()
    while runs < 2:
        runs += 1
        result = mirror.run()
        assert "Traceback" not in result.stderr
        assert_readers_see_only_good_files(mirror, pypi)
        # Three corrupt answers in a row for a .metadata look like a master with a wrong hash: the
        # file then loses its attribute (the page never promises it) and the run goes on.
        dropped |= {file_path(url)[1:] for url in re.findall(r"WARNING: Not mirroring (\S+):", result.stderr)}
        if result.returncode == 0:
            break
    assert result.returncode == 0, result.stderr[-3000:]
    assert_mirror_matches(mirror.web, pypi, frozenset(dropped))
    requests = pypi.count("GET", "/packages/")
    print(f"fault campaign: {files} files (+{len(metadata_tree(pypi))} .metadata), converged in {runs} run(s), "
          f"{requests - files - len(metadata_tree(pypi))} requests retried, {len(dropped)} .metadata dropped")


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 1 MiB tmpfs holding the mirror (root only: CI runs as root)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mountpoint)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def test_a_full_disk_fails_projects_cleanly_and_the_next_run_converges(
    pypi: PyPIMaster, tmp_path: Path, small_disk: Path
) -> None:
    mirror = MirrorSetup(directory=small_disk / "mirror", config=tmp_path / "small.conf")
    mirror.write_config(pypi.url)
    for number in range(8):
        pypi.add_release(f"filler-{number}", "1.0", [FileSpec(f"filler_{number}-1.0.tar.gz", size=300_000)])
    result = mirror.run()
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "No space left on device" in result.stderr
    assert_readers_see_only_good_files(mirror, pypi)
    subprocess.run(["mount", "-o", "remount,size=16m", str(small_disk)], check=True)
    result = mirror.run()
    assert result.returncode == 0, result.stderr
    assert_mirror_matches(mirror.web, pypi)
