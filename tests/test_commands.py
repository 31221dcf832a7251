"""`mirror --force-check`, `sync NAME...` and `[mirror] diff-file`, through the real command."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import MirrorSetup, assert_mirror_matches, mirrored_files
from tests.pypi_master import PyPIMaster, generate_corpus


def test_force_check_rechecks_everything_and_fetches_only_what_is_wrong(
    pypi: PyPIMaster, mirror: MirrorSetup
) -> None:
    generate_corpus(pypi, 6, seed=11)
    assert mirror.run().returncode == 0
    victim = sorted(mirrored_files(mirror.web))[0]
    (mirror.web / victim).write_bytes(b"bit rot")
    pypi.clear_log()
    assert "Nothing to do" in mirror.run().stderr  # an ordinary run trusts what it published
    result = mirror.run("mirror", "--force-check")
    assert result.returncode == 0, result.stderr
    assert len(pypi.metadata_requests()) == len(pypi.projects())
    assert pypi.count("GET", "/packages/") == 1 and pypi.count("GET", f"/{victim}") == 1
    assert_mirror_matches(mirror.web, pypi)
    assert mirror.status() == pypi.serial and mirror.todo() is None


def test_sync_names_brings_projects_up_to_date_without_moving_the_status(
    pypi: PyPIMaster, mirror: MirrorSetup
) -> None:
    pypi.add_release("Some.Project", "1.0")
    pypi.add_release("other", "1.0")
    assert mirror.run().returncode == 0
    status = mirror.status()
    pypi.add_release("Some.Project", "2.0")
    pypi.add_release("other", "2.0")
    pypi.clear_log()
    result = mirror.run("sync", "some_project")
    assert result.returncode == 0, result.stderr
    assert "some_project-2.0.tar.gz" in (mirror.web / "simple/some-project/index.html").read_text().lower()
    assert "other-2.0" not in (mirror.web / "simple/other/index.html").read_text()
    assert pypi.metadata_requests() == ["/simple/some-project/"] and pypi.count("POST") == 0
    assert mirror.status() == status
    assert mirror.run().returncode == 0  # the next run does the rest
    assert_mirror_matches(mirror.web, pypi)


def test_sync_of_an_unknown_project_is_one_line_and_exit_1(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    pypi.add_release("known", "1.0")
    assert mirror.run().returncode == 0
    result = mirror.run("sync", "no-such-project")
    assert result.returncode == 1
    assert "ERROR: Unknown project 'no-such-project': neither the master nor the mirror has it" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (mirror.web / "simple/no-such-project").exists()


def test_sync_of_a_project_the_master_deleted_removes_it(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    pypi.add_release("doomed", "1.0")
    pypi.add_release("stays", "1.0")
    assert mirror.run().returncode == 0
    pypi.remove_project("doomed")
    assert mirror.run("sync", "doomed").returncode == 0
    assert not (mirror.web / "simple/doomed").exists()
    assert '<a href="doomed/">' not in (mirror.web / "simple/index.html").read_text()


def test_diff_file_lists_what_each_run_published(pypi: PyPIMaster, mirror: MirrorSetup, tmp_path: Path) -> None:
    pypi.add_release("first", "1.0")
    mirror.write_config(pypi.url, diff_file="mirrored-files")
    assert mirror.run().returncode == 0
    listed = (mirror.directory / "mirrored-files").read_text().splitlines()
    web = mirror.web
    expected = {str(web / path) for path in mirrored_files(web)} | {
        str(web / "simple/first/index.html"), str(web / "simple/index.html"), str(web / "last-modified")}  # fmt: skip
    assert expected <= set(listed) and all(line.startswith(str(web)) for line in listed)
    pypi.add_release("second", "1.0")
    mirror.write_config(pypi.url, diff_file=str(tmp_path / "diffs" / "changed"), diff_append_epoch="true")
    assert mirror.run().returncode == 0
    (diff,) = (tmp_path / "diffs").iterdir()
    assert diff.name.startswith("changed-") and diff.name[len("changed-"):].isdigit()
    lines = diff.read_text().splitlines()
    assert any(line.endswith("second-1.0.tar.gz") for line in lines)
    assert not any("/first" in line for line in lines)  # only what this run changed
