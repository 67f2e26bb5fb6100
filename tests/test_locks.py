"""Group leases (storage/locks.py): a release the server never confirmed is retried.

Runs on the in-memory backend with the lease switched on (it is on by itself
only on FerretDB), with the server's failure simulated on ``delete_one``.
"""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.errors import ServerSelectionTimeoutError

from groupstore.errors import StoreUnavailableError
from groupstore.storage.locks import GroupLocks


class FlakyDeletes:
    """The lease collection, whose next ``failures`` deletes find the server gone."""

    def __init__(self, collection, failures: int) -> None:
        self.collection = collection
        self.failures = failures

    def __getattr__(self, name):
        return getattr(self.collection, name)

    def delete_one(self, *args, **kwargs):
        if self.failures:
            self.failures -= 1
            raise ServerSelectionTimeoutError("server went away")
        return self.collection.delete_one(*args, **kwargs)


def flaky(collection: Any, failures: int) -> Any:
    """A stand-in for the pymongo collection GroupLocks takes (duck-typed)."""
    return FlakyDeletes(collection, failures)


@pytest.fixture
def leases(store):
    return store.db.group_locks


def test_a_write_whose_lease_release_fails_still_succeeds(leases):
    locks = GroupLocks(flaky(leases, failures=1), enabled=True, wait=0.2)
    with locks.hold("g"):
        pass  # the write: acknowledged before the server went away
    assert leases.count_documents({"_id": "g"}) == 1  # the lease stayed behind


def test_the_next_write_releases_it_first_instead_of_waiting_for_expiry(leases):
    locks = GroupLocks(flaky(leases, failures=1), enabled=True, wait=0.2)
    with locks.hold("g"):
        pass
    with locks.hold("g"):  # without the retry: "busy" after 0.2 s (the lease lasts 30 s)
        assert leases.count_documents({"_id": "g"}) == 1
    assert leases.count_documents({}) == 0


def test_while_the_server_stays_away_the_lease_is_kept_for_a_later_try(leases):
    locks = GroupLocks(flaky(leases, failures=2), enabled=True, wait=0.2)
    with locks.hold("g"):
        pass
    # The retry fails too, so g stays held:
    with pytest.raises(StoreUnavailableError, match="busy"), locks.hold("g"):
        pass
    with locks.hold("g"):  # the server is back: released, then taken
        pass
    assert leases.count_documents({}) == 0


def test_a_write_of_unknown_outcome_keeps_its_lease_until_it_expires(leases):
    """The server may still apply it: the next writer must not read the group before."""
    locks = GroupLocks(leases, enabled=True, wait=0.2)
    with pytest.raises(StoreUnavailableError), locks.hold("g"):
        raise StoreUnavailableError("the server stopped answering mid-write")
    assert leases.count_documents({"_id": "g"}) == 1
    with pytest.raises(StoreUnavailableError, match="busy"), locks.hold("g"):
        pass


def test_a_write_refused_for_good_releases_its_lease(leases):
    locks = GroupLocks(leases, enabled=True, wait=0.2)
    with pytest.raises(ValueError), locks.hold("g"):
        raise ValueError("refused")
    assert leases.count_documents({}) == 0


class SlowFirstInsert:
    """The lease collection, whose first insert is acknowledged ``late`` seconds after it was sent.

    Time is the lease's own clock (``GroupLocks.clock``), advanced by the insert: no sleeping.
    """

    def __init__(self, collection, locks_clock: list[float], late: float) -> None:
        self.collection = collection
        self.now = locks_clock
        self.late = late
        self.inserted: list[str] = []

    def __getattr__(self, name):
        return getattr(self.collection, name)

    def insert_one(self, document, *args, **kwargs):
        result = self.collection.insert_one(document, *args, **kwargs)
        self.inserted.append(document["token"])
        if len(self.inserted) == 1:
            self.now[0] += self.late
        return result


def test_a_lease_acknowledged_too_late_is_given_back_before_the_write(leases):
    # Issue 18: a write that starts late in its lease may still run on the server
    # when the lease expires and another writer takes it over: FerretDB then loses
    # one of the two (an acknowledged add_member lost in the SIGKILL load test).
    now = [0.0]
    slow = SlowFirstInsert(leases, now, late=11.0)  # over a third of the 30 s lease
    stand_in: Any = slow  # duck-typed, as flaky() above
    locks = GroupLocks(stand_in, enabled=True)
    locks.clock = lambda: now[0]
    leases_taken_before_the_write = []

    with locks.hold("g"):
        leases_taken_before_the_write.append(len(slow.inserted))
        assert leases.count_documents({"_id": "g"}) == 1

    assert leases_taken_before_the_write == [2]  # the late one given back, a fresh one taken
    assert leases.count_documents({}) == 0


def test_a_lease_acknowledged_in_time_is_used_at_once(leases):
    now = [0.0]
    slow = SlowFirstInsert(leases, now, late=9.0)
    stand_in: Any = slow  # duck-typed, as flaky() above
    locks = GroupLocks(stand_in, enabled=True)
    locks.clock = lambda: now[0]

    with locks.hold("g"):
        pass

    assert len(slow.inserted) == 1
