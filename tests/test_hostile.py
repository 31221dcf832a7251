"""SPEC section 18 through the real command: a hostile master cannot corrupt, escape, fill or hold
the mirror, and a healthy project beside the hostile ones keeps syncing.

Each run is measured: the most bytes the mirror's directory held while it ran (temporary files
included) and how long it took. ``pytest -s`` prints the figures.
"""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from bandersnatch.errors import TruncatedDownload, UpstreamUnavailable
from bandersnatch.master import Master
from bandersnatch.session import make_session
from tests.conftest import MirrorSetup
from tests.hostile_master import (
    HUGE_SERIAL,
    SECRET,
    HostileMaster,
    InternalService,
    Served,
)

FIGURES: dict[str, float] = {"largest temporary bytes": 0, "longest run seconds": 0}


def tree(directory: Path) -> dict[str, str]:
    """{path relative to ``directory``: sha256} of every file below it."""
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


class Measured:
    """Samples the bytes under a directory while a run goes on, and times it."""

    def __init__(self, directory: Path) -> None:
        self.directory, self.largest, self.seconds = directory, 0, 0.0
        self._done = threading.Event()

    def _sample(self) -> None:
        while not self._done.wait(0.02):
            total = 0
            for path in list(self.directory.rglob("*")) if self.directory.exists() else []:
                try:
                    total += path.stat().st_size if path.is_file() else 0
                except OSError:  # a temporary file renamed or removed under our feet
                    pass
            self.largest = max(self.largest, total)

    def run(self, mirror: MirrorSetup, label: str):
        sampler = threading.Thread(target=self._sample, daemon=True)
        sampler.start()
        start = time.monotonic()
        try:
            return mirror.run(timeout=90)
        finally:
            self.seconds = time.monotonic() - start
            self._done.set()
            sampler.join()
            FIGURES["largest temporary bytes"] = max(FIGURES["largest temporary bytes"], self.largest)
            FIGURES["longest run seconds"] = max(FIGURES["longest run seconds"], self.seconds)
            print(f"\n{label}: {self.seconds:.1f} s, at most {self.largest} bytes under the mirror; so far {FIGURES}")


@pytest.fixture
def hostile() -> Iterator[HostileMaster]:
    with HostileMaster(drip=0.5, lifetime=150) as master:
        yield master


@pytest.fixture
def internal() -> Iterator[InternalService]:
    with InternalService(lifetime=150) as service:
        yield service


@pytest.fixture
def setup(tmp_path: Path, hostile: HostileMaster) -> MirrorSetup:
    mirror = MirrorSetup(directory=tmp_path / "mirror", config=tmp_path / "bandersnatch.conf")
    mirror.write_config(hostile.url, timeout=2, workers=3, max_metadata_size=65536)
    return mirror


def assert_contained(mirror: MirrorSetup, result) -> None:
    """No traceback, nothing outside the mirror's directory, no temporary file left."""
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert sorted(p.name for p in mirror.directory.parent.iterdir()) == ["bandersnatch.conf", "mirror"]
    leftovers = [str(p) for p in mirror.web.rglob(".*")]
    assert leftovers == [], leftovers


def owed(mirror: MirrorSetup) -> set[str]:
    return {line.split()[0] for line in (mirror.todo() or "").splitlines()[1:] if line.strip()}


def published_files(mirror: MirrorSetup) -> dict[str, str]:
    return {path: sha for path, sha in tree(mirror.web).items() if path.startswith("packages/")}


def test_a_dripping_master_cannot_hold_the_run(hostile: HostileMaster, setup: MirrorSetup) -> None:
    """timeout is per read: a byte every 0.5 s never trips it. The deadline does, for a file (tried
    three times), a JSON document and headers that never end, and the run ends in bounded time."""
    healthy = hostile.wheel("healthy")
    hostile.add_project("healthy", [healthy])
    hostile.add_project("drip-file", [hostile.wheel("drip-file", mode="drip")])
    hostile.add_project("drip-json", [hostile.wheel("drip-json")], json_mode="drip")
    hostile.add_project("drip-headers", [hostile.wheel("drip-headers")], json_mode="drip_headers")
    measured = Measured(setup.directory)
    result = measured.run(setup, "dripping master")
    assert measured.seconds < 30, result.stderr[-3000:]
    assert result.returncode == 1
    assert_contained(setup, result)
    assert "passed its deadline" in result.stderr
    assert published_files(setup) == {urlpath(healthy): healthy["digests"]["sha256"]}
    assert owed(setup) == {"drip-file", "drip-json", "drip-headers"}


