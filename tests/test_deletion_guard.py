"""The deletion guard's policy as tables: the limit, the refusal line, orphans, the run's budget."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Optional

import pytest

from bandersnatch.configuration import load_settings
from bandersnatch.deletion_guard import (
    DeletionBudget,
    MassDeletion,
    check_orphans,
    check_projects,
    check_run,
    file_limit,
    project_limit,
)
from bandersnatch.errors import ConfigError, MirrorError


@pytest.mark.parametrize(
    ("total", "setting", "limit"),
    [
        (0, None, 100),
        (8, None, 100),
        (2_000, None, 100),  # 5% is 100
        (2_019, None, 100),
        (2_020, None, 101),
        (740_000, None, 37_000),
        (740_000, 0, 0),  # an explicit 0: nothing without the flag
        (10, 3, 3),
    ],
)
def test_the_limit_is_five_percent_never_fewer_than_a_hundred(total: int, setting: Optional[int], limit: int) -> None:
    assert project_limit(total, setting) == limit


@pytest.mark.parametrize(
    ("count", "total", "setting", "allowed"),
    [
        (0, 800, 0, True),  # nothing to delete is always fine
        (100, 800, None, True),
        (101, 800, None, False),
        (740, 800, None, False),
        (1, 800, 0, False),
        (3, 10, 3, True),
        (4, 10, 3, False),
        (8, 8, None, False),  # every project of the mirror: never without the flag
        (1, 1, 1000, False),
        (7, 8, None, True),
    ],
)
def test_check_projects(count: int, total: int, setting: Optional[int], allowed: bool) -> None:
    if allowed:
        check_projects(count, total, setting, allow=False)
    else:
        with pytest.raises(MassDeletion) as caught:
            check_projects(count, total, setting, allow=False)
        assert str(caught.value).startswith(f"refusing to delete {count} of {total} projects (max-deletions ")
        assert str(caught.value).endswith("run with --allow-mass-deletion or raise [mirror] max-deletions")
    check_projects(count, total, setting, allow=True)  # the flag always proceeds


def test_the_refusal_is_a_mirror_error_with_the_exact_line() -> None:
    with pytest.raises(MirrorError) as caught:
        check_projects(740, 800, 100, allow=False)
    assert str(caught.value) == (
        "refusing to delete 740 of 800 projects (max-deletions 100); "
        "run with --allow-mass-deletion or raise [mirror] max-deletions"
    )


@pytest.mark.parametrize(
    ("linked", "projects", "setting", "limit"),
    [
        (0, 8, None, 0),  # root_uri: the pages link nothing here, so no orphan may go
        (20, 8, None, 20),  # a small mirror: the 100-project floor covers all of it
        (100_000, 4_000, None, 5_000),  # 5% of the projects -> 5% of the linked files
        (100_000, 4_000, 0, 0),
        (1_000, 10, 1, 100),
        (50, 0, None, 0),
    ],
)
def test_file_limit_is_the_project_share_of_the_linked_files(
    linked: int, projects: int, setting: Optional[int], limit: int
) -> None:
    assert file_limit(linked, projects, setting) == limit


def test_check_orphans_refuses_past_the_share() -> None:
    check_orphans(20, 20, 8, None, allow=False)
    with pytest.raises(MassDeletion, match=r"^refusing to delete 21 orphan files while the pages link 0 "):
        check_orphans(21, 0, 8, None, allow=False)
    check_orphans(21, 0, 8, None, allow=True)


def test_the_budget_counts_across_threads_and_stops_at_the_limit() -> None:
    budget = DeletionBudget(total=800, setting=10, allow=False)
    answers: list[Optional[str]] = []
    lock = threading.Lock()

    def take(index: int) -> None:
        answer = budget.take(f"p{index}")
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=take, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers.count(None) == 10
    refused = [a for a in answers if a is not None]
    assert len(refused) == 30 and all("refusing to delete 11 of 800 projects (max-deletions 10)" in a for a in refused)


def test_the_budget_never_takes_the_last_project_and_the_flag_lifts_it() -> None:
    budget = DeletionBudget(total=3, setting=None, allow=False)
    assert budget.take("a") is None and budget.take("b") is None
    assert budget.take("c") == (
        "Not deleting c: refusing to delete 3 of 3 projects (max-deletions 100 by default); "
        "run with --allow-mass-deletion or raise [mirror] max-deletions"
    )
    allowed = DeletionBudget(total=3, setting=0, allow=True)
    assert all(allowed.take(name) is None for name in "abc")


CONFIG = "[mirror]\ndirectory = /srv/pypi\nmaster = https://pypi.org\n"


@pytest.mark.parametrize(("value", "expected"), [("", None), ("0", 0), ("250", 250)])
def test_max_deletions_in_the_config(tmp_path: Path, value: str, expected: Optional[int]) -> None:
    path = tmp_path / "b.conf"
    path.write_text(CONFIG + f"max-deletions = {value}\n")
    assert load_settings(path).max_deletions == expected
    path.write_text(CONFIG + f"max_deletions = {value}\n")  # upstream's spelling
    assert load_settings(path).max_deletions == expected


def test_max_deletions_defaults_to_none(tmp_path: Path) -> None:
    path = tmp_path / "b.conf"
    path.write_text(CONFIG)
    assert load_settings(path).max_deletions is None


@pytest.mark.parametrize("value", ["-1", "5%", "ten", "1.5", "²"])
def test_a_bad_max_deletions_is_one_line(tmp_path: Path, value: str) -> None:
    path = tmp_path / "b.conf"
    path.write_text(CONFIG + f"max-deletions = {value}\n")
    with pytest.raises(ConfigError, match=r"max-deletions = .*expected a whole number of projects"):
        load_settings(path)


def test_a_run_planning_to_delete_past_the_limit_is_refused_whole() -> None:
    """Only serial-0 projects the mirror has count as planned deletions; a budget otherwise."""
    local = {f"p{i}" for i in range(200)}
    planned = {**{f"P{i}": 0 for i in range(150)}, "new": 0, "p199": 5}  # 150 of ours, one unknown
    with pytest.raises(MassDeletion, match="150"):
        check_run(planned, local, None, deleting=True, allow=False)
    assert check_run(planned, local, None, deleting=False, allow=False).limit == 100  # delete-packages = false
    budget = check_run(planned, local, None, deleting=True, allow=True)
    assert budget.total == 200 and budget.take("x") is None
