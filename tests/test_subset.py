"""Subset mirrors through the real command: upstream's filters, and "these projects and everything
they need" ([dependencies]) served by the README's nginx to pip and uv in fresh environments."""

from __future__ import annotations

import re
import subprocess
import sys
import venv
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import MirrorSetup, mirrored_files
from tests.corpus_deps import add_dependency_corpus
from tests.nginx import (
    NOT_INSTALLED,
    Served,
    nginx_binary,
    serving,
    world_readable_tempdir,
)
from tests.pypi_master import PyPIMaster
from tests.test_serving import clean_env, uv_binary

CLOSURE_CONFIG = """
[plugins]
enabled = allowlist_project
[allowlist]
packages =
{packages}
[dependencies]
enabled = true
python-versions = 3.11 3.12
platforms = linux-x86_64 windows-amd64
"""
# What webapp needs for cp311/cp312 on glibc Linux x86_64 and Windows (tests/corpus_deps.py):
# framework>=2 (2.0; 3.0b1 for webapp 2.0b1), helpers[crypto]~=1.1 (1.2, and 2.0 for framework
# 3.0b1), cryptolib through the extra, colorama on win32, backport below 3.12. Not: fastjson (an
# extra nobody asks for), tomli (below 3.11 only), unrelated.
CLOSURE = {
    "webapp": {"1.0", "2.0b1"}, "framework": {"2.0", "3.0b1"}, "helpers": {"1.2", "2.0"},
    "cryptolib": {"41.0"}, "colorama": {"0.4.6"}, "backport": {"1.0"},
}  # fmt: skip


def configure(mirror: MirrorSetup, pypi: PyPIMaster, sections: str, **options: str) -> None:
    mirror.write_config(pypi.url, **options)
    with open(mirror.config, "a", encoding="utf-8") as handle:
        handle.write(sections)


def held(mirror: MirrorSetup) -> dict[str, set[str]]:
    """{project: versions} of the release files on the mirror, from their names."""
    found: dict[str, set[str]] = {}
    for path in mirrored_files(mirror.web):
        stem = Path(path).name.removesuffix(".tar.gz").removesuffix(".whl")
        name, version = stem.split("-")[:2]
        found.setdefault(name.replace("_", "-"), set()).add(version)
    return found


def listed(mirror: MirrorSetup) -> set[str]:
    index = (mirror.web / "simple" / "index.html").read_text(encoding="utf-8")
    return set(re.findall(r'<a href="([^"/]+)/">', index))


def closure_mirror(pypi: PyPIMaster, mirror: MirrorSetup, roots: str = "    webapp") -> None:
    add_dependency_corpus(pypi)
    configure(mirror, pypi, CLOSURE_CONFIG.format(packages=roots))
    result = mirror.run()
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_the_closure_holds_what_the_roots_need_in_the_listed_environments(
    pypi: PyPIMaster, mirror: MirrorSetup
) -> None:
    closure_mirror(pypi, mirror)
    assert held(mirror) == CLOSURE
    assert listed(mirror) == set(CLOSURE)
    assert not (mirror.web / "simple" / "unrelated").exists() and not (mirror.web / "simple" / "tomli").exists()
    wheels = [Path(path).name for path in mirrored_files(mirror.web) if path.endswith(".whl")]
    platforms = {name.rsplit("-", 1)[1].removesuffix(".whl") for name in wheels}
    assert platforms == {"any", "manylinux_2_17_x86_64.manylinux2014_x86_64", "win_amd64"}, platforms
    assert not [name for name in wheels if "aarch64" in name or "musllinux" in name or "macosx" in name]
    versions = (mirror.web / "simple" / "framework" / "index.v1_json").read_text()
    assert '"versions": ["2.0", "3.0b1"]' in versions  # PEP 700: only what the mirror holds
    pypi.clear_log()
    assert "Nothing to do" in mirror.run().stderr
    assert pypi.metadata_requests() == []  # the closure is kept between runs


