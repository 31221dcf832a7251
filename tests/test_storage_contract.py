"""The storage contract (bandersnatch/storage/base.py), one suite for every backend.

Each test runs against the filesystem and against S3 on moto's server (loopback), through the
interface only: what the engine, the filters and the commands may rely on whatever holds the mirror.
What only one backend promises (file modes, one HEAD per check, multipart, the lease) stays in
test_storage.py and test_storage_s3.py.
"""

from __future__ import annotations

import hashlib
import importlib.util
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from bandersnatch.errors import DigestMismatch, LockHeld, TruncatedDownload, UnsafePath
from bandersnatch.storage import FilesystemStorage, Storage

DATA = b"x" * 3000
SHA = hashlib.sha256(DATA).hexdigest()
MOTO_MISSING = importlib.util.find_spec("moto") is None or importlib.util.find_spec("boto3") is None


@pytest.fixture(scope="module")
def moto() -> Iterator[object]:
    if MOTO_MISSING:
        pytest.skip("the S3 backend needs boto3 and moto[server] from the test extra")
    from tests.s3_server import moto_server

    with moto_server() as server:
        yield server


@pytest.fixture(params=["filesystem", pytest.param("s3", marks=pytest.mark.skipif(MOTO_MISSING, reason="no moto"))])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Storage]:
    """Opens the same (new, empty) mirror home again on each call, as a second run would."""
    if request.param == "filesystem":
        (tmp_path / "mirror").mkdir()
        return lambda: FilesystemStorage(tmp_path / "mirror")
    from bandersnatch.configuration import S3Settings
    from bandersnatch.storage.s3 import S3Storage

    server = request.getfixturevalue("moto")
    settings = S3Settings(bucket=server.new_bucket(), prefix="m", endpoint_url=server.endpoint,
                          region_name=server.region, aws_access_key_id=server.access_key,
                          aws_secret_access_key=server.secret_key)  # fmt: skip
    return lambda: S3Storage(settings)


@pytest.fixture
def storage(opener: Callable[[], Storage]) -> Storage:
    return opener()


def read(storage: Storage, relative: str) -> bytes:
    with storage.open_web(relative) as handle:
        return handle.read()


# ------------------------------------------------------------------------------------- writing
def test_a_generated_file_reads_back_as_written(storage: Storage) -> None:
    storage.write_web("simple/x/index.html", iter([b"<a>", "é".encode(), b"</a>"]))
    assert storage.read_web_text("simple/x/index.html") == "<a>é</a>"
    assert read(storage, "simple/x/index.html") == "<a>é</a>".encode()
    assert storage.web_size("simple/x/index.html") == len("<a>é</a>".encode())
    storage.write_web("simple/x/index.html", [b"v2"])  # replaced whole
    assert storage.read_web_text("simple/x/index.html") == "v2"


def test_reading_what_is_not_there_or_not_text(storage: Storage) -> None:
    assert storage.read_web_text("simple/none/index.html") is None
    assert storage.read_web_blocks("simple/none/index.html") is None
    with pytest.raises(FileNotFoundError):
        read(storage, "simple/none/index.html")
    storage.write_web("packages/bin", [b"\xff\xfe"])
    assert storage.read_web_text("packages/bin") is None


def test_blocks_hold_whole_lines_and_every_line(storage: Storage) -> None:
    """The global index at scale: about 1 MB of whole lines per block, nothing lost or split."""
    lines = [f'<a href="project-{i}/">Project-{i}</a><br/>\n' for i in range(70_000)]  # ~2.7 MB
    storage.write_web("simple/index.html", ["".join(lines).encode()])
    blocks = list(storage.read_web_blocks("simple/index.html"))  # type: ignore[arg-type]
    assert len(blocks) >= 2
    assert [line for block in blocks for line in block] == lines


def test_copy_publishes_the_same_bytes(storage: Storage) -> None:
    storage.write_web("simple/x/index.html", [b"page"])
    storage.copy_web("simple/x/index.html", "simple/x/index.v1_html")
    assert read(storage, "simple/x/index.v1_html") == b"page"


