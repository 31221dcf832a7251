"""The whole path as users run it: sync from the loopback master, serve web/ with nginx and the
README's server block, install with pip and uv, count the downloads with update-stats, run as cron.

One master, one synced mirror and one nginx serve the whole module; pip and uv each get one fresh
virtual environment. Every GET of a release file the tests make is recorded in `Site.downloads`,
which nginx's access log and update-stats' day files must both agree with. Only 127.0.0.1 is ever
asked: pip runs `--isolated`, uv without config or cache, both without proxies.
"""

from __future__ import annotations

import bz2
import csv
import hashlib
import html
import os
import re
import shutil
import subprocess
import sys
import venv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional
from urllib.parse import unquote, urljoin, urlsplit

import pytest
import requests

from bandersnatch.pages.html import page_files
from tests.conftest import ROOT, MirrorSetup, bandersnatch_command
from tests.nginx import (
    NOT_INSTALLED,
    Served,
    generated_block,
    nginx_binary,
    readme_server_block,
    serving,
    world_readable_tempdir,
)
from tests.pypi_master import FileSpec, PyPIMaster

TOOLS = ("pip", "uv")
NON_ASCII = "Unicodé_Démo-1.0-py3-none-any.whl"
LOG_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR): \S")
_DOWNLOAD = re.compile(r'"GET /packages/\S*/([^/ ]+) HTTP/[\d.]+" 200 \d+ "[^"]*" "([^/"]+)')


# ---------------------------------------------------------------------------------- the served site
def add_corpus(pypi: PyPIMaster) -> None:
    """One project per case. Releases without a file list get the master's real wheel and sdist, of
    which pip and uv pick the wheel; serving-sdist has only the sdist, which they must build."""
    pypi.add_release("serving-demo", "1.0")
    pypi.add_release("serving-sdist", "1.0", [FileSpec("serving_sdist-1.0.tar.gz")])
    pypi.add_release("needs-newer-python", "1.0")
    pypi.add_release("needs-newer-python", "2.0", requires_python=">=99")
    pypi.add_release("yanked-demo", "1.0")
    pypi.add_release("yanked-demo", "2.0")
    pypi.yank("yanked-demo", "2.0", reason="broken build")
    pypi.add_release("Foo.Bar_baz", "1.0")
    pypi.add_file("Unicode-Demo", "1.0", NON_ASCII, size=4096)
    pypi.add_release("hash-demo", "1.0")
    pypi.add_release("stats-demo", "1.0")
    wheel = next(f["filename"] for f in pypi.files("serving-demo") if f["filename"].endswith(".whl"))
    pypi.attest("serving-demo", wheel, {"version": 1, "attestation_bundles": []})


