"""api-method = index (SPEC section 15): a foreign PEP 503 index as the master, through the real
command: a static HTML-only tree served by nginx, and pypiserver. Two rounds of changes (a new
file, a removed project); after each the mirror equals the index, and pip installs from it."""

from __future__ import annotations

import hashlib
import html
import json
import shutil
import subprocess
import sys
import time
import venv
from pathlib import Path
from typing import Iterator, Optional

import pytest

from bandersnatch.foreign_pages import parse_project_page, parse_root
from tests.conftest import MirrorSetup, mirrored_files, sha256_of
from tests.nginx import (
    NOT_INSTALLED,
    Served,
    _running,
    _wrap,
    nginx_binary,
    serving,
    world_readable_tempdir,
)
from tests.pypi_master import make_sdist, make_wheel
from tests.test_serving import clean_env

# -- the pure parser ------------------------------------------------------------------------------------

HEX = "ab" * 32


@pytest.mark.parametrize(
    ("anchor", "expected"),
    [
        (f'<a href="../../f/a-1.0-py3-none-any.whl#sha256={HEX}">a</a>',
         {"sha256": HEX, "path": f"packages/ab/ab/{HEX}/a-1.0-py3-none-any.whl"}),
        ('<a href="../../f/a-1.0.tar.gz#md5=00">a</a>', {"sha256": "", "path": ""}),  # md5 vouches for nothing
        (f'<a href="/f/a-1.0.tar.gz#sha256={HEX}" data-requires-python="&gt;=3.8">x</a>', {"requires_python": ">=3.8"}),
        (f'<a href="/f/a-1.0.tar.gz#sha256={HEX}" data-yanked="">x</a>', {"yanked": True, "yanked_reason": None}),
        (f'<a href="/f/a-1.0.tar.gz#sha256={HEX}" data-yanked="bad &amp; broken">x</a>',
         {"yanked": True, "yanked_reason": "bad & broken"}),
        (f'<a href="/f/a-1.0-py3-none-any.whl#sha256={HEX}" data-core-metadata="sha256={HEX}">x</a>',
         {"core_metadata_sha256": HEX}),
        (f'<a href="/f/a-1.0-py3-none-any.whl#sha256={HEX}" data-dist-info-metadata="true">x</a>',
         {"core_metadata_sha256": None}),
        (f'<a href="https://other.example/x/a-1.0-py3-none-any.whl#sha256={HEX}">x</a>',
         {"url": "https://other.example/x/a-1.0-py3-none-any.whl", "version": "1.0"}),
    ],
)  # fmt: skip
def test_an_html_project_page_is_read_as_pep_503_says(anchor: str, expected: dict[str, object]) -> None:
    page = parse_project_page("a", f"<html><body>{anchor}</body></html>".encode(), "text/html",
                              "http://index.example/simple/a/", 3)  # fmt: skip
    (release,) = page.files
    assert {key: getattr(release, key) for key in expected} == expected


@pytest.mark.parametrize(
    "anchor",
    ['<a href="javascript:alert(1)">x</a>', '<a href="/f/evil.html#sha256=' + HEX + '">x</a>',
     '<a href="/f/..%2fa-1.0.tar.gz">x</a>', '<a href="/f/a-1.0.tar.gz%00">x</a>'],
)  # fmt: skip
def test_a_hostile_anchor_is_refused(anchor: str) -> None:
    from bandersnatch.errors import UnsafePath

    with pytest.raises(UnsafePath):
        parse_project_page("a", anchor.encode(), "text/html", "http://index.example/simple/a/", 1)


def test_a_root_is_read_in_html_and_json() -> None:
    assert parse_root(b'<a href="alpha/">Alpha</a>\n<a href="/simple/be-ta/"></a>', "text/html") == ["Alpha", "be-ta"]
    body = json.dumps({"meta": {"api-version": "1.0"}, "projects": [{"name": "x"}, {"name": "Y"}]}).encode()
    assert parse_root(body, "application/vnd.pypi.simple.v1+json") == ["x", "Y"]


# -- a static HTML-only tree ---------------------------------------------------------------------------


