"""``bandersnatch verify`` and ``delete`` through the real command, on a mirror damaged in every way."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest

from bandersnatch.model import normalize
from bandersnatch.pages.layout import Links
from bandersnatch.pages.pep691 import root_key
from bandersnatch.pages.published import read_project
from bandersnatch.storage import FilesystemStorage
from tests.conftest import (
    MirrorSetup,
    assert_mirror_matches,
    master_tree,
    mirrored_files,
)
from tests.pypi_master import PyPIMaster, generate_corpus


def synced(pypi: PyPIMaster, mirror: MirrorSetup, **options: str) -> None:
    generate_corpus(pypi, 8, seed=3, files_per_project=(2, 3))
    mirror.write_config(pypi.url, **options)
    result = mirror.run()
    assert result.returncode == 0, result.stderr


def path_of(pypi: PyPIMaster, project: str, index: int = 0) -> str:
    return unquote(urlsplit(pypi.files(project)[index]["url"]).path)[1:]


def snapshot(web: Path) -> dict[str, bytes]:
    return {str(p.relative_to(web)): p.read_bytes() for p in web.rglob("*") if p.is_file()}


def verify_json(mirror: MirrorSetup, *args: str) -> tuple[int, dict]:
    result = mirror.run("verify", "--json", *args)
    assert "Traceback" not in result.stderr
    return result.returncode, json.loads(result.stdout)


def owner(pypi: PyPIMaster, path: str) -> str:
    return next(normalize(n) for n in pypi.projects() if any(f["url"].endswith(quote(path)) for f in pypi.files(n)))


def remove_a_metadata_file(web: Path, project: str) -> str:
    """Delete the PEP 658 .metadata file that the project's page announces for its first wheel."""
    published = read_project(FilesystemStorage(web.parent), project, Links())
    path = next(item.path for item in published.files if item.path.endswith(".metadata"))
    (web / path).unlink()
    return path


def beside(paths: set[str], web: Path) -> set[str]:
    """The paths and the .metadata files the mirror keeps beside them."""
    return paths | {f"{path}.metadata" for path in paths if (web / f"{path}.metadata").exists()}


