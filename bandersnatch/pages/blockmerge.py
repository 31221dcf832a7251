"""Merge changes into a big sorted page of one-project lines, block by block (pure).

The global index (HTML) and the JSON root each hold one line per project, sorted by normalized
name. At 740,000 projects an incremental run must not parse or render every line: the old page
arrives in blocks of lines, only the changed projects are rendered, and the runs of lines between
changes are copied as they are, found by binary search.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generic, Iterable, Iterator, Mapping, Optional, TypeVar

__all__ = ["LineFormat", "merge_lines"]

V = TypeVar("V")


@dataclass(frozen=True)
class LineFormat(Generic[V]):
    """How one page spells its project lines."""

    key: Callable[[str], Optional[str]]  # a project line's normalized name; None for other lines
    render: Callable[[str, V], str]  # the line of a project (normalized name, value)
    terminated: Callable[[str], str]  # the line as it must end when another follows it


class _Merge(Generic[V]):
    """One merge: the sorted changes still to place, and the last project key passed."""

    def __init__(self, changes: Mapping[str, Optional[V]], form: LineFormat[V]) -> None:
        self.pending = sorted(changes.items(), key=lambda item: item[0])
        self.position = 0
        self.previous = ""
        self.form = form

    def block(self, lines: list[str]) -> Iterator[str]:
        key = self.form.key
        first, last = key(lines[0]), key(lines[-1])
        if first is None or last is None or first <= self.previous or last < first:
            raise ValueError(f"page not sorted or damaged near {lines[0][:80]!r}")
        start = 0
        while self.position < len(self.pending) and self.pending[self.position][0] <= last:
            name, value = self.pending[self.position]
            self.position += 1
            split = _first_at_or_after(lines, start, name, key)
            yield "".join(lines[start:split])
            if value is not None:
                yield self.form.render(name, value)
            start = split + (key(lines[split]) == name)
        yield "".join(lines[start:])
        self.previous = last

    def rest(self) -> Iterator[str]:
        for name, value in self.pending[self.position :]:
            if value is not None:
                yield self.form.render(name, value)


def _first_at_or_after(lines: list[str], start: int, name: str, key: Callable[[str], Optional[str]]) -> int:
    low, high = start, len(lines) - 1  # the last line's key is >= name
    while low < high:
        middle = (low + high) // 2
        if (key(lines[middle]) or "") < name:
            low = middle + 1
        else:
            high = middle
    return low


def merge_lines(
    old_blocks: Iterable[list[str]], changes: Mapping[str, Optional[V]], form: LineFormat[V], head: int
) -> Iterator[str]:
    """The project lines of the old page (its first ``head`` lines skipped, its tail dropped) with
    ``changes`` ({normalized: value, or None to drop}) applied. Raises ValueError when the old page
    is not sorted: the caller then rebuilds it."""
    merge = _Merge(changes, form)
    for number, lines in enumerate(old_blocks):
        if number == 0:
            lines = lines[head:]
        while lines and form.key(lines[-1]) is None:
            lines = lines[:-1]  # the tail of the page
        if lines:
            lines[-1] = form.terminated(lines[-1])
            yield from merge.block(lines)
    yield from merge.rest()
