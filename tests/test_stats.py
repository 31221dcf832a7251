"""update-stats: access log lines of nginx and Apache in, PEP 381 day files out, never a traceback."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import logging
import os
from datetime import date
from pathlib import Path

import pytest

from bandersnatch.commands.accesslog import Download, parse_line
from bandersnatch.commands.stats import StatsSummary, update_stats
from bandersnatch.errors import MirrorError
from bandersnatch.model import ReleaseFile, normalize
from bandersnatch.pages.html import render_project_page
from bandersnatch.pages.layout import Links
from bandersnatch.storage import FilesystemStorage, Storage

TODAY = date(2026, 11, 24)
STAMP = "23/Nov/2026:13:55:36 +0000"
WHEEL = "packages/8a/f1/0c2d1e8d6f3f1c9b0a5e7c6d4b3a2918f7e6d5c4b3a29180f7e6/requests-2.31.0-py3-none-any.whl"
CAFE = "packages/ab/cd/ef/café-1.0.tar.gz"
PIP = 'pip/24.0 {"ci":null,"installer":{"name":"pip","version":"24.0"},"python":"3.12.1"}'


def nginx(request: str, status: int = 200, agent: str = PIP, client: str = "203.0.113.9", stamp: str = STAMP,
          referer: str = "-", extra: str = "") -> bytes:  # fmt: skip
    """A line of nginx's default "combined" format; nginx writes " and \\ inside fields as \\xNN."""
    agent = agent.replace("\\", "\\x5C").replace('"', "\\x22")
    return f'{client} - - [{stamp}] "{request}" {status} 5120 "{referer}" "{agent}"{extra}\n'.encode()


def apache(request: str, status: int = 200, agent: str = PIP, stamp: str = STAMP) -> bytes:
    """A line of Apache's combined format; Apache writes \\" and \\\\ inside fields."""
    agent = agent.replace("\\", "\\\\").replace('"', '\\"')
    referer = "https://example.org/"
    return f'198.51.100.4 - frank [{stamp}] "{request}" {status} 5120 "{referer}" "{agent}"\n'.encode()


