"""What a run gathers from its projects (run_summary): names accepted once, results counted, and
the record an operator reads of projects that keep failing."""

from __future__ import annotations

import pytest

from bandersnatch.project import ProjectResult
from bandersnatch.run_summary import RunSummary, accepted, counted, fill_record
from bandersnatch.state import LastRun, OwedProject


def test_two_spellings_are_one_project_at_the_highest_serial_and_bad_names_are_refused(
    caplog: pytest.LogCaptureFixture,
) -> None:
    summary = RunSummary()
    work = accepted([("Foo.Bar", 3), ("foo-bar", 9), ("foo_bar", 5), ("bad\nname", 1), ("../etc", 2)], summary)
    assert list(work.values()) == [9] and len(work) == 1
    assert summary.refused == ["bad\nname", "../etc"]
    assert len(caplog.records) == 2


def test_results_are_counted_and_a_dropped_project_only_advances_the_progress() -> None:
    summary, steps = RunSummary(), []
    count = counted(summary, steps.append)
    for result in (ProjectResult("a", 1, files=2, bytes=10), ProjectResult("b", 2, "broke", files=1, bytes=4), None):
        count(result)
    assert steps == [1, 1, 1]
    assert (summary.synced, summary.files, summary.bytes) == (1, 3, 14)
    assert [result.name for result in summary.failed] == ["b"]


def test_an_owed_project_keeps_its_first_failure_and_counts_its_attempts() -> None:
    previous = LastRun("t0", owed=[OwedProject("b", 2, "broke", "2026-12-01T00:00:00Z", 3)])
    summary = RunSummary(serial=7, owed={"b": 2, "c": 4, "d": 5})
    summary.add(ProjectResult("b", 2, "broke again"))
    summary.add(ProjectResult("c", 4, "new failure"))
    record = fill_record(LastRun("t1"), summary, previous, "2026-12-04T00:00:00Z", evicted=["old"])
    assert record.owed == [
        OwedProject("b", 2, "broke again", "2026-12-01T00:00:00Z", 4),
        OwedProject("c", 4, "new failure", "2026-12-04T00:00:00Z", 1),
        OwedProject("d", 5, None, None, 0),  # never started (stop-on-error): no failure of its own
    ]
    assert (record.finished, record.serial, record.evicted) == ("2026-12-04T00:00:00Z", 7, ["old"])
