"""One exception tree, classified by cause, so the CLI can turn each into one line and an exit status."""

from __future__ import annotations

__all__ = [
    "EXIT_ERROR",
    "EXIT_LOCKED",
    "ConfigError",
    "DigestMismatch",
    "LockHeld",
    "MirrorError",
    "NotFound",
    "NotAMirror",
    "ProjectGone",
    "StalePage",
    "StateError",
    "StorageUnavailable",
    "TruncatedDownload",
    "UnsafePath",
    "UpstreamUnavailable",
]

EXIT_ERROR = 1
EXIT_LOCKED = 3


class MirrorError(Exception):
    """Anything the operator must look at; the message is the one line they see."""

    exit_code = EXIT_ERROR


class ConfigError(MirrorError):
    """The configuration file is missing, unreadable or holds a bad value."""


class LockHeld(MirrorError):
    """Another run holds the mirror's lock; this one must not touch anything."""

    exit_code = EXIT_LOCKED


class StateError(MirrorError):
    """A state file (status, todo, generation) is damaged beyond a safe reading."""


class StorageUnavailable(MirrorError):
    """The object store refused us (credentials, a missing bucket) or stayed unreachable after retries."""


class NotAMirror(MirrorError):
    """The configured directory holds no mirror (no web/simple/), so there is nothing to act on."""


class UpstreamUnavailable(MirrorError):
    """The master could not be reached or answered with an error, after retries."""


class NotFound(UpstreamUnavailable):
    """The master answered 404 for something it had listed (a file, a .metadata)."""


class TruncatedDownload(UpstreamUnavailable):
    """A response body ended before its announced length (or the file's known size)."""


class StalePage(MirrorError):
    """The master (its CDN) keeps answering with a serial older than the changelog promised."""


class ProjectGone(MirrorError):
    """The master answers 404 for the project: it was deleted upstream."""


class DigestMismatch(MirrorError):
    """A downloaded file's sha256 (or size) differs from the master's metadata."""


class UnsafePath(MirrorError):
    """A name or URL from the master would land outside the mirror or is not a plain relative path."""
