"""A real client installs from the mirror, served over HTTP on loopback, with hashes checked."""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
import venv
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import MirrorSetup
from tests.pypi_master import PyPIMaster


@pytest.fixture
def served(mirror: MirrorSetup) -> Iterator[str]:
    """The mirror's web/ behind a plain static file server: pip needs nothing more."""
    mirror.web.mkdir(parents=True)
    handler = functools.partial(QuietHandler, directory=str(mirror.web))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("venv")
    venv.create(directory, with_pip=True)
    return directory / "bin" / "python"


def pip(python: Path, *args: str) -> subprocess.CompletedProcess:
    command = [str(python), "-m", "pip", "--isolated", "--disable-pip-version-check", "--no-cache-dir", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def test_pip_installs_from_the_mirror_with_hashes(
    pypi: PyPIMaster, mirror: MirrorSetup, served: str, fresh_venv: Path, tmp_path: Path
) -> None:
    pypi.add_release("Mirror.Demo_Pkg", "1.0")
    pypi.add_release("Mirror.Demo_Pkg", "2.0")
    result = mirror.run()
    assert result.returncode == 0, result.stderr
    wheel = next(f for f in pypi.files("Mirror.Demo_Pkg") if f["filename"].endswith("1.0-py3-none-any.whl"))
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"mirror-demo-pkg==1.0 --hash=sha256:{wheel['digests']['sha256']}\n")
    installed = pip(
        fresh_venv, "install", "--index-url", f"{served}/simple/", "--require-hashes", "-r", str(requirements)
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    shown = pip(fresh_venv, "show", "mirror-demo-pkg")
    assert "Version: 1.0" in shown.stdout
    wrong = tmp_path / "wrong.txt"
    wrong.write_text(f"mirror-demo-pkg==2.0 --hash=sha256:{'0' * 64}\n")
    refused = pip(
        fresh_venv, "install", "--index-url", f"{served}/simple/", "--require-hashes", "-r", str(wrong)
    )
    assert refused.returncode != 0 and "THESE PACKAGES DO NOT MATCH THE HASHES" in refused.stderr
