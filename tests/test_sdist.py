"""Closures through sdist-only releases (issue 20): Requires-Dist from the sdist's PKG-INFO where
it vouches for it (Metadata 2.2+, not Dynamic, PEP 643), else from the JSON API's per-release
``info.requires_dist``; pip then installs such a root from the mirror alone."""

from __future__ import annotations

import io
import subprocess
import tarfile
import venv
import zipfile
from pathlib import Path
from typing import Iterator

import pytest

from bandersnatch.subset import sdist
from bandersnatch.subset.sdist import sdist_requires
from tests.conftest import MirrorSetup
from tests.nginx import (
    NOT_INSTALLED,
    Served,
    nginx_binary,
    serving,
    world_readable_tempdir,
)
from tests.pypi_master import FileSpec, PyPIMaster, make_sdist
from tests.test_serving import clean_env
from tests.test_subset import configure, held

CONFIG = """
[plugins]
enabled = allowlist_project
[allowlist]
packages = sdroot
[dependencies]
enabled = true
"""


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("filename", "body", "expected"),
    [
        ("a-1.tar.gz", make_sdist("a", "1", requires_dist=["b>=1", "c; extra == 'x'"], metadata_version="2.2"),
         ("b>=1", "c; extra == 'x'")),
        ("a-1.tar.gz", make_sdist("a", "1", metadata_version="2.4"), ()),  # vouches for needing nothing
        ("a-1.tar.gz", make_sdist("a", "1", requires_dist=["b"], metadata_version="2.1"), None),  # before PEP 643
        ("a-1.tar.gz", make_sdist("a", "1", requires_dist=["b"], metadata_version="2.2", dynamic=["Requires-Dist"]),
         None),
        ("a-1.tar.gz", make_sdist("a", "1", requires_dist=["b"], metadata_version="2.2", dynamic=["Summary"]),
         ("b",)),
        ("a-1.zip", _zip({"a-1/PKG-INFO": "Metadata-Version: 2.3\nName: a\nVersion: 1\nRequires-Dist: b\n"}), ("b",)),
        ("a-1.zip", _zip({"a-1/sub/PKG-INFO": "Metadata-Version: 2.3\nRequires-Dist: b\n"}), None),  # not top level
        ("a-1.zip", _zip({"../PKG-INFO": "Metadata-Version: 2.3\nRequires-Dist: b\n"}), None),
        ("a-1.zip", _zip({"a-1/PKG-INFO": "Metadata-Version: two\nRequires-Dist: b\n"}), None),
        ("a-1.tar.gz", b"not an archive", None),
        ("a-1.tar.gz", b"", None),
    ],
)  # fmt: skip
def test_what_an_sdist_vouches_for(filename: str, body: bytes, expected: tuple[str, ...] | None) -> None:
    assert sdist_requires(filename, body) == expected


def add_sdist_corpus(pypi: PyPIMaster) -> None:
    """sdroot (PKG-INFO 2.2) needs sdmid; sdmid's PKG-INFO marks Requires-Dist dynamic, the JSON API
    says it needs leaf; leaf is an ordinary wheel; unrelated is reached by nobody."""

    def sdist(name: str, **kwargs: object) -> list[FileSpec]:
        return [FileSpec(f"{name}-1.0.tar.gz", content=make_sdist(name, "1.0", **kwargs))]  # type: ignore[arg-type]

    pypi.add_release("sdroot", "1.0", sdist("sdroot", requires_dist=["sdmid>=1"], metadata_version="2.2"))
    pypi.add_release("sdmid", "1.0", sdist("sdmid", requires_dist=["leaf"], metadata_version="2.2",
                                           dynamic=["Requires-Dist"]))  # fmt: skip
    pypi.add_release("leaf", "1.0")
    pypi.add_release("unrelated", "1.0")


def sdist_mirror(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    add_sdist_corpus(pypi)
    configure(mirror, pypi, CONFIG)
    result = mirror.run()
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


def test_the_closure_reads_sdist_only_releases(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    sdist_mirror(pypi, mirror)
    assert held(mirror) == {"sdroot": {"1.0"}, "sdmid": {"1.0"}, "leaf": {"1.0"}}
    asked = [path for method, path in pypi.requests if method == "GET" and path.endswith("/1.0/json")]
    assert asked == ["/pypi/sdmid/1.0/json"]  # sdroot's PKG-INFO vouched; leaf has a wheel's .metadata
    pypi.clear_log()
    assert mirror.run().returncode == 0
    assert not [path for _, path in pypi.requests if path.endswith("/json") or path.endswith(".tar.gz")]  # cached


@pytest.fixture(scope="module")
def served_sdists(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    binary = nginx_binary()
    if binary is None:
        pytest.skip(NOT_INSTALLED)
    tmp = tmp_path_factory.mktemp("sdists")
    with PyPIMaster() as pypi, world_readable_tempdir() as root:
        mirror = MirrorSetup(directory=root / "mirror", config=tmp / "b.conf")
        sdist_mirror(pypi, mirror)
        pypi.stop()
        with serving(binary, mirror.web, tmp / "nginx") as served:
            yield served


def test_pip_installs_an_sdist_only_root_from_the_mirror_alone(served_sdists: Served, tmp_path: Path) -> None:
    venv.create(tmp_path / "venv", with_pip=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    run = subprocess.run(
        [python, "-m", "pip", "--isolated", "--disable-pip-version-check", "--no-cache-dir", "install",
         "--index-url", f"{served_sdists.url}/simple/", "sdroot"],
        capture_output=True, text=True, timeout=300, env=clean_env(),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    shown = subprocess.run([python, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True).stdout
    assert {"sdroot==1.0", "sdmid==1.0", "leaf==1.0"} <= set(shown.split()), shown


def _sdist_with_a_large_member_first(size: int) -> bytes:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:gz") as tar:
        big = tarfile.TarInfo("bomb-1.0/zeros")
        big.size = size
        tar.addfile(big, io.BytesIO(bytes(size)))
        info = b"Metadata-Version: 2.2\nName: bomb\nVersion: 1.0\nRequires-Dist: evil\n"
        meta = tarfile.TarInfo("bomb-1.0/PKG-INFO")
        meta.size = len(info)
        tar.addfile(meta, io.BytesIO(info))
    return data.getvalue()


def test_pkg_info_behind_more_than_the_inflation_bound_is_not_looked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    """A gzip bomb before PKG-INFO: the walk stops at the bound instead of inflating it all."""
    body = _sdist_with_a_large_member_first(4 << 20)
    assert sdist_requires("bomb-1.0.tar.gz", body) == ("evil",)  # within the bound: read
    monkeypatch.setattr(sdist, "MAX_INFLATED", 1 << 20)
    assert sdist_requires("bomb-1.0.tar.gz", body) is None  # past it: the JSON API is asked instead