def test_copies_are_published_under_every_name_and_announced(storage: Storage) -> None:
    published: list[str] = []
    storage.on_publish(published.append)
    names = ("simple/x/index.html", "simple/x/index.v1_html")
    for body in (b"old", b"new"):
        storage.write_web_copies(names, body)
        assert [read(storage, name) for name in names] == [body, body]
    assert published == [storage.web_location(name) for name in (*names, *names)]


def test_a_verified_file_is_published_with_its_size(storage: Storage) -> None:
    written = storage.write_verified("packages/ab/foo.whl", iter([DATA[:1000], DATA[1000:]]), SHA, len(DATA))
    assert written == len(DATA)
    assert read(storage, "packages/ab/foo.whl") == DATA and storage.web_size("packages/ab/foo.whl") == len(DATA)


@pytest.mark.parametrize(
    ("chunks", "size", "error"),
    [
        ([DATA[:-1] + b"y"], len(DATA), DigestMismatch),  # same size, other bytes
        ([DATA[:100]], len(DATA), TruncatedDownload),  # came in short
        ([DATA, b"more"], len(DATA), DigestMismatch),  # too long
        ([DATA + b"z"], None, DigestMismatch),  # size unknown, digest wrong
    ],
    ids=["digest", "short", "long", "no-size"],
)
def test_bad_bytes_leave_nothing(storage: Storage, chunks: list, size: int, error: type) -> None:
    with pytest.raises(error):
        storage.write_verified("packages/ab/foo.whl", iter(chunks), SHA, size)
    assert storage.web_size("packages/ab/foo.whl") is None
    assert list(storage.iter_files("packages")) == []


def test_a_refused_write_leaves_no_folder_that_exists(opener: Callable[[], Storage]) -> None:
    storage = opener()
    with pytest.raises(DigestMismatch):
        storage.write_verified("packages/ab/foo.whl", [b"evil"], SHA, None)
    assert not storage.web_exists("packages/ab") and not storage.web_exists("packages")


def test_a_failed_write_keeps_the_good_file_it_would_have_replaced(storage: Storage) -> None:
    storage.write_verified("packages/a.whl", [DATA], SHA, None)
    with pytest.raises(DigestMismatch):
        storage.write_verified("packages/a.whl", [b"evil"], SHA, None)
    assert read(storage, "packages/a.whl") == DATA


@pytest.mark.parametrize("relative", ["../escape", "packages/../../escape", "/etc/passwd", "a//b", "a\\b"])
def test_no_write_leaves_the_mirror(storage: Storage, relative: str) -> None:
    for write in (lambda: storage.write_web(relative, [b"x"]),
                  lambda: storage.write_verified(relative, [DATA], SHA, len(DATA)),
                  lambda: storage.remove_web_file(relative)):  # fmt: skip
        with pytest.raises(UnsafePath):
            write()


# ------------------------------------------------------------------------------------ checking
def test_file_matches_checks_size_always_and_hash_when_asked(storage: Storage) -> None:
    storage.write_web("packages/a.whl", [DATA[:-1] + b"q"])
    assert storage.file_matches("packages/a.whl", SHA, len(DATA), verify=False)
    assert not storage.file_matches("packages/a.whl", SHA, len(DATA), verify=True)
    assert not storage.file_matches("packages/a.whl", SHA, 5, verify=False)
    assert not storage.file_matches("packages/missing.whl", SHA, None, verify=False)
    storage.write_verified("packages/b.whl", [DATA], SHA, len(DATA))
    assert storage.file_matches("packages/b.whl", SHA, len(DATA), verify=True)


def test_exists_for_a_file_and_a_non_empty_folder(storage: Storage) -> None:
    assert not storage.web_exists("packages") and storage.web_size("packages/ab/a.whl") is None
    storage.write_web("packages/ab/a.whl", [b"a"])
    assert storage.web_exists("packages/ab/a.whl") and storage.web_exists("packages/ab")
    assert storage.web_exists("packages") and not storage.web_exists("packages/a")


def test_mtime_is_the_last_write(storage: Storage) -> None:
    assert storage.mtime_ns("last-modified") is None
    storage.write_web("last-modified", [b"1"])
    first = storage.mtime_ns("last-modified")
    assert first is not None and abs(first - time.time_ns()) < 120 * 10**9
    storage.write_web("last-modified", [b"2"])
    assert storage.mtime_ns("last-modified") >= first  # type: ignore[operator]