def download(path: str = WHEEL, agent: str = PIP, day: str = "2026-11-23") -> Download:
    return Download(day, path, agent)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (nginx(f"GET /{WHEEL} HTTP/1.1"), download()),
        (nginx(f"GET /{WHEEL} HTTP/2.0", client="2001:db8::8a2e:370:7334"), download()),
        (apache(f"GET /{WHEEL} HTTP/1.1"), download()),
        (nginx(f"GET /{WHEEL} HTTP/1.1", agent='say "hi" \\o/'), download(agent='say "hi" \\o/')),
        (apache(f"GET /{WHEEL} HTTP/1.1", agent='say "hi" \\o/'), download(agent='say "hi" \\o/')),
        (apache(f"GET /{WHEEL} HTTP/1.1", agent="backslash\\"), download(agent="backslash\\")),
        (nginx(f"GET /{WHEEL}?sha256=ab#x HTTP/1.1"), download()),
        (nginx("GET /packages/ab/cd/ef/caf%C3%A9-1.0.tar.gz HTTP/1.1"), download(CAFE)),
        (nginx("GET /packages/ab/cd/ef/caf\\xC3\\xA9-1.0.tar.gz HTTP/1.1"), download(CAFE)),  # raw UTF-8
        (nginx("GET /packages/ab/my file-1.0.zip HTTP/1.1"), download("packages/ab/my file-1.0.zip")),
        (nginx(f"GET /{WHEEL}"), download()),  # HTTP/0.9 has no protocol
        (nginx(f"GET /{WHEEL} HTTP/1.1", agent="-"), download(agent="-")),
        (nginx(f"GET /{WHEEL} HTTP/1.1", agent="Tschüß/1.0"), download(agent="Tschüß/1.0")),
        (nginx(f"GET /{WHEEL} HTTP/1.1", agent="latin-1 \\xe9"), download(agent="latin-1 \\xe9")),
        (nginx(f"GET /{WHEEL} HTTP/1.1", extra=' "10.0.0.1, 10.0.0.2"'), download()),  # nginx "main" format
        (f'127.0.0.1 - - [{STAMP}] "GET /{WHEEL} HTTP/1.0" 200 2326\n'.encode(), download(agent="-")),
        (nginx(f"GET /{WHEEL} HTTP/1.1", stamp="23/Nov/2026:23:30:00 -0700"), download(day="2026-11-24")),
        (nginx(f"GET /{WHEEL} HTTP/1.1", stamp="24/Nov/2026:00:20:00 +0530"), download(day="2026-11-23")),
        (nginx(f"GET /{WHEEL} HTTP/1.1").rstrip(b"\n"), download()),  # the last line of a log
    ],
)
def test_downloads_are_read_from_nginx_and_apache_lines(line: bytes, expected: Download) -> None:
    assert parse_line(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        nginx(f"GET /{WHEEL} HTTP/1.1", status=206),  # a range: part of a file, e.g. a wheel's metadata
        nginx(f"GET /{WHEEL} HTTP/1.1", status=304),
        nginx(f"GET /{WHEEL} HTTP/1.1", status=404),
        apache(f"GET /{WHEEL} HTTP/1.1", status=206),
        nginx(f"HEAD /{WHEEL} HTTP/1.1"),
        nginx(f"POST /{WHEEL} HTTP/1.1"),
        nginx("GET /simple/requests/ HTTP/1.1"),
        nginx("GET /packages/8a/f1/ HTTP/1.1"),  # a folder listing (autoindex)
        nginx(f"GET /{WHEEL}.metadata HTTP/1.1"),  # PEP 658
        nginx(f"GET /mirror/{WHEEL} HTTP/1.1"),
        nginx("-", status=400),
        nginx("\\x16\\x03\\x01\\x02\\x00\\x01\\x00", status=400),  # TLS spoken to the http port
    ],
)
def test_other_requests_are_not_downloads(line: bytes) -> None:
    assert parse_line(line) is None


@pytest.mark.parametrize(
    "line",
    [
        b"",
        b"\n",
        b"\x00\x01\x02\xff\xfe binary junk\n",
        b"GET /packages/x.tar.gz\n",
        nginx(f"GET /{WHEEL} HTTP/1.1")[:-20],  # cut while being written
        nginx(f"GET /{WHEEL} HTTP/1.1", agent="cafe").replace(b'"cafe"', b'"caf\xe9"'),  # latin-1, not UTF-8
        nginx(f"GET /{WHEEL} HTTP/1.1", stamp="23/Foo/2026:13:55:36 +0000"),
        nginx(f"GET /{WHEEL} HTTP/1.1", stamp="30/Feb/2026:13:55:36 +0000"),
        nginx(f"GET /{WHEEL} HTTP/1.1", stamp="2026-11-23T13:55:36+00:00"),
        apache(f"GET /{WHEEL} HTTP/1.1")[:-3] + b"\n",  # the agent never ends
    ],
)
def test_garbage_is_refused(line: bytes) -> None:
    with pytest.raises(ValueError, match="not an access log line"):
        parse_line(line)


def test_a_line_dated_after_today_is_damaged() -> None:
    with pytest.raises(ValueError):
        parse_line(nginx(f"GET /{WHEEL} HTTP/1.1", stamp="25/Nov/2026:00:00:00 +0000"), today=TODAY)
    assert parse_line(nginx(f"GET /{WHEEL} HTTP/1.1", stamp="24/Nov/2026:23:59:59 +0000"), today=TODAY)


def test_summary_is_one_line() -> None:
    summary = StatsSummary(files_read=3, lines_counted=1200, lines_skipped=4, files_unknown=2, days_written=2)
    assert str(summary) == (
        "update-stats: 3 files read, 1200 lines counted, 4 lines skipped, "
        "2 downloads of unknown files, 2 days written"
    )


