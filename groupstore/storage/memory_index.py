"""Indexes for the in-memory backend (``mongomock://``, see memory.py).

mongomock answers every query by testing every document of the collection,
and checks a unique index by running such a query after every write: a
``get_group`` among 30,000 groups took 33 ms, and filling them 7.5 minutes.
Here the collection store keeps, for every index declared on it (whatever
groupstore declares today or tomorrow):

* a hash index per indexed field path: value -> the documents holding it,
  multikey (a path through arrays, ``members.user_id`` or ``files.file_id``,
  indexes every value it reaches), plus the store's own dict for ``_id``;
* an ordered index per declared index whose last key is ascending or
  descending: for each combination of values of the keys before it, the
  documents sorted by the last key (``(workflow_id, seq)``: a workflow's
  groups in creation order).

A query is answered by mongomock's own matcher on the *candidates* an index
gives: equality (``{f: v}``, ``{f: {"$eq": v}}``, ``{f: {"$in": [...]}}``) on
an indexed path narrows them to the smallest bucket; ``find(...).sort(k).limit(n)``
with equality on the keys before ``k`` of an ordered index walks that index
from the bound of a ``$gt``/``$gte`` (``$lt``/``$lte`` descending) and stops after
``n`` matches. Everything else falls back to mongomock unchanged. The index
only ever narrows: every document returned has passed mongomock's matcher, in
mongomock's order, so results are mongomock's (``tests/test_memory_index.py``
compares them on random documents and queries). Unique checks become hash
lookups the same way.

Only simple values take the fast path (``str``, ``int``, ``float``,
``ObjectId``); ``None``, booleans, dates, documents and arrays as query values,
and mixed-type sort keys, fall back.

Documents over 16 MiB are refused as MongoDB refuses them: ``DocumentTooLarge``.
"""

from __future__ import annotations

import bisect
import copy
import datetime
import itertools
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import bson
import mongomock
import mongomock.collection
import mongomock.database
import mongomock.store
from bson import ObjectId
from mongomock import filtering, helpers
from pymongo.errors import DocumentTooLarge, DuplicateKeyError

# mongomock is untyped (and mypy takes some of its names for pymongo's): Any.
_CollectionStore: Any = mongomock.store.CollectionStore
_DatabaseStore: Any = mongomock.store.DatabaseStore
_ServerStore: Any = mongomock.store.ServerStore
_Collection: Any = mongomock.collection.Collection
_Cursor: Any = mongomock.collection.Cursor
_Database: Any = mongomock.database.Database
_MongoClient: Any = mongomock.MongoClient
_helpers: Any = helpers
_matches: Any = filtering.filter_applies

MAX_BSON_SIZE = 16 * 1024 * 1024  # MongoDB's document size limit (maxBsonObjectSize)

_SIMPLE = (str, int, float, ObjectId)
_MISSING = object()


def _simple(value: Any) -> bool:
    """A value whose Python equality and hash agree with MongoDB's equality."""
    return isinstance(value, _SIMPLE) and not isinstance(value, bool)