# ------------------------------------------------------------------------------------- listing
def test_list_web_dirs_names_folders_only(storage: Storage) -> None:
    assert storage.list_web_dirs("simple") == []
    for name in ("b-proj", "a-proj"):
        storage.write_web(f"simple/{name}/index.html", [b"x"])
    storage.write_web("simple/index.html", [b"root"])
    assert sorted(storage.list_web_dirs("simple")) == ["a-proj", "b-proj"]


def test_iter_files_lists_every_file_below_and_skips_hidden_names(storage: Storage) -> None:
    paths = {"packages/ab/cd/a.whl", "packages/ab/b.tar.gz", "packages/ab/cd/a.whl.metadata"}
    for path in paths:
        storage.write_web(path, [b"x"])
    storage.write_web("packages/ab/.a.whl.tmp", [b"partial"])  # a sync's temporary file
    storage.write_web("simple/x/index.html", [b"x"])
    assert set(storage.iter_files("packages")) == paths
    assert set(storage.iter_files("packages/ab/cd")) == {"packages/ab/cd/a.whl", "packages/ab/cd/a.whl.metadata"}
    assert list(storage.iter_files("nothing-here")) == []


# ------------------------------------------------------------------------------------- removal
def test_removing_a_file_leaves_its_siblings_and_no_empty_folder(storage: Storage) -> None:
    storage.write_web("packages/ab/cd/a.whl", [b"a"])
    storage.write_web("packages/ab/ef/b.whl", [b"b"])
    storage.remove_web_file("packages/ab/cd/a.whl")
    storage.remove_web_file("packages/ab/cd/a.whl")  # gone already: nothing happens
    assert not storage.web_exists("packages/ab/cd") and storage.web_size("packages/ab/ef/b.whl") == 1
    assert list(storage.iter_files("packages")) == ["packages/ab/ef/b.whl"]


def test_removing_a_tree_removes_everything_below_only(storage: Storage) -> None:
    for path in ("simple/x/index.html", "simple/x/index.v1_json", "simple/xy/index.html"):
        storage.write_web(path, [b"x"])
    storage.remove_web_tree("simple/x")
    assert not storage.web_exists("simple/x") and storage.list_web_dirs("simple") == ["xy"]
    assert storage.read_web_text("simple/xy/index.html") == "x"  # a name sharing the prefix stays


# ------------------------------------------------------------------------------- state and lock
def test_state_files_are_replaced_whole_removed_and_never_published(storage: Storage) -> None:
    assert storage.read_state("status") is None
    storage.write_state("status", "12\n")
    storage.write_state("status", "13\n")
    assert storage.read_state("status") == "13\n"
    assert not storage.web_exists("status") and storage.read_web_text("status") is None
    storage.remove_state("status")
    storage.remove_state("status")  # gone already: nothing happens
    assert storage.read_state("status") is None


def test_a_journal_keeps_every_batch_until_cleared(storage: Storage) -> None:
    assert storage.read_journal("todo.done") is None
    storage.append_journal("todo.done", ["a 1", "b 2"])
    storage.append_journal("todo.done", ["c 3"])
    assert sorted(storage.read_journal("todo.done").splitlines()) == ["a 1", "b 2", "c 3"]  # type: ignore[union-attr]
    storage.clear_journal("todo.done")
    assert storage.read_journal("todo.done") is None


def test_the_lock_keeps_a_second_run_out_until_released(opener: Callable[[], Storage]) -> None:
    first, second = opener(), opener()
    with first.lock():
        with pytest.raises(LockHeld):
            with second.lock():
                pass
    with second.lock():
        pass


def test_a_new_home_is_empty_and_no_mirror_until_pages_exist(storage: Storage) -> None:
    with storage.lock():
        assert storage.is_empty() and not storage.is_mirror()  # the lock alone does not count
    storage.write_state("status", "1\n")
    assert not storage.is_empty() and not storage.is_mirror()
    storage.write_web("simple/index.html", [b"root"])
    assert storage.is_mirror()
