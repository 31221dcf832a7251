"""What the operator reads: the summary line and the status report."""

from __future__ import annotations

import json

import pytest

from bandersnatch.report import (
    MirrorStatus,
    human_bytes,
    render_status,
    status_json,
    summary_line,
)
from bandersnatch.state import LastRun, OwedProject

FOO = OwedProject("foo", 120, "Failed to sync foo: GET http://m/foo-1.0.whl answered HTTP 500",
                  "2026-11-30T10:02:11Z", 4)  # fmt: skip


@pytest.mark.parametrize(("count", "text"), [(0, "0 B"), (999, "999 B"), (2_100_000_000, "2.1 GB"),
                                             (1500, "1.5 KB"), (7 * 10**15, "7000.0 TB")])  # fmt: skip
def test_human_bytes(count: int, text: str) -> None:
    assert human_bytes(count) == text


def test_summary_line_names_the_failing_projects() -> None:
    record = LastRun("s", synced=120, files=431, bytes=2_100_000_000, deleted=3, serial=1234567, owed=[FOO])
    assert summary_line(record) == (
        "synced 120 projects, 431 files (2.1 GB), deleted 3, 1 failing: "
        "foo (since 2026-11-30 10:02, GET http://m/foo-1.0.whl answered HTTP 500); serial 1234567"
    )


def test_summary_line_counts_beyond_five_failures() -> None:
    owed = [OwedProject(f"p{n}", 1, None, None, 0) for n in range(8)]
    line = summary_line(LastRun("s", serial=9, owed=owed))
    assert "8 failing: p0 (since ?, not attempted yet)" in line and "p4 (" in line and "p5 (" not in line
    assert line.endswith(" and 3 more; serial 9")


@pytest.mark.parametrize(
    ("serial", "master", "result", "owed", "lag", "healthy"),
    [
        (10, 10, "ok", [], 0, True),
        (10, 15, "ok", [], 5, True),  # lag is not failure
        (10, None, "ok", [], None, True),  # an unreachable master is not the mirror's failure
        (10, 10, "failed", [FOO], 0, False),
        (10, 10, "error", [], 0, False),
        (None, 10, None, [], None, False),  # never synced
    ],
)
def test_status(serial, master, result, owed, lag, healthy) -> None:  # noqa: ANN001
    last = None if result is None else LastRun("2026-12-01T10:00:00Z", "2026-12-01T10:00:01Z", result, owed=owed)
    status = MirrorStatus(serial, master, last, owed)
    assert status.lag == lag and status.healthy is healthy
    document = json.loads(status_json(status))
    assert set(document) >= {"serial", "master_serial", "lag", "last_run", "owed"}
    assert [entry["project"] for entry in document["owed"]] == [entry.project for entry in owed]
    if owed:
        assert set(document["owed"][0]) == {"project", "serial", "error", "first_failure", "attempts"}
    text = render_status(status)
    assert text.endswith("healthy\n") and (("NOT healthy" in text) is not healthy)
