"""Where a mirror's pages link what it serves: a small value instead of an optional string that
each caller reads its own way (layout.py owns the rest of the map of web/). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional
from urllib.parse import quote, unquote

if TYPE_CHECKING:
    from ..model import ReleaseFile

__all__ = ["PAGE_PREFIX", "PROVENANCE", "Links"]

PAGE_PREFIX = "../../"  # from simple/{name}/ (and pypi/{name}/json) back to web/
PROVENANCE = ".provenance"  # PEP 740, beside the file


@dataclass(frozen=True)
class Links:
    """Where pages link what the mirror serves: a small value instead of an optional string that
    each caller reads its own way.

    - files: relative (``../../packages/...``, the mirror can be served under any prefix), under
      ``root_uri``, or, with ``release-files = false`` and no ``root_uri``, the master's own URLs;
    - PEP 740 provenance: it "SHALL be a fully qualified URL", so from ``root_uri``, else from
      ``public-url``, else not announced at all (the files are still mirrored).
    """

    root_uri: str = ""
    release_files: bool = True
    public_url: str = ""

    @property
    def master_files(self) -> bool:
        """Whether pages link the master's files instead of the mirror's."""
        return not self.release_files and not self.root_uri

    @property
    def _file_prefix(self) -> str:
        return self.root_uri + "/" if self.root_uri else PAGE_PREFIX

    @property
    def _absolute_prefix(self) -> Optional[str]:
        base = self.root_uri or self.public_url
        return base.rstrip("/") + "/" if base else None

    @property
    def announces_provenance(self) -> bool:
        return self.master_files or self._absolute_prefix is not None

    def file_href(self, path: str, release: ReleaseFile) -> str:
        if self.master_files:
            return release.url
        return self._file_prefix + quote(path)

    def provenance_href(self, path: str, release: ReleaseFile) -> Optional[str]:
        """The fully qualified URL of the file's provenance, or None when none can be announced."""
        if release.provenance_url is None:
            return None
        if self.master_files:
            return release.provenance_url
        prefix = self._absolute_prefix
        return None if prefix is None else prefix + quote(path) + PROVENANCE

    def path_of(self, href: str) -> Optional[str]:
        """The path under web/ that a link of our pages points to; None for a link elsewhere
        (the master's files with ``release-files = false``)."""
        for prefix in (self._file_prefix, self._absolute_prefix):
            if prefix and href.startswith(prefix):
                return unquote(href[len(prefix) :])
        return None
