"""Shared fixtures: a loopback PyPI master, a mirror config pointing at it, the real command."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional
from urllib.parse import unquote, urlsplit

import pytest

from bandersnatch.model import normalize
from tests.pypi_master import PyPIMaster

pytest.register_assert_rewrite("tests.tree")  # its failures show the values, as a test's do
from tests.tree import TreeConfig, assert_tree  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def bandersnatch_command() -> list[str]:
    """The installed console script when there is one (what cron runs), else ``python -m``."""
    script = Path(sys.executable).with_name("bandersnatch")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bandersnatch"]


@dataclass
class MirrorSetup:
    """A mirror directory and the config that points it at the loopback master."""

    directory: Path
    config: Path

    @property
    def web(self) -> Path:
        return self.directory / "web"

    def write_config(self, master_url: str, **options: object) -> None:
        values = {"directory": self.directory, "master": master_url, "allow-non-https": "true",
                  "timeout": 5, "workers": 3}  # fmt: skip
        values.update({key.replace("_", "-"): value for key, value in options.items()})
        lines = ["[mirror]"] + [f"{key} = {value}" for key, value in values.items()]
        self.config.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def run(
        self, *args: str, timeout: float = 120, env: Optional[dict] = None
    ) -> subprocess.CompletedProcess:
        command = bandersnatch_command() + ["-c", str(self.config), *(args or ("mirror",))]
        return subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
            env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
        )  # fmt: skip

    def status(self) -> Optional[int]:
        path = self.directory / "status"
        return int(path.read_text()) if path.exists() else None

    def todo(self) -> Optional[str]:
        path = self.directory / "todo"
        return path.read_text() if path.exists() else None


@pytest.fixture
def pypi() -> Iterator[PyPIMaster]:
    with PyPIMaster() as master:
        yield master


@pytest.fixture
def mirror(tmp_path: Path, pypi: PyPIMaster) -> MirrorSetup:
    setup = MirrorSetup(directory=tmp_path / "mirror", config=tmp_path / "bandersnatch.conf")
    setup.write_config(pypi.url)
    return setup


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


BESIDE = (".metadata", ".provenance")  # what the mirror keeps beside a release file (PEP 658, 740)


def mirrored_files(web: Path, beside: bool = False) -> set[str]:
    """Every release file under web/packages/, relative to web/ (``beside``: their .metadata and
    .provenance files instead)."""
    root = web / "packages"
    found = {str(path.relative_to(web)) for path in root.rglob("*") if path.is_file()} if root.exists() else set()
    return {path for path in found if path.endswith(BESIDE) == beside}


def size_total(setup: MirrorSetup) -> tuple[int, int]:
    """The mirror's running size total in runs.json: (release files, their bytes)."""
    size = json.loads((setup.directory / "runs.json").read_text())["size"]
    return size["files"], size["bytes"]


def size_on_disk(web: Path) -> tuple[int, int]:
    """What that total must say: the release files under web/packages/ and their bytes."""
    files = mirrored_files(web)
    return len(files), sum((web / path).stat().st_size for path in files)


def master_tree(pypi: PyPIMaster) -> dict[str, dict[str, str]]:
    """{normalized project: {path relative to web/: sha256}} as the master has it now."""
    return {
        normalize(name): {
            unquote(urlsplit(entry["url"]).path)[1:]: entry["digests"]["sha256"] for entry in pypi.files(name)
        }
        for name in pypi.projects()
    }


def metadata_tree(pypi: PyPIMaster) -> dict[str, str]:
    """{path of a .metadata file relative to web/: sha256} for every file the master offers one for."""
    return {
        unquote(urlsplit(entry["url"]).path)[1:] + ".metadata": entry["core-metadata"]["sha256"]
        for name in pypi.projects()
        for entry in pypi.files(name)
        if entry["core-metadata"]
    }


def assert_mirror_matches(web: Path, pypi: PyPIMaster, dropped: frozenset[str] = frozenset()) -> None:
    """The tree is exactly the master's in every format the default configuration writes (see
    tests/tree.py): pages, roots, files, .metadata and .provenance, nothing else (no stray or
    temporary file). ``dropped``: .metadata files the run said it could not get a good copy of.

    The default configuration, unless the config file the ``mirror`` fixture writes beside the
    mirror's directory says otherwise (callers that synced with simple_format="HTML" keep working)."""
    config = web.parent.parent / "bandersnatch.conf"
    options = TreeConfig.of_file(config) if config.is_file() and _configures(config, web.parent) else TreeConfig()
    assert_tree(web, pypi, options, dropped=dropped)


def _configures(config: Path, directory: Path) -> bool:
    return f"directory = {directory}\n" in config.read_text(encoding="utf-8")
