"""[environments] (SPEC section 15): a platform corpus with wheels for many interpreters and
platforms, mirrored through the real command; exactly what a declared environment can install
stays, and pip resolves through nginx for each declared environment and for no other."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from bandersnatch.subset.environments import Target, check_platform, file_installable
from tests.conftest import MirrorSetup, mirrored_files
from tests.corpus_deps import add_dependency_corpus
from tests.nginx import (
    NOT_INSTALLED,
    Served,
    nginx_binary,
    serving,
    world_readable_tempdir,
)
from tests.pypi_master import FileSpec, PyPIMaster, make_sdist, make_wheel
from tests.test_serving import clean_env
from tests.test_subset import configure, held, listed

ENVIRONMENTS = """
[environments]
python = 3.11 3.12
implementation = cpython
platforms = manylinux_2_28_x86_64 win_amd64 macosx_11_0_arm64 musllinux_1_2_x86_64
sdists = {sdists}
"""
INTERPRETERS = (
    "cp38-cp38", "cp311-cp311", "cp312-cp312", "cp313-cp313", "cp313-cp313t", "cp39-abi3",
    "pp310-pypy310_pp73", "pp311-pypy311_pp73",
)  # fmt: skip
PLATFORMS = (
    "manylinux_2_17_x86_64.manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64",
    "manylinux1_x86_64", "manylinux_2_17_aarch64.manylinux2014_aarch64", "musllinux_1_1_x86_64",
    "musllinux_1_2_x86_64", "musllinux_1_2_aarch64", "win_amd64", "win32", "win_arm64", "macosx_10_9_x86_64",
    "macosx_11_0_arm64", "macosx_14_0_arm64", "macosx_10_9_universal2", "linux_x86_64",
)  # fmt: skip
# The oracle, by hand from the PEPs (not from the code under test): CPython 3.11/3.12 take their
# own ABI and abi3 from 3.9 on; glibc 2.28 takes 2.28 and older (2014 = 2.17, manylinux1 = 2.5),
# musl 1.2 takes 1.1 and 1.2; macOS 11 arm64 takes arm64 up to 11.0 and universal2 from 10.9.
KEPT_INTERPRETERS = {"cp311-cp311", "cp312-cp312", "cp39-abi3"}
KEPT_PLATFORMS = {
    "manylinux_2_17_x86_64.manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux1_x86_64",
    "musllinux_1_1_x86_64", "musllinux_1_2_x86_64", "win_amd64", "macosx_11_0_arm64", "macosx_10_9_universal2",
}  # fmt: skip


def add_platform_corpus(pypi: PyPIMaster) -> None:
    """native: a wheel for every interpreter x platform and an sdist; purelib: pure; modern: only
    for Python 3.13+ (Requires-Python); ranged: one release each side of 3.12."""
    specs = [
        FileSpec(f"native-1.0-{tag}-{platform}.whl", content=make_wheel("native", "1.0", tag=f"{tag}-{platform}"))
        for tag in INTERPRETERS for platform in PLATFORMS
    ]  # fmt: skip
    specs.append(FileSpec("native-1.0.tar.gz", content=make_sdist("native", "1.0")))
    pypi.add_release("native", "1.0", specs)
    pypi.add_release("purelib", "1.0")  # a pure wheel and an sdist: installable everywhere
    pypi.add_release("modern", "1.0", requires_python=">=3.13")
    pypi.add_release("ranged", "1.0", requires_python=">=3.8")
    pypi.add_release("ranged", "2.0", requires_python=">=3.12.1")  # 3.12.1 and later: still a 3.12
    pypi.add_release("ranged", "3.0", requires_python=">=3.14")


def expected_native(sdists: bool) -> set[str]:
    wheels = {f"native-1.0-{tag}-{platform}.whl" for tag in KEPT_INTERPRETERS for platform in KEPT_PLATFORMS}
    return wheels | ({"native-1.0.tar.gz"} if sdists else set())


def names(mirror: MirrorSetup, project: str) -> set[str]:
    return {Path(path).name for path in mirrored_files(mirror.web) if Path(path).name.startswith(f"{project}-")}


def environments_mirror(pypi: PyPIMaster, mirror: MirrorSetup, sdists: bool = True, extra: str = "") -> None:
    add_platform_corpus(pypi)
    configure(mirror, pypi, ENVIRONMENTS.format(sdists=str(sdists).lower()) + extra)
    result = mirror.run()
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("sdists", [True, False])
def test_exactly_the_files_a_declared_environment_installs_stay(
    pypi: PyPIMaster, mirror: MirrorSetup, sdists: bool
) -> None:
    environments_mirror(pypi, mirror, sdists)
    assert names(mirror, "native") == expected_native(sdists)
    assert "modern" not in held(mirror) and "modern" not in listed(mirror)  # nothing of it installs here
    assert held(mirror)["ranged"] == {"1.0", "2.0"}
    assert names(mirror, "purelib") == {"purelib-1.0-py3-none-any.whl"} | ({"purelib-1.0.tar.gz"} if sdists else set())
    total = sum(entry["size"] for name in pypi.projects() for entry in pypi.files(name))
    kept = sum((mirror.web / path).stat().st_size for path in mirrored_files(mirror.web))
    print(f"platform corpus: {kept} of {total} bytes kept ({kept / total:.0%})")  # the share the report gives
    assert kept < total / 4


def test_exclude_platform_and_environments_both_apply(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    environments_mirror(pypi, mirror, extra="[plugins]\nenabled = exclude_platform\n[blocklist]\nplatforms = windows\n")
    assert names(mirror, "native") == {name for name in expected_native(True) if "win_amd64" not in name}


def test_changing_the_environments_reselects_files(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    environments_mirror(pypi, mirror)
    configure(mirror, pypi, ENVIRONMENTS.format(sdists="false").replace("win_amd64 ", ""))
    pypi.clear_log()
    assert mirror.run().returncode == 0
    assert names(mirror, "native") == {n for n in expected_native(False) if "win_amd64" not in n}
    assert pypi.count("GET", "/packages/") == 0  # only deletions: nothing newly kept


@pytest.mark.parametrize(
    ("python", "platforms", "closure"),
    [
        ("3.11 3.12", "manylinux_2_28_x86_64 win_amd64", {"colorama", "backport"}),
        ("3.11 3.12", "manylinux_2_28_x86_64", {"backport"}),  # no win32: no colorama
        ("3.12", "macosx_11_0_arm64", set()),  # backport is for python < 3.12 only
    ],
)
def test_the_closure_follows_the_environments_markers(
    pypi: PyPIMaster, mirror: MirrorSetup, python: str, platforms: str, closure: set[str]
) -> None:
    add_dependency_corpus(pypi)
    configure(mirror, pypi, f"""
