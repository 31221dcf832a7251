"""The air gap through the real commands: export on the online mirror, import on an offline one."""

from __future__ import annotations

import json
import subprocess
import tarfile
import venv
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlsplit

import pytest

from tests.conftest import MirrorSetup, assert_mirror_matches
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
