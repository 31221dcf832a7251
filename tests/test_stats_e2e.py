"""update-stats end to end: a mirrored tree, access logs of both servers, the real command."""

from __future__ import annotations

import bz2
import csv
import gzip
from collections import Counter
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from tests.conftest import MirrorSetup
from tests.pypi_master import PyPIMaster, generate_corpus

PIP = "pip/24.0 {\"installer\":{\"name\":\"pip\"}}"
UV = 'uv/0.5.0 "quoted"'


def log_line(path: str, agent: str, stamp: str, status: int = 200, method: str = "GET") -> str:
    escaped = agent.replace('"', "\\x22")  # nginx's escaping of a quote
    return f'::1 - - [{stamp}] "{method} {path} HTTP/1.1" {status} 1234 "-" "{escaped}"\n'


def read_day(path: Path) -> list[list[str]]:
    with bz2.open(path, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.reader(handle))


def test_update_stats_counts_every_download(pypi: PyPIMaster, mirror: MirrorSetup, tmp_path: Path) -> None:
    generate_corpus(pypi, 6, seed=7, files_per_project=(2, 2))
    assert mirror.run().returncode == 0
    files = [(name, entry) for name in pypi.projects() for entry in pypi.files(name)]
    expected: Counter = Counter()
    plain, rotated = [], []
    for index, (name, entry) in enumerate(files):
        path = quote(unquote(urlsplit(entry["url"]).path))
        for _ in range(index % 3 + 1):
            plain.append(log_line(path + "?x=1", PIP, "22/Nov/2026:23:30:00 -0200"))  # 23 Nov UTC
            expected[("2026-11-23", name, entry["filename"], PIP)] += 1
        rotated.append(log_line(path, UV, "21/Nov/2026:10:00:00 +0000"))
        expected[("2026-11-21", name, entry["filename"], UV)] += 1
        rotated.append(log_line(path, UV, "21/Nov/2026:10:00:01 +0000", status=206))
        rotated.append(log_line(path, UV, "21/Nov/2026:10:00:02 +0000", method="HEAD"))
    plain.append("garbage that is not a log line\n")
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "pypi-access.log").write_text("".join(plain), encoding="utf-8")
    with gzip.open(logs / "pypi-access.log.1.gz", "wt", encoding="utf-8") as handle:
        handle.write("".join(rotated))
    with open(mirror.config, "a", encoding="utf-8") as config:
        config.write(f"[statistics]\naccess-log-pattern = {logs}/pypi-access.log*\n")
    for _ in range(2):  # a second run must rebuild the same days, not add to them
        result = mirror.run("update-stats")
        assert result.returncode == 0, result.stderr
    days = mirror.web / "local-stats" / "days"
    assert sorted(p.name for p in days.iterdir()) == ["2026-11-21.bz2", "2026-11-23.bz2"]
    counted: Counter = Counter()
    for day_file in days.iterdir():
        rows = read_day(day_file)
        assert rows[0] == ["# package", "filename", "useragent", "count"]
        assert rows[1:] == sorted(rows[1:])
        for package, filename, agent, count in rows[1:]:
            counted[(day_file.name[:10], package, filename, agent)] += int(count)
    assert counted == expected
    assert "2 files read" in result.stderr and "1 lines skipped" in result.stderr, result.stderr
