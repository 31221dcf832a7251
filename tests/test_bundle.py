"""The air gap through the real commands: export on the online mirror, import on an offline one."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import venv
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlsplit

import pytest

from bandersnatch.commands.bundle_import import MANIFEST_PER_MEMBER, MAX_MANIFEST, MAX_PAGE
from bandersnatch.model import normalize
from tests.conftest import MirrorSetup, assert_mirror_matches, size_on_disk, size_total
from tests.nginx import NOT_INSTALLED, nginx_binary, serving, world_readable_tempdir
from tests.pypi_master import PyPIMaster, generate_corpus

UNREACHABLE = "http://127.0.0.1:9"  # nothing listens on the discard port: the offline side has no master


@pytest.fixture
def offline(tmp_path: Path) -> Iterator[MirrorSetup]:
    with world_readable_tempdir() as root:
        setup = MirrorSetup(directory=root / "offline", config=tmp_path / "offline.conf")
        setup.write_config(UNREACHABLE)
        yield setup


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def tree(web: Path) -> dict[str, bytes]:
    return {str(p.relative_to(web)): p.read_bytes() for p in web.rglob("*") if p.is_file()} if web.exists() else {}


def file_members(bundle: Path) -> set[str]:
    with tarfile.open(bundle) as tar:
        return {m.name[len("web/") :] for m in tar if m.name.startswith("web/packages/")}


def paths(pypi: PyPIMaster, name: str) -> set[str]:
    return {unquote(urlsplit(f["url"]).path)[1:] for f in pypi.files(name)}


@pytest.fixture
def exported(pypi: PyPIMaster, mirror: MirrorSetup, offline: MirrorSetup, tmp_path: Path) -> Path:
    """A synced mirror, its full export, imported offline."""
    generate_corpus(pypi, 8, seed=4, files_per_project=(2, 3))
    pypi.add_release("installable", "1.0")
    ok(mirror.run())
    bundle = tmp_path / "full.tar"
    ok(mirror.run("export", str(bundle)))
    ok(offline.run("import", str(bundle)))
    return bundle


def test_a_full_export_imports_into_an_empty_mirror_without_a_master(
    pypi: PyPIMaster, offline: MirrorSetup, exported: Path
) -> None:
    assert_mirror_matches(offline.web, pypi)
    assert offline.status() == pypi.serial
    ok(offline.run("verify", "--hash"))


def test_pip_installs_from_the_imported_mirror_through_nginx(
    offline: MirrorSetup, exported: Path, tmp_path: Path
) -> None:
    binary = nginx_binary()
    if binary is None:
        pytest.skip(NOT_INSTALLED)
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / "bin" / "python"
    with serving(binary, offline.web, tmp_path / "nginx") as served:
        install = subprocess.run(
            [str(python), "-m", "pip", "--isolated", "--disable-pip-version-check", "--no-cache-dir", "install",
             "--index-url", f"{served.url}/simple/", "installable==1.0"],
            capture_output=True, text=True, timeout=180, env={"PATH": "/usr/bin:/bin", "no_proxy": "*"},
        )  # fmt: skip
    assert install.returncode == 0, install.stdout + install.stderr


def test_an_incremental_bundle_carries_the_changes_and_deletions(
    pypi: PyPIMaster, mirror: MirrorSetup, offline: MirrorSetup, exported: Path, tmp_path: Path
) -> None:
    names = sorted(pypi.projects())
    pypi.add_release(names[5], "9.0")
    pypi.remove_file(names[6], pypi.files(names[6])[0]["filename"])
    pypi.remove_project(names[7])
    ok(mirror.run())
    bundle = tmp_path / "second.tar"
    ok(mirror.run("export", str(bundle)))
    new = {path for path in paths(pypi, names[5]) if "-9.0" in path}
    new |= {path + ".metadata" for path in new if path.endswith(".whl")}  # PEP 658, beside the wheel
    assert file_members(bundle) == new  # only the bytes that changed, plus pages and the manifest
    ok(offline.run("import", str(bundle)))
    assert_mirror_matches(offline.web, pypi)
    assert offline.status() == pypi.serial
    ok(offline.run("verify", "--hash"))


def test_an_import_moves_the_size_total_by_the_files_it_adds_and_removes(
    pypi: PyPIMaster, mirror: MirrorSetup, offline: MirrorSetup, exported: Path, tmp_path: Path
) -> None:
    files, size = size_on_disk(offline.web)  # an offline mirror with a total (a run once counted it)
    (offline.directory / "runs.json").write_text(json.dumps({"size": {"files": files, "bytes": size}, "runs": []}))
    names = sorted(pypi.projects())
    pypi.add_release(names[5], "9.0")
    pypi.remove_project(names[7])
    ok(mirror.run())
    bundle = tmp_path / "second.tar"
    ok(mirror.run("export", str(bundle)))
    ok(offline.run("import", str(bundle)))
    assert size_total(offline) == size_on_disk(offline.web) != (files, size)


def test_replayed_out_of_order_foreign_and_damaged_bundles_are_refused(
    pypi: PyPIMaster, mirror: MirrorSetup, offline: MirrorSetup, exported: Path, tmp_path: Path
) -> None:
    before = tree(offline.web), offline.status()
    refused(offline.run("import", str(exported)), "does not follow on")  # replayed
    second, third = tmp_path / "second.tar", tmp_path / "third.tar"
    for bundle, name in ((second, "later-one"), (third, "later-two")):
        pypi.add_release(name, "1.0")
        ok(mirror.run())
        ok(mirror.run("export", str(bundle)))
    refused(offline.run("import", str(third)), "does not follow on")  # out of order
    damaged = tmp_path / "damaged.tar"
    data = bytearray(second.read_bytes())
    data[len(data) // 3] ^= 0xFF
    damaged.write_bytes(bytes(data))
    refused(offline.run("import", str(damaged)), "damaged")
    foreign = tmp_path / "foreign.tar"
    with tarfile.open(second) as source, tarfile.open(foreign, "w") as target:
        for member in source:
            content = source.extractfile(member).read()
            if member.name == "bandersnatch-bundle.json":
                content = json.dumps({**json.loads(content), "mirror": "another"}).encode()
                member.size = len(content)
            target.addfile(member, __import__("io").BytesIO(content))
    refused(offline.run("import", str(foreign)), "another mirror")
    assert (tree(offline.web), offline.status()) == before
    ok(offline.run("import", str(second)))
    ok(offline.run("import", str(third)))
    assert_mirror_matches(offline.web, pypi)


def test_a_bundle_into_a_directory_that_is_no_mirror_is_refused(
    mirror: MirrorSetup, offline: MirrorSetup, exported: Path, tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    setup = MirrorSetup(directory=stranger, config=tmp_path / "stranger.conf")
    setup.write_config(UNREACHABLE)
    refused(setup.run("import", str(exported)), "neither empty nor a mirror")
    refused(setup.run("export", str(tmp_path / "x.tar")), "holds no mirror")


def test_a_project_owed_at_export_time_arrives_whole_once_it_heals(
    pypi: PyPIMaster, mirror: MirrorSetup, offline: MirrorSetup, exported: Path, tmp_path: Path
) -> None:
    """Its files fetched before the failure predate the export; its page serial may be below the
    status; the next bundle must still carry it, files included."""
    pypi.add_release("flaky", "1.0")
    wheel = next(f["url"] for f in pypi.files("flaky") if f["filename"].endswith(".whl"))
    pypi.fail(urlsplit(wheel).path, times=None)
    pypi.add_release("bystander", "1.0")  # moves the status past flaky's serial
    assert mirror.run().returncode == 1
    ok(mirror.run("export", str(tmp_path / "during.tar")))
    ok(offline.run("import", str(tmp_path / "during.tar")))
    pypi.clear_faults()
    ok(mirror.run())
    ok(mirror.run("export", str(tmp_path / "healed.tar")))
    assert paths(pypi, "flaky") <= file_members(tmp_path / "healed.tar")  # the files fetched before the failure too
    ok(offline.run("import", str(tmp_path / "healed.tar")))
    assert_mirror_matches(offline.web, pypi)
    ok(offline.run("verify", "--hash"))


# ------------------------------------------------------------------ hostile bundles: refused whole
MANIFEST = "bandersnatch-bundle.json"
Entry = tuple[tarfile.TarInfo, bytes]


def state_of(setup: MirrorSetup) -> dict[str, str]:
    """Every file of the mirror's home (state files and web/) by its sha256: "byte for byte"."""
    return {
        str(path.relative_to(setup.directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(setup.directory.rglob("*"))
        if path.is_file() or path.is_symlink()
    }


def entries_of(bundle: Path) -> tuple[list[Entry], dict]:
    """The bundle's members but the manifest, and the manifest."""
    entries, manifest = [], None
    with tarfile.open(bundle) as tar:
        for member in tar:
            data = tar.extractfile(member).read()
            if member.name == MANIFEST:
                manifest = json.loads(data)
            else:
                entries.append((member, data))
    return entries, manifest


def file_entry(name: str, data: bytes, kind: bytes = tarfile.REGTYPE, link: str = "") -> Entry:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    info.size = len(data) if kind in (tarfile.REGTYPE, tarfile.AREGTYPE) else 0
    return info, data


def write_bundle(path: Path, entries: list[Entry], manifest: object, raw: bytes | None = None) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
        body = raw if raw is not None else json.dumps(manifest).encode()
        tar.addfile(file_entry(MANIFEST, body)[0], io.BytesIO(body))
    return path


def entry_of(data: bytes) -> dict:
    return {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}


@pytest.fixture
def second(pypi: PyPIMaster, mirror: MirrorSetup, exported: Path, tmp_path: Path) -> tuple[list[Entry], dict]:
    """A good incremental bundle (a new project 'later-one', a new release of another) as entries
    to tamper with; the offline mirror holds the full export it follows on from."""
    pypi.add_release("later-one", "1.0")
    pypi.add_release(sorted(pypi.projects())[0], "7.0")
    ok(mirror.run())
    ok(mirror.run("export", str(tmp_path / "second.tar")))
    return entries_of(tmp_path / "second.tar")


def assert_refused(offline: MirrorSetup, bundle: Path, message: str) -> None:
    before = state_of(offline)
    result = offline.run("import", str(bundle))
    assert "Traceback" not in result.stderr
    refused(result, message)
    assert state_of(offline) == before


def first_file(entries: list[Entry]) -> int:
    return next(i for i, (info, _) in enumerate(entries) if info.name.startswith("web/packages/"))


def test_a_duplicate_member_is_refused_before_anything_is_written(
    offline: MirrorSetup, second: tuple[list[Entry], dict], tmp_path: Path
) -> None:
    entries, manifest = second
    index = first_file(entries)
    info, data = entries[index]
    damaged = file_entry(info.name, bytes([data[0] ^ 0xFF]) + data[1:])
    tampered = entries[:index] + [damaged] + entries[index:]  # the damaged copy first, the good one second
    assert_refused(offline, write_bundle(tmp_path / "dup.tar", tampered, manifest), "appears twice")
    ok(offline.run("import", str(write_bundle(tmp_path / "good.tar", entries, manifest))))


def first_member(members: dict) -> str:
    return next(name for name in members if name.startswith("web/packages/"))


MANIFEST_ATTACKS = {
    "project serial is a string": lambda m: {**m, "projects": {**m["projects"], "later-one": "5"}},
    "project serial is negative": lambda m: {**m, "projects": {**m["projects"], "later-one": -1}},
    "project serial is a bool": lambda m: {**m, "projects": {**m["projects"], "later-one": True}},
    "changed holds a number": lambda m: {**m, "changed": [*m["changed"], 7]},
    "changed is a string": lambda m: {**m, "changed": "later-one"},
    "member without size": lambda m: {**m, "members": {
        k: ({"sha256": v["sha256"]} if k == first_member(m["members"]) else v) for k, v in m["members"].items()}},
    "member size is a string": lambda m: {**m, "members": {
        k: ({**v, "size": str(v["size"])} if k == first_member(m["members"]) else v) for k, v in m["members"].items()}},
    "member sha256 not hex": lambda m: {**m, "members": {
        k: ({**v, "sha256": "z" * 64} if k == first_member(m["members"]) else v) for k, v in m["members"].items()}},
    "members is a list": lambda m: {**m, "members": list(m["members"])},
    "negative from": lambda m: {**m, "from": -1},
    "to before from": lambda m: {**m, "to": m["from"] - 1},
    "from is a bool": lambda m: {**m, "from": True},
    "to is a bool": lambda m: {**m, "to": True},
    "to is a float": lambda m: {**m, "to": float(m["to"])},
    "name not normalized": lambda m: {**m, "projects": {**m["projects"], "Later_One": 1}},
    "changed name not normalized": lambda m: {
        **m, "projects": {**m["projects"], "Later_One": 1}, "changed": [*m["changed"], "Later_One"]},
    "name ends in a newline": lambda m: {**m, "projects": {**m["projects"], "later-one\n": 1}},
    "changed name ends in a newline": lambda m: {
        **m, "projects": {**m["projects"], "evil\n": 1}, "changed": [*m["changed"], "evil\n"]},
    "name is a path": lambda m: {**m, "projects": {**m["projects"], "../etc": 1}},
    "changed not among projects": lambda m: {**m, "changed": [*m["changed"], "ghost"]},
    "mirror id with a newline": lambda m: {**m, "mirror": m["mirror"] + "\nextra"},
    "unknown key": lambda m: {**m, "signature": "trust me"},
    "format 2": lambda m: {**m, "format": 2},
}


@pytest.mark.parametrize("attack", sorted(MANIFEST_ATTACKS))
def test_a_manifest_of_the_wrong_shape_is_refused_before_anything_is_written(
    offline: MirrorSetup, second: tuple[list[Entry], dict], tmp_path: Path, attack: str
) -> None:
    entries, manifest = second
    bundle = write_bundle(tmp_path / "bad.tar", entries, MANIFEST_ATTACKS[attack](manifest))
    assert_refused(offline, bundle, "manifest is not one this bandersnatch writes")


def test_a_manifest_with_a_duplicate_key_or_not_json_is_refused(
    offline: MirrorSetup, second: tuple[list[Entry], dict], tmp_path: Path
) -> None:
    entries, manifest = second
    text = json.dumps(manifest)
    duplicated = text[:-1] + ', "to": 0}'
    assert_refused(offline, write_bundle(tmp_path / "a.tar", entries, None, duplicated.encode()), "appears twice")
    assert_refused(offline, write_bundle(tmp_path / "b.tar", entries, None, b"\xff{"), "not JSON")
    assert_refused(offline, write_bundle(tmp_path / "c.tar", entries, None, b"[" * 100_000), "not JSON")


def rename_page_folder(entries: list[Entry], manifest: dict, old: str, new: str) -> tuple[list[Entry], dict]:
    renamed, members = [], {}
    for info, data in entries:
        name = info.name.replace(f"web/simple/{old}/", f"web/simple/{new}/")
        renamed.append(file_entry(name, data))
    for name, entry in manifest["members"].items():
        members[name.replace(f"web/simple/{old}/", f"web/simple/{new}/")] = entry
    return renamed, {**manifest, "members": members}


@pytest.mark.parametrize("folder", ["Later_One", "later-one.", "later--one", "later one", "-x"])
def test_a_page_folder_that_is_no_normalized_name_is_refused(
    offline: MirrorSetup, second: tuple[list[Entry], dict], tmp_path: Path, folder: str
) -> None:
    entries, manifest = rename_page_folder(*second, "later-one", folder)
    assert_refused(offline, write_bundle(tmp_path / "bad.tar", entries, manifest), "unexpected member")


def test_a_page_of_a_project_not_among_the_changed_ones_is_refused(
    offline: MirrorSetup, second: tuple[list[Entry], dict], tmp_path: Path
) -> None:
    entries, manifest = rename_page_folder(*second, "later-one", "other")
    manifest = {**manifest, "projects": {**manifest["projects"], "other": 1}}
    assert_refused(offline, write_bundle(tmp_path / "bad.tar", entries, manifest), "not among the changed projects")


SPECIAL = {
    "symlink": (tarfile.SYMTYPE, "/etc/passwd"),
    "hard link": (tarfile.LNKTYPE, "web/simple/index.html"),
    "character device": (tarfile.CHRTYPE, ""),
    "block device": (tarfile.BLKTYPE, ""),
    "fifo": (tarfile.FIFOTYPE, ""),
    "directory": (tarfile.DIRTYPE, ""),
}


@pytest.mark.parametrize("kind", sorted(SPECIAL))
def test_a_member_that_is_no_plain_file_is_refused(
    offline: MirrorSetup, second: tuple[list[Entry], dict], tmp_path: Path, kind: str
) -> None:
    entries, manifest = second
    index = first_file(entries)
    special = file_entry(entries[index][0].name, b"", *SPECIAL[kind])
    tampered = entries[:index] + [special] + entries[index + 1 :]
    assert_refused(offline, write_bundle(tmp_path / "bad.tar", tampered, manifest), "is not a plain file")


@pytest.mark.parametrize(
    "name",
    [
        "web/packages/../../status",
        "/etc/evil",
        "../evil",
        "web/packages/aa/./x.whl",
        "web/packages//x.whl",
        "web/other/x",
        "status",
        "web/simple/index.html",
        "web/simple/later-one/evil.html",
        "web/simple/later-one/sub/index.html",
        "web/pypi/later-one/json/x",
        "web/packages/a\\b.whl",
        "web/packages/a\nb.whl",
    ],
)
def test_a_member_at_a_path_import_does_not_write_is_refused(
    offline: MirrorSetup, second: tuple[list[Entry], dict], tmp_path: Path, name: str
) -> None:
    entries, manifest = second
    extra = file_entry(name, b"evil")
    members = {**manifest["members"], name: entry_of(b"evil")}
    tampered = [extra, *entries]
    assert_refused(offline, write_bundle(tmp_path / "bad.tar", tampered, {**manifest, "members": members}), "")
    assert not (tmp_path / "evil").exists() and not Path("/etc/evil").exists()


def test_a_file_after_the_pages_is_refused(
    offline: MirrorSetup, second: tuple[list[Entry], dict], tmp_path: Path
) -> None:
    entries, manifest = second
    moved = next(entry for entry in entries if entry[0].name.startswith("web/packages/") and "later" in entry[0].name)
    rest = [entry for entry in entries if entry is not moved]
    page = next(i for i, (info, _) in enumerate(rest) if info.name.startswith("web/simple/"))
    assert "later-one" not in rest[page][0].name  # a page that does not link the moved file
    tampered = rest[: page + 1] + [moved] + rest[page + 1 :]
    assert_refused(offline, write_bundle(tmp_path / "bad.tar", tampered, manifest), "comes after the pages")


def test_a_page_linking_a_file_neither_bundled_nor_mirrored_is_refused(
    offline: MirrorSetup, second: tuple[list[Entry], dict], tmp_path: Path
) -> None:
    entries, manifest = second
    dropped = next(info.name for info, _ in entries if info.name.startswith("web/packages/") and "later" in info.name)
    kept = [(info, data) for info, data in entries if info.name != dropped]
    members = {name: entry for name, entry in manifest["members"].items() if name != dropped}
    bundle = write_bundle(tmp_path / "bad.tar", kept, {**manifest, "members": members})
    assert_refused(offline, bundle, "which neither the bundle nor the mirror holds")


def test_an_empty_project_list_never_empties_the_mirror(
    offline: MirrorSetup, second: tuple[list[Entry], dict], tmp_path: Path
) -> None:
    entries, manifest = second
    pages = [(info, data) for info, data in entries if not info.name.startswith("web/simple/")]
    empty = {**manifest, "projects": {}, "changed": [],
             "members": {n: e for n, e in manifest["members"].items() if not n.startswith("web/simple/")}}  # fmt: skip
    projects = len([p for p in (offline.web / "simple").iterdir() if p.is_dir()])
    assert_refused(
        offline, write_bundle(tmp_path / "empty.tar", pages, empty),
        f"refusing to delete {projects} of {projects} projects (max-deletions 100 by default); "
        "run with --allow-mass-deletion or raise [mirror] max-deletions",
    )  # fmt: skip


def test_max_deletions_limits_an_import_and_the_flag_proceeds(
    offline: MirrorSetup, second: tuple[list[Entry], dict], tmp_path: Path
) -> None:
    entries, manifest = second
    offline.write_config(UNREACHABLE, max_deletions=2)
    keep = dict(sorted(manifest["projects"].items())[:6])
    keep["later-one"] = manifest["projects"]["later-one"]
    changed = [name for name in manifest["changed"] if name in keep]
    members = {n: e for n, e in manifest["members"].items() if not n.startswith("web/simple/") or n.split("/")[2] in keep}
    kept = [(info, data) for info, data in entries if info.name in members]
    bundle = write_bundle(tmp_path / "few.tar", kept, {**manifest, "projects": keep, "changed": changed, "members": members})
    gone = len(manifest["projects"]) - len(keep)
    total = len([p for p in (offline.web / "simple").iterdir() if p.is_dir()])
    assert_refused(offline, bundle, f"refusing to delete {gone} of {total} projects (max-deletions 2); ")
    ok(offline.run("import", "--allow-mass-deletion", str(bundle)))
    assert sorted(p.name for p in (offline.web / "simple").iterdir() if p.is_dir()) == sorted(keep)
    ok(offline.run("verify", "--hash"))


@pytest.mark.parametrize("keep", [0.001, 0.3, 0.6, "manifest"])
def test_a_truncated_bundle_is_refused_without_a_traceback(
    offline: MirrorSetup, second: tuple[list[Entry], dict], tmp_path: Path, keep: float | str
) -> None:
    """A copy cut short (a full USB stick, an interrupted transfer) ends inside a member's data.
    (Only the end-of-archive padding missing is no damage: every member is whole.)"""
    good = write_bundle(tmp_path / "good.tar", *second)
    data = good.read_bytes()
    manifest = json.dumps(second[1]).encode()
    end = data.rfind(manifest) + len(manifest) // 2 if keep == "manifest" else int(len(data) * keep)
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[:end])
    assert_refused(offline, cut, "damaged")


def test_json_api_copies_travel_with_their_pages(
    pypi: PyPIMaster, mirror: MirrorSetup, offline: MirrorSetup, tmp_path: Path
) -> None:
    """With json = true the mirror writes web/pypi/{name}/json; the offline side must serve it too."""
    generate_corpus(pypi, 5, seed=5, files_per_project=(1, 2))
    mirror.write_config(pypi.url, json="true")
    ok(mirror.run())
    ok(mirror.run("export", str(tmp_path / "full.tar")))
    ok(offline.run("import", str(tmp_path / "full.tar")))
    online = {p.relative_to(mirror.web): p.read_bytes() for p in (mirror.web / "pypi").rglob("json")}
    assert len(online) == 5
    assert {p.relative_to(offline.web): p.read_bytes() for p in (offline.web / "pypi").rglob("json")} == online
    name = sorted(pypi.projects())[2]
    pypi.remove_project(name)
    ok(mirror.run())
    ok(mirror.run("export", str(tmp_path / "second.tar")))
    ok(offline.run("import", str(tmp_path / "second.tar")))
    assert not (offline.web / "pypi" / normalize(name)).exists()


@pytest.mark.parametrize("which", ["manifest", "page"])
def test_a_member_too_large_to_read_whole_is_refused_before_it_is_read(
    offline: MirrorSetup, second: tuple[list[Entry], dict], tmp_path: Path, which: str
) -> None:
    entries, manifest = second
    if which == "manifest":
        limit = MAX_MANIFEST + MANIFEST_PER_MEMBER * len(entries)
        bundle = write_bundle(tmp_path / "big.tar", entries, None, json.dumps(manifest).encode() + b" " * limit)
    else:
        index = next(i for i, (info, _) in enumerate(entries) if info.name.startswith("web/simple/"))
        info, data = entries[index]
        huge = file_entry(info.name, data + b" " * MAX_PAGE)
        bundle = write_bundle(tmp_path / "big.tar", entries[:index] + [huge] + entries[index + 1 :], manifest)
    assert_refused(offline, bundle, "more than")
