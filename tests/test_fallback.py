"""Serve what you don't store (issue 19, SPEC 16), end to end through real sockets.

nginx runs the block `bandersnatch nginx-config` prints for the mirror's config; a second loopback
server (PyPIMaster) stands in for the upstream. pip and uv install a project the subset does not
hold through the fallback (redirect, then proxy); nginx's access log then drives the next
`bandersnatch mirror` run ([demand]), which mirrors the project and its dependency; the same
installs then succeed with the fallback off and the upstream stopped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterator

import pytest
import requests

from tests.conftest import MirrorSetup
from tests.nginx import (
    NOT_INSTALLED,
    generated_block,
    nginx_binary,
    serving,
    world_readable_tempdir,
)
from tests.pypi_master import FileSpec, PyPIMaster, make_sdist, make_wheel
from tests.test_serving import Client, get, installed, pip_client, uv_client  # noqa: F401 - fixtures


def publish(pypi: PyPIMaster, name: str, version: str, requires: tuple[str, ...] = ()) -> None:
    stem = f"{name.replace('-', '_')}-{version}"
    pypi.add_release(name, version, [
        FileSpec(f"{stem}-py3-none-any.whl", content=make_wheel(name, version, requires_dist=requires)),
        FileSpec(f"{stem}.tar.gz", content=make_sdist(name, version)),
    ])  # fmt: skip


def write_config(mirror: MirrorSetup, pypi: PyPIMaster, fallback: str, access_log: Path) -> None:
    mirror.write_config(pypi.url)
    with open(mirror.config, "a", encoding="utf-8") as config:
        config.write(
            "[plugins]\nenabled = allowlist_project\n"
            "[allowlist]\npackages = kept-app\n"
            "[dependencies]\nenabled = true\npython-versions = 3.11 3.12 3.13\n"
            "platforms = linux-x86_64\n"
            f"[serve]\nfallback = {fallback}\nupstream = {pypi.url}\n"
            f"[demand]\nenabled = true\naccess-log-pattern = {access_log}*\n"
            "ignore-agents = ^health-check\n"
        )


@pytest.fixture
def binary() -> str:
    found = nginx_binary()
    if found is None:
        pytest.skip(NOT_INSTALLED)
    return found


@pytest.fixture
def served_root() -> Iterator[Path]:
    with world_readable_tempdir() as root:
        yield root


@pytest.mark.parametrize("mode", ["redirect", "proxy"])
def test_a_project_outside_the_subset_installs_through_the_fallback_then_from_the_mirror(
    mode: str, binary: str, served_root: Path, tmp_path: Path, pip_client: Client, uv_client: Client
) -> None:
    pypi = PyPIMaster()
    publish(pypi, "kept-app", "1.0")
    publish(pypi, "wanted-app", "1.0", ("wanted-dep>=1.0",))
    publish(pypi, "wanted-dep", "1.0")
    publish(pypi, "unasked", "1.0")
    nginx_dir = tmp_path / "nginx"
    mirror = MirrorSetup(directory=served_root / "mirror", config=tmp_path / "bandersnatch.conf")
    write_config(mirror, pypi, mode, nginx_dir / "access.log")
    first = mirror.run()
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in (mirror.web / "simple").iterdir() if p.is_dir()) == ["kept-app"]

    upstream = pypi.url.removeprefix("http://")
    with serving(binary, mirror.web, nginx_dir, block=generated_block(mirror.config)) as served:
        index = f"{served.url}/simple/"
        assert "kept_app-1.0" in get(f"{index}kept-app/").text  # the mirror's own page, from disk
        pypi.clear_log()
        for client in (pip_client, uv_client):
            installed(client.install(index, "wanted-app==1.0", reinstall=True))
            assert client.version("wanted-app") == "1.0" and client.version("wanted-dep") == "1.0"
        page = get(f"{index}wanted-app/")
        assert page.status_code == 200 and "wanted_app-1.0-py3-none-any.whl" in page.text
        if mode == "proxy":  # the links lead back through the mirror: no client needs the upstream
            assert upstream not in page.text and served.url in page.text
            assert any(path.startswith("/packages/") for _, path in pypi.requests)  # nginx fetched them
        else:
            assert page.url.startswith(pypi.url)  # the client was sent there
        assert get(f"{index}kept-app/").text == (mirror.web / "simple/kept-app/index.html").read_text()
        with requests.Session() as session:  # asked only by the health check: does not count
            session.trust_env = False
            session.get(f"{index}unasked/", headers={"User-Agent": "health-check/1"}, timeout=10)
        log = served.access_log.read_text(encoding="utf-8")
    assert re.search(r'"GET /simple/wanted-app/ HTTP/1.1" (200|302) ', log), log

    second = mirror.run()  # the access log drives this run
    assert second.returncode == 0, second.stderr
    held = sorted(p.name for p in (mirror.web / "simple").iterdir() if p.is_dir())
    assert held == ["kept-app", "wanted-app", "wanted-dep"], second.stderr
    assert "unasked" not in held

    # The fallback off and the upstream gone: the mirror alone serves what was asked for.
    pypi.stop()
    with open(mirror.config, encoding="utf-8") as config:
        text = config.read().replace(f"fallback = {mode}", "fallback = none")
    mirror.config.write_text(text, encoding="utf-8")
    with serving(binary, mirror.web, tmp_path / "nginx-alone", block=generated_block(mirror.config)) as served:
        for client in (pip_client, uv_client):
            installed(client.install(f"{served.url}/simple/", "wanted-app==1.0", reinstall=True))
            assert client.version("wanted-dep") == "1.0"
        assert get(f"{served.url}/simple/unasked/").status_code == 404