class StaticIndex:
    """A PEP 503 tree of plain files: ``simple/`` pages linking ``../../files/``; some links carry
    no hash (the mirror must hash those on download)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.projects: dict[str, dict[str, tuple[bytes, bool, str]]] = {}  # name: {filename: (body, hashed, attrs)}

    def add(self, name: str, filename: str, body: bytes, hashed: bool = True, attrs: str = "") -> None:
        self.projects.setdefault(name, {})[filename] = (body, hashed, attrs)
        self.write()

    def remove_project(self, name: str) -> None:
        del self.projects[name]
        shutil.rmtree(self.root / "simple" / name)
        self.write()

    def write(self) -> None:
        files = self.root / "files"
        files.mkdir(parents=True, exist_ok=True)
        links = "".join(f'<a href="{name}/">{name}</a><br>\n' for name in sorted(self.projects))
        self._page(self.root / "simple" / "index.html", links)
        for name, entries in self.projects.items():
            anchors = []
            for filename, (body, hashed, attrs) in entries.items():
                (files / filename).write_bytes(body)
                fragment = f"#sha256={hashlib.sha256(body).hexdigest()}" if hashed else ""
                anchors.append(f'<a href="../../files/{filename}{fragment}"{attrs}>{html.escape(filename)}</a><br>\n')
            self._page(self.root / "simple" / name / "index.html", "".join(anchors))
        for path in self.root.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)

    @staticmethod
    def _page(path: Path, body: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = f"<!DOCTYPE html><html><body>\n{body}</body></html>\n"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)

    def tree(self) -> dict[str, dict[str, str]]:
        return {name: {f: hashlib.sha256(b).hexdigest() for f, (b, _, _) in entries.items()}
                for name, entries in self.projects.items()}  # fmt: skip


def static_server(binary: str, root: Path, prefix: Path) -> Iterator[Served]:
    def render(port: int) -> str:
        access = prefix / "access.log"
        return _wrap(f"server {{\n    listen 127.0.0.1:{port};\n    root {root};\n"
                     f"    access_log {access};\n}}\n", prefix)  # fmt: skip

    return _running(binary, prefix, render, 10)


def mirror_tree(web: Path) -> dict[str, dict[str, str]]:
    """{project: {filename: sha256}} as the mirror's PEP 691 pages list them, each file checked on disk."""
    found: dict[str, dict[str, str]] = {}
    for page in sorted((web / "simple").glob("*/index.v1_json")):
        data = json.loads(page.read_text())
        found[data["name"]] = {}
        for entry in data["files"]:
            path = (page.parent / entry["url"]).resolve()
            assert sha256_of(path) == entry["hashes"]["sha256"], path
            assert path.relative_to(web.resolve()).parts[:1] == ("packages",)
            assert path.parent.name == entry["hashes"]["sha256"]  # placed by its sha256
            found[data["name"]][entry["filename"]] = entry["hashes"]["sha256"]
    root = json.loads((web / "simple" / "index.v1_json").read_text())
    assert sorted(p["name"] for p in root["projects"]) == sorted(found)
    return found


def statuses(served: Served, since: int) -> list[tuple[str, str]]:
    lines = served.access_log.read_text().splitlines()[since:]
    return [(line.split('"')[1].split()[1], line.split('"')[2].split()[0]) for line in lines]


def pip_install(index_url: str, tmp_path: Path, *names: str) -> subprocess.CompletedProcess:
    venv.create(tmp_path / "venv", with_pip=True)
    python = str(tmp_path / "venv" / "bin" / "python")
    return subprocess.run(
        [python, "-m", "pip", "--isolated", "--disable-pip-version-check", "--no-cache-dir", "install",
         "--index-url", index_url, *names],
        capture_output=True, text=True, timeout=300, env=clean_env(),
    )  # fmt: skip


@pytest.fixture
def nginx() -> str:
    binary = nginx_binary()
    if binary is None:
        pytest.skip(NOT_INSTALLED)
    return binary