# -- a run over a small mirror ------------------------------------------------------------------


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return FilesystemStorage(tmp_path / "mirror")


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    folder = tmp_path / "logs"
    folder.mkdir()
    return folder


def publish(storage: Storage, name: str, *filenames: str) -> list[str]:
    """Write ``name``'s simple page listing ``filenames``; return their paths below web/."""
    paths = [f"packages/{index:02x}/cd/{'e' * 60}/{filename}" for index, filename in enumerate(filenames)]
    files = [(path, ReleaseFile(filename=path.rpartition("/")[2], url=f"https://f/{path}", sha256="ab" * 32))
             for path in paths]  # fmt: skip
    storage.write_web(f"simple/{normalize(name)}/index.html", [render_project_page(name, files, 1).encode()])
    for path in paths:
        storage.write_web(path, [b"release"])
    return paths


def get(path: str, stamp: str = STAMP, agent: str = PIP, status: int = 200) -> bytes:
    return nginx(f"GET /{path} HTTP/1.1", status=status, agent=agent, stamp=stamp)


def read_day(storage: Storage, day: str) -> tuple[str, dict[tuple[str, str, str], int]]:
    """(first line, {(package, filename, agent): count}) of a published day file."""
    text = bz2.decompress((storage.web / "local-stats/days" / f"{day}.bz2").read_bytes()).decode()
    header, *rows = list(csv.reader(io.StringIO(text, newline="")))
    assert header == ["# package", "filename", "useragent", "count"]
    assert [row[:3] for row in rows] == sorted(row[:3] for row in rows)
    return text.splitlines()[0], {(p, f, a): int(c) for p, f, a, c in rows}


def run(storage: Storage, logs: Path, pattern: str = "access.log*") -> StatsSummary:
    return update_stats(storage, Links(), str(logs / pattern), today=TODAY)


def test_day_files_count_every_download_per_day_project_file_and_agent(storage: Storage, logs: Path) -> None:
    sdist, wheel = publish(storage, "Foo.Bar", "foo_bar-1.0.tar.gz", "foo_bar-1.0-py3-none-any.whl")
    (logs / "access.log").write_bytes(
        get(sdist) * 3 + get(sdist, agent="uv/0.4.18") + get(wheel, status=304) + b"junk\n"
        + get(wheel, stamp="23/Nov/2026:23:59:59 -0100")  # 00:59:59 on the 24th in UTC
    )  # fmt: skip
    (logs / "access.log.1").write_bytes(get(wheel, stamp="22/Nov/2026:10:00:00 +0000"))
    summary = run(storage, logs)
    assert summary == StatsSummary(
        files_read=2, lines_counted=6, lines_skipped=1, files_unknown=0, days_written=3
    )
    header, rows = read_day(storage, "2026-11-23")
    assert header == "# package,filename,useragent,count"
    assert rows == {
        ("Foo.Bar", "foo_bar-1.0.tar.gz", PIP): 3,
        ("Foo.Bar", "foo_bar-1.0.tar.gz", "uv/0.4.18"): 1,
    }
    assert read_day(storage, "2026-11-24")[1] == {("Foo.Bar", "foo_bar-1.0-py3-none-any.whl", PIP): 1}
    assert read_day(storage, "2026-11-22")[1] == {("Foo.Bar", "foo_bar-1.0-py3-none-any.whl", PIP): 1}


def test_running_twice_writes_identical_files(storage: Storage, logs: Path) -> None:
    [sdist] = publish(storage, "foo", "foo-1.0.tar.gz")
    (logs / "access.log").write_bytes(get(sdist) + get(sdist, agent='a "quoted", agent'))
    first = run(storage, logs)
    day = storage.web / "local-stats/days/2026-11-23.bz2"
    content = day.read_bytes()
    assert run(storage, logs) == first
    assert day.read_bytes() == content
    day.unlink()  # rebuilt from nothing but the logs, byte for byte
    assert run(storage, logs) == first
    assert day.read_bytes() == content
    assert sorted(os.listdir(day.parent)) == ["2026-11-23.bz2"]


