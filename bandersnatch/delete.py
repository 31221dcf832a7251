"""``bandersnatch delete NAME...``: take projects off the mirror, and the global index update that
every operator command shares.

Names are checked before anything is removed: a typo among five names deletes none of them.
"""

from __future__ import annotations

import logging
from typing import Iterable

from .configuration import Settings
from .errors import MirrorError
from .model import normalize
from .package import check_name, remove_project
from .published import read_project, require_mirror
from .storage import Storage

__all__ = ["UnknownProject", "delete_projects", "refresh_index"]

logger = logging.getLogger(__name__)


class UnknownProject(MirrorError):
    """A name given on the command line is not a project on this mirror."""


def refresh_index(settings: Settings, storage: Storage, touched: Iterable[str]) -> None:
    """Bring the global index (and last-modified) in line with the pages of ``touched`` projects.

    A thin door to the engine's index writer so that the operator commands do not grow a second
    one; it moves to ``global_index.py`` when the engine's index code does.
    """
    from .mirror import (
        Mirror,  # the engine imports package; importing it lazily keeps this light
    )

    Mirror(settings, None, storage, None)._write_index(touched)  # type: ignore[arg-type]  # no master needed


def delete_projects(settings: Settings, storage: Storage, names: Iterable[str], dry_run: bool) -> list[str]:
    """Remove these projects (pages, files, ``.metadata``, index entries); return their folders.

    Raises UnknownProject, before touching anything, when a name is not on the mirror.
    """
    require_mirror(storage)
    keys = []
    for name in names:
        key = normalize(check_name(name))
        if read_project(storage, key) is None and key not in storage.list_web_dirs("simple"):
            raise UnknownProject(f"no project {name!r} on the mirror at {storage.location}; nothing deleted")
        keys.append(key)
    for key in keys:
        logger.info("%s project %s", "Would delete" if dry_run else "Deleting", key)
    if dry_run:
        return keys
    with storage.lock():
        for key in keys:
            remove_project(key, storage)
        refresh_index(settings, storage, keys)
    return keys
