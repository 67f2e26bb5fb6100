"""Per-group mutual exclusion, for servers whose single-document updates are not atomic.

MongoDB applies each single-document update atomically, so groupstore's
group writes (rename, membership, ownership) are one ``update`` whose filter
carries the rule, and nothing else is needed. FerretDB 1.x does not: it reads
the document, applies the update and writes it back, so two concurrent
updates of one group lose one of them (measured: 16 threads x 25 ``$push``
keep 34-59 of 400 items). What FerretDB does guarantee is a unique index,
``_id`` included: of two inserts of one ``_id``, exactly one succeeds.

So on such a server every update of a group document runs while holding a
lease: a document ``{_id: <group id>}`` in ``group_locks``, inserted to take
the lease and deleted to give it back. Only one writer's insert can succeed.
A writer that died holding a lease (a crash, a killed process) leaves it
behind; after ``lease`` it is stale and the next writer takes it over. Two
writers could both see the same stale lease; to make the takeover itself
exclusive, each first inserts a *fence* ``{_id: <group id>:<stale token>}``:
only the one whose fence insert succeeds deletes the stale lease, the other
backs off and tries again. Deletes go by ``_id`` and token, so a writer never
removes a lease it does not hold. Fences are tiny and expire with their
lease; ``repair`` removes old ones.

When the guarded write itself failed for want of the server (the client
stopped waiting; ``StoreUnavailableError``), its outcome is unknown: the
server may still be running it, and will after a freeze. The lease is then
kept until it expires, never released: a release could overtake the write
on the server, let the next writer read the group before that write lands,
and so lose one of the two (the fault load test caught this: an acknowledged
``add_member`` lost after a 5 s SIGSTOP). The group refuses writes ("busy")
until then, up to the lease's 30 s; other groups are not affected.

The lease protects a write only if the write is over before the lease
expires: a takeover after expiry would otherwise run next to it, and
FerretDB's read-modify-write would lose one of the two. A write on FerretDB
/SQLite can wait up to 10 s for the database lock (measured: a findAndModify
answered "database is locked" after 10.2 s, ignoring ``maxTimeMS``), and a
slow server makes taking the lease slow too. So a lease acknowledged more
than a third of its duration after it was asked for is given back and taken
again: the guarded write starts with at least 20 of its 30 s ahead.

A release the server never confirmed after a write it *did* acknowledge is
not the caller's failure: the write is done. The lease is remembered and
deleted at the start of this process's next group write, so the group is
free again as soon as the server answers, not only once the lease expires.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

from groupstore.errors import StoreUnavailableError
from groupstore.storage.documents import as_utc, utc_now
from groupstore.storage.errors import translated

log = logging.getLogger(__name__)

DEFAULT_LEASE = timedelta(seconds=30)
DEFAULT_WAIT = 15.0  # seconds a writer waits for a busy group before giving up


class GroupLocks:
    """``hold(group_id)``: a lease on one group, or nothing at all where updates are atomic."""

    def __init__(
        self,
        collection: Collection[Any],
        enabled: bool,
        lease: timedelta = DEFAULT_LEASE,
        wait: float = DEFAULT_WAIT,
    ) -> None:
        self.collection = collection
        self.enabled = enabled
        self.lease = lease
        self.wait = wait
        # A lease acknowledged later than this after it was asked for is given
        # back: the guarded write must start with most of the lease still ahead
        # (FerretDB/SQLite lets a write wait 10 s for the database lock).
        self.max_acquire = lease.total_seconds() / 3
        self.clock = time.monotonic

        # Leases whose release the server never confirmed: group id -> token.
        self._unreleased: dict[str, str] = {}
        self._unreleased_guard = threading.Lock()

    @contextmanager
    def hold(self, group_id: str) -> Iterator[None]:
        """Run the block as the group's only writer (where the server needs that)."""
        if not self.enabled:
            yield
            return
        token = self._acquire(group_id)
        try:
            yield
        except StoreUnavailableError:
            # The write's outcome is unknown and it may still run: keep the lease
            # (it expires) rather than let the next writer interleave with it.
            log.info("group %s stays leased until its lease expires: a write's outcome "
                     "is unknown", group_id)  # fmt: skip
            raise
        except BaseException:
            self._release(group_id, token)  # the write failed for good: nothing in flight
            raise
        self._release(group_id, token)

    def _delete(self, group_id: str, token: str) -> None:
        """Delete the lease ``token`` of the group, never another writer's."""
        with translated():
            self.collection.delete_one({"_id": group_id, "token": token})

    def _release(self, group_id: str, token: str) -> None:
        try:
            self._delete(group_id, token)
        except StoreUnavailableError:
            log.info("lease of group %s not released (server unreachable); retried later", group_id)
            with self._unreleased_guard:
                self._unreleased[group_id] = token

    def _release_unreleased(self) -> None:
        """Delete the leases whose release failed (stops at the first failure)."""
        with self._unreleased_guard:
            pending = list(self._unreleased.items())
        for group_id, token in pending:
            try:
                self._delete(group_id, token)
            except StoreUnavailableError:
                return  # still unreachable: the next write tries again
            with self._unreleased_guard:
                if self._unreleased.get(group_id) == token:
                    del self._unreleased[group_id]

    def _acquire(self, group_id: str) -> str:
        if self._unreleased:  # (no round trip unless a release failed)
            self._release_unreleased()
        token = uuid.uuid4().hex
        deadline = self.clock() + self.wait
        pause = 0.002
        while True:
            requested = self.clock()
            if self._try_insert(
                {"_id": group_id, "token": token, "expires_at": utc_now() + self.lease}
            ):
                if self.clock() - requested <= self.max_acquire:
                    return token
                # The lease took so long to take that the write might outlive it
                # (a slow server makes the write slow too): give it back, take anew.
                log.info("lease of group %s came too late; taken again", group_id)
                self._delete(group_id, token)
            else:
                self._take_over_if_stale(group_id)
            if self.clock() >= deadline:
                raise StoreUnavailableError(
                    f"group '{group_id}' is busy (another write holds it); try again"
                )
            time.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 0.05)

    def _take_over_if_stale(self, group_id: str) -> None:
        with translated():
            held = self.collection.find_one({"_id": group_id})
        if held is None or as_utc(held["expires_at"]) > utc_now():
            return
        fence = {"_id": f"{group_id}:{held['token']}", "expires_at": utc_now() + self.lease}
        if self._try_insert(fence):  # only one writer wins the fence of this stale lease
            self._delete(group_id, held["token"])

    def _try_insert(self, document: dict[str, Any]) -> bool:
        """Insert the document; False if its ``_id`` exists already."""
        with translated():
            try:
                self.collection.insert_one(document)
            except DuplicateKeyError:
                return False
        return True
