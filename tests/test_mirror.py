"""Whole syncs through the real ``bandersnatch mirror`` command against the loopback master."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from bandersnatch.model import normalize
from tests.conftest import (
    MirrorSetup,
    assert_mirror_matches,
    bandersnatch_command,
    master_tree,
    mirrored_files,
    sha256_of,
)
from tests.pypi_master import FileSpec, PyPIMaster, generate_corpus


def synced(mirror: MirrorSetup) -> subprocess.CompletedProcess:
    result = mirror.run()
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def test_full_sync_then_a_noop_run_costs_one_changelog_call(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    generate_corpus(pypi, 12, seed=1)
    synced(mirror)
    assert_mirror_matches(mirror.web, pypi)
    assert mirror.status() == pypi.serial and mirror.todo() is None
    assert re.fullmatch(r"\d{8}T\d\d:\d\d:\d\d\n", (mirror.web / "last-modified").read_text())
    index = mirror.web / "simple" / "index.html"
    before = index.stat().st_mtime_ns
    pypi.clear_log()
    result = synced(mirror)
    assert pypi.requests == [("POST", "/pypi")]
    assert index.stat().st_mtime_ns == before
    assert "Nothing to do" in result.stderr


def fetched(pypi: PyPIMaster, path: str) -> int:
    """GETs of the file at ``path`` itself, not of its .metadata beside it."""
    return pypi.count("GET", path) - pypi.count("GET", path + ".metadata")


def test_pages_carry_pep_503_592_metadata(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    generate_corpus(pypi, 4, seed=2, files_per_project=(2, 2))
    synced(mirror)
    needs = (mirror.web / "simple/needs-py38/index.html").read_text()
    assert 'data-requires-python="&gt;=3.8"' in needs
    yanked = (mirror.web / "simple/yanked-demo/index.html").read_text()
    assert 'data-yanked="broken build"' in yanked
    assert (
        "<title>Links for Foo.Bar_baz</title>" in (mirror.web / "simple/foo-bar-baz/index.html").read_text()
    )
    assert '<a href="foo-bar-baz/">Foo.Bar_baz</a>' in (mirror.web / "simple/index.html").read_text()


def test_incremental_run_fetches_only_what_changed(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    generate_corpus(pypi, 10, seed=3)
    synced(mirror)
    pypi.clear_log()
    pypi.add_release("brand-new", "1.0")
    pypi.add_release("Foo.Bar_baz", "9.0")
    synced(mirror)
    assert_mirror_matches(mirror.web, pypi)
    assert sorted(pypi.metadata_requests()) == ["/simple/brand-new/", "/simple/foo-bar-baz/"]  # one document each
    assert pypi.count("GET", "/packages/") == 4  # two releases' files; each wheel's .metadata read from it
    assert mirror.status() == pypi.serial


@pytest.mark.parametrize("delete", [True, False])
def test_removed_file(pypi: PyPIMaster, mirror: MirrorSetup, delete: bool) -> None:
    pypi.add_release("proj", "1.0")
    pypi.add_release("proj", "2.0")
    mirror.write_config(pypi.url, delete_packages=str(delete).lower())
    synced(mirror)
    before = mirrored_files(mirror.web)
    pypi.remove_file("proj", "proj-1.0.tar.gz")
    synced(mirror)
    page = (mirror.web / "simple/proj/index.html").read_text()
    assert "proj-1.0.tar.gz" not in page and "proj-2.0.tar.gz" in page
    if delete:
        assert_mirror_matches(mirror.web, pypi)
    else:
        assert mirrored_files(mirror.web) == before


@pytest.mark.parametrize("delete", [True, False])
def test_removed_project(pypi: PyPIMaster, mirror: MirrorSetup, delete: bool) -> None:
    pypi.add_release("keep-me", "1.0")
    pypi.add_release("Drop.Me", "1.0")
    mirror.write_config(pypi.url, delete_packages=str(delete).lower())
    synced(mirror)
    pypi.remove_project("Drop.Me")
    synced(mirror)
    index = (mirror.web / "simple/index.html").read_text()
    if delete:
        assert_mirror_matches(mirror.web, pypi)
        assert "drop-me" not in index
    else:
        assert (mirror.web / "simple/drop-me/index.html").exists()
        assert '<a href="drop-me/">' in index and len(mirrored_files(mirror.web)) == 4
    assert mirror.status() == pypi.serial


def test_stale_page_is_healed_by_purge(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    pypi.add_release("cdn-victim", "1.0")
    synced(mirror)
    pypi.add_release("cdn-victim", "2.0")
    pypi.stale("cdn-victim", purges_needed=1)
    result = synced(mirror)
    assert pypi.count("PURGE", "/simple/cdn-victim/") == 1
    assert "Stale serial for package cdn-victim" in result.stderr
    assert_mirror_matches(mirror.web, pypi)


def test_stale_forever_gives_up_and_the_next_run_finishes(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    pypi.add_release("python-novaclient", "1.0")
    pypi.add_release("other", "1.0")
    synced(mirror)
    first_serial = mirror.status()
    pypi.add_release("python-novaclient", "2.0")
    pypi.add_release("other", "2.0")
    pypi.stale("python-novaclient", purges_needed=None)
    result = mirror.run()
    assert result.returncode == 1
    serial = pypi.projects()["python-novaclient"]
    assert f"ERROR: Stale serial for python-novaclient ({serial}) not updating. Giving up." in result.stderr
    cause = re.compile(rf"\(the master serves \d+, expected {serial}; PURGE answered [^)]+\)")
    assert cause.search(result.stderr)  # the cause: what the page had, what was expected, what PURGE said
    (owed,) = json.loads((mirror.directory / "last-run.json").read_text())["owed"]
    assert cause.search(owed["error"])
    assert cause.search(mirror.run("status").stdout)
    assert first_serial < mirror.status() == pypi.serial  # every project but the owed one is there
    assert mirror.todo() == f"{pypi.serial}\npython-novaclient {serial}\n"
    assert "other-2.0.tar.gz" in (mirror.web / "simple/other/index.html").read_text()
    assert not (mirror.directory / "todo.done").exists()
    pypi.clear_faults()
    pypi.clear_log()
    synced(mirror)
    assert pypi.metadata_requests("other") == []  # finished last time
    assert_mirror_matches(mirror.web, pypi)
    assert mirror.status() == pypi.serial and mirror.todo() is None


def test_changelog_paging_beyond_one_page(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    pypi.add_release("busy", "1.0")
    synced(mirror)
    for _ in range(50_003):
        pypi.yank("busy", "1.0", reason="again")
    pypi.add_release("late-comer", "1.0")  # only on the second page
    pypi.clear_log()
    synced(mirror)
    assert pypi.count("POST", "/pypi") == 2
    assert_mirror_matches(mirror.web, pypi)
    assert mirror.status() == pypi.serial


def test_sigkill_mid_run_then_resume(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    generate_corpus(pypi, 40, seed=4, files_per_project=(2, 3))
    mirror.write_config(pypi.url, download_workers=4)
    pypi.slow("/packages/", 0.3)  # 100 files and their .metadata, 4 in flight: several journal batches
    process = subprocess.Popen(
        bandersnatch_command() + ["-c", str(mirror.config), "mirror"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    journal = mirror.directory / "todo.done"
    deadline = time.monotonic() + 60
    while not (journal.exists() and journal.read_text().count("\n") >= 3) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done = [line.split()[0] for line in journal.read_text().splitlines()]
    assert 3 <= len(done) < 40
    tree = {path: sha for files in master_tree(pypi).values() for path, sha in files.items()}
    for path in mirrored_files(mirror.web):  # whatever a reader sees is whole and verified
        if not Path(path).name.startswith("."):
            assert sha256_of(mirror.web / path) == tree[path]
    pypi.clear_faults()
    pypi.clear_log()
    synced(mirror)
    assert_mirror_matches(mirror.web, pypi)
    fetched_again = [name for name in done if pypi.metadata_requests(name)]
    assert fetched_again == []
    assert mirror.status() == pypi.serial and mirror.todo() is None


@pytest.mark.parametrize(
    ("fault", "path"),
    [("fail", "/packages/"), ("fail", "/simple/proj/"), ("fail", "/pypi"), ("truncate", "/packages/"),
     ("corrupt", "/packages/")],
)  # fmt: skip
def test_transient_faults_are_retried(pypi: PyPIMaster, mirror: MirrorSetup, fault: str, path: str) -> None:
    pypi.add_release("proj", "1.0", [FileSpec("proj-1.0.tar.gz", size=3_000_000)])
    getattr(pypi, fault)(path, times=2)
    synced(mirror)
    assert_mirror_matches(mirror.web, pypi)


@pytest.mark.parametrize("fault", ["truncate", "corrupt", "fail"])
def test_persistent_download_faults_fail_the_project_and_publish_nothing(
    pypi: PyPIMaster, mirror: MirrorSetup, fault: str
) -> None:
    pypi.add_release("good", "1.0")
    pypi.add_release("bad", "1.0", [FileSpec("bad-1.0.tar.gz", size=200_000)])
    bad_path = pypi.files("bad")[0]["url"].split("/", 3)[3]
    getattr(pypi, fault)(f"/{bad_path}", times=None)
    result = mirror.run()
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "ERROR: " in result.stderr
    assert not (mirror.web / bad_path).exists()
    assert not (mirror.web / "simple/bad/index.html").exists()
    assert (mirror.web / "simple/good/index.html").exists()
    assert '<a href="good/">' in (mirror.web / "simple/index.html").read_text()
    assert mirror.status() == pypi.serial and mirror.todo() == f"{pypi.serial}\nbad {pypi.projects()['bad']}\n"
    pypi.clear_faults()
    synced(mirror)
    assert_mirror_matches(mirror.web, pypi)


def test_a_file_404_fails_the_project(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    pypi.add_release("proj", "1.0")
    pypi.fail("/packages/", status=404, times=None)
    result = mirror.run()
    assert result.returncode == 1 and "HTTP 404" in result.stderr
    assert mirrored_files(mirror.web) == set()


def test_stop_on_error_stops_at_the_first_failure(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    generate_corpus(pypi, 20, seed=5)
    mirror.write_config(pypi.url, stop_on_error="true", workers=1, download_workers=1)
    pypi.fail("/simple/foo-bar-baz/", times=None)  # the first project listed
    result = mirror.run()
    assert result.returncode == 1
    # Two project threads (a worker and a download worker): what the other one had already taken
    # when the failure was known finishes (it may squeeze in one more), nothing else starts.
    started = len(re.findall("Syncing package", result.stderr))
    assert 2 <= started <= 3, result.stderr
    owed = (mirror.todo() or "").splitlines()[1:]
    assert len(owed) == 20 - (started - 1) and owed[0].startswith("Foo.Bar_baz ")  # failed and unstarted
    pypi.clear_faults()
    synced(mirror)
    assert_mirror_matches(mirror.web, pypi)


def test_files_already_present_are_adopted_not_fetched(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    pypi.add_release("old-project", "1.0")
    files = pypi.files("old-project")
    good, bad = (f["url"].split("/", 3)[3] for f in files)
    for relative, content in ((good, pypi.file_content(files[0]["url"])), (bad, b"damaged")):
        (mirror.web / relative).parent.mkdir(parents=True)
        (mirror.web / relative).write_bytes(content)
    synced(mirror)
    assert fetched(pypi, f"/{good}") == 0 and fetched(pypi, f"/{bad}") == 1
    assert_mirror_matches(mirror.web, pypi)


def test_deleting_the_state_forces_a_full_resync_that_downloads_only_what_is_wrong(
    pypi: PyPIMaster, mirror: MirrorSetup
) -> None:
    generate_corpus(pypi, 6, seed=6)
    synced(mirror)
    victim = sorted(mirrored_files(mirror.web))[0]
    (mirror.web / victim).write_bytes(b"bit rot")
    (mirror.directory / "status").unlink()
    pypi.clear_log()
    synced(mirror)
    assert pypi.count("GET", "/packages/") == 1 and fetched(pypi, f"/{victim}") == 1
    assert len(pypi.metadata_requests()) == len(pypi.projects())
    assert_mirror_matches(mirror.web, pypi)


def test_full_resync_drops_projects_the_master_no_longer_lists(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    pypi.add_release("stays", "1.0")
    pypi.add_release("vanishes", "1.0")
    synced(mirror)
    (mirror.directory / "status").unlink()
    pypi.remove_project("vanishes")
    synced(mirror)
    assert_mirror_matches(mirror.web, pypi)


@pytest.mark.parametrize(
    ("filename", "url_path"),
    [
        ("../../../../escaped.whl", None),
        ("evil.whl", "/packages/../../../escaped.whl"),
        ("evil.whl", "/packages/%2e%2e/%2e%2e/%2e%2e/escaped.whl"),
        ("evil.whl", "/etc/evil.whl"),
        ("a\\..\\..\\escaped.whl", None),
        ("x\x00y.whl", None),
        ("/abs/escaped.whl", None),
        ("evil.whl", "http://elsewhere.invalid/../../escaped/evil.whl"),
    ],
)
def test_malicious_paths_are_refused(
    pypi: PyPIMaster, mirror: MirrorSetup, filename: str, url_path: str
) -> None:
    pypi.add_release("innocent", "1.0")
    url = (
        url_path
        if url_path and url_path.startswith("http")
        else pypi.url + (url_path or f"/packages/aa/{filename}")
    )
    pypi.add_raw_file("evil-project", "1.0", filename=filename, url=url)
    result = mirror.run()
    assert result.returncode == 1
    assert "refusing" in result.stderr and "Traceback" not in result.stderr
    outside = [p for p in mirror.directory.parent.rglob("*") if "escaped" in p.name]
    assert outside == []
    assert not (mirror.web / "simple/evil-project").exists()
    assert mirrored_files(mirror.web) == {f["url"].split("/", 3)[3] for f in pypi.files("innocent")}


@pytest.mark.parametrize("name", ["../../escaped", "..", "a/b", "x\ny 5"])
def test_malicious_project_names_are_refused(pypi: PyPIMaster, mirror: MirrorSetup, name: str) -> None:
    pypi.add_release("innocent", "1.0")
    pypi.add_release(name, "1.0")
    result = mirror.run()
    assert result.returncode == 1
    assert "refusing project name" in result.stderr
    assert [p for p in mirror.directory.parent.rglob("*") if "escaped" in p.name] == []
    assert sorted(p.name for p in (mirror.web / "simple").iterdir() if p.is_dir()) == ["innocent"]
    assert normalize("innocent") in (mirror.web / "simple/index.html").read_text()


def test_two_spellings_of_one_project_are_synced_once(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    pypi.add_release("other", "1.0")
    synced(mirror)
    pypi.add_release("Dup.Name", "1.0")
    pypi.remove_project("Dup.Name")
    pypi.add_release("dup_name", "2.0")
    pypi.clear_log()
    synced(mirror)
    assert pypi.metadata_requests() == ["/simple/dup-name/"]
    assert_mirror_matches(mirror.web, pypi)
    assert '<a href="dup-name/">dup_name</a>' in (mirror.web / "simple/index.html").read_text()


def test_a_name_with_a_newline_is_refused_and_the_status_still_moves(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    pypi.add_release("healthy", "1.0")
    assert mirror.run().returncode == 0
    pypi.add_release("sneaky\n", "1.0")
    pypi.add_release("healthy", "2.0")
    result = mirror.run()
    assert "refusing project name 'sneaky\\n'" in result.stderr and "Traceback" not in result.stderr
    assert result.returncode == 1
    assert mirror.status() == pypi.serial
    assert "sneaky" not in (mirror.todo() or "") and "sneaky" not in (mirror.web / "simple" / "index.html").read_text()
    assert mirror.run().returncode == 0 and mirror.status() == pypi.serial  # nothing stuck: the next run is clean


@pytest.mark.parametrize(
    ("options", "sections", "documents"),
    [
        ({}, "", ["/simple/{}/"]),  # the PEP 691 page carries everything the pages need
        ({"simple_format": "HTML", "core_metadata": "false"}, "", ["/simple/{}/"]),
        ({"json": "true"}, "", ["/pypi/{}/json", "/simple/{}/"]),  # the JSON API copy needs `info`
        ({}, "[plugins]\nenabled = latest_release\n[latest_release]\nkeep = 2\n",
         ["/pypi/{}/json", "/simple/{}/"]),  # latest_release keeps the master's info.version
        ({}, "[plugins]\nenabled = latest_release\n[latest_release]\nkeep = 0\n", ["/simple/{}/"]),
    ],
)  # fmt: skip
def test_a_full_sync_asks_one_metadata_document_per_project_unless_settings_need_two(
    pypi: PyPIMaster, mirror: MirrorSetup, options: dict, sections: str, documents: list[str]
) -> None:
    generate_corpus(pypi, 6, seed=12)
    mirror.write_config(pypi.url, **options)
    with open(mirror.config, "a", encoding="utf-8") as handle:
        handle.write(sections)
    synced(mirror)
    expected = sorted(path.format(normalize(name)) for name in pypi.projects() for path in documents)
    assert sorted(pypi.metadata_requests()) == expected  # in the normalized spelling: no redirect
    assert pypi.count("GET") == len(expected) + pypi.count("GET", "/packages/")  # nothing else: no redirects
