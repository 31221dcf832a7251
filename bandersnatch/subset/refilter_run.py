"""A change of the filters alone, for one run: what it affects, and what the run keeps for the
next change (filters.json through ``scope.remember``, the metadata as last synced in
``subset.seen``). The engine calls these; the decisions themselves live in ``scope`` and ``seen``.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Callable, Optional

from ..model import normalize
from ..pages.layout import PROJECTS
from ..storage import Storage
from .config import SubsetSettings
from .scope import Refilter, Scope, refilter, remember, remembered

__all__ = ["filters_only_changed", "keep_seen", "refiltered_work", "remember_filters", "seen_metadata"]

logger = logging.getLogger(__name__)

FILTERS = "filters.json"  # scope.remember's state file


def _without_subset(marker: str) -> str:
    """The options marker without its filter digest: what must be unchanged for a change of the
    filters alone to be planned by what it affects."""
    return re.sub(r" subset=\S+", "", marker)


def filters_only_changed(
    storage: Storage, subset: Optional[SubsetSettings], before: Optional[str], now: str
) -> Optional[Refilter]:
    """When only the filters changed since the last run (the pages and the cooldown did not),
    what they affect (scope.refilter); None: every project is checked again."""
    if subset is None or before is None or _without_subset(before) != _without_subset(now):
        return None
    return refilter(remembered(storage), subset)


def refiltered_work(
    change: Optional[Refilter], scope: Optional[Scope], storage: Storage, listed: Callable[[], dict[str, int]]
) -> dict[str, int]:
    """The work of a change of the filters alone, with no request for a project it cannot
    touch: the names it adds, removes or re-specifies, the projects the mirror has that the
    filters no longer hold (dropped without asking the master), and, when a project-level
    rule changed, those the master lists (``listed``) that the filters now hold and the mirror
    lacks. The closure's own changes come as ``scope.reselected``."""
    if change is None or scope is None:
        return {}
    local = set(storage.list_web_dirs(PROJECTS))
    work = dict.fromkeys(change.names, 0)
    work.update((name, 0) for name in local if not scope.holds(name))
    if change.list_master:
        work.update((name, serial) for name, serial in listed().items() if normalize(name) not in local)
    logger.info("The filters changed: %d projects are checked again for it", len(work))
    return work


def seen_metadata(storage: Storage, subset: Optional[SubsetSettings]) -> Optional[dict[str, Any]]:
    """The master's metadata of every project the mirror has, as last synced (subset.seen), or
    None when some project's is not known (then every project is checked with the master)."""
    if subset is None or not subset.roots:
        return None
    from .seen import load

    local, seen = storage.list_web_dirs(PROJECTS), load(storage)
    missing = [name for name in local if name not in seen]
    if missing:
        logger.info("No metadata kept for %d projects (%s...): every project is checked again",
                    len(missing), missing[0])  # fmt: skip
        return None
    return {name: seen[name] for name in local}  # type: ignore[index]


def keep_seen(storage: Storage, scope: Optional[Scope]) -> None:
    """Keep the metadata this run selected from, for the next change of what selects files."""
    if scope is None or not scope.remembers or not scope.synced:
        return
    from .seen import keep

    keep(storage, scope.synced.values(), set(storage.list_web_dirs(PROJECTS)))


def remember_filters(storage: Storage, subset: Optional[SubsetSettings]) -> None:
    """The filters the options marker now stands for, in the parts a later change is judged by."""
    if subset is not None or storage.read_state(FILTERS) is not None:
        remember(storage, subset)
