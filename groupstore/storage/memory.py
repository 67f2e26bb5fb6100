"""The in-memory backend (``mongomock://``), made to keep MongoDB's write guarantees.

mongomock applies an update by reading the document, changing a copy and
writing it back, under separate lock acquisitions, and checks unique indexes
before it inserts: two threads updating one document lose one of the
updates, and two racing inserts of one name can both win. MongoDB makes every
single-document write atomic. The gateway serves requests on a thread pool
over one store, so here every write of a client runs under that client's
lock: one write at a time, each one atomic, as on MongoDB. Reads need no
lock (a write replaces a document whole, so a reader sees it before or after).

Its collections keep indexes (``memory_index.py``): hash and ordered indexes
for the declared ones, so that a query or a unique check does not walk the
whole collection (100,000 groups hold; docs/performance.md). They also refuse
documents over 16 MiB, as MongoDB does, so that a value the in-memory store
accepts is one a real server accepts too.
"""

from __future__ import annotations

import threading
from typing import Any

import mongomock
import mongomock.collection
import mongomock.database

from groupstore.storage.memory_index import IndexedCollection, IndexedServerStore


class AtomicCollection(IndexedCollection):
    """A mongomock collection whose writes run one at a time under the client's lock.

    Queries and unique checks go through the collection store's indexes
    (``IndexedCollection``), which keeps its own lock for readers.
    """

    def _write_lock(self) -> threading.RLock:
        lock: threading.RLock = self.database.client.write_lock
        return lock

    def _insert(self, data: Any, *args: Any, **kwargs: Any) -> Any:
        with self._write_lock():
            return super()._insert(data, *args, **kwargs)

    def _update(self, spec: Any, document: Any, *args: Any, **kwargs: Any) -> Any:
        with self._write_lock():
            return super()._update(spec, document, *args, **kwargs)

    def _find_and_modify(self, *args: Any, **kwargs: Any) -> Any:
        with self._write_lock():
            return super()._find_and_modify(*args, **kwargs)

    def _delete(self, *args: Any, **kwargs: Any) -> Any:
        with self._write_lock():
            return super()._delete(*args, **kwargs)

    def bulk_write(self, *args: Any, **kwargs: Any) -> Any:
        with self._write_lock():
            return super().bulk_write(*args, **kwargs)

    def with_options(self, *args: Any, **kwargs: Any) -> Any:
        collection = super().with_options(*args, **kwargs)
        collection.__class__ = AtomicCollection
        return collection


class AtomicDatabase(mongomock.database.Database):
    """A mongomock database that hands out ``AtomicCollection`` objects."""

    def get_collection(self, name: str, *args: Any, **kwargs: Any) -> Any:
        collection = super().get_collection(name, *args, **kwargs)
        if type(collection) is mongomock.collection.Collection:
            collection.__class__ = AtomicCollection
        return collection


class _ClientOptions:
    """The one attribute of ``pymongo.MongoClient.options`` that GridFS reads."""

    timeout: float | None = None


class MongomockClient(mongomock.MongoClient):  # type: ignore[type-arg]
    """mongomock's client with atomic writes and the ``options`` that pymongo's GridFS reads.

    ``gridfs.GridFSBucket.__init__`` reads ``db.client.options.timeout``.
    mongomock has no ``options``, so its ``__getattr__`` hands back a
    *collection* named ``timeout``, and every CSOT-wrapped bucket method then
    fails with ``TypeError`` (and poisons a context variable so that later
    calls pass: order-dependent tests). A real ``options`` with
    ``timeout=None`` fixes both.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("_store", IndexedServerStore())
        super().__init__(*args, **kwargs)
        self.write_lock = threading.RLock()

    @property
    def options(self) -> _ClientOptions:  # type: ignore[override]
        return _ClientOptions()

    def get_database(self, *args: Any, **kwargs: Any) -> Any:
        database = super().get_database(*args, **kwargs)
        if type(database) is mongomock.database.Database:  # type: ignore[comparison-overlap]
            database.__class__ = AtomicDatabase
        return database
