"""The run's project threads (project_pool): each project once, failures owed and said, the
journal only of finished ones, and stop-on-error dropping what has not started."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Optional

import pytest

from bandersnatch import project_pool
from bandersnatch.project import ProjectResult


@dataclass(frozen=True)
class _Options:
    verify_existing: bool = False


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> dict[str, bool]:
    """Projects named ``bad-*`` fail, ``boom-*`` raise; each call records whether it re-hashed."""
    calls: dict[str, bool] = {}
    lock = threading.Lock()

    def fake(name: str, serial: int, options: Any) -> ProjectResult:
        with lock:
            assert name not in calls, f"{name} synced twice"
            calls[name] = options.verify_existing
        if name.startswith("boom"):
            raise RuntimeError("a bug")
        return ProjectResult(name, serial, "it failed" if name.startswith("bad") else None)

    monkeypatch.setattr(project_pool, "sync_project", fake)
    return calls


def _run(projects: dict[str, int], recheck: set[str], stop_on_error: bool = False) -> tuple[dict, list, list]:
    seen: list[Optional[ProjectResult]] = []
    batches: list[list[str]] = []
    owed = project_pool.run_projects(
        projects, _Options(), recheck, threads=3, stop_on_error=stop_on_error,  # type: ignore[arg-type]
        on_result=seen.append, journal=lambda lines: batches.append(list(lines)),
    )  # fmt: skip
    return owed, seen, batches


def test_every_project_once_failures_owed_and_only_finished_ones_journaled(
    synced: dict[str, bool], caplog: pytest.LogCaptureFixture
) -> None:
    projects = {f"ok-{i}": i for i in range(40)} | {"bad-1": 7, "boom-1": 8}
    owed, seen, batches = _run(projects, recheck={"ok-3"})
    assert owed == {"bad-1": 7, "boom-1": 8}
    assert sorted(line for batch in batches for line in batch) == sorted(f"ok-{i} {i}" for i in range(40))
    assert len(seen) == len(projects) and synced.keys() == projects.keys()
    assert [name for name, rehash in synced.items() if rehash] == ["ok-3"]
    assert "it failed" in caplog.text and "boom-1: RuntimeError: a bug" in caplog.text


def test_stop_on_error_leaves_what_never_started_owed(synced: dict[str, bool]) -> None:
    projects = {"bad-0": 1} | {f"ok-{i}": i for i in range(200)}
    owed, _, batches = _run(projects, recheck=set(), stop_on_error=True)
    assert len(synced) <= 6  # the window (2 x 3 threads) was all that had started
    assert owed.keys() == {"bad-0"} | (projects.keys() - synced.keys())
    assert {line.split()[0] for batch in batches for line in batch} == synced.keys() - {"bad-0"}
