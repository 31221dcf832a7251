"""``bandersnatch delete NAME...``: take projects off the mirror.

Names are checked before anything is removed: a typo among five names deletes none of them.
"""

from __future__ import annotations

import logging
from typing import Iterable

from ..configuration import Settings
from ..errors import MirrorError
from ..history import size_moved_by
from ..model import normalize
from ..pages.index import refresh_index
from ..pages.layout import PROJECTS, Layout, check_name
from ..pages.published import read_project, require_mirror
from ..project import remove_project
from ..storage import Storage

__all__ = ["UnknownProject", "delete_projects"]

logger = logging.getLogger(__name__)


class UnknownProject(MirrorError):
    """A name given on the command line is not a project on this mirror."""


def delete_projects(settings: Settings, storage: Storage, names: Iterable[str], dry_run: bool) -> list[str]:
    """Remove these projects (pages, files, ``.metadata``, index entries); return their folders.

    Raises UnknownProject, before touching anything, when a name is not on the mirror.
    """
    require_mirror(storage)
    layout = Layout.from_settings(settings)
    keys = []
    for name in names:
        key = normalize(check_name(name))
        if read_project(storage, key, layout.links) is None and key not in storage.list_web_dirs(PROJECTS):
            raise UnknownProject(f"no project {name!r} on the mirror at {storage.location}; nothing deleted")
        keys.append(key)
    for key in keys:
        logger.info("%s project %s", "Would delete" if dry_run else "Deleting", key)
    if dry_run:
        return keys
    with storage.lock(), size_moved_by(storage) as counted:
        for key in keys:
            remove_project(key, counted, layout.links)
        refresh_index(counted, layout, keys)
    return keys