@dataclass
class Site:
    """The module's master, its synced mirror, the nginx serving it, and the downloads made from it."""

    pypi: PyPIMaster
    mirror: MirrorSetup
    served: Served
    downloads: Counter = field(default_factory=Counter)  # {(filename, client): successful GETs}

    @property
    def index(self) -> str:
        return f"{self.served.url}/simple/"

    def wheel(self, project: str, version: str) -> str:
        return self._file(project, f"-{version}-py3-none-any.whl")

    def sdist(self, project: str, version: str) -> str:
        return self._file(project, f"-{version}.tar.gz")

    def _file(self, project: str, suffix: str) -> str:
        (name,) = [f["filename"] for f in self.pypi.files(project) if f["filename"].endswith(suffix)]
        return name


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    binary = nginx_binary()
    if binary is None:
        pytest.skip(NOT_INSTALLED)
    work = tmp_path_factory.mktemp("serving")
    with PyPIMaster() as pypi, world_readable_tempdir() as served_root:
        add_corpus(pypi)
        mirror = MirrorSetup(directory=served_root / "mirror", config=work / "bandersnatch.conf")
        mirror.write_config(pypi.url)
        synced = mirror.run()
        assert synced.returncode == 0, synced.stderr
        with serving(binary, mirror.web, work / "nginx", block=generated_block(mirror.config)) as served:
            yield Site(pypi, mirror, served)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything that could send pip or uv elsewhere than 127.0.0.1."""
    proxies = {"http_proxy", "https_proxy", "all_proxy"}
    env = {
        key: value for key, value in os.environ.items()
        if not key.upper().startswith(("PIP_", "UV_")) and key.lower() not in proxies
    }  # fmt: skip
    env.update(no_proxy="*", NO_PROXY="*", UV_NO_CONFIG="1", UV_PYTHON_DOWNLOADS="never", **extra)
    return env


@dataclass(frozen=True)
class Client:
    """pip or uv installing into its own virtual environment."""

    name: str  # also how its User-Agent starts
    python: Path  # the environment's interpreter
    command: tuple[str, ...]  # up to the subcommand
    install_options: tuple[str, ...]
    reinstall_flag: str

    def run(self, subcommand: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([*self.command, subcommand, *args], capture_output=True, text=True, timeout=180,
                              env=clean_env(), stdin=subprocess.DEVNULL)  # fmt: skip

    def install(self, index: str, *args: str, reinstall: bool = False) -> subprocess.CompletedProcess:
        flags = [self.reinstall_flag] if reinstall else []
        return self.run("install", *self.install_options, "--index-url", index, *flags, *args)

    def version(self, distribution: str) -> Optional[str]:
        script = "import importlib.metadata as m, sys; print(m.version(sys.argv[1]))"
        shown = subprocess.run([str(self.python), "-c", script, distribution], capture_output=True, text=True)
        return shown.stdout.strip() if shown.returncode == 0 else None


def uv_binary() -> Optional[str]:
    """The `uv` of the test extra: beside this interpreter, else what its package or PATH knows."""
    sibling = Path(sys.executable).with_name("uv")
    if sibling.exists():
        return str(sibling)
    try:
        from uv import find_uv_bin

        return find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


@pytest.fixture(scope="module")
def pip_client(tmp_path_factory: pytest.TempPathFactory) -> Client:
    directory = tmp_path_factory.mktemp("pip-venv")
    venv.create(directory, with_pip=True)
    python = directory / "bin" / "python"
    pip = (str(python), "-m", "pip", "--isolated", "--disable-pip-version-check", "--no-cache-dir", "--no-input")
    return Client("pip", python, pip, ("--progress-bar", "off"), "--force-reinstall")


@pytest.fixture(scope="module")
def uv_client(tmp_path_factory: pytest.TempPathFactory) -> Client:
    uv = uv_binary()
    if uv is None:
        pytest.skip("uv is not installed: it comes with the test extra, pip install -e '.[test]'")
    directory = tmp_path_factory.mktemp("uv-venv")
    created = subprocess.run([uv, "venv", "--no-config", "--python", sys.executable, str(directory)],
                             capture_output=True, text=True, timeout=60, env=clean_env())  # fmt: skip
    assert created.returncode == 0, created.stderr
    python = directory / "bin" / "python"
    options = ("--no-config", "--no-cache", "--python", str(python))
    return Client("uv", python, (uv, "pip"), options, "--reinstall")


@pytest.fixture(params=TOOLS)
def client(request: pytest.FixtureRequest, site: Site) -> Client:
    """pip, then uv (a function-scoped parameter: pytest keeps the tests in file order)."""
    return request.getfixturevalue(f"{request.param}_client")


def installed(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def get(url: str) -> requests.Response:
    with requests.Session() as session:
        session.trust_env = False  # no proxy, no .netrc: straight to 127.0.0.1
        return session.get(url, timeout=10)


# ------------------------------------------------------------------------------------------- tests
def test_the_readme_block_is_what_nginx_config_prints_for_its_example(tmp_path: Path) -> None:
    config = tmp_path / "readme.conf"
    config.write_text("[mirror]\ndirectory = /srv/pypi\nmaster = https://pypi.org\n", encoding="utf-8")
    assert generated_block(config) == readme_server_block()


def test_nginx_runs_the_readme_block(site: Site) -> None:
    block = readme_server_block()
    conf = site.served.config.read_text(encoding="utf-8")
    kept = [line.strip() for line in block.splitlines() if not re.match(r"\s*(listen|root|access_log)\s", line)]
    assert all(line in conf for line in kept), conf
    assert "combined;" in conf and "daemon" not in conf  # the foreground comes from -g on the command line

    page = get(f"{site.index}serving-demo/")
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.text == (site.mirror.web / "simple" / "serving-demo" / "index.html").read_text(encoding="utf-8")
    assert 'href="serving-demo/"' in get(site.index).text
    assert "<title>Index of /packages/</title>" in get(f"{site.served.url}/packages/").text  # autoindex on
    (wheel_path,) = [path for path in page_files(page.text) if path.endswith(".whl")]
    folder = Path(wheel_path).parent
    hidden = site.mirror.web / folder / ".sync-in-progress.whl.tmp"
    hidden.write_bytes(b"half a file")
    try:
        assert get(f"{site.served.url}/{folder}/{hidden.name}").status_code == 404
    finally:
        hidden.unlink()


def test_the_status_page_is_served_with_the_mirror(site: Site) -> None:
    page = get(f"{site.served.url}/_status/")
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.text == (site.mirror.web / "_status" / "index.html").read_text(encoding="utf-8")
    facts = get(f"{site.served.url}/_status/status.json")
    assert facts.headers["Content-Type"] == "application/json" and facts.json()["serial"] == site.mirror.status()


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root nginx master switches its workers to another account")
def test_provenance_is_served_with_its_pep_740_media_type(site: Site) -> None:
    (entry,) = [f for f in site.pypi.files("serving-demo") if f["filename"].endswith(".whl")]
    answer = get(f"{site.served.url}/{entry['url'].split('/', 3)[3]}.provenance")
    assert answer.status_code == 200 and answer.json() == {"version": 1, "attestation_bundles": []}
    assert answer.headers["Content-Type"] == "application/vnd.pypi.integrity.v1+json"


def test_the_workers_are_unprivileged_so_every_200_proves_the_mirror_world_readable(site: Site) -> None:
    private = site.mirror.web / "packages" / "only-root-can-read.whl"
    private.write_bytes(b"secret")
    private.chmod(0o600)
    try:
        assert get(f"{site.served.url}/packages/{private.name}").status_code == 403
    finally:
        private.unlink()


def test_wheels_and_sdists_install(site: Site, client: Client) -> None:
    installed(client.install(site.index, "serving-demo==1.0"))
    site.downloads[site.wheel("serving-demo", "1.0"), client.name] += 1
    assert client.version("serving-demo") == "1.0"

    installed(client.install(site.index, "serving-sdist==1.0"))
    site.downloads[site.sdist("serving-sdist", "1.0"), client.name] += 1
    assert client.version("serving-sdist") == "1.0"


def test_a_file_requiring_a_newer_python_is_not_chosen(site: Site, client: Client) -> None:
    assert 'data-requires-python="&gt;=99"' in get(f"{site.index}needs-newer-python/").text
    installed(client.install(site.index, "needs-newer-python"))
    site.downloads[site.wheel("needs-newer-python", "1.0"), client.name] += 1
    assert client.version("needs-newer-python") == "1.0"

    refused = client.install(site.index, "needs-newer-python==2.0")
    assert refused.returncode != 0 and ">=99" in refused.stdout + refused.stderr
    assert client.version("needs-newer-python") == "1.0"


def test_a_yanked_release_is_chosen_only_when_pinned(site: Site, client: Client) -> None:
    assert 'data-yanked="broken build"' in get(f"{site.index}yanked-demo/").text
    installed(client.install(site.index, "yanked-demo"))
    site.downloads[site.wheel("yanked-demo", "1.0"), client.name] += 1
    assert client.version("yanked-demo") == "1.0"

    output = installed(client.install(site.index, "yanked-demo==2.0"))
    site.downloads[site.wheel("yanked-demo", "2.0"), client.name] += 1
    assert client.version("yanked-demo") == "2.0"
    assert "broken build" in output  # PEP 592: the reason reaches the user


@pytest.mark.parametrize("spelling", ["foo-bar-baz", "Foo.Bar_baz", "FOO_BAR.BAZ"])
def test_a_name_installs_by_any_spelling(site: Site, client: Client, spelling: str) -> None:
    installed(client.install(site.index, f"{spelling}==1.0", reinstall=True))
    site.downloads[site.wheel("Foo.Bar_baz", "1.0"), client.name] += 1
    assert client.version("foo-bar-baz") == "1.0"


def test_a_file_with_a_non_ascii_name_is_served(site: Site) -> None:
    url = f"{site.index}unicode-demo/"
    page = get(url)
    assert page.status_code == 200 and f">{NON_ASCII}</a>" in page.text  # decoded as the UTF-8 it is
    (href,) = re.findall(r'href="([^"]+)"', page.text)
    download = get(urljoin(url, html.unescape(href).partition("#")[0]))
    site.downloads[NON_ASCII, "python-requests"] += 1
    assert download.status_code == 200
    (expected,) = [f["digests"]["sha256"] for f in site.pypi.files("Unicode-Demo")]
    assert hashlib.sha256(download.content).hexdigest() == expected == href.partition("#sha256=")[2]


def test_pip_download_requires_the_mirrors_hashes(site: Site, pip_client: Client, tmp_path: Path) -> None:
    page = (site.mirror.web / "simple" / "hash-demo" / "index.html").read_text(encoding="utf-8")
    (sha256,) = [digest for path, digest in page_files(page).items() if path.endswith(".whl")]
    wheel = site.wheel("hash-demo", "1.0")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text(f"hash-demo==1.0 --hash=sha256:{sha256}\n")
    download = ["--index-url", site.index, "--require-hashes", "--only-binary", ":all:", "--progress-bar", "off",
                "-d", str(tmp_path / "got"), "-r", str(requirements)]  # fmt: skip
    fetched = pip_client.run("download", *download)
    site.downloads[wheel, "pip"] += 1
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    assert hashlib.sha256((tmp_path / "got" / wheel).read_bytes()).hexdigest() == sha256

    requirements.write_text(f"hash-demo==1.0 --hash=sha256:{'0' * 64}\n")
    refused = pip_client.run("download", *download)
    site.downloads[wheel, "pip"] += 1  # fetched whole, then refused
    assert refused.returncode != 0 and "THESE PACKAGES DO NOT MATCH THE HASHES" in refused.stderr


def logged_downloads(access_log: Path) -> Counter:
    """{(filename, client): count} of the successful release-file GETs in nginx's own log."""
    found = (_DOWNLOAD.search(line) for line in access_log.read_text(encoding="utf-8").splitlines())
    return Counter(
        (unquote(match[1]), match[2].lower())
        for match in found
        if match and not match[1].endswith((".metadata", ".provenance"))  # PEP 658/740 beside the files
    )


