"""A server too busy to take a write is unavailable (try again), not an internal error."""

from __future__ import annotations

import pytest
from pymongo.errors import OperationFailure

from groupstore import GroupStoreError, StoreUnavailableError
from groupstore.storage.errors import translated

# What FerretDB 1.24 (SQLite) answered to a delete under load, when the database file's
# write lock stayed taken for longer than its busy timeout (10 s).
FERRETDB_BUSY = (
    "[msg_delete.go:95 handler.(*Handler).MsgDelete] [msg_delete.go:169 "
    "handler.(*Handler).execDelete] [collection.go:241 sqlite.(*collection).DeleteAll] "
    "database is locked (5) (SQLITE_BUSY)"
)


def test_ferretdbs_database_is_locked_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailableError) as raised, translated():
        raise OperationFailure(FERRETDB_BUSY, code=1)
    assert raised.value.code == "STORE_UNAVAILABLE"


def test_other_server_errors_stay_plain_store_errors() -> None:
    with pytest.raises(GroupStoreError) as raised, translated():
        raise OperationFailure("something else went wrong", code=1)
    assert type(raised.value) is GroupStoreError