def urlpath(entry: dict) -> str:
    return entry["url"].split("/", 3)[3]


def test_lies_are_contained_and_the_healthy_project_keeps_syncing(
    hostile: HostileMaster, internal: InternalService, setup: MirrorSetup
) -> None:
    setup.write_config(hostile.url, timeout=5, workers=3, max_metadata_size=65536)
    first = hostile.wheel("healthy")
    hostile.add_project("healthy", [first])
    assert setup.run().returncode == 0
    before = published_files(setup)

    second = hostile.wheel("healthy", "2.0")
    hostile.add_project("healthy", [first, second], version="2.0")
    longer = hostile.wheel("longer", size=1000)
    hostile.paths["/" + urlpath(longer)] = Served(b"L" * (50 << 20))  # far more than the 1000 declared
    hostile.add_project("longer", [longer])
    hostile.add_project("endless-file", [hostile.wheel("endless-file", mode="endless")])
    hostile.add_project("endless-metadata", [hostile.wheel("endless-metadata", metadata=Served(b"M", "endless"))])
    evil = hostile.file_entry("evil.html", b"<script>alert(document.cookie)</script>")
    hostile.add_project("evil-html", [evil])
    hostile.add_project("internal", [hostile.wheel("internal", provenance=f"{internal.url}/secret")])
    hostile.add_project("nested", [hostile.wheel("nested")], json_mode="nested")
    hostile.add_project("huge-serial", [hostile.wheel("huge-serial")], header_serial=HUGE_SERIAL)

    measured = Measured(setup.directory)
    result = measured.run(setup, "lying master")
    assert result.returncode == 1
    assert_contained(setup, result)
    assert measured.largest < 4 << 20, "a 50 MB body declared as 1000 bytes must stop at once"
    assert internal.hits == []  # the provenance on another port was never asked for
    assert not any(SECRET in p.read_bytes() for p in setup.directory.rglob("*") if p.is_file())
    assert not [p for p in setup.directory.rglob("*") if p.name.endswith(".html") and "packages" in p.parts]
    assert owed(setup) == {"longer", "endless-file", "endless-metadata", "evil-html", "nested", "huge-serial"}
    after = published_files(setup)
    assert {path: after.get(path) for path in before} == before  # nothing published was touched
    declared = {urlpath(e): e["digests"]["sha256"] for p in hostile.projects.values() for e in p.entries}
    assert after == {path: declared[path] for path in after}  # no wrong byte
    # endless-metadata's own file is good and may be kept for the next run; no page links it yet
    good = {urlpath(hostile.projects[name].entries[0]) for name in ("internal", "endless-metadata")}
    assert {urlpath(first), urlpath(second), urlpath(hostile.projects["internal"].entries[0])} <= set(after)
    assert set(after) <= {urlpath(first), urlpath(second), *good}
    assert not (setup.web / "simple" / "endless-metadata").exists()
    page = (setup.web / "simple" / "internal" / "index.v1_json").read_text()
    assert "provenance" not in page and internal.url not in page  # the page says nothing of it
    assert "not on the file's or the master's host" in result.stderr
    for line in ("nested too deeply", "sent more than its declared size (1000 bytes)",
                 "sent more than [mirror] max-metadata-size (65536 bytes)", "refusing file 'evil.html'",
                 f"the master sent {HUGE_SERIAL} where a serial belongs"):  # fmt: skip
        assert line in result.stderr, line
    assert all(len(line) < 1000 for line in result.stderr.splitlines())


def test_a_javascript_url_never_reaches_a_page(hostile: HostileMaster, setup: MirrorSetup) -> None:
    """release-files = false links the master's URLs from the pages: a javascript: one would run
    in the browser of whoever clicks it on the mirror's origin."""
    setup.write_config(hostile.url, timeout=5, release_files="false")
    healthy = hostile.wheel("healthy")
    hostile.add_project("healthy", [healthy])
    hostile.add_project("js", [hostile.file_entry("js-1.0-py3-none-any.whl", b"x", url="javascript:alert(1)")])
    result = Measured(setup.directory).run(setup, "javascript: URL")
    assert result.returncode == 1
    assert_contained(setup, result)
    assert "refusing URL 'javascript:alert(1)'" in result.stderr
    assert owed(setup) == {"js"}
    pages = [p for p in setup.web.rglob("*") if p.is_file() and "_status" not in p.parts]  # the status page quotes the error, escaped
    assert not any(b"javascript:" in p.read_bytes() for p in pages)
    assert b'href="javascript:' not in (setup.web / "_status" / "index.html").read_bytes()
    assert healthy["url"] in (setup.web / "simple" / "healthy" / "index.html").read_text()


