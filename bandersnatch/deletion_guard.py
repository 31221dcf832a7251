"""``[mirror] max-deletions``: how many projects one command may delete before it needs a human.

A master that suddenly lists a handful of projects, a bundle whose project list came out empty, or
``verify --delete`` on a mirror whose pages link nothing locally (``root_uri``) each look like
"everything was deleted". The deletion itself is correct code doing what it was told; what is
wrong is the input. So ``mirror``, ``verify --delete`` and ``import`` ask this one module before
they delete, and stop (exit 1, nothing deleted) past the limit unless the operator passed
``--allow-mass-deletion``. Pure functions and one small thread-safe counter: no I/O here.

The default limit is 5% of the mirror's projects, never fewer than 100 (DEFAULT_FLOOR): a busy
day on PyPI deletes a few hundred of 740,000 projects, far below 5%, while a small mirror still
follows ordinary deletions. ``max-deletions = 0`` is a valid explicit value: no project deletion
without the flag. Whatever the setting, deleting *every* project of a non-empty mirror always
needs the flag: a mirror is never emptied by accident.
"""

from __future__ import annotations

import threading
from typing import Optional

from .errors import MirrorError
from .model import normalize

__all__ = [
    "DEFAULT_FLOOR",
    "DEFAULT_SHARE_PERCENT",
    "DeletionBudget",
    "MassDeletion",
    "check_orphans",
    "check_run",
    "check_projects",
    "file_limit",
    "project_limit",
]

DEFAULT_SHARE_PERCENT = 5
DEFAULT_FLOOR = 100
ADVICE = "run with --allow-mass-deletion or raise [mirror] max-deletions"


class MassDeletion(MirrorError):
    """A command would delete more than ``[mirror] max-deletions`` allows; nothing was deleted."""


def project_limit(total: int, setting: Optional[int]) -> int:
    """How many of ``total`` projects may go without the flag (``setting`` None: the default)."""
    if setting is not None:
        return setting
    return max(DEFAULT_FLOOR, total * DEFAULT_SHARE_PERCENT // 100)


def _refusal(count: int, total: int, setting: Optional[int], noun: str = "projects") -> str:
    shown = f"max-deletions {project_limit(total, setting)}" + ("" if setting is not None else " by default")
    return f"refusing to delete {count} of {total} {noun} ({shown}); {ADVICE}"


def check_projects(count: int, total: int, setting: Optional[int], allow: bool) -> None:
    """Raise MassDeletion unless deleting ``count`` of the mirror's ``total`` projects is allowed."""
    if allow or count == 0:
        return
    if count > project_limit(total, setting) or count >= total:
        raise MassDeletion(_refusal(count, total, setting))


def file_limit(linked: int, projects: int, setting: Optional[int]) -> int:
    """How many orphan files ``verify --delete`` may remove without the flag.

    Orphans are files no page links, so their number cannot be compared with a project count.
    The project limit is turned into a share of the mirror (limit / projects, at most all of it)
    and applied to the files the pages link: a mirror whose pages link 10,000 files may lose 5% of
    that in orphans by default. No floor of 100 here, on purpose: when the pages link no local file
    at all (``root_uri`` or ``release-files = false`` written over a full mirror), the share of
    nothing is nothing, so every one of those files needs the flag. That is exactly the case in
    which an orphan walk would otherwise delete the whole of ``packages/``.
    """
    if projects <= 0:
        return 0
    share = min(1.0, project_limit(projects, setting) / projects)
    return int(linked * share)


def check_orphans(count: int, linked: int, projects: int, setting: Optional[int], allow: bool) -> None:
    """Raise MassDeletion unless removing ``count`` orphans from a mirror whose pages link
    ``linked`` files (of ``projects`` projects) is within ``file_limit``."""
    if allow or count == 0:
        return
    limit = file_limit(linked, projects, setting)
    if count > limit:
        raise MassDeletion(
            f"refusing to delete {count} orphan files while the pages link {linked} "
            f"(max-deletions allows {limit} for {projects} projects); {ADVICE}"
        )


class DeletionBudget:
    """What one ``mirror`` run may still delete, shared by its worker threads.

    Deletions known when planning are checked whole before any work (check_projects); a project
    the master answers 404 for during the run takes one from the budget as it happens, and once it
    is spent the project is not deleted but left owed, with the refusal as its error.
    """

    def __init__(self, total: int, setting: Optional[int], allow: bool) -> None:
        self.total, self.setting, self.allow = total, setting, allow
        self.limit = project_limit(total, setting)
        self.taken = 0
        self._lock = threading.Lock()

    def take(self, name: str) -> Optional[str]:
        """None when ``name`` may be deleted now (counted), else the one line that says why not."""
        with self._lock:
            count = self.taken + 1
            if self.allow or (count <= self.limit and count < self.total):
                self.taken = count
                return None
            return f"Not deleting {name}: " + _refusal(count, self.total, self.setting)


def check_run(planned: dict[str, int], local: set[str], setting: Optional[int], deleting: bool, allow: bool
              ) -> DeletionBudget:  # fmt: skip
    """A ``mirror`` run's budget, after refusing the whole run, before anything is written, when its
    plan already deletes more than the limit: the projects ``planned`` with serial 0 are the ones
    only the mirror (its ``local`` normalized names) still has (a full sync's local-only projects,
    or those the PEP 691 root no longer lists), which the master is then asked about and deletes
    with a 404. A master that suddenly lists a handful of projects stops here. Deletions found
    during the run (404s for changelog entries) are counted against the same limit by the budget."""
    gone = [name for name, serial in planned.items() if serial == 0 and normalize(name) in local]
    if gone and deleting:
        check_projects(len(gone), len(local), setting, allow)
    return DeletionBudget(len(local), setting, allow)