def _sort_class(value: Any) -> str | None:
    """Values of one class sort alike in Python and MongoDB; None: not sortable here."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, ObjectId):
        return "objectid"
    return None


def path_values(document: Any, path: str) -> set[Any]:
    """The simple values a query on ``path`` could match in ``document`` (a superset).

    Follows MongoDB's (and mongomock's) path rules: through sub-documents, into
    every element of an array (and by position for numeric parts), and an
    array at the end of the path contributes its elements.
    """
    found: set[Any] = set()
    _collect(document, path.split("."), found)
    return found


def _collect(node: Any, parts: list[str], found: set[Any]) -> None:
    if not parts:
        if isinstance(node, (list, tuple)):
            for element in node:
                if isinstance(element, (list, tuple)):
                    _collect(element, [], found)
                elif _simple(element) or isinstance(element, bool):
                    found.add(element)
        elif _simple(node) or isinstance(node, bool):
            found.add(node)
        return
    head, rest = parts[0], parts[1:]
    if isinstance(node, dict):
        if head in node:
            _collect(node[head], rest, found)
    elif isinstance(node, (list, tuple)):
        if head.isdigit() and int(head) < len(node):
            _collect(node[int(head)], rest, found)
        for element in node:
            if isinstance(element, (dict, list, tuple)):
                _collect(element, parts, found)


def _equality_values(condition: Any) -> list[Any] | None:
    """The values an equality-like condition matches, if it is one on simple values."""
    if _simple(condition):
        return [condition]
    if isinstance(condition, dict) and len(condition) == 1:
        (operator, operand), *_ = condition.items()
        if operator == "$eq" and _simple(operand):
            return [operand]
        if (
            operator == "$in"
            and isinstance(operand, (list, tuple))
            and all(_simple(v) for v in operand)
        ):
            return list(operand)
    return None


class _OrderedIndex:
    """For one declared index: per prefix values, the documents sorted by the last key."""

    def __init__(self, fields: list[str], direction: int) -> None:
        self.prefix = fields[:-1]
        self.last = fields[-1]
        self.direction = direction
        # (prefix values, sort class) -> sorted [(value, ord, key)]; and per prefix
        # how many documents of each sort class there are (class None: a value
        # this index cannot order; a prefix with one, or with two classes, is
        # not used: mongomock sorts those).
        self.buckets: dict[tuple[Any, ...], list[tuple[Any, int, Any]]] = {}
        self.classes: dict[tuple[Any, ...], Counter[str | None]] = {}

    def usable(self, prefix: tuple[Any, ...]) -> bool:
        classes = self.classes.get(prefix)
        return not classes or (len(classes) == 1 and None not in classes)

    def entries(self, document: Any) -> list[tuple[tuple[Any, ...], Any, str | None]]:
        """(prefix values, sort value, sort class) for each bucket the document belongs to."""
        value = _get_path(document, self.last)
        sort_class = None if value is _MISSING else _sort_class(value)
        choices = [sorted(path_values(document, f), key=repr) for f in self.prefix]
        if any(not values for values in choices):
            # A document without a prefix value matches no equality on it.
            return []
        return [(combo, value, sort_class) for combo in itertools.product(*choices)]


def _sort_value(value: Any) -> Any:
    """What the ordered index compares: ObjectIds by their bytes (same order, 10x faster)."""
    return value.binary if isinstance(value, ObjectId) else value


_PAGE = 64  # index entries copied at a time by an ascending scan


def _value(entry: tuple[Any, int, Any]) -> Any:
    return entry[0]


def _bounds(sort_class: Any, condition: Any) -> tuple[Any, bool, Any, bool]:
    """(lower, strict, upper, inclusive) from $gt/$gte/$lt/$lte on the sort field.

    _MISSING: no bound. Any one condition is a safe bound: the matcher still checks them all.
    """
    lower, strict, upper, inclusive = _MISSING, False, _MISSING, True
    if isinstance(condition, dict):
        for operator, given in condition.items():
            if _sort_class(given) != sort_class:
                continue
            value = _sort_value(given)
            if operator in ("$gt", "$gte") and (lower is _MISSING or value >= lower):
                lower, strict = value, operator == "$gt" or (value == lower and strict)
            elif operator in ("$lt", "$lte") and (upper is _MISSING or value <= upper):
                inclusive = operator == "$lte" and not (value == upper and not inclusive)
                upper = value
    return lower, strict, upper, inclusive


def _sort_key(entry: tuple[Any, int, Any]) -> tuple[Any, int]:
    return entry[0], entry[1]


def _get_path(document: Any, path: str) -> Any:
    node = document
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return _MISSING
    return node


class IndexedCollectionStore(_CollectionStore):  # type: ignore[misc]
    """mongomock's collection store, plus hash and ordered indexes kept on every write."""

    def __init__(self, name: str) -> None:
        self._lock = threading.RLock()
        self._ord: dict[Any, int] = {}
        self._next_ord = itertools.count()
        self._hash: dict[str, dict[Any, dict[Any, None]]] = {}
        self._ordered: dict[str, _OrderedIndex] = {}
        self._entries: dict[Any, list[tuple[str, Any, Any, Any]]] = {}
        self._indexes: dict[str, Any] = {}
        super().__init__(name)

    # -- the declared indexes -------------------------------------------------

    @property
    def indexes(self) -> dict[str, Any]:
        return self._indexes

    @indexes.setter
    def indexes(self, value: dict[str, Any]) -> None:
        self._indexes = value
        self.rebuild()

    def create_index(self, index_name: str, index_dict: dict[str, Any]) -> None:
        super().create_index(index_name, index_dict)
        self.rebuild()

    def drop_index(self, index_name: str) -> None:
        super().drop_index(index_name)
        self.rebuild()

    def drop(self) -> None:
        super().drop()
        self.rebuild()

    def rebuild(self) -> None:
        """Recompute every index from the documents (index changes, and after a failed update)."""
        with self._lock:
            fields: set[str] = set()
            self._ordered = {}
            for name, index in self._indexes.items():
                keys = list(index.get("key", []))
                if not keys or any(direction not in (1, -1) for _, direction in keys):
                    fields.update(k for k, d in keys if d in (1, -1, "hashed"))
                    continue
                paths = [k for k, _ in keys]
                fields.update(paths)
                if "partialFilterExpression" not in index and not index.get("sparse"):
                    self._ordered[name] = _OrderedIndex(paths, keys[-1][1])
            fields.discard("_id")  # the store's own dict
            self._hash = {path: {} for path in sorted(fields)}
            self._entries = {}
            documents = getattr(self, "_documents", {})
            self._ord = {key: self._ord.get(key, next(self._next_ord)) for key in documents}
            for key, document in documents.items():
                self._add(key, document)

    # -- keeping them on every write -------------------------------------------

    def __setitem__(self, key: Any, document: Any) -> None:
        with self._lock:
            super().__setitem__(key, document)
            if key not in self._ord:
                self._ord[key] = next(self._next_ord)
            self.reindex(key)

    def __delitem__(self, key: Any) -> None:
        with self._lock:
            super().__delitem__(key)
            self._remove(key)
            self._ord.pop(key, None)

    def reindex(self, key: Any) -> None:
        """Index the stored document again (after mongomock changed it in place)."""
        with self._lock:
            self._remove(key)
            document = self._documents.get(key)
            if document is not None:
                self._add(key, document)

    def _add(self, key: Any, document: Any) -> None:
        entries: list[tuple[str, Any, Any, Any]] = []
        for path, table in self._hash.items():
            for value in path_values(document, path):
                table.setdefault(value, {})[key] = None
                entries.append(("", path, value, None))
        order = self._ord[key]
        for name, index in self._ordered.items():
            for prefix, value, sort_class in index.entries(document):
                index.classes.setdefault(prefix, Counter())[sort_class] += 1
                item = None
                if sort_class is not None:
                    item = (_sort_value(value), order, key)
                    bucket = index.buckets.setdefault((prefix, sort_class), [])
                    bisect.insort(bucket, item, key=_sort_key)
                entries.append((name, prefix, item, sort_class))
        self._entries[key] = entries

    def _remove(self, key: Any) -> None:
        for name, where, what, sort_class in self._entries.pop(key, []):
            if not name:
                holders = self._hash[where].get(what)
                if holders is not None:
                    holders.pop(key, None)
                    if not holders:
                        del self._hash[where][what]
                continue
            index = self._ordered[name]
            classes = index.classes[where]
            classes[sort_class] -= 1
            if not classes[sort_class]:
                del classes[sort_class]
            if not classes:
                del index.classes[where]
            if what is None:
                continue
            bucket = (where, sort_class)
            items = index.buckets[bucket]
            at = bisect.bisect_left(items, what[:2], key=_sort_key)
            while items[at][1] != what[1]:  # equal values: find ours by its ord
                at += 1
            del items[at]
            if not items:
                del index.buckets[bucket]

    # -- answering queries --------------------------------------------------------

    def candidates(self, query: Mapping[str, Any]) -> list[Any] | None:
        """The stored documents that can match ``query``, in store order; None: all of them."""
        self._remove_expired_documents()
        best: tuple[int, list[Any]] | None = None
        with self._lock:
            for path, condition in query.items():
                if path.startswith("$"):
                    continue
                values = _equality_values(condition)
                if values is None:
                    continue
                if path == "_id":
                    buckets: list[Any] = [
                        [v] for v in dict.fromkeys(values) if v in self._documents
                    ]
                elif path in self._hash:
                    buckets = [self._hash[path].get(v, ()) for v in dict.fromkeys(values)]
                else:
                    continue
                size = sum(len(bucket) for bucket in buckets)
                if best is None or size < best[0]:
                    best = (size, buckets)
                if not size:
                    break
            if best is None:
                return None
            keys = list(dict.fromkeys(key for bucket in best[1] for key in bucket))
            if len(keys) > 1:
                keys.sort(key=self._ord.__getitem__)
            return [self._documents[key] for key in keys]

    def ordered_scan(
        self, query: Mapping[str, Any], field: str, direction: int
    ) -> Iterator[Any] | None:
        """Documents that can match ``query``, sorted by ``field`` as mongomock sorts them.

        None when no ordered index fits the query.
        """
        self._remove_expired_documents()
        with self._lock:
            for index in self._ordered.values():
                if index.last != field:
                    continue
                prefix: list[Any] = []
                for path in index.prefix:
                    condition = query.get(path, _MISSING)
                    if not _simple(condition):
                        break
                    prefix.append(condition)
                else:
                    key = tuple(prefix)
                    if not index.usable(key):
                        continue  # unorderable or mixed sort values: mongomock sorts them
                    (sort_class,) = index.classes.get(key) or [None]
                    bounds = _bounds(sort_class, query.get(field, _MISSING))
                    if direction > 0:
                        return self._ascend(index, (key, sort_class), *bounds)
                    items = list(index.buckets.get((key, sort_class), []))
                    return self._descend(items, *bounds)
        return None

    def _ascend(
        self,
        index: _OrderedIndex,
        bucket: Any,
        lower: Any,
        strict: bool,
        upper: Any,
        inclusive: bool,
    ) -> Iterator[Any]:
        """The bucket from ``lower`` up, read a page at a time (a page of 50 copies no more)."""
        last: tuple[Any, int] | None = None
        while True:
            with self._lock:
                items = index.buckets.get(bucket, [])
                if last is not None:
                    at = bisect.bisect_right(items, last, key=_sort_key)
                elif lower is _MISSING:
                    at = 0
                elif strict:
                    at = bisect.bisect_right(items, lower, key=_value)
                else:
                    at = bisect.bisect_left(items, lower, key=_value)
                page = items[at : at + _PAGE]
                documents = [(item, self._documents.get(item[2])) for item in page]
            for item, document in documents:
                if upper is not _MISSING and (
                    item[0] > upper or (item[0] == upper and not inclusive)
                ):
                    return
                last = (item[0], item[1])
                if document is not None:
                    yield document
            if len(page) < _PAGE:
                return

    def _descend(
        self,
        items: list[tuple[Any, int, Any]],
        lower: Any,
        strict: bool,
        upper: Any,
        inclusive: bool,
    ) -> Iterator[Any]:
        start, stop = 0, len(items)
        if lower is not _MISSING:
            find = bisect.bisect_right if strict else bisect.bisect_left
            start = find(items, lower, key=_value)
        if upper is not _MISSING:
            find = bisect.bisect_right if inclusive else bisect.bisect_left
            stop = find(items, upper, key=_value)
        # mongomock's sort is stable in both directions: ties stay in store order.
        ordered = (
            item
            for _, run in itertools.groupby(reversed(items[start:stop]), key=_value)
            for item in reversed(list(run))
        )
        for _, _, key in ordered:
            document = self._documents.get(key)
            if document is not None:
                yield document