def day_files(web: Path) -> list[tuple[str, str, str, int]]:
    """Every row of every PEP 381 day file: (package, filename, useragent, count)."""
    rows = []
    for path in sorted((web / "local-stats" / "days").glob("*.bz2")):
        lines = bz2.decompress(path.read_bytes()).decode("utf-8").splitlines()
        assert lines[0] == "# package,filename,useragent,count", path
        rows += [(package, name, agent, int(count)) for package, name, agent, count in csv.reader(lines[1:])]
    return rows


def test_update_stats_counts_the_downloads_made(
    site: Site, pip_client: Client, uv_client: Client, tmp_path: Path
) -> None:
    """Also meaningful alone: it makes downloads of its own before counting all of the module's."""
    for client in (pip_client, uv_client):
        installed(client.install(site.index, "stats-demo==1.0"))
        site.downloads[site.wheel("stats-demo", "1.0"), client.name] += 1
    assert logged_downloads(site.served.access_log) == site.downloads, "the tests' record disagrees with nginx's log"

    stats = MirrorSetup(directory=site.mirror.directory, config=tmp_path / "stats.conf")
    stats.write_config(site.pypi.url)
    with open(stats.config, "a", encoding="utf-8") as config:
        config.write(f"[statistics]\naccess-log-pattern = {site.served.access_log}\n")
    result = stats.run("update-stats")
    assert result.returncode == 0, result.stderr
    assert f"{sum(site.downloads.values())} lines counted" in result.stderr

    rows = day_files(site.mirror.web)
    counted: Counter = Counter()
    for _, filename, agent, count in rows:
        counted[filename, agent.partition("/")[0].lower()] += count
    assert counted == site.downloads
    owner = {f["filename"]: name for name in site.pypi.projects() for f in site.pypi.files(name)}
    assert all(package == owner[filename] for package, filename, _, _ in rows), rows
    assert any(agent.startswith("pip/") and '{"' in agent for _, _, agent, _ in rows)  # nginx's \x22 decoded
    for day in (site.mirror.web / "local-stats" / "days").glob("*.bz2"):  # served as well
        assert get(f"{site.served.url}/local-stats/days/{day.name}").content == day.read_bytes()


