"""Change detection from the PEP 691 root: what changed, what was deleted, and the target serial."""

from __future__ import annotations

import pytest

from bandersnatch.changes import ChangelogSource, SimpleRootSource, change_source
from bandersnatch.errors import UpstreamUnavailable


class RootMaster:
    def __init__(self, serial: int, projects: dict[str, int]) -> None:
        self.root = (serial, projects)
        self.calls = 0

    def simple_root(self) -> tuple[int, dict[str, int]]:
        self.calls += 1
        return self.root


@pytest.mark.parametrize(
    ("since", "find_deleted", "changed"),
    [
        (5, True, {"New.One": 9, "gone": 0}),
        (5, False, {"New.One": 9}),
        (0, False, {"kept": 3, "New.One": 9}),
        (9, True, {"gone": 0}),
    ],
)
def test_changes_since(since: int, find_deleted: bool, changed: dict[str, int]) -> None:
    master = RootMaster(10, {"kept": 3, "New.One": 9})
    source = SimpleRootSource(master, lambda: ["kept", "new-one", "gone"], find_deleted)  # type: ignore[arg-type]
    assert source.changes_since(since) == (changed, 10)
    assert source.master_serial() == 10 and source.all_projects() == {"kept": 3, "New.One": 9}
    assert master.calls == 1  # one root per run


def test_an_empty_root_never_empties_the_mirror() -> None:
    source = SimpleRootSource(RootMaster(10, {}), lambda: ["kept"], True)  # type: ignore[arg-type]
    with pytest.raises(UpstreamUnavailable, match="refusing to empty the mirror"):
        source.changes_since(5)


def test_the_configured_method_picks_the_source() -> None:
    assert isinstance(change_source("simple", None, list, True), SimpleRootSource)  # type: ignore[arg-type]
    assert isinstance(change_source("xmlrpc", None, list, True), ChangelogSource)  # type: ignore[arg-type]


def test_deletions_see_every_spelling_of_a_listed_name() -> None:
    spellings = {"Foo.Bar": 1, "zope.interface": 2, "A--B": 3, "typing_extensions": 4, "Django": 5, "x": 6}
    mirrored = ["foo-bar", "zope-interface", "a-b", "typing-extensions", "django", "x", "gone"]
    source = SimpleRootSource(RootMaster(9, spellings), lambda: mirrored, True)  # type: ignore[arg-type]
    assert source.changes_since(9) == ({"gone": 0}, 9)