_inserting = threading.local()  # set while _insert runs: it checked the sizes already


class _TooLarge(DuplicateKeyError):
    """Raised inside mongomock's write paths, which roll back on DuplicateKeyError."""


def _check_size(document: Mapping[str, Any]) -> None:
    size = len(bson.encode(document))
    if size > MAX_BSON_SIZE:
        raise DocumentTooLarge(
            f"BSON document too large ({size} bytes) - the connected server supports"
            f" BSON document sizes up to {MAX_BSON_SIZE} bytes."
        )


class IndexedCursor(_Cursor):  # type: ignore[misc]
    """A cursor that stops reading at ``skip + limit`` documents when an index gives the order."""

    _page: tuple[Any, list[Any]] | None = None

    def _compute_results(self, with_limit_and_skip: bool = False) -> list[Any]:
        if with_limit_and_skip and self._limit and self._results is None:
            stamp = (self._factory, self._skip, self._limit)
            if self._page is None or self._page[0] != stamp:
                wanted = self._skip + abs(self._limit)
                docs = list(
                    self.collection._get_dataset(
                        self._spec, self._sort, self._projection, dict, limit=wanted
                    )
                )
                if self.collection.codec_options.tz_aware:
                    docs = [_helpers.make_datetime_timezone_aware_in_document(d) for d in docs]
                self._page = (stamp, docs[self._skip : wanted])
            return self._page[1]
        results: list[Any] = super()._compute_results(with_limit_and_skip)
        return results

    def clone(self) -> IndexedCursor:
        cursor: IndexedCursor = super().clone()
        cursor.__class__ = IndexedCursor
        return cursor