def test_a_day_grows_when_its_log_grows(storage: Storage, logs: Path) -> None:
    [sdist] = publish(storage, "foo", "foo-1.0.tar.gz")
    (logs / "access.log").write_bytes(get(sdist))
    run(storage, logs)
    with open(logs / "access.log", "ab") as log:
        log.write(get(sdist, stamp="23/Nov/2026:14:00:00 +0000"))
    run(storage, logs)
    assert read_day(storage, "2026-11-23")[1] == {("foo", "foo-1.0.tar.gz", PIP): 2}


def test_a_day_whose_older_log_was_rotated_away_keeps_its_file(storage: Storage, logs: Path) -> None:
    [sdist] = publish(storage, "foo", "foo-1.0.tar.gz")
    (logs / "access.log.2").write_bytes(get(sdist, stamp="23/Nov/2026:01:00:00 +0000"))
    (logs / "access.log.1").write_bytes(get(sdist) + get(sdist, stamp="24/Nov/2026:01:00:00 +0000"))
    run(storage, logs)
    (logs / "access.log.2").unlink()
    summary = run(storage, logs)
    assert read_day(storage, "2026-11-23")[1] == {("foo", "foo-1.0.tar.gz", PIP): 2}
    assert summary.days_written == 1


def test_compressed_rotated_logs_are_read(storage: Storage, logs: Path) -> None:
    [sdist] = publish(storage, "foo", "foo-1.0.tar.gz")
    (logs / "access.log.2.gz").write_bytes(gzip.compress(get(sdist) * 2))
    (logs / "access.log.3.bz2").write_bytes(bz2.compress(get(sdist) * 3))
    (logs / "access.log.4").write_bytes(gzip.compress(get(sdist)))  # compressed without the suffix
    assert run(storage, logs).files_read == 3
    assert read_day(storage, "2026-11-23")[1] == {("foo", "foo-1.0.tar.gz", PIP): 6}


