"""One project's sync against the loopback master, and the checks on what the master names."""

from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import urlsplit

from bandersnatch.downloads import Transfers
from bandersnatch.master import Master
from bandersnatch.model import ReleaseFile
from bandersnatch.configuration import load_settings
from bandersnatch.project import SyncOptions, sync_options, sync_project
from bandersnatch.session import make_session
from bandersnatch.storage import FilesystemStorage
from tests.conftest import MirrorSetup
from tests.pypi_master import FileSpec, PyPIMaster

SHA = "a" * 64


def release(filename: str, url: str) -> ReleaseFile:
    return ReleaseFile(filename=filename, url=url, sha256=SHA)


def options_for(pypi: PyPIMaster, mirror: MirrorSetup) -> SyncOptions:
    master = Master(pypi.url, timeout=5, session=make_session(1, backoff=0), stale_wait=0)
    return SyncOptions(master=master, storage=FilesystemStorage(mirror.directory), delete_packages=True, verify_existing=False)


def test_a_project_without_a_promised_serial_never_goes_back(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    """Serial 0 (a project only the mirror still lists): the published page's serial is the floor."""
    pypi.add_release("p", "1.0")
    pypi.add_release("p", "2.0")
    options = options_for(pypi, mirror)
    assert sync_project("p", pypi.serial, options).ok
    page = (mirror.web / "simple/p/index.html").read_text()
    pypi.stale("p", purges_needed=None)  # the CDN answers with the 1.0-only snapshot
    result = sync_project("p", 0, options)
    assert result.error.startswith(f"Stale serial for p ({pypi.serial}) not updating. Giving up. (the master serves ")
    assert (mirror.web / "simple/p/index.html").read_text() == page


def test_a_failed_project_names_itself(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    pypi.add_release("p", "1.0")
    pypi.fail("/packages/", status=404, times=None)
    result = sync_project("p", pypi.serial, options_for(pypi, mirror))
    assert result.error is not None and result.error.startswith("Failed to sync p: GET ")
    assert not (mirror.web / "simple/p").exists()


def test_files_in_flight_together_publish_the_page_only_when_all_are_good(
    pypi: PyPIMaster, mirror: MirrorSetup
) -> None:
    """Through the run's download pool: one bad file fails the project after the others ended;
    they stay published and counted, the page is not written; the next sync completes it."""
    files = [FileSpec(f"p-1.0-{n}.tar.gz", size=1000 * (n + 1)) for n in range(4)]
    pypi.add_release("p", "1.0", files)
    bad = urlsplit(next(f for f in pypi.files("p") if f["filename"] == "p-1.0-2.tar.gz")["url"]).path
    pypi.fail(bad, status=404, times=None)
    with Transfers(3) as transfers:
        options = replace(options_for(pypi, mirror), transfers=transfers)
        result = sync_project("p", pypi.serial, options)
        assert (result.ok, result.files, result.bytes) == (False, 3, 1000 + 2000 + 4000)
        assert not (mirror.web / "simple/p").exists()
        pypi.clear_faults()
        result = sync_project("p", pypi.serial, options)
    assert (result.ok, result.files, result.bytes) == (True, 1, 3000)
    page = (mirror.web / "simple/p/index.html").read_text()
    assert [f.filename for f in files] == re.findall(r">(p-1\.0-\d\.tar\.gz)<", page)  # the master's order


def test_json_api_copies_go_when_json_is_turned_off_and_are_never_sought_otherwise(
    pypi: PyPIMaster, mirror: MirrorSetup
) -> None:
    """A mirror that never had ``json = true`` is spared two unlinks per project under web/pypi/;
    one that had it loses every copy once it is turned off."""
    pypi.add_release("p", "1.0")
    never = options_for(pypi, mirror)
    assert sync_project("p", pypi.serial, replace(never, json_copies_before=False)).ok
    assert not (mirror.web / "pypi").exists()
    with_json = replace(never, layout=replace(never.layout, json=True), json_copies_before=False)
    assert sync_project("p", pypi.serial, with_json).ok  # json = true writes even on a mirror without copies
    assert (mirror.web / "pypi/p/json").is_file()

    mirror.write_config(pypi.url)
    settings = load_settings(mirror.config)
    assert sync_options(settings, never.master, never.storage).json_copies_before
    assert sync_project("p", pypi.serial, sync_options(settings, never.master, never.storage)).ok
    assert not (mirror.web / "pypi").exists(), "turned off: the copy and its emptied folders go"
    assert not sync_options(settings, never.master, never.storage).json_copies_before