def test_a_static_html_index_is_mirrored_through_two_rounds_of_changes(nginx: str, tmp_path: Path) -> None:
    with world_readable_tempdir() as root:
        index = StaticIndex(root / "index")
        index.add(
            "alpha", "alpha-1.0-py3-none-any.whl", make_wheel("alpha", "1.0"), attrs=' data-requires-python="&gt;=3.8"'
        )
        index.add("alpha", "alpha-1.0.tar.gz", make_sdist("alpha", "1.0"), hashed=False)  # no hash on the index
        index.add("beta", "beta-1.0-py3-none-any.whl", make_wheel("beta", "1.0"))
        index.add("gamma", "gamma-1.0-py3-none-any.whl", make_wheel("gamma", "1.0"), attrs=' data-yanked="broken"')
        with static_server(nginx, root / "index", tmp_path / "index-nginx") as upstream:
            mirror = MirrorSetup(directory=root / "mirror", config=tmp_path / "b.conf")
            mirror.write_config(f"{upstream.url}/simple", api_method="index")
            result = mirror.run()
            assert result.returncode == 0, result.stderr
            assert mirror_tree(mirror.web) == index.tree()
            assert "Hashing" in result.stderr and "alpha-1.0.tar.gz" in result.stderr
            assert mirror.status() == 1  # the mirror's own run counter
            gamma = json.loads((mirror.web / "simple" / "gamma" / "index.v1_json").read_text())
            assert gamma["files"][0]["yanked"] == "broken"
            alpha = json.loads((mirror.web / "simple" / "alpha" / "index.v1_json").read_text())
            assert {f["filename"]: f["requires-python"] for f in alpha["files"]}[
                "alpha-1.0-py3-none-any.whl"
            ] == ">=3.8"

            # round 1: a new file for beta; alpha and gamma unchanged
            time.sleep(1.1)  # Last-Modified has one-second resolution
            index.add("beta", "beta-2.0-py3-none-any.whl", make_wheel("beta", "2.0"))
            seen = len(upstream.access_log.read_text().splitlines())
            result = mirror.run()
            assert result.returncode == 0, result.stderr
            assert mirror_tree(mirror.web) == index.tree() and mirror.status() == 2
            asked = statuses(upstream, seen)
            assert ("/simple/alpha/", "304") in asked and ("/simple/gamma/", "304") in asked
            assert [path for path, _ in asked if path.startswith("/files/")] == ["/files/beta-2.0-py3-none-any.whl"]
            assert "Hashing" not in result.stderr  # alpha did not change: not synced, not hashed

            # round 2: gamma leaves the index
            index.remove_project("gamma")
            result = mirror.run()
            assert result.returncode == 0, result.stderr
            assert mirror_tree(mirror.web) == index.tree() and mirror.status() == 3
            assert not (mirror.web / "simple" / "gamma").exists()
            assert not [p for p in mirrored_files(mirror.web) if "gamma" in p]
            report = mirror.run("status", "--json")
            assert json.loads(report.stdout)["serial"] == 3, report.stdout + report.stderr
            index.add("delta", "delta-1.0-py3-none-any.whl", make_wheel("delta", "1.0"))
            dry = mirror.run("mirror", "--dry-run", "--json")
            assert dry.returncode == 0, dry.stderr
            plan = json.loads(dry.stdout)
            assert (plan["add"], plan["update"], plan["remove"]) == (["delta"], [], []), plan
            assert not (mirror.web / "simple" / "delta").exists() and mirror.status() == 3  # wrote nothing
            index.remove_project("delta")
        with serving(nginx, mirror.web, tmp_path / "mirror-nginx") as served:
            run = pip_install(f"{served.url}/simple/", tmp_path, "alpha", "beta")
            assert run.returncode == 0, run.stdout + run.stderr
            assert "beta-2.0" in run.stdout


# -- pypiserver ------------------------------------------------------------------------------------------


def _pypiserver() -> Optional[list[str]]:
    try:
        import pypiserver  # noqa: F401
    except ImportError:
        return None
    return [sys.executable, "-m", "pypiserver", "run"]