@pytest.fixture
def damaged(pypi: PyPIMaster, mirror: MirrorSetup) -> dict[str, tuple[str, str, str | None]]:
    """The mirror, damaged once in each way; {case: (kind, path, project)} of what verify must name.

    HTML pages only: they carry no sizes, so a truncated file is a hash problem (JSON pages are
    tested on their own below)."""
    synced(pypi, mirror, simple_format="HTML")
    web = mirror.web
    names = sorted(normalize(name) for name in pypi.projects())
    deleted, truncated, flipped = (path_of(pypi, name) for name in names[4:7])
    (web / deleted).unlink()
    data = (web / truncated).read_bytes()
    (web / truncated).write_bytes(data[: len(data) // 2])
    data = bytearray((web / flipped).read_bytes())
    data[10] ^= 0xFF
    (web / flipped).write_bytes(bytes(data))
    orphan = "packages/aa/bb/cc/stray-1.0.tar.gz"
    (web / orphan).parent.mkdir(parents=True)
    (web / orphan).write_bytes(b"stray")
    (web / "simple" / names[0] / "index.html").unlink()
    index = web / "simple" / "index.html"
    index.write_text("".join(line for line in index.read_text().splitlines(True) if f'"{names[1]}/"' not in line))
    metadata = remove_a_metadata_file(web, names[2])
    return {
        "deleted": ("missing", deleted, owner(pypi, deleted)),
        "truncated": ("hash", truncated, owner(pypi, truncated)),
        "flipped": ("hash", flipped, owner(pypi, flipped)),
        "orphan": ("orphan", orphan, None),
        "missing page": ("no-page", f"simple/{names[0]}/index.html", names[0]),
        "not in index": ("not-in-index", "simple/index.html", names[1]),
        "missing .metadata": ("missing", metadata, names[2]),
    }


def found(report: dict) -> set[tuple[str, str, str | None]]:
    return {(p["kind"], p["path"], p["project"]) for p in report["problems"]}


def test_verify_names_each_damage_and_exits_1(pypi: PyPIMaster, mirror: MirrorSetup, damaged: dict) -> None:
    status, report = verify_json(mirror, "--hash")
    assert status == 1
    unpaged = {("orphan", path, None) for path in beside(set(master_tree(pypi)[damaged["missing page"][2]]), mirror.web)}
    assert found(report) == set(damaged.values()) | unpaged  # a page's loss leaves its files unclaimed
    assert report["summary"] == {"missing": 2, "hash": 2, "no-page": 1, "not-in-index": 1, "orphan": 1 + len(unpaged)}
    plain = mirror.run("verify")
    assert plain.returncode == 1
    assert f"missing: {damaged['deleted'][1]} ({damaged['deleted'][2]})" in plain.stdout.splitlines()
    assert plain.stdout.splitlines()[-1].startswith("verify: 8 projects, ")


def test_without_hash_only_presence_is_checked_from_html_pages(mirror: MirrorSetup, damaged: dict) -> None:
    _, report = verify_json(mirror)
    kinds = {case for case, problem in damaged.items() if problem in found(report)}
    assert kinds == set(damaged) - {"truncated", "flipped"}


def test_dry_run_changes_nothing(mirror: MirrorSetup, damaged: dict) -> None:
    before = snapshot(mirror.web)
    result = mirror.run("verify", "--hash", "--repair", "--delete", "--dry-run")
    assert result.returncode == 1, result.stderr
    assert "Would re-fetch" in result.stderr and "Would delete orphan packages/aa/bb/cc/stray-1.0.tar.gz" in result.stderr
    assert snapshot(mirror.web) == before


def test_repair_heals_each_with_only_the_needed_downloads(
    pypi: PyPIMaster, mirror: MirrorSetup, damaged: dict
) -> None:
    pypi.clear_log()
    result = mirror.run("verify", "--hash", "--repair")
    assert result.returncode == 1, result.stderr  # the orphan is still there: --delete was not given
    downloads = {unquote(path)[1:] for method, path in pypi.requests if path.startswith("/packages/")}
    assert downloads == {damaged[case][1] for case in ("deleted", "truncated", "flipped")}  # .metadata: from its wheel
    assert (mirror.web / damaged["orphan"][1]).exists()
    status, report = verify_json(mirror, "--hash")
    assert found(report) == {damaged["orphan"]} and status == 1
    assert_mirror_matches_but(mirror.web, pypi, {damaged["orphan"][1]})
    result = mirror.run("verify", "--delete")
    assert result.returncode == 0, result.stderr
    assert_mirror_matches(mirror.web, pypi)
    assert verify_json(mirror, "--hash") == (0, {"problems": [], "summary": {}, "checked": report["checked"]})


def assert_mirror_matches_but(web: Path, pypi: PyPIMaster, extra: set[str]) -> None:
    for path in extra:
        (web / path).rename(web.parent / "aside")
    assert_mirror_matches(web, pypi)
    for path in extra:
        (web.parent / "aside").rename(web / path)


def test_repair_and_delete_at_once_keep_what_a_repaired_page_claims(
    pypi: PyPIMaster, mirror: MirrorSetup, damaged: dict
) -> None:
    result = mirror.run("verify", "--hash", "--repair", "--delete")
    assert result.returncode == 0, result.stderr
    assert_mirror_matches(mirror.web, pypi)


def test_delete_removes_only_orphans(pypi: PyPIMaster, mirror: MirrorSetup, damaged: dict) -> None:
    before = mirrored_files(mirror.web)
    result = mirror.run("verify", "--delete")
    assert result.returncode == 1, result.stderr  # the other problems remain
    unpaged = set(master_tree(pypi)[damaged["missing page"][2]])
    assert mirrored_files(mirror.web) == before - {damaged["orphan"][1]} - unpaged
    assert not any((mirror.web / f"{path}.metadata").exists() for path in unpaged)


def test_json_pages_give_sizes(mirror: MirrorSetup, pypi: PyPIMaster) -> None:
    synced(pypi, mirror)  # all formats: the JSON page is read first
    name = sorted(normalize(n) for n in pypi.projects())[5]
    path = path_of(pypi, name)
    (mirror.web / path).write_bytes((mirror.web / path).read_bytes() + b"x")
    _, report = verify_json(mirror)  # sizes only, no hashing
    assert found(report) == {("size", path, name)}


def path_of_url(url: str) -> str:
    return unquote(urlsplit(url).path).lstrip("/")


@pytest.mark.parametrize(
    "args, message",
    [
        (("delete", "no-such-project"), "no project 'no-such-project' on the mirror"),
        (("delete", "../etc"), "not a valid PEP 508 name"),
        (("verify",), "holds no mirror"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(mirror: MirrorSetup, args: tuple[str, ...], message: str) -> None:
    if args[0] == "delete":  # a mirror of no project yet
        mirror.web.joinpath("simple").mkdir(parents=True)
        mirror.web.joinpath("simple", "index.html").write_text("", encoding="utf-8")
    result = mirror.run(*args)
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_delete_removes_pages_files_and_index_entries(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    synced(pypi, mirror)
    victim = sorted(pypi.projects())[5]
    before = snapshot(mirror.web)
    dry = mirror.run("delete", "--dry-run", victim)
    assert dry.returncode == 0 and snapshot(mirror.web) == before
    result = mirror.run("delete", victim)
    assert result.returncode == 0, result.stderr
    assert not (mirror.web / "simple" / normalize(victim)).exists()
    assert f'"{normalize(victim)}/"' not in (mirror.web / "simple" / "index.html").read_text()
    pypi.remove_project(victim)  # now the mirror should equal a master without it
    assert_mirror_matches(mirror.web, pypi)
    assert verify_json(mirror, "--hash")[0] == 0


def test_a_json_only_mirror_is_checked_against_its_json_root(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    synced(pypi, mirror, simple_format="JSON")
    assert verify_json(mirror, "--hash")[0] == 0
    root = mirror.web / "simple" / "index.v1_json"
    name = sorted(normalize(n) for n in pypi.projects())[3]
    root.write_text("".join(line for line in root.read_text().splitlines(True) if root_key(line) != name))
    status, report = verify_json(mirror)
    assert status == 1 and found(report) == {("not-in-index", "simple/index.v1_json", name)}