class IndexedCollection(_Collection):  # type: ignore[misc]
    """A mongomock collection that asks its store's indexes for candidates first."""

    def _indexed_store(self) -> IndexedCollectionStore | None:
        store = self._store
        return store if isinstance(store, IndexedCollectionStore) else None

    def _iter_documents(self, filter: Any) -> Iterator[Any]:
        store = self._indexed_store()
        documents = None
        if store is not None and isinstance(filter, Mapping):
            documents = store.candidates(filter)
        if documents is None:
            everything: Iterator[Any] = super()._iter_documents(filter)
            return everything
        if not documents:
            _matches(filter, {})  # mongomock validates the filter anyway
        return (doc for doc in documents if _matches(filter, doc))

    def _get_dataset(
        self, spec: Any, sort: Any, fields: Any, as_class: Any, limit: int | None = None
    ) -> Iterator[Any]:
        store = self._indexed_store()
        ordered: Iterator[Any] | None = None
        if store is not None and isinstance(spec, Mapping):
            if sort:
                keys = list(sort.items()) if isinstance(sort, dict) else list(sort)
                if len(keys) == 1 and keys[0][1] in (1, -1) and not keys[0][0].startswith("$"):
                    ordered = store.ordered_scan(spec, keys[0][0], keys[0][1])
            elif limit:
                ordered = self._iter_documents(spec)
                spec = None  # already filtered
        if ordered is None:
            dataset = super()._get_dataset(spec, sort, fields, as_class)
            yield from dataset if limit is None else itertools.islice(dataset, limit)
            return
        matches: Iterable[Any] = (
            ordered if spec is None else (d for d in ordered if _matches(spec, d))
        )
        for document in itertools.islice(matches, limit):
            if fields is None and as_class is dict:
                yield _copy(document)
            else:
                yield self._copy_only_fields(document, fields, as_class)

    def find(self, *args: Any, **kwargs: Any) -> Any:
        cursor = super().find(*args, **kwargs)
        cursor.__class__ = IndexedCursor
        return cursor

    def _insert(self, data: Any, session: Any = None, ordered: bool = True) -> Any:
        documents = [data] if isinstance(data, Mapping) else list(data)
        before = getattr(_inserting, "active", False)
        # mongomock inserts a list by calling _insert once per document: measure
        # every document once, at the outer call, before any is stored (an
        # encode per check; a 255 KiB GridFS chunk was encoded 5 times).
        if not before:
            for document in documents:
                if isinstance(document, Mapping):
                    _check_size(document if "_id" in document else {"_id": ObjectId(), **document})
        _inserting.active = True
        try:
            return super()._insert(
                data if isinstance(data, Mapping) else documents, session, ordered
            )
        finally:
            _inserting.active = before

    def _ensure_uniques(self, new_data: Any) -> None:
        # Called by mongomock after every insert and every change in place, with
        # the document already stored: index it again, then check.
        if not getattr(_inserting, "active", False):  # (an insert indexed and measured it)
            store = self._indexed_store()
            if store is not None:
                store.reindex(_store_key(new_data.get("_id")))
            if len(bson.encode(new_data)) > MAX_BSON_SIZE:
                raise _TooLarge("document too large", 10334)  # mongomock rolls back
        super()._ensure_uniques(new_data)

    def _update(self, *args: Any, **kwargs: Any) -> Any:
        store = self._indexed_store()
        try:
            return super()._update(*args, **kwargs)
        except _TooLarge as exc:
            raise DocumentTooLarge(
                f"the updated document would exceed {MAX_BSON_SIZE} bytes"
            ) from exc
        except BaseException:
            # mongomock may have changed a document in place before failing.
            if store is not None:
                store.rebuild()
            raise

    def with_options(self, *args: Any, **kwargs: Any) -> Any:
        return _adopt(super().with_options(*args, **kwargs), IndexedCollection)


