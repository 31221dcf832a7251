"""A mirror of our mirror served under a path prefix: the hub writes JSON API copies (json = true)
whose file URLs are relative (``../../packages/...``), nginx serves it below ``/pypi-mirror/``, and
a second mirror (``api-method = simple``, ``master = http://HOST/pypi-mirror``) must place every
file exactly where the master has it, not under ``pypi-mirror/packages/...`` (urls.file_place)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import MirrorSetup
from tests.nginx import (
    NOT_INSTALLED,
    Served,
    _free_port,
    _running,
    nginx_binary,
    readme_server_block,
    render_config,
    world_readable_tempdir,
)
from tests.pypi_master import PyPIMaster, generate_corpus
from tests.tree import TreeConfig, assert_tree

PREFIX = "/pypi-mirror"


@contextlib.contextmanager
def serving_under_prefix(binary: str, web: Path, prefix: Path) -> Iterator[Served]:
    """The README's block, unchanged, on an inner port; a front server maps PREFIX/ onto it, as a
    site that serves the mirror beside other things would."""
    inner = _free_port()

    def render(port: int) -> str:
        config = render_config(readme_server_block(), port=inner, web=web, prefix=prefix)
        front = (
            f"    server {{\n        listen 127.0.0.1:{port};\n"
            f"        location {PREFIX}/ {{ proxy_pass http://127.0.0.1:{inner}/; }}\n    }}\n"
        )
        assert config.endswith("}\n")
        return config[:-2] + front + "}\n"

    with _running(binary, prefix, render, 10) as served:
        yield served


def test_a_mirror_of_our_json_mirror_under_a_prefix_equals_the_master(pypi: PyPIMaster, tmp_path: Path) -> None:
    binary = nginx_binary()
    if binary is None:
        pytest.skip(NOT_INSTALLED)
    generate_corpus(pypi, 6, seed=5, files_per_project=(1, 3))
    with world_readable_tempdir() as root:
        hub = MirrorSetup(directory=root / "hub", config=tmp_path / "hub.conf")
        hub.write_config(pypi.url, json="true")
        assert hub.run().returncode == 0
        assert any((hub.web / "pypi").iterdir())  # the JSON API copies the spoke will read
        with serving_under_prefix(binary, hub.web, tmp_path / "nginx") as served:
            spoke = MirrorSetup(directory=tmp_path / "spoke", config=tmp_path / "spoke.conf")
            spoke.write_config(served.url + PREFIX, api_method="simple", json="true")  # json: it reads the copies
            result = spoke.run()
            assert result.returncode == 0, result.stderr[-3000:]
            assert "Traceback" not in result.stderr
            assert_tree(spoke.web, pypi, TreeConfig.of_file(spoke.config))
            assert not (spoke.web / "pypi-mirror").exists()
            asked = (tmp_path / "nginx" / "access.log").read_text()
            assert "GET /pypi/" in asked  # the JSON API copies, relative URLs and all, described the projects