def test_a_new_release_with_a_new_dependency_brings_it_in(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    closure_mirror(pypi, mirror)
    pypi.add_file("helpers", "1.3", "helpers-1.3-py3-none-any.whl",
                  content=_wheel("helpers", "1.3", ("tomli>=2", "newdep; sys_platform == 'win32'")))  # fmt: skip
    pypi.add_release("newdep", "0.1")
    result = mirror.run()
    assert result.returncode == 0, result.stderr
    assert held(mirror)["helpers"] == {"1.2", "1.3", "2.0"}
    assert held(mirror)["newdep"] == {"0.1"} and held(mirror)["tomli"] == {"2.0"}
    assert {"newdep", "tomli"} <= listed(mirror)


def test_a_project_taken_off_the_allowlist_goes_with_what_only_it_needed(
    pypi: PyPIMaster, mirror: MirrorSetup
) -> None:
    closure_mirror(pypi, mirror, roots="    webapp\n    backport")
    assert set(held(mirror)) == set(CLOSURE)
    pypi.clear_log()
    configure(mirror, pypi, CLOSURE_CONFIG.format(packages="    backport"))
    result = mirror.run()
    assert result.returncode == 0, result.stderr
    assert held(mirror) == {"backport": {"1.0"}} and listed(mirror) == {"backport"}
    assert [p.name for p in (mirror.web / "simple").iterdir() if p.is_dir()] == ["backport"]
    assert pypi.count("GET", "/packages/") == 0  # nothing fetched to delete
    configure(mirror, pypi, CLOSURE_CONFIG.format(packages="    webapp\n    backport"))
    pypi.clear_log()
    assert mirror.run().returncode == 0
    assert held(mirror) == CLOSURE
    assert pypi.count("POST") <= 2  # the changelog and one listing: no full resync
    fetched = [path for method, path in pypi.requests if method == "GET" and path.startswith("/packages/")]
    assert fetched and not [path for path in fetched if "/backport-" in path]  # what stayed is not fetched again


def test_upstream_filters_select_what_their_documentation_says(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    add_dependency_corpus(pypi)
    configure(mirror, pypi, """
[plugins]
enabled =
    allowlist_project
    allowlist_release
    exclude_platform
    prerelease_release
[allowlist]
packages =
    framework>=2
    helpers
    cryptolib
[blocklist]
platforms =
    windows
    macos
    musllinux
""")  # fmt: skip
    assert mirror.run().returncode == 0
    # framework: 2.0 only (>=2 admits 3.0b1, prerelease_release drops it); helpers: every release;
    # cryptolib: its sdist and Linux wheels (musllinux is blocked, glibc aarch64 is not); nothing else.
    assert held(mirror) == {"framework": {"2.0"}, "helpers": {"1.0", "1.2", "2.0"}, "cryptolib": {"41.0"}}
    crypto = {Path(p).name for p in mirrored_files(mirror.web) if "cryptolib" in p}
    assert crypto == {"cryptolib-41.0.tar.gz"} | {
        f"cryptolib-41.0-{py}-{py}-{tag}.whl" for py in ("cp311", "cp312")
        for tag in ("manylinux_2_17_x86_64.manylinux2014_x86_64", "manylinux_2_17_aarch64.manylinux2014_aarch64")
    }  # fmt: skip
    assert listed(mirror) == {"framework", "helpers", "cryptolib"}


@pytest.fixture(scope="module")
def served_closure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    binary = nginx_binary()
    if binary is None:
        pytest.skip(NOT_INSTALLED)
    tmp = tmp_path_factory.mktemp("closure")
    with PyPIMaster() as pypi, world_readable_tempdir() as root:
        mirror = MirrorSetup(directory=root / "mirror", config=tmp / "b.conf")
        closure_mirror(pypi, mirror)
        pypi.stop()  # from here on the mirror alone
        with serving(binary, mirror.web, tmp / "nginx") as served:
            yield served


def test_pip_installs_a_root_from_the_closure_mirror_alone(served_closure: Served, tmp_path: Path) -> None:
    venv.create(tmp_path / "venv", with_pip=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    run = subprocess.run(
        [python, "-m", "pip", "--isolated", "--disable-pip-version-check", "--no-cache-dir", "install",
         "--index-url", f"{served_closure.url}/simple/", "webapp"],
        capture_output=True, text=True, timeout=300, env=clean_env(),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    shown = subprocess.run([python, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True).stdout
    assert {"webapp==1.0", "framework==2.0", "helpers==1.2", "cryptolib==41.0"} <= set(shown.split()), shown


def test_uv_installs_a_root_from_the_closure_mirror_alone(served_closure: Served, tmp_path: Path) -> None:
    uv = uv_binary()
    if uv is None:
        pytest.skip("uv is not installed")
    env = clean_env()
    subprocess.run([uv, "venv", "--no-config", str(tmp_path / "venv")], check=True, capture_output=True, env=env)
    run = subprocess.run(
        [uv, "pip", "install", "--no-config", "--no-cache", "--python", str(tmp_path / "venv" / "bin" / "python"),
         "--index-url", f"{served_closure.url}/simple/", "webapp"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr


def test_pip_resolves_for_a_listed_platform_it_does_not_run_on(served_closure: Served, tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "--no-cache-dir", "download",
         "--dest", str(tmp_path), "--platform", "win_amd64", "--python-version", "3.11", "--only-binary=:all:",
         "--index-url", f"{served_closure.url}/simple/", "webapp"],
        capture_output=True, text=True, timeout=300, env=clean_env(),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    got = {path.name.split("-")[0] for path in tmp_path.iterdir()}
    # pip evaluates markers for the interpreter it runs in (Linux), so colorama is not asked for
    assert {"webapp", "framework", "helpers", "cryptolib", "backport"} <= got, got
    assert any(path.name.endswith("win_amd64.whl") for path in tmp_path.iterdir())


def _wheel(name: str, version: str, requires: tuple[str, ...]) -> bytes:
    from tests.pypi_master import make_wheel

    return make_wheel(name, version, requires_dist=requires)


@pytest.mark.parametrize(
    ("filename", "text"),
    [
        ("requirements.txt", "# pip-compile output\nframework==2.0 \\\n    --hash=sha256:0000\nhelpers>=1.2\n"),
        ("uv.lock", 'version = 1\n[[package]]\nname = "framework"\nversion = "2.0"\nsource = { registry = "x" }\n'
                    '[[package]]\nname = "helpers"\nversion = "1.2"\nsource = { registry = "x" }\n'),
    ],
)  # fmt: skip
def test_requirements_files_pick_projects_and_pinned_releases(
    pypi: PyPIMaster, mirror: MirrorSetup, tmp_path: Path, filename: str, text: str
) -> None:
    add_dependency_corpus(pypi)
    (tmp_path / filename).write_text(text)
    configure(mirror, pypi, f"""
[plugins]
enabled =
    project_requirements
    project_requirements_pinned
[allowlist]
requirements_path = {tmp_path}
requirements = {filename}
""")  # fmt: skip
    result = mirror.run()
    assert result.returncode == 0, result.stderr
    expected_helpers = {"1.2", "2.0"} if filename == "requirements.txt" else {"1.2"}
    assert held(mirror) == {"framework": {"2.0"}, "helpers": expected_helpers}


def test_sync_of_a_project_the_filters_exclude_is_refused(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    add_dependency_corpus(pypi)
    configure(mirror, pypi, "[plugins]\nenabled = allowlist_project\n[allowlist]\npackages = backport\n")
    assert mirror.run().returncode == 0
    result = mirror.run("sync", "unrelated")
    assert result.returncode == 1 and "ERROR: Not syncing 'unrelated': the filters exclude it" in result.stderr
    assert not (mirror.web / "simple" / "unrelated").exists()
