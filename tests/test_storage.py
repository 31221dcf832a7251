"""The filesystem backend's own promises: modes, no temporary file left, pruning, state at the top.
What every backend promises is in test_storage_contract.py."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

from bandersnatch.errors import DigestMismatch, TruncatedDownload, UnsafePath
from bandersnatch.storage import FilesystemStorage, Storage, safe_relative
from bandersnatch.storage.oscalls import process_umask

DATA = b"x" * 3000
SHA = hashlib.sha256(DATA).hexdigest()


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return FilesystemStorage(tmp_path / "mirror")


@pytest.mark.parametrize(
    "relative",
    [
        "",
        "/etc/passwd",
        "../x",
        "packages/../../x",
        "a//b",
        "a/./b",
        "a\\b",
        "a\x00b",
        "a/\nb",
        "packages/..",
        ".",
    ],
)
def test_unsafe_paths_are_refused(relative: str) -> None:
    with pytest.raises(UnsafePath, match="refusing unsafe path"):
        safe_relative(relative)


@pytest.mark.parametrize(
    "relative", ["packages/ab/cd/foo-1.0.tar.gz", "simple/x/index.html", "a/caf\u00e9..b"]
)
def test_plain_paths_are_accepted(relative: str) -> None:
    assert safe_relative(relative) == relative


@pytest.mark.parametrize("umask", [0o077, 0o022, 0o002, 0o027])
def test_verified_file_is_published_world_readable_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    """The umask is the process's as the storage opens (cron's); a stale temporary sibling left
    with another mode by a killed run is not reused as it is."""
    old_umask = os.umask(umask)
    try:
        storage = FilesystemStorage(tmp_path / "mirror")
        storage.write_verified("packages/ab/foo.whl", iter([DATA[:1000], DATA[1000:]]), SHA, len(DATA))
        storage.write_web("simple/foo/index.html", [b"<html>"])
        stale = storage.web / "simple/foo/.index.html.tmp"
        stale.write_bytes(b"half")
        stale.chmod(0o600)
        storage.write_web("simple/foo/index.html", [b"<html>"])
    finally:
        os.umask(old_umask)
    path = storage.web / "packages/ab/foo.whl"
    assert path.read_bytes() == DATA
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert os.listdir(path.parent) == ["foo.whl"]
    page = storage.web / "simple/foo/index.html"
    assert stat.S_IMODE(page.stat().st_mode) == 0o644
    assert sorted(os.listdir(page.parent)) == ["index.html"]
    for folder in (storage.web, storage.web / "simple", page.parent, path.parent):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o755, folder


def test_the_umask_is_read_without_changing_it() -> None:
    old_umask = os.umask(0o027)
    try:
        assert process_umask() == 0o027
        assert process_umask() == 0o027
    finally:
        os.umask(old_umask)


@pytest.mark.parametrize(
    ("chunks", "size", "error"),
    [
        ([DATA[:-1] + b"y"], len(DATA), DigestMismatch),
        ([DATA[:100]], len(DATA), TruncatedDownload),
        ([DATA, b"more"], len(DATA), DigestMismatch),
        ([DATA + b"z"], None, DigestMismatch),
    ],
)
def test_bad_bytes_are_never_published(storage: Storage, chunks: list, size: int, error: type) -> None:
    with pytest.raises(error):
        storage.write_verified("packages/ab/foo.whl", iter(chunks), SHA, size)
    assert not (storage.web / "packages/ab").exists() or os.listdir(storage.web / "packages/ab") == []


def test_removing_a_file_prunes_empty_folders_but_not_web(storage: Storage) -> None:
    storage.write_web("packages/ab/cd/a.whl", [b"a"])
    storage.write_web("packages/ab/ef/b.whl", [b"b"])
    storage.remove_web_file("packages/ab/cd/a.whl")
    assert not (storage.web / "packages/ab/cd").exists()
    assert (storage.web / "packages/ab/ef/b.whl").exists()
    storage.remove_web_file("packages/ab/ef/b.whl")
    assert storage.web.is_dir() and not (storage.web / "packages").exists()


def test_state_files_are_replaced_whole_and_journal_appends(storage: Storage) -> None:
    storage.ensure_dir(storage.root)
    storage.write_state("status", "12\n")
    storage.write_state("status", "13\n")
    assert storage.read_state("status") == "13\n"
    storage.append_journal("todo.done", ["a 1", "b 2"])
    storage.append_journal("todo.done", ["c 3"])
    assert storage.read_journal("todo.done") == "a 1\nb 2\nc 3\n"
    assert sorted(os.listdir(storage.root)) == ["status", "todo.done"]


def test_page_copies_share_one_inode_and_are_replaced_one_by_one(storage: FilesystemStorage) -> None:
    names = ("simple/foo/index.html", "simple/foo/index.v1_html")
    storage.write_web_copies(names, b"first")
    html, v1 = (storage.web / name for name in names)
    assert html.read_bytes() == v1.read_bytes() == b"first"
    assert html.stat().st_ino == v1.stat().st_ino
    storage.write_web_copies(names, b"second")  # new inode for both; nothing left behind
    assert html.read_bytes() == v1.read_bytes() == b"second"
    storage.write_web(names[0], [b"third"])  # a write replaces the name, never the shared inode
    assert (html.read_bytes(), v1.read_bytes()) == (b"third", b"second")
    assert sorted(path.name for path in html.parent.iterdir()) == ["index.html", "index.v1_html"]


def test_page_copies_are_copied_where_the_filesystem_cannot_link(
    storage: FilesystemStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: object) -> None:
        raise PermissionError("no hard links here")

    monkeypatch.setattr(os, "link", refuse)
    names = ("simple/foo/index.html", "simple/foo/index.v1_html")
    storage.write_web_copies(names, b"page")
    html, v1 = (storage.web / name for name in names)
    assert html.read_bytes() == v1.read_bytes() == b"page"
    assert html.stat().st_ino != v1.stat().st_ino
    assert sorted(path.name for path in html.parent.iterdir()) == ["index.html", "index.v1_html"]


def test_two_writers_of_one_path_never_publish_unverified_bytes(storage: Storage) -> None:
    """A hostile master can have two pages name one path in the same run. The second writer waits
    for the first: it cannot remove the first's temporary file, and the first cannot rename the
    second's, half written and unverified, into place."""
    relative = "packages/ab/cd/shared-1.0.tar.gz"
    second_started, first_done = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def good_chunks() -> Iterator[bytes]:
        yield DATA[:100]
        second_started.wait(0.5)  # with one writer at a time, the second has not started
        yield DATA[100:]

    def bad_chunks() -> Iterator[bytes]:
        yield b"e" * 2000
        second_started.set()
        first_done.wait(5)
        yield b"v" * 1000  # as long as the promise, another hash

    def write(name: str, chunks: Iterator[bytes], done: Optional[threading.Event]) -> None:
        try:
            outcomes[name] = storage.write_verified(relative, chunks, SHA, len(DATA))
        except DigestMismatch as error:
            outcomes[name] = error
        finally:
            if done is not None:
                done.set()

    first = threading.Thread(target=write, args=("good", good_chunks(), first_done))
    first.start()
    time.sleep(0.05)  # the good writer has its temporary file
    second = threading.Thread(target=write, args=("bad", bad_chunks(), None))
    second.start()
    first.join(10)
    second.join(10)
    assert outcomes["good"] == len(DATA)
    assert isinstance(outcomes["bad"], DigestMismatch)
    published = storage.web / relative
    assert published.read_bytes() == DATA
    assert os.listdir(published.parent) == [published.name]