def test_damaged_logs_are_skipped_and_counted(
    storage: Storage, logs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    [sdist] = publish(storage, "foo", "foo-1.0.tar.gz")
    (logs / "access.log.1.gz").write_bytes(gzip.compress(get(sdist) * 2000)[:-30])  # truncated member
    (logs / "access.log.2.gz").write_bytes(b"\x1f\x8b" + os.urandom(3000))  # not gzip after all
    (logs / "access.log.3").write_bytes(os.urandom(200_000) + b"\n" + get(sdist))  # junk, long lines
    (logs / "access.log.4").symlink_to(logs / "rotated-away")
    with caplog.at_level(logging.WARNING, logger="bandersnatch.commands.stats"):
        summary = run(storage, logs)
    assert summary.files_read == 3 and summary.lines_skipped >= 3
    counted = read_day(storage, "2026-11-23")[1][("foo", "foo-1.0.tar.gz", PIP)]
    assert summary.lines_counted == counted and 1000 < counted < 2001
    assert any("ends in damaged data" in message for message in caplog.messages)
    assert any("cannot read" in message and "access.log.4" in message for message in caplog.messages)


def test_files_are_placed_by_the_page_their_name_points_to(
    storage: Storage, logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    paths = publish(storage, "Zope2", "Zope2-2.13.tgz", "zope2-2.13-py2.7.egg", "Zope2-2.13.win32.exe")
    publish(storage, "unrelated", "unrelated-1.0.tar.gz")
    (logs / "access.log").write_bytes(b"".join(get(path) for path in paths))
    monkeypatch.setattr(FilesystemStorage, "list_web_dirs", lambda *args: pytest.fail("read every page"))
    assert run(storage, logs).lines_counted == 3
    assert {key[:2] for key in read_day(storage, "2026-11-23")[1]} == {
        ("Zope2", "Zope2-2.13.tgz"), ("Zope2", "zope2-2.13-py2.7.egg"), ("Zope2", "Zope2-2.13.win32.exe"),
    }  # fmt: skip


def test_a_file_not_named_after_its_project_is_found_on_its_page(storage: Storage, logs: Path) -> None:
    [path] = publish(storage, "django-foo", "foo-1.0.tar.gz")
    (logs / "access.log").write_bytes(get(path))
    assert run(storage, logs).lines_counted == 1
    assert read_day(storage, "2026-11-23")[1] == {("django-foo", "foo-1.0.tar.gz", PIP): 1}


def test_a_file_that_left_the_mirror_keeps_its_project(storage: Storage, logs: Path) -> None:
    old, new = publish(storage, "foo", "foo-1.0.tar.gz", "foo-2.0.tar.gz")
    (logs / "access.log").write_bytes(get(old) + get(new))
    run(storage, logs)
    publish(storage, "foo", "foo-2.0.tar.gz")
    storage.remove_web_file(old)
    with open(logs / "access.log", "ab") as log:
        log.write(get(old, stamp="23/Nov/2026:18:00:00 +0000"))
    summary = run(storage, logs)
    assert (summary.lines_counted, summary.files_unknown) == (3, 0)
    assert read_day(storage, "2026-11-23")[1] == {
        ("foo", "foo-1.0.tar.gz", PIP): 2,
        ("foo", "foo-2.0.tar.gz", PIP): 1,
    }


def test_downloads_of_unknown_files_are_counted_in_the_summary_only(storage: Storage, logs: Path) -> None:
    [known] = publish(storage, "foo", "foo-1.0.tar.gz")
    (logs / "access.log").write_bytes(
        get(known) + get("packages/aa/bb/gone-1.0.tar.gz") * 2 + get("packages/../../etc/passwd")
        + get(f"packages/aa/bb/{'x' * 300}-1.0.tar.gz") + get("packages/aa/bb/%00-1.0.tar.gz")
    )  # fmt: skip
    summary = run(storage, logs)
    assert (summary.lines_counted, summary.files_unknown) == (1, 5)
    assert read_day(storage, "2026-11-23")[1] == {("foo", "foo-1.0.tar.gz", PIP): 1}


def test_a_day_without_downloads_gets_a_file_with_the_header_only(storage: Storage, logs: Path) -> None:
    (logs / "access.log").write_bytes(nginx("GET /simple/ HTTP/1.1"))
    assert run(storage, logs).days_written == 1
    assert read_day(storage, "2026-11-23") == ("# package,filename,useragent,count", {})


def test_lines_from_the_future_are_skipped(storage: Storage, logs: Path) -> None:
    [sdist] = publish(storage, "foo", "foo-1.0.tar.gz")
    (logs / "access.log").write_bytes(get(sdist) + get(sdist, stamp="01/Jan/2099:00:00:00 +0000"))
    summary = run(storage, logs)
    assert (summary.lines_counted, summary.lines_skipped, summary.days_written) == (1, 1, 1)


@pytest.mark.parametrize("pattern", ["nothing-here*", "", "missing-folder/access.log"])
def test_a_pattern_that_matches_nothing_is_one_clear_error(
    storage: Storage, logs: Path, pattern: str
) -> None:
    with pytest.raises(MirrorError, match="access-log-pattern .* matches no file"):
        update_stats(storage, Links(), str(logs / pattern) if pattern else "")


def test_a_folder_matched_by_the_pattern_is_not_a_log(storage: Storage, logs: Path) -> None:
    (logs / "access.log.d").mkdir()
    with pytest.raises(MirrorError):
        run(storage, logs)


@pytest.mark.parametrize("content", [b"not bzip2", bz2.compress(b"\xff\xfe"), bz2.compress(b"# a\nx,y\n")])
def test_a_damaged_day_file_is_rebuilt(storage: Storage, logs: Path, content: bytes) -> None:
    [sdist] = publish(storage, "foo", "foo-1.0.tar.gz")
    storage.write_web("local-stats/days/2026-11-23.bz2", [content])
    (logs / "access.log").write_bytes(get(sdist))
    assert run(storage, logs).days_written == 1
    assert read_day(storage, "2026-11-23")[1] == {("foo", "foo-1.0.tar.gz", PIP): 1}