# ------------------------------------------------------------------------------------------- cron
def readme_exit_statuses() -> dict[int, str]:
    section = (ROOT / "README.md").read_text(encoding="utf-8").partition("### Exit status")[2]
    section = section.partition("\n## ")[0]  # that table only, not the ones of later sections
    return {int(code): meaning for code, meaning in re.findall(r"^\| (\d+) \| (.+) \|$", section, re.M)}


def cron_run(mirror: MirrorSetup) -> tuple[int, str]:
    """`bandersnatch mirror 2>&1 | logger`: stdout and stderr into one pipe, cron's bare environment
    (with a TERM, which must not bring colour: only a terminal on stderr may)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/"),
           "LC_ALL": "C.UTF-8", "SHELL": "/bin/sh", "TERM": "xterm-256color"}  # fmt: skip
    run = subprocess.run(
        [*bandersnatch_command(), "-c", str(mirror.config), "mirror"], stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    output = run.stdout.decode("utf-8")
    assert "\x1b[" not in output and "\r" not in output, output  # no colour, no redrawn progress bar
    assert output and all(LOG_LINE.match(line) for line in output.splitlines()), output
    return run.returncode, output


def test_a_cron_run_logs_plain_lines_and_exits_as_the_readme_says(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    statuses = readme_exit_statuses()
    assert "success" in statuses[0] and "owed projects" in statuses[1], statuses
    for name in ("cron-demo", "cron-broken", "cron-other"):
        pypi.add_release(name, "1.0")
    (broken,) = [f["url"] for f in pypi.files("cron-broken") if f["filename"].endswith(".whl")]
    pypi.fail(urlsplit(broken).path, status=404, times=None)

    status, output = cron_run(mirror)
    assert status == 1, output
    assert re.search(r"ERROR: .*/cron_broken-1\.0-py3-none-any\.whl .*404", output), output
    assert "ERROR: 1 projects are owed" in output, output
    assert re.search(r"INFO: synced 2 projects, \d+ files \(.*\), deleted 0, 1 failing: cron-broken \(since ", output)

    pypi.clear_faults()
    status, output = cron_run(mirror)  # the next run retries the failed project
    assert status == 0, output
    assert (mirror.web / "simple" / "cron-broken" / "index.html").exists()
    status, output = cron_run(mirror)  # nothing to do
    assert status == 0, output
