"""Where a run learns what changed upstream: the XML-RPC changelog, or a PEP 691 root.

Both answer the same two questions, so the engine does not know which one it asks:
every project with its serial (a full sync), and the projects changed after a serial (an
incremental run). ``api-method = simple`` needs no XML-RPC at all, which is what lets one
bandersnatch mirror, served by nginx, be the master of another.
"""

from __future__ import annotations

import logging
from typing import Callable, Iterable, Optional, Protocol

from .errors import UpstreamUnavailable
from .master import Master
from .model import normalize
from .session import Validators

__all__ = ["ROOT_VALIDATORS", "ChangeSource", "ChangelogSource", "SimpleRootSource", "change_source"]

ROOT_VALIDATORS = "simple-root.json"  # the state file of the last root's ETag / Last-Modified and serial

logger = logging.getLogger(__name__)


class ChangeSource(Protocol):
    def all_projects(self) -> dict[str, int]:
        """{name: last serial} of every project the master has."""

    def changes_since(self, serial: int) -> tuple[dict[str, int], int]:
        """({name: serial to reach}, the master's serial) for everything changed after ``serial``."""

    def master_serial(self) -> int:
        """The master's current serial (for the lag that ``status`` shows)."""


class ChangelogSource:
    """PyPI's XML-RPC: one call for a no-op run, a few for a busy one (it is rate-limited)."""

    def __init__(self, master: Master) -> None:
        self.master = master

    def all_projects(self) -> dict[str, int]:
        return self.master.all_projects()

    def changes_since(self, serial: int) -> tuple[dict[str, int], int]:
        return self.master.changes_since(serial)

    def master_serial(self) -> int:
        return self.master.last_serial()


class SimpleRootSource:
    """The PEP 691 root (``/simple/`` as JSON), whose projects carry ``_last-serial``.

    A project changed when its serial is above ours. The root does not say what was deleted, so a
    project the mirror has and the root no longer lists is planned with serial 0 ("no promise"):
    the master answers 404 for it and it is deleted. The root is fetched once per run.

    Polite polling: with ``load`` (and ``save``), the root is asked for with the validators of the
    last one (If-None-Match / If-Modified-Since). A 304 means the same root as then, so nothing
    changed since its serial: no body, no parse. Asked so only once the mirror's serial has reached
    that root's (a run that fetched it but did not finish must see its changes again).
    """

    def __init__(
        self, master: Master, mirrored: Callable[[], Iterable[str]], find_deleted: bool,
        load: Optional[Callable[[], Optional[str]]] = None, save: Optional[Callable[[str], None]] = None,
    ) -> None:  # fmt: skip
        self.master = master
        self.mirrored = mirrored
        self.find_deleted = find_deleted
        self.load, self.save = load, save
        self._root: Optional[tuple[int, dict[str, int]]] = None

    def _conditional(self, floor: Optional[int]) -> tuple[Optional[tuple[int, dict[str, int]]], Optional[int]]:
        """(the root, None), or (None, its serial) when the master says it is the stored one. Only
        validators whose serial is at most ``floor`` are sent (None: any)."""
        if self._root is not None or self.load is None:
            return self._fetch(), None  # fetched already this run, or no validators kept
        known = Validators.from_json(self.load())
        if known is not None and floor is not None and known.serial > floor:
            known = None
        root, validators = self.master.simple_root_if_changed(known)
        if root is None and known is not None:
            return None, known.serial
        self._root = root
        if validators is not None and self.save is not None and validators != known:
            self.save(validators.to_json())
        return root, None

    def _fetch(self) -> tuple[int, dict[str, int]]:
        """The whole root (a full sync needs every project), keeping its validators for next time."""
        if self._root is None and self.save is None:
            self._root = self.master.simple_root()
        elif self._root is None:
            root, validators = self.master.simple_root_if_changed(None)
            assert root is not None  # nothing to compare with: a 304 is refused
            self._root = root
            if validators is not None:
                self.save(validators.to_json())
        return self._root

    def all_projects(self) -> dict[str, int]:
        return dict(self._fetch()[1])

    def changes_since(self, serial: int) -> tuple[dict[str, int], int]:
        root, unchanged = self._conditional(serial)
        if root is None:
            return {}, max(unchanged or 0, serial)
        target, projects = root
        changed = {name: last for name, last in projects.items() if last > serial}
        if self.find_deleted:
            if not projects:
                raise UpstreamUnavailable("the master's root lists no projects at all; refusing to empty the mirror")
            listed = _normalized(projects)
            gone = [name for name in self.mirrored() if name not in listed]
            if gone:
                logger.info("%d projects are no longer listed by the master", len(gone))
            changed.update((name, 0) for name in gone)
        return changed, max(target, serial)

    def master_serial(self) -> int:
        root, unchanged = self._conditional(None)
        return root[0] if root is not None else unchanged or 0


def _normalized(names: Iterable[str]) -> set[str]:
    """The PEP 503 names of ``names``: most only need lower-casing (done in C); only names with
    ``_``, ``.`` or ``--`` go through the full rule. The lower-cased spellings of those stay in the
    set too, harmlessly: a normalized name never contains those characters."""
    names = list(names)
    listed = set(map(str.lower, names))
    listed.update(normalize(name) for name in names if "_" in name or "." in name or "--" in name)
    return listed


def change_source(
    method: str, master: Master, mirrored: Callable[[], Iterable[str]], find_deleted: bool,
    load: Optional[Callable[[], Optional[str]]] = None, save: Optional[Callable[[str], None]] = None,
) -> ChangeSource:  # fmt: skip
    """The source that ``[mirror] api-method`` names (validated by configuration); ``load`` and
    ``save`` keep the root's validators (ROOT_VALIDATORS) for conditional requests."""
    if method == "simple":
        return SimpleRootSource(master, mirrored, find_deleted, load, save)
    return ChangelogSource(master)
