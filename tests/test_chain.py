"""Mirrors of mirrors: our mirror, served by nginx with the README's block, is the master of
another bandersnatch that finds changes from its PEP 691 root (`api-method = simple`), with no
XML-RPC and no JSON API on the way."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import MirrorSetup, assert_mirror_matches
from tests.nginx import NOT_INSTALLED, nginx_binary, serving, world_readable_tempdir
from tests.pypi_master import PyPIMaster, generate_corpus


def test_a_mirror_of_our_mirror_equals_the_master_deletions_included(pypi: PyPIMaster, tmp_path: Path) -> None:
    binary = nginx_binary()
    if binary is None:
        pytest.skip(NOT_INSTALLED)
    generate_corpus(pypi, 10, seed=12, files_per_project=(2, 3))
    pypi.add_release("Goes.Away", "1.0")
    pypi.add_release("loses-a-file", "1.0")
    with world_readable_tempdir() as root:
        hub = MirrorSetup(directory=root / "hub", config=tmp_path / "hub.conf")
        hub.write_config(pypi.url)
        assert hub.run().returncode == 0
        with serving(binary, hub.web, tmp_path / "nginx") as served:
            spoke = MirrorSetup(directory=tmp_path / "spoke", config=tmp_path / "spoke.conf")
            spoke.write_config(served.url, api_method="simple")
            first = spoke.run()
            assert first.returncode == 0, first.stderr
            assert_mirror_matches(spoke.web, pypi)
            pypi.add_release("new-one", "1.0")
            pypi.add_release("Foo.Bar_baz", "9.0")
            pypi.remove_project("Goes.Away")
            pypi.remove_file("loses-a-file", "loses_a_file-1.0.tar.gz")
            assert hub.run().returncode == 0
            served_before = _count_lines(served.access_log)
            second = spoke.run()
            assert second.returncode == 0, second.stderr
            assert_mirror_matches(spoke.web, pypi)
            assert spoke.status() == hub.status() == pypi.serial
            asked = _lines(served.access_log)[served_before:]
            assert not any("/pypi" in line and "POST" in line for line in asked)  # no XML-RPC at all
            pages = {line.split('"')[1].split()[1] for line in asked if "GET /simple/" in line}
            # the root, and only the three projects that changed (one to learn it is gone)
            assert pages == {"/simple/", "/simple/new-one/", "/simple/foo-bar-baz/", "/simple/goes-away/",
                             "/simple/loses-a-file/"}, pages  # fmt: skip
            third = spoke.run()
            assert "Nothing to do" in third.stderr


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


def _count_lines(path: Path) -> int:
    return len(_lines(path)) if path.exists() else 0