_IMMUTABLE = (str, int, float, bool, bytes, ObjectId, datetime.datetime, type(None))


def _copy(value: Any) -> Any:
    """A deep copy of a stored document (mongomock's copies leaves one by one, 5x slower)."""
    if type(value) is dict:
        return {key: _copy(item) for key, item in value.items()}
    if type(value) is list:
        return [_copy(item) for item in value]
    if isinstance(value, _IMMUTABLE):
        return value
    return copy.deepcopy(value)


def _store_key(document_id: Any) -> Any:
    return _helpers.hashdict(document_id) if isinstance(document_id, dict) else document_id


def _adopt(obj: Any, cls: type) -> Any:
    """Give our subclass to an object that mongomock's code made with its own class."""
    if type(obj) in cls.__bases__:
        obj.__class__ = cls
    return obj


class IndexedDatabase(_Database):  # type: ignore[misc]
    def get_collection(self, *args: Any, **kwargs: Any) -> Any:
        return _adopt(super().get_collection(*args, **kwargs), IndexedCollection)

    def with_options(self, *args: Any, **kwargs: Any) -> Any:
        return _adopt(super().with_options(*args, **kwargs), IndexedDatabase)


class IndexedDatabaseStore(_DatabaseStore):  # type: ignore[misc]
    def __getitem__(self, col_name: str) -> Any:
        try:
            return self._collections[col_name]
        except KeyError:
            col = self._collections[col_name] = IndexedCollectionStore(col_name)
            return col

    def rename(self, name: str, new_name: str) -> None:
        col = self._collections.pop(name, None) or IndexedCollectionStore(new_name)
        col.name = new_name
        self._collections[new_name] = col


class IndexedServerStore(_ServerStore):  # type: ignore[misc]
    def __getitem__(self, db_name: str) -> Any:
        try:
            return self._databases[db_name]
        except KeyError:
            db = self._databases[db_name] = IndexedDatabaseStore()
            return db


class IndexedMongoClient(_MongoClient):  # type: ignore[misc]
    """An in-memory server whose collections keep their indexes (see the module docstring)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("_store", IndexedServerStore())
        super().__init__(*args, **kwargs)

    def get_database(self, *args: Any, **kwargs: Any) -> Any:
        return _adopt(super().get_database(*args, **kwargs), IndexedDatabase)


__all__ = [
    "MAX_BSON_SIZE",
    "IndexedCollection",
    "IndexedCollectionStore",
    "IndexedMongoClient",
    "IndexedServerStore",
    "path_values",
]
