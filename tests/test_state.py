"""The state files' formats: todo, journal and last-run.json, including damaged ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from bandersnatch.errors import StateError
from bandersnatch.state import (
    LastRun,
    OwedProject,
    Plan,
    StateFiles,
    format_todo,
    parse_done,
    parse_todo,
)
from bandersnatch.storage import FilesystemStorage


@pytest.mark.parametrize(
    ("text", "plan"),
    [
        ("12\nfoo 10\nBar.Baz 12\n", Plan(12, {"foo": 10, "Bar.Baz": 12})),
        ("7\n", Plan(7, {})),
        ("", None),
        ("x\nfoo 1\n", None),
        ("12\nfoo\n", None),
        ("12\nfoo ten\n", None),
    ],
)
def test_parse_todo(text: str, plan: Plan) -> None:
    assert parse_todo(text) == plan


def test_todo_round_trip() -> None:
    plan = Plan(99, {"a": 1, "b-c": 99})
    assert parse_todo(format_todo(plan)) == plan


def test_a_journal_line_cut_short_is_skipped() -> None:
    assert parse_done("foo 12\nbar 3\nbaz") == {("foo", 12), ("bar", 3)}


def test_finish_keeps_only_the_owed_projects(tmp_path: Path) -> None:
    state = StateFiles(FilesystemStorage(tmp_path))
    state.start(Plan(20, {"a": 20, "b": 18, "c": 19}), full=True, options="pages=html")
    assert state.options() == "pages=html"
    state.finish(20, {"b": 18}, "pages=html")
    assert state.status() == 20 and state.todo() == Plan(20, {"b": 18})
    assert state.done() == set()
    state.finish(21, {}, "pages=json")
    assert state.options() == "pages=json"
    assert state.status() == 21 and state.todo() is None


@pytest.mark.parametrize("content", ["garbage\n", "", "1 2\n"])
def test_a_damaged_status_is_an_error_naming_the_file(tmp_path: Path, content: str) -> None:
    (tmp_path / "status").write_text(content)
    with pytest.raises(StateError, match="delete it and todo"):
        StateFiles(FilesystemStorage(tmp_path)).status()


def test_last_run_round_trip(tmp_path: Path) -> None:
    state = StateFiles(FilesystemStorage(tmp_path))
    record = LastRun(started="2026-12-01T10:00:00Z", finished="2026-12-01T10:00:05Z", result="failed",
                     serial=5, synced=3, files=4, bytes=1000, deleted=1,
                     owed=[OwedProject("foo", 5, "HTTP 500", "2026-11-30T10:02:00Z", 3)])  # fmt: skip
    state.write_last_run(record)
    assert state.last_run() == record


@pytest.mark.parametrize("content", ["{", "[]", '{"owed": [{"nope": 1}]}', '{"started": 1, "bogus": 2}'])
def test_a_damaged_last_run_is_ignored(tmp_path: Path, content: str) -> None:
    (tmp_path / "last-run.json").write_text(content)
    record = StateFiles(FilesystemStorage(tmp_path)).last_run()
    assert record is None or record.owed == []
