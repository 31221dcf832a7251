"""Where the mirror lives: a directory or an S3-compatible bucket, behind one interface (base.Storage).

Only this package writes under the mirror; ``open_storage`` picks the backend the configuration
names, so the engine, the filters and the commands never know which one they work on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import HASH_CHUNK, Storage, safe_relative
from .filesystem import FilesystemStorage

if TYPE_CHECKING:
    from ..configuration import Settings

__all__ = ["HASH_CHUNK", "FilesystemStorage", "Storage", "open_storage", "safe_relative"]


def open_storage(settings: Settings) -> Storage:
    """The storage ``[mirror] storage-backend`` names; boto3 is imported only for S3 (an extra)."""
    if settings.s3 is None:
        return FilesystemStorage(settings.directory)
    from .s3 import S3Storage

    return S3Storage(settings.s3)
