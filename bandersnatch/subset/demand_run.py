"""One run's share of ``[demand]``: read the new log lines, choose the evictions, widen the scope.

The mirror calls ``start_demand`` once per run (under its lock, before the scope is planned). It
reads the access logs into ``demand.json``, adds every demanded project as a root beside the
allowlist (with ``[demand]`` an empty allowlist means "only what clients ask for"), and, past
``max-size``, evicts the least recently requested demanded projects. The evicted ones and the
demanded ones the mirror lacks are the run's extra work: the first are dropped by the usual path
of a project the scope no longer holds, the second fetched with their closure.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from typing import Optional

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from ..configuration import Settings
from ..deletion_guard import DeletionBudget
from ..model import normalize
from ..pages.layout import PROJECTS, Links
from ..pages.published import published_files
from ..storage import Storage
from .closure import closure
from .config import SubsetSettings
from .demand import DEMAND, DemandState, LogRead, evictions, log_files, read_logs, stamp
from .scope import CLOSURE, Scope

__all__ = ["DemandRun", "DemandScope", "start_demand"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemandRun:
    subset: SubsetSettings  # the configured subset, with the demanded projects among the roots
    roots: frozenset[str]  # every root's normalized name
    work: dict[str, int]  # demanded projects to fetch, evicted ones to drop: serial 0, no minimum
    evicted: list[str] = field(default_factory=list)
    read: LogRead = field(default_factory=LogRead)

    def wrap(self, scope: Optional[Scope]) -> Scope:
        """The run's scope, holding the roots only (never "everything", even with none)."""
        if scope is None:
            return DemandScope(self.subset, roots=self.roots)
        values = {f.name: getattr(scope, f.name) for f in dataclasses.fields(scope)}
        return DemandScope(**values, roots=self.roots)


@dataclass
class DemandScope(Scope):
    """A Scope whose roots are exactly the allowlist and the demanded projects: an empty allowlist
    means none, not "no filter" as it does without [demand]."""

    roots: frozenset[str] = frozenset()

    @property
    def everything(self) -> bool:
        return False

    def _root(self, name: str) -> bool:
        return normalize(name) in self.roots and super()._root(name)


def start_demand(
    settings: Settings, storage: Storage, links: Links, now: float, budget: Optional[DeletionBudget]
) -> DemandRun:
    demand = settings.demand
    assert demand is not None
    state = DemandState.load(storage.read_state(DEMAND))
    read = read_logs(log_files(demand.access_log_pattern), state, demand)
    logger.info(
        "[demand] read %d new log lines of %d files: %d page requests counted, %d of ignored agents, %d garbage",
        read.lines, read.files, read.requests, read.ignored, read.garbage,
    )  # fmt: skip
    base = settings.subset or SubsetSettings()
    configured = {str(canonicalize_name(r.name)) for r in base.roots}
    local = set(storage.list_web_dirs(PROJECTS))
    evicted = _evict(settings, storage, links, state, configured, local, now, budget) if demand.max_size else []
    demanded = state.demanded() - configured
    storage.write_state(DEMAND, state.dump())
    added = sorted(demanded - local)
    if added:
        logger.info("[demand] %d projects asked for are added: %s", len(added), " ".join(added))
    filters = dataclasses.replace(
        base.filters,
        enabled=base.filters.enabled | {"allowlist_project"},
        allowlist=base.filters.allowlist + tuple(Requirement(name) for name in sorted(demanded)),
    )
    subset = dataclasses.replace(base, filters=filters)
    work = {name: 0 for name in [*added, *evicted]}
    return DemandRun(subset, frozenset(configured | demanded), work, evicted, read)


def _evict(
    settings: Settings, storage: Storage, links: Links, state: DemandState, configured: set[str],
    local: set[str], now: float, budget: Optional[DeletionBudget],
) -> list[str]:  # fmt: skip
    """Mark the projects to evict in ``state`` (a later request brings one back); each is logged."""
    assert settings.demand is not None
    sizes = {name: _size(storage, links, name) for name in local}
    protected = configured | _needed_by(configured, settings, storage)
    chosen = evictions(sizes, state, protected, settings.demand, now)
    done = []
    for name in chosen:
        refusal = budget.take(name) if budget is not None else None
        if refusal is not None:  # the deletion guard: the rest waits for the next run or a human
            logger.warning("[demand] not evicting %s: %s", name, refusal)
            break
        last = state.projects[name][1]
        logger.info("[demand] evicting %s (%d bytes; last requested %s)", name, sizes[name], stamp(last))
        state.evicted[name] = now
        done.append(name)
    if chosen:
        logger.info(
            "[demand] the mirror holds %d bytes, max-size %d: %d projects evicted",
            sum(sizes.values()), settings.demand.max_size, len(done),
        )  # fmt: skip
    return done


def _size(storage: Storage, links: Links, name: str) -> int:
    total = 0
    for published in published_files(storage, name, links):
        size = published.size if published.size is not None else storage.web_size(published.path)
        total += size or 0
    return total


def _needed_by(configured: set[str], settings: Settings, storage: Storage) -> set[str]:
    """What the allowlist's own closure needs, from closure.json's cache (no request): these are
    never evicted, since dropping them from the roots would not remove them."""
    subset = settings.subset
    if subset is None or not subset.dependencies.enabled or not subset.roots:
        return set()
    try:
        cache = json.loads(storage.read_state(CLOSURE) or "{}")
        releases, requires = cache.get("releases", {}), cache.get("requires", {})
    except (ValueError, AttributeError):
        return set()

    def fetch(name: str) -> dict[str, tuple[str, ...]]:
        versions = releases.get(name, {}).get("versions", {}) if isinstance(releases.get(name), dict) else {}
        return {v: tuple(requires.get(name, {}).get(v) or ()) for v in versions}

    return {str(name) for name in closure(subset.roots, fetch, subset.dependencies)}  # type: ignore[arg-type]