def test_a_changelog_serial_beyond_any_range_freezes_nothing(hostile: HostileMaster, setup: MirrorSetup) -> None:
    hostile.add_project("healthy", [hostile.wheel("healthy")])
    assert setup.run().returncode == 0
    status = setup.status()
    hostile.changelog_serial = HUGE_SERIAL
    result = Measured(setup.directory).run(setup, "changelog serial 10**30")
    assert result.returncode == 1 and f"the master sent {HUGE_SERIAL} where a serial belongs" in result.stderr
    assert_contained(setup, result)
    assert setup.status() == status  # not moved to 10**30, which no later change could pass
    hostile.changelog_serial = None
    hostile.add_project("healthy", [hostile.wheel("healthy"), hostile.wheel("healthy", "2.0")], version="2.0")
    assert setup.run().returncode == 0 and status < setup.status() < 100


def test_a_root_serial_beyond_any_range_is_one_line(hostile: HostileMaster, setup: MirrorSetup) -> None:
    setup.write_config(hostile.url, timeout=5, api_method="simple")
    hostile.add_project("healthy", [hostile.wheel("healthy")])
    hostile.root_serial = HUGE_SERIAL
    result = Measured(setup.directory).run(setup, "root _last-serial 10**30")
    assert result.returncode == 1
    assert_contained(setup, result)
    assert f"the master sent {HUGE_SERIAL} where a serial belongs" in result.stderr
    assert setup.status() is None


# ------------------------------------------------------ the Master alone, against real sockets


def test_a_dripping_body_is_cut_at_its_deadline(hostile: HostileMaster) -> None:
    entry = hostile.wheel("drip", mode="drip")
    master = Master(hostile.url, timeout=1, session=make_session(1))
    start = time.monotonic()
    with pytest.raises(TruncatedDownload, match="passed its deadline of 3 s"):
        with master.stream(entry["url"], entry["size"]) as chunks:
            b"".join(chunks)
    assert time.monotonic() - start < 6


@pytest.mark.parametrize("mode", ["drip", "drip_headers"])
def test_a_dripping_document_is_cut_at_its_deadline(hostile: HostileMaster, mode: str) -> None:
    """Documents are not streamed by their callers (response.json()); the deadline holds anyway."""
    hostile.add_project("doc", [hostile.wheel("doc")], json_mode=mode)
    master = Master(hostile.url, timeout=1, session=make_session(1))
    start = time.monotonic()
    with pytest.raises(UpstreamUnavailable, match="passed its deadline"):
        master.project("doc", 1)
    assert time.monotonic() - start < 8


def test_a_body_stops_right_after_its_declared_size(hostile: HostileMaster) -> None:
    hostile.paths["/packages/x/long-1.0.tar.gz"] = Served(b"L" * (64 << 20))
    master = Master(hostile.url, timeout=5, session=make_session(1))
    received: list[bytes] = []
    with pytest.raises(UpstreamUnavailable, match=r"sent more than its declared size \(1000 bytes\); stopped at 1001"):
        with master.stream(f"{hostile.url}/packages/x/long-1.0.tar.gz", 1000) as chunks:
            received.extend(chunks)
    assert received == []  # the one read asked for 1001 bytes: nothing of a too-long body is passed on


@pytest.mark.parametrize("suffix", [".metadata", "/provenance"])
def test_small_objects_stop_at_the_cap(hostile: HostileMaster, suffix: str) -> None:
    hostile.paths[f"/packages/x/e-1.0.tar.gz{suffix}"] = Served(b"", "endless")
    master = Master(hostile.url, timeout=5, session=make_session(1), max_metadata_size=4096)
    url = f"{hostile.url}/packages/x/e-1.0.tar.gz{suffix}"
    with pytest.raises(UpstreamUnavailable, match=r"max-metadata-size \(4096 bytes\); stopped at 4097"):
        if suffix == ".metadata":
            with master.stream(url) as chunks:
                b"".join(chunks)
        else:
            master.fetch_small(url)
