"""connect(): URI and database resolution, indexes, failing fast, the mongomock adapter."""

from __future__ import annotations

import time

import gridfs
import pytest

import groupstore
from groupstore import GroupStore, StoreUnavailableError
from groupstore.storage.memory import MongomockClient
from tests.backend import MONGO_URI


def test_connect_defaults_to_the_in_memory_store(monkeypatch):
    monkeypatch.delenv("GROUPSTORE_MONGO_URI", raising=False)
    monkeypatch.delenv("GROUPSTORE_DATABASE", raising=False)
    with groupstore.connect() as store:
        assert isinstance(store, GroupStore)
        assert isinstance(store.client, MongomockClient)
        assert store.db.name == "groupstore"


def test_connect_reads_uri_and_database_from_the_environment(monkeypatch):
    monkeypatch.setenv("GROUPSTORE_MONGO_URI", "mongomock://")
    monkeypatch.setenv("GROUPSTORE_DATABASE", "fromenv")
    with groupstore.connect() as store:
        assert store.db.name == "fromenv"


def test_database_in_the_uri_wins_over_the_environment(monkeypatch):
    monkeypatch.setenv("GROUPSTORE_DATABASE", "fromenv")
    with groupstore.connect("mongomock://localhost/inuri") as store:
        assert store.db.name == "inuri"


def test_explicit_database_wins(monkeypatch):
    monkeypatch.setenv("GROUPSTORE_DATABASE", "fromenv")
    with groupstore.connect("mongomock://localhost/inuri", database="explicit") as store:
        assert store.db.name == "explicit"


def test_connect_creates_the_unique_indexes_idempotently(store_factory):
    store = store_factory()
    again = groupstore.connect(*_same_place(store))
    try:
        names = {index["name"] for index in store.db.groups.list_indexes()}
        assert {"group_name_unique", "group_by_member_id"} <= names
        assert "username_unique" in {index["name"] for index in store.db.users.list_indexes()}
    finally:
        again.close()


def _same_place(store):
    return (MONGO_URI or "mongomock://", store.db.name)


def test_unreachable_server_fails_fast_with_a_clear_error():
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="unavailable"):
        groupstore.connect("mongodb://127.0.0.1:9/", timeout=0.5)
    assert time.monotonic() - started < 10


def test_invalid_uri_is_a_constraint_violation():
    with pytest.raises(groupstore.ConstraintViolationError, match="URI"):
        groupstore.connect("mongodb://host:notaport/")


def test_mongomock_client_exposes_options_without_timeout():
    assert MongomockClient().options.timeout is None


def test_gridfs_bucket_works_on_the_in_memory_store_in_a_fresh_context():
    """Without the adapter, GridFSBucket's first CSOT-wrapped call fails on mongomock."""
    import contextvars

    def use_bucket() -> bytes:
        with groupstore.connect("mongomock://") as store:
            bucket = gridfs.GridFSBucket(store.db)
            file_id = bucket.upload_from_stream("a", b"data")
            data = bucket.open_download_stream(file_id).read()
            bucket.delete(file_id)
            return data

    # A fresh context: the bug hides once pymongo's TIMEOUT context variable is poisoned.
    assert contextvars.Context().run(use_bucket) == b"data"


def test_leaving_the_with_block_closes_the_client(monkeypatch):
    closed = []
    with groupstore.connect("mongomock://") as store:
        monkeypatch.setattr(store.client, "close", lambda: closed.append(True))
        assert closed == []
    assert closed == [True]
