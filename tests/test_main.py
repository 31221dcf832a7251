"""One test per exit path of the real command, checking the exact line the operator sees."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from bandersnatch import __version__
from bandersnatch.configuration import default_config_text
from bandersnatch.state import GENERATION
from bandersnatch.storage import FilesystemStorage
from tests.conftest import ROOT, MirrorSetup, bandersnatch_command

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR): ")


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        bandersnatch_command() + list(args), capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def error_line(result: subprocess.CompletedProcess) -> str:
    """The single line a failed run printed, without its timestamp."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert LOG_LINE.match(lines[0]), lines[0]
    assert "Traceback" not in result.stderr
    return LOG_LINE.sub("", lines[0])


def test_version_and_help() -> None:
    assert run("--version").stdout.strip() == f"bandersnatch, version {__version__}"
    help_text = run("--help").stdout
    assert "mirror" in help_text and "update-stats" in help_text and "BANDERSNATCH_CONFIG" in help_text


def test_usage_error_exits_2() -> None:
    assert run("frobnicate").returncode == 2


def test_first_run_writes_a_commented_default_config_and_syncs_nothing(tmp_path: Path) -> None:
    config = tmp_path / "etc" / "bandersnatch.conf"
    config.parent.mkdir()
    result = run("-c", str(config), "mirror")
    assert result.returncode == 1
    assert error_line(result) == f"No config found: wrote a default one to {config}; review it and run again"
    assert config.read_text(encoding="utf-8") == default_config_text()
    assert list(tmp_path.rglob("*")) == [config.parent, config]


def test_config_path_comes_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "env.conf"
    result = run("mirror", env={"BANDERSNATCH_CONFIG": str(config)})
    assert result.returncode == 1 and config.exists()


def test_unwritable_config_location_is_one_line(tmp_path: Path) -> None:
    result = run("-c", str(tmp_path / "missing-dir" / "b.conf"), "mirror")
    assert result.returncode == 1
    assert error_line(result).startswith(
        f"no config at '{tmp_path / 'missing-dir' / 'b.conf'}' and cannot write one"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[mirror]\ndirectory = /m\nmaster = https://x\nworkers = 0\n",
            "workers = '0': expected a whole number from 1 to 10",
        ),
        ("[mirror]\ndirectory = /m\nmaster = not a url\n", "master = 'not a url': expected a URL"),
        ("[mirror]\nmaster = https://x\n", "[mirror] directory is missing"),
        ("[mirror]\ndirectory = /m\nmaster = http://x\n", "https only, unless allow-non-https = true"),
        ("garbage", "is not valid INI"),
        ("[mirror]\ndirectory = /m\nmaster = https://x\n[plugins]\nenabled = frobnicate\n",
         "[plugins] enabled: unknown plugin 'frobnicate'"),
        ("[mirror]\ndirectory = /m\nmaster = https://x\n[plugins]\nenabled = all\n[allowlist]\npackages = foo>=>1\n",
         "[allowlist] packages: 'foo>=>1' is not a valid requirement"),
        ("[mirror]\ndirectory = /m\nmaster = https://x\n[plugins]\nenabled = project_requirements\n"
         "[allowlist]\nrequirements_path = /nope\nrequirements = r.txt\n", "cannot read requirements file '/nope/r.txt'"),
        ("[mirror]\ndirectory = /m\nmaster = https://x\n[plugins]\nenabled = exclude_platform\n[blocklist]\n"
         "platforms = amiga\n", "unknown platform 'amiga'"),
    ],
)
def test_bad_config_is_one_line_and_exit_1(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "b.conf"
    config.write_text(text)
    result = run("-c", str(config), "mirror")
    assert result.returncode == 1
    assert message in error_line(result)


def test_update_stats_without_statistics_section(tmp_path: Path) -> None:
    config = tmp_path / "b.conf"
    config.write_text(f"[mirror]\ndirectory = {tmp_path}/m\nmaster = https://x\n")
    result = run("-c", str(config), "update-stats")
    assert result.returncode == 1
    assert error_line(result) == f"config '{config}' has no [statistics] access-log-pattern"


def test_a_second_run_exits_at_once_while_the_lock_is_held(mirror: MirrorSetup) -> None:
    with FilesystemStorage(mirror.directory).lock():
        result = mirror.run("mirror")
    assert result.returncode == 3
    assert error_line(result) == (
        f"another bandersnatch run holds {mirror.directory / '.lock'}; not starting a second one"
    )
    assert not (mirror.directory / "web").exists()
    assert not (mirror.directory / "plan.json").exists()  # the holder's plan is the holder's to write


@pytest.mark.parametrize("content", ["garbage\n", "", "12 13\n"])
def test_damaged_status_is_one_line_and_nothing_is_touched(mirror: MirrorSetup, content: str) -> None:
    mirror.directory.mkdir()
    (mirror.directory / "generation").write_text(GENERATION + "\n")
    (mirror.directory / "status").write_text(content)
    result = mirror.run("mirror")
    assert result.returncode == 1
    assert "delete it and todo to force a full resync" in error_line(result)
    assert (mirror.directory / "status").read_text() == content


def test_unreachable_master_is_one_line_after_retries(mirror: MirrorSetup) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mirror.write_config(f"http://127.0.0.1:{port}")
    result = mirror.run("mirror")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    last = result.stderr.splitlines()[-1]
    assert LOG_LINE.sub("", last).startswith(f"POST http://127.0.0.1:{port}/pypi failed:"), last


def test_a_mirror_directory_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    config = tmp_path / "b.conf"
    config.write_text(f"[mirror]\ndirectory = {tmp_path}/a-file/mirror\nmaster = https://x\n")
    result = run("-c", str(config), "mirror")
    assert result.returncode == 1
    assert "Not a directory" in error_line(result)
