"""PEP 658 .metadata read from the wheel on disk: published only when it hashes to the master's
promise; anything else (and any damaged or hostile archive) falls back to asking the master."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import pytest

from bandersnatch import core_metadata
from bandersnatch.core_metadata import from_wheel
from bandersnatch.master import Master
from bandersnatch.project import SyncOptions, sync_project
from bandersnatch.session import make_session
from bandersnatch.storage import FilesystemStorage
from tests.conftest import MirrorSetup, assert_mirror_matches
from tests.pypi_master import FileSpec, PyPIMaster, generate_corpus, make_wheel

METADATA = b"Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n"
SHA = hashlib.sha256(METADATA).hexdigest()


def wheel(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    buffer.seek(0)
    return buffer


def test_the_member_that_hashes_to_the_promise_is_returned() -> None:
    handle = wheel({"foo/__init__.py": b"", "foo-1.0.dist-info/METADATA": METADATA})
    assert from_wheel(handle, SHA.upper(), 1 << 20) == METADATA


@pytest.mark.parametrize(
    "members",
    [
        {"foo-1.0.dist-info/METADATA": METADATA + b"X"},  # another hash
        {"foo-1.0.dist-info/METADATA": METADATA, "bar-1.0.dist-info/METADATA": METADATA},  # two
        {"foo/foo-1.0.dist-info/METADATA": METADATA},  # not at the top
        {"foo-1.0.data/METADATA": METADATA},  # not a .dist-info
        {"foo/__init__.py": b""},  # none
    ],
)
def test_anything_but_one_matching_member_is_none(members: dict[str, bytes]) -> None:
    assert from_wheel(wheel(members), SHA, 1 << 20) is None


class CountingReads(io.BytesIO):
    """A file whose reads are counted: each is a system call on a real one."""

    reads = 0
    bytes_read = 0

    def read(self, size: "int | None" = -1) -> bytes:
        data = super().read(size)
        self.reads += 1
        self.bytes_read += len(data)
        return data


def test_a_small_wheel_is_read_in_one_go_and_a_large_one_at_its_end() -> None:
    members = {"foo-1.0.dist-info/METADATA": METADATA}
    small = CountingReads(wheel(members).getvalue())
    assert from_wheel(small, SHA, 1 << 20) == METADATA
    assert small.reads == 1
    filler = hashlib.sha256(b"x").digest() * ((core_metadata.READ_WHOLE // 32) + 1)  # past READ_WHOLE
    large = CountingReads(wheel({"foo/data.bin": filler, **members}, zipfile.ZIP_STORED).getvalue())
    assert from_wheel(large, SHA, 1 << 20) == METADATA
    assert large.bytes_read < 100_000 < core_metadata.READ_WHOLE  # the directory and the member only


def test_a_member_past_the_limit_is_refused() -> None:
    bomb = wheel({"foo-1.0.dist-info/METADATA": b"\0" * (8 << 20)})  # ~8 KB compressed
    assert from_wheel(bomb, hashlib.sha256(b"\0" * (8 << 20)).hexdigest(), 1 << 20) is None


def test_a_directory_too_large_to_parse_for_a_shortcut_is_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    members = {f"foo/{number}.py": b"" for number in range(3)} | {"foo-1.0.dist-info/METADATA": METADATA}
    assert from_wheel(wheel(members), SHA, 1 << 20) == METADATA
    handle = wheel(members)
    monkeypatch.setattr(core_metadata, "MAX_DIRECTORY", 100)  # the same wheel, its directory over the cap
    monkeypatch.setattr(zipfile, "ZipFile", None)  # and zipfile is never asked to parse it
    assert from_wheel(handle, SHA, 1 << 20) is None


def test_a_zip64_directory_is_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    record = bytearray(wheel({"foo-1.0.dist-info/METADATA": METADATA}).getvalue())
    end = record.rfind(b"PK\x05\x06")
    record[end + 8 : end + 12] = b"\xff\xff\xff\xff"  # entries saturated: a zip64 archive says so
    monkeypatch.setattr(zipfile, "ZipFile", None)  # refused from the record, never parsed
    assert from_wheel(io.BytesIO(bytes(record)), SHA, 1 << 20) is None


@pytest.mark.parametrize("body", [b"", b"not a zip at all", make_wheel("foo", "1.0")[:-30]])
def test_a_damaged_archive_is_none(body: bytes) -> None:
    assert from_wheel(io.BytesIO(body), SHA, 1 << 20) is None


def test_a_full_sync_reads_every_wheels_metadata_from_the_wheel(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    generate_corpus(pypi, 6, seed=12)
    mirror.write_config(pypi.url)
    result = mirror.run()
    assert result.returncode == 0, result.stderr
    assert pypi.count("GET", "/packages/") > 0
    assert [path for _, path in pypi.requests if path.endswith(".whl.metadata")] == []  # one request fewer per wheel
    assert_mirror_matches(mirror.web, pypi)  # every .metadata is there, byte for byte the master's


def test_a_wheel_without_readable_metadata_gets_the_masters(pypi: PyPIMaster, mirror: MirrorSetup) -> None:
    pypi.add_release("foo", "1.0", [FileSpec("foo-1.0-py3-none-any.whl", content=b"no zip, yet listed with metadata")])
    (listed,) = pypi.files("foo")
    mirror.write_config(pypi.url)
    assert mirror.run().returncode == 0
    published = next(mirror.web.rglob("foo-1.0-py3-none-any.whl.metadata"))
    assert published.read_bytes() == pypi.file_content(listed["url"] + ".metadata")
    assert [path for _, path in pypi.requests if path.endswith(".whl.metadata")] != []  # asked of the master


class ReadBackCounting(FilesystemStorage):
    """The mirror's storage, counting the files read back from the disk."""

    def __init__(self, directory: Path) -> None:
        super().__init__(directory)
        self.read_back: list[str] = []

    def open_web(self, relative: str):  # type: ignore[no-untyped-def]
        self.read_back.append(relative)
        return super().open_web(relative)


def test_a_downloaded_wheel_gives_its_metadata_from_memory_one_on_disk_from_the_disk(
    pypi: PyPIMaster, mirror: MirrorSetup
) -> None:
    """A small wheel's bytes are kept as they download, so its .metadata is not read back; a wheel
    published already (its .metadata lost) is read from the disk; a retried download keeps only
    the verified bytes."""
    pypi.add_release("foo", "1.0")
    (wheel_file,) = [f for f in pypi.files("foo") if f["filename"].endswith(".whl")]
    pypi.corrupt(wheel_file["url"].split(str(pypi.url), 1)[1], times=1)  # the first answer is damaged
    storage = ReadBackCounting(mirror.directory)
    master = Master(pypi.url, timeout=5, session=make_session(1, backoff=0), stale_wait=0)
    options = SyncOptions(master=master, storage=storage, delete_packages=True, verify_existing=False)
    assert sync_project("foo", pypi.serial, options).ok
    assert [path for path in storage.read_back if path.startswith("packages/")] == []
    (published,) = mirror.web.rglob("*.whl.metadata")
    assert published.read_bytes() == pypi.file_content(wheel_file["url"] + ".metadata")
    wheel_path = str(published.relative_to(mirror.web)).removesuffix(".metadata")
    published.unlink()
    assert sync_project("foo", pypi.serial, options).ok
    assert [path for path in storage.read_back if path.startswith("packages/")] == [wheel_path]  # from the disk
    assert published.read_bytes() == pypi.file_content(wheel_file["url"] + ".metadata")
    assert [path for _, path in pypi.requests if path.endswith(".whl.metadata")] == []
