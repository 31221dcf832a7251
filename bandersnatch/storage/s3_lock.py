"""The run lock in an object store: one object written with a conditional PUT, held by a lease.

flock only excludes runs on one host; a bucket is shared by every host that can reach it. The lock
object is created with ``If-None-Match: *`` (only one creator wins), renewed with ``If-Match`` on
its ETag (only its holder can), and says until when it holds. A run killed without releasing it
stops renewing; once the lease has run out, the next run replaces it, again with ``If-Match``, so
two successors cannot both take over. A store that ignores the conditions would let two runs in
at once: that is detected when the lock is taken (a second create must fail) and refused. A lock
left by a run on this very host whose process is gone (cron's next run after a kill or a crash) is
taken over at once, without waiting for its lease.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import Any, Callable, Optional

from ..errors import LockHeld, StorageUnavailable

__all__ = ["LEASE", "Lease", "PreconditionFailed"]

logger = logging.getLogger(__name__)

LEASE = 120.0  # seconds a crashed run keeps the mirror locked
RENEW = LEASE / 4  # a live run renews this often, so a slow request or two never loses it


class PreconditionFailed(Exception):
    """The store refused a conditional write (HTTP 412): someone else's object is there."""


Put = Callable[..., dict[str, Any]]  # put(body: bytes, if_match=None, if_none_match=None) -> response


def _alive(pid: int) -> bool:
    """Whether a process of this host has that pid (signal 0 checks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


class Lease:
    """One run's hold on the lock object; ``acquire`` then ``release`` (the S3 storage's ``lock``)."""

    def __init__(
        self,
        put: Put,
        get: Callable[[], tuple[bytes, str]],
        delete: Callable[[], None],
        where: str,
        clock: Callable[[], float] = time.time,
        require_conditional: bool = True,
    ) -> None:
        self._put, self._get, self._delete, self.where, self.clock = put, get, delete, where, clock
        self.require_conditional = require_conditional
        self._etag: Optional[str] = None
        self._stop = threading.Event()
        self._renewer: Optional[threading.Thread] = None
        self.lost = False
        self._valid_until = 0.0  # after this, by our clock, another run may have taken over

    @property
    def held(self) -> bool:
        """Whether this run may still write: not taken over, and renewed recently enough that no
        other run can have seen the lease expire (a margin of one renewal for clock skew)."""
        return not self.lost and self.clock() < self._valid_until

    def _renewed(self, etag: str) -> None:
        self._etag, self._valid_until = etag, self.clock() + LEASE - RENEW

    def _body(self) -> bytes:
        holder = {"host": socket.gethostname(), "pid": os.getpid(), "expires": self.clock() + LEASE}
        return json.dumps(holder).encode()

    def acquire(self) -> None:
        """Take the lock or raise LockHeld; refuse a store that ignores conditional writes."""
        body = self._body()
        try:
            self._renewed(self._put(body, if_none_match="*")["ETag"])
        except PreconditionFailed:
            self._take_over(body)
        try:
            self._put(body, if_none_match="*")
        except PreconditionFailed:
            pass  # as it must: the store honours conditional writes
        else:
            said = f"the object store ignores conditional writes (If-None-Match) at {self.where}"
            if not self.require_conditional:
                logger.warning("%s: the lock cannot keep out a run on another host; run on one host only", said)
            else:
                self._delete()
                raise StorageUnavailable(
                    f"{said}: it cannot keep a second run out; use a store that supports them (AWS S3, MinIO, "
                    "Ceph RGW, ...) or, with one host only, [s3] require_conditional_writes = false"
                )
        self._renewer = threading.Thread(target=self._renew, name="s3-lock-lease", daemon=True)
        self._renewer.start()

    def _take_over(self, body: bytes) -> None:
        """Replace a lock whose lease ran out (its run died); LockHeld while it is still live."""
        current, etag = self._get()
        try:
            holder = json.loads(current)
            expires, who = float(holder["expires"]), f"{holder['host']} pid {holder['pid']}"
            dead = holder["host"] == socket.gethostname() and not _alive(int(holder["pid"]))
        except (ValueError, KeyError, TypeError):
            expires, who, dead = 0.0, "an unreadable holder", True
        if expires > self.clock() and not dead:
            raise LockHeld(
                f"another bandersnatch run ({who}) holds {self.where} for {expires - self.clock():.0f} s more "
                "(it renews while alive); not starting a second one"
            )
        try:
            self._renewed(self._put(body, if_match=etag)["ETag"])
        except PreconditionFailed:
            raise LockHeld(f"another bandersnatch run took over {self.where} just now; not starting a second one") from None
        logger.warning("Took over %s from %s, a run that died", self.where, who)

    def _renew(self) -> None:
        while not self._stop.wait(RENEW):
            try:
                self._renewed(self._put(self._body(), if_match=self._etag)["ETag"])
            except PreconditionFailed:
                self.lost = True
                logger.error("Lost %s to another run: this run's lease ran out before it was renewed", self.where)
                return
            except Exception as error:  # noqa: BLE001 - tried again at the next tick, well within the lease
                logger.warning("Cannot renew %s (%s); trying again in %.0f s", self.where, error, RENEW)

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        if self.held:  # else it may be another run's lock by now: leave it to expire
            self._delete()