[plugins]
enabled = allowlist_project
[allowlist]
packages = webapp
[dependencies]
enabled = true
[environments]
python = {python}
platforms = {platforms}
""")  # fmt: skip
    result = mirror.run()
    assert result.returncode == 0, result.stderr
    assert set(held(mirror)) == {"webapp", "framework", "helpers", "cryptolib"} | closure
    assert {Path(p).name for p in mirrored_files(mirror.web) if "cryptolib-41.0-" in p} == {
        f"cryptolib-41.0-{py}-{py}-{tag}.whl" for py in ("cp311", "cp312") if py[2:] in python.replace(".", "")
        for tag in ("manylinux_2_17_x86_64.manylinux2014_x86_64", "win_amd64", "macosx_11_0_arm64")
        if tag.split("_")[0] in platforms.replace("manylinux_2_28", "manylinux")
    }  # fmt: skip


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ("[environments]\npython = 3.11\n", "[environments] platforms: missing"),
        ("[environments]\nplatforms = linux-x86_64\n", "unknown platform tag 'linux-x86_64'"),
        ("[environments]\nplatforms = win_amd64\nimplementation = jython\n", "expected cpython or pypy"),
        ("[environments]\nplatforms = win_amd64\npython = 2.7\n", "[environments] python = '2.7'"),
        ("[environments]\nplatforms = win_amd64\n[dependencies]\nplatforms = linux-x86_64\n",
         "[dependencies] platforms: [environments] names the environments"),
    ],
)  # fmt: skip
def test_a_bad_environments_section_is_one_line(pypi: PyPIMaster, mirror: MirrorSetup, sections: str, message: str):
    configure(mirror, pypi, sections)
    result = mirror.run()
    assert result.returncode == 1 and message in result.stderr, result.stderr
    assert not (mirror.directory / "web").exists()


@pytest.mark.parametrize(
    ("filename", "requires_python", "target", "sdists", "expected"),
    [
        ("a-1-cp311-cp311-manylinux_2_28_x86_64.whl", None, ("3.11", "manylinux_2_28_x86_64"), True, True),
        ("a-1-cp311-cp311-manylinux_2_34_x86_64.whl", None, ("3.11", "manylinux_2_28_x86_64"), True, False),
        ("a-1-cp311-cp311-manylinux2010_x86_64.whl", None, ("3.11", "manylinux_2_28_x86_64"), True, True),
        ("a-1-cp311-cp311-manylinux2014_aarch64.whl", None, ("3.11", "manylinux_2_17_aarch64"), True, True),
        ("a-1-cp311-cp311-manylinux2014_x86_64.whl", None, ("3.11", "manylinux2014_x86_64"), True, True),
        ("a-1-cp311-cp311-musllinux_1_1_x86_64.whl", None, ("3.11", "manylinux_2_28_x86_64"), True, False),
        ("a-1-cp311-cp311-manylinux_2_17_x86_64.whl", None, ("3.11", "musllinux_1_2_x86_64"), True, False),
        ("a-1-cp37-abi3-win_amd64.whl", None, ("3.12", "win_amd64"), True, True),
        ("a-1-cp313-abi3-win_amd64.whl", None, ("3.12", "win_amd64"), True, False),
        ("a-1-cp312-cp312-win32.whl", None, ("3.12", "win_amd64"), True, False),
        ("a-1-cp312-cp312-macosx_10_9_universal2.whl", None, ("3.12", "macosx_11_0_arm64"), True, True),
        ("a-1-cp312-cp312-macosx_10_9_x86_64.whl", None, ("3.12", "macosx_11_0_arm64"), True, False),
        ("a-1-cp312-cp312-macosx_10_9_x86_64.whl", None, ("3.12", "macosx_14_0_x86_64"), True, True),
        ("a-1-cp312-cp312-macosx_15_0_arm64.whl", None, ("3.12", "macosx_14_0_arm64"), True, False),
        ("a-1-py2.py3-none-any.whl", None, ("3.12", "win_arm64"), True, True),
        ("a-1-py2-none-any.whl", None, ("3.12", "win_arm64"), True, False),
        ("a-1-py3-none-any.whl", ">=3.13", ("3.12", "win_arm64"), True, False),
        ("a-1-py3-none-any.whl", ">=3.12.4", ("3.12", "win_arm64"), True, True),
        ("a-1-py3-none-any.whl", "not a specifier", ("3.12", "win_arm64"), True, True),
        ("a-1.tar.gz", None, ("3.12", "win_amd64"), True, True),
        ("a-1.tar.gz", None, ("3.12", "win_amd64"), False, False),
        ("a-1.tar.gz", "<3", ("3.12", "win_amd64"), True, False),
        ("a-1.zip", None, ("3.12", "win_amd64"), True, True),
        ("a-1.win-amd64.exe", None, ("3.12", "win_amd64"), True, False),
        ("a-1-py3.12.egg", None, ("3.12", "win_amd64"), True, False),
        ("a-1-x-y.whl", None, ("3.12", "win_amd64"), True, False),
    ],
)  # fmt: skip
def test_which_file_a_cpython_target_installs(
    filename: str, requires_python: str | None, target: tuple[str, str], sdists: bool, expected: bool
) -> None:
    assert file_installable(filename, requires_python, [Target(*target)], sdists) is expected


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("a-1-pp311-pypy311_pp73-manylinux_2_17_x86_64.whl", True),
        ("a-1-pp310-pypy310_pp73-manylinux_2_17_x86_64.whl", False),
        ("a-1-cp311-cp311-manylinux_2_17_x86_64.whl", False),
        ("a-1-cp39-abi3-manylinux_2_17_x86_64.whl", False),  # abi3 is CPython's
        ("a-1-py3-none-manylinux_2_17_x86_64.whl", True),
        ("a-1-py3-none-any.whl", True),
    ],
)
def test_which_file_a_pypy_target_installs(filename: str, expected: bool) -> None:
    assert file_installable(filename, None, [Target("3.11", "manylinux_2_28_x86_64", "pypy")]) is expected


@pytest.mark.parametrize(
    ("platform", "values"),
    [
        ("manylinux_2_28_x86_64", ("linux", "Linux", "x86_64")),
        ("musllinux_1_2_aarch64", ("linux", "Linux", "aarch64")),
        ("win_amd64", ("win32", "Windows", "AMD64")),
        ("win_arm64", ("win32", "Windows", "ARM64")),
        ("macosx_11_0_arm64", ("darwin", "Darwin", "arm64")),
    ],
)
def test_a_target_has_the_marker_values_of_its_platform(platform: str, values: tuple[str, str, str]) -> None:
    markers = Target("3.12", platform).markers(0)
    assert (markers["sys_platform"], markers["platform_system"], markers["platform_machine"]) == values
    assert markers["python_full_version"] == "3.12.0" and markers["implementation_name"] == "cpython"


@pytest.mark.parametrize("tag", ["manylinux_3_0_x86_64", "macosx_11_0_sparc", "linux-x86_64", "any", "win_amd64 "])
def test_an_unknown_platform_tag_is_refused(tag: str) -> None:
    with pytest.raises(ValueError, match="unknown platform tag"):
        check_platform(tag)


# -- pip through nginx ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def served_environments(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    binary = nginx_binary()
    if binary is None:
        pytest.skip(NOT_INSTALLED)
    tmp = tmp_path_factory.mktemp("environments")
    with PyPIMaster() as pypi, world_readable_tempdir() as root:
        mirror = MirrorSetup(directory=root / "mirror", config=tmp / "b.conf")
        environments_mirror(pypi, mirror)
        pypi.stop()  # from here on the mirror alone
        with serving(binary, mirror.web, tmp / "nginx") as served:
            yield served


def pip_download(served: Served, dest: Path, python: str, platform: str, project: str = "native"):
    return subprocess.run(
        [sys.executable, "-m", "pip", "--isolated", "--disable-pip-version-check", "--no-cache-dir", "download",
         "--no-deps", "--dest", str(dest), "--python-version", python, "--platform", platform,
         "--implementation", "cp", "--only-binary=:all:", "--index-url", f"{served.url}/simple/", project],
        capture_output=True, text=True, timeout=300, env=clean_env(),
    )  # fmt: skip


@pytest.mark.parametrize("python", ["3.11", "3.12"])
@pytest.mark.parametrize(
    "platform", ["manylinux_2_28_x86_64", "win_amd64", "macosx_11_0_arm64", "musllinux_1_2_x86_64"]
)
def test_pip_resolves_for_each_declared_environment(
    served_environments: Served, tmp_path: Path, python: str, platform: str
) -> None:
    run = pip_download(served_environments, tmp_path, python, platform)
    assert run.returncode == 0, run.stdout + run.stderr
    (got,) = [path.name for path in tmp_path.iterdir()]
    assert f"cp{python.replace('.', '')}-cp" in got or "-abi3-" in got, got


@pytest.mark.parametrize(
    ("python", "platform"),
    [("3.11", "manylinux2014_aarch64"), ("3.12", "win32"), ("3.8", "manylinux_2_28_x86_64"), ("3.12", "win_arm64")],
)
def test_pip_finds_nothing_for_an_undeclared_environment(
    served_environments: Served, tmp_path: Path, python: str, platform: str
) -> None:
    run = pip_download(served_environments, tmp_path, python, platform)
    assert run.returncode != 0 and "No matching distribution found for native" in run.stderr, run.stdout + run.stderr
    assert not list(tmp_path.iterdir())
    assert pip_download(served_environments, tmp_path, python, platform, "purelib").returncode == 0  # nginx is up