@pytest.fixture
def pypiserver(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    command = _pypiserver()
    if command is None:
        pytest.skip("pypiserver is not installed (pip install -e .[test])")
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    packages = tmp_path / "pypiserver-packages"
    packages.mkdir()
    process = subprocess.Popen(
        [*command, "-i", "127.0.0.1", "-p", str(port), "-a", ".", "-P", ".", "--hash-algo", "sha256", str(packages)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        _wait_for(port, process)
        yield f"http://127.0.0.1:{port}/simple", packages
    finally:
        process.terminate()
        process.wait(10)


def _wait_for(port: int, process: subprocess.Popen) -> None:
    import socket

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pypiserver exited: {process.stderr.read().decode() if process.stderr else ''}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("pypiserver did not start")


def test_pypiserver_is_mirrored_through_two_rounds_of_changes(
    pypiserver: tuple[str, Path], nginx: str, tmp_path: Path
) -> None:
    url, packages = pypiserver
    expected: dict[str, dict[str, str]] = {}

    def publish(name: str, filename: str, body: bytes) -> None:
        (packages / filename).write_bytes(body)
        expected.setdefault(name, {})[filename] = hashlib.sha256(body).hexdigest()

    publish("alpha", "alpha-1.0-py3-none-any.whl", make_wheel("alpha", "1.0"))
    publish("alpha", "alpha-1.0.tar.gz", make_sdist("alpha", "1.0"))
    publish("beta", "beta-1.0-py3-none-any.whl", make_wheel("beta", "1.0", requires_dist=["alpha"]))
    publish("gamma", "gamma-1.0-py3-none-any.whl", make_wheel("gamma", "1.0"))
    with world_readable_tempdir() as root:
        mirror = MirrorSetup(directory=root / "mirror", config=tmp_path / "b.conf")
        mirror.write_config(url, api_method="index")
        for change in (None, "new file", "removed project"):
            if change == "new file":
                publish("beta", "beta-2.0-py3-none-any.whl", make_wheel("beta", "2.0", requires_dist=["alpha"]))
            elif change == "removed project":
                (packages / "gamma-1.0-py3-none-any.whl").unlink()
                del expected["gamma"]
            result = mirror.run()
            assert result.returncode == 0, result.stderr
            assert "Traceback" not in result.stderr
            assert mirror_tree(mirror.web) == expected, change
        with serving(nginx, mirror.web, tmp_path / "mirror-nginx") as served:
            run = pip_install(f"{served.url}/simple/", tmp_path, "beta")
            assert run.returncode == 0, run.stdout + run.stderr
            assert "beta-2.0" in run.stdout and "alpha-1.0" in run.stdout


def test_a_pep_691_project_page_is_read_with_its_own_filenames() -> None:
    entry = {
        "filename": "torch-2.1.0+cu121-cp311-cp311-linux_x86_64.whl", "url": "../torch-2.1.0%2Bcu121-"
        "cp311-cp311-linux_x86_64.whl", "hashes": {"sha256": HEX.upper()}, "requires-python": ">=3.8", "size": 7,
        "yanked": "bad", "core-metadata": {"sha256": HEX}, "upload-time": "2024-01-01T00:00:00Z",
    }  # fmt: skip
    body = json.dumps({"meta": {"api-version": "1.1"}, "name": "torch", "files": [entry, {**entry, "hashes": {}}]})
    page = parse_project_page("Torch", body.encode(), "application/vnd.pypi.simple.v1+json",
                              "https://download.example/whl/cu121/torch/", 4)  # fmt: skip
    (release,) = page.files  # one file per filename
    assert (release.sha256, release.size, release.yanked_reason, release.core_metadata_sha256) == (HEX, 7, "bad", HEX)
    assert release.path == f"packages/ab/ab/{HEX}/torch-2.1.0+cu121-cp311-cp311-linux_x86_64.whl"
    assert release.url == "https://download.example/whl/cu121/torch-2.1.0%2Bcu121-cp311-cp311-linux_x86_64.whl"
    assert page.versions == ("2.1.0+cu121",) and page.serial == 4
    with pytest.raises(ValueError, match="answered for"):
        parse_project_page("other", body.encode(), "application/vnd.pypi.simple.v1+json", "https://x.example/", 1)
