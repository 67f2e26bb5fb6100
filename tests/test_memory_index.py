"""The in-memory backend's indexes (groupstore/storage/memory.py) change no result.

Random documents, writes and queries run on plain mongomock and on the indexed
client; every answer (documents and their order, counts, which writes fail)
must be the same. These tests use mongomock directly: they test the storage
module, whatever backend the suite runs on.
"""

from __future__ import annotations

from typing import Any

import mongomock
import pytest
from bson import ObjectId
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.errors import DocumentTooLarge, DuplicateKeyError, PyMongoError

import groupstore
from groupstore import ConstraintViolationError
from groupstore.storage.memory import AtomicCollection
from groupstore.storage.memory_index import (
    MAX_BSON_SIZE,
    IndexedCollection,
    IndexedCollectionStore,
    IndexedMongoClient,
    path_values,
)

OIDS = [ObjectId(f"{i:024x}") for i in range(3)]
scalars = st.sampled_from(["a", "b", "c", 1, 2, 1.0, 2.5, True, None, *OIDS])
values = st.one_of(scalars, st.lists(scalars, max_size=3))
subdocs = st.one_of(
    st.fixed_dictionaries({"x": values}),
    st.lists(st.fixed_dictionaries({"x": scalars, "y": scalars}), max_size=3),
    scalars,
)
sort_values = st.one_of(st.integers(0, 5), st.sampled_from(["p", "q"]), st.just(None), *[])
documents = st.fixed_dictionaries(
    {"a": values, "b": subdocs, "m": st.lists(scalars, max_size=3)},
    optional={"s": st.one_of(st.integers(0, 5), st.sampled_from(["p", "q", 2.5]), values)},
)
paths = st.sampled_from(["a", "b.x", "b.y", "m", "s", "_id", "b.0.x"])
conditions = st.one_of(
    scalars,
    st.builds(lambda v: {"$eq": v}, scalars),
    st.builds(lambda vs: {"$in": vs}, st.lists(scalars, max_size=3)),
    st.builds(lambda v: {"$gt": v}, scalars),
    st.builds(lambda v: {"$lte": v}, scalars),
    st.builds(lambda v: {"$ne": v}, scalars),
    st.builds(lambda a, b: {"$gte": a, "$lt": b}, scalars, scalars),
    st.builds(lambda a, b: {"$gt": a, "$gte": b, "$lte": a}, scalars, scalars),
)
queries = st.dictionaries(paths, conditions, max_size=3)
INDEXES = [
    IndexModel([("a", ASCENDING)]),
    IndexModel([("b.x", ASCENDING), ("s", ASCENDING)]),
    IndexModel([("m", ASCENDING), ("s", DESCENDING)]),
    IndexModel([("s", ASCENDING)]),
]


def _pair() -> tuple[Any, Any]:
    plain: Any = mongomock.MongoClient().db.c
    indexed = IndexedMongoClient().db.c
    for collection in (plain, indexed):
        collection.create_indexes(INDEXES)
    return plain, indexed


def _outcome(call: Any) -> Any:
    # AttributeError: mongomock's own answer to a $push onto a field that holds a
    # string (MongoDB: a WriteError); both collections must give it alike.
    try:
        return ("ok", call())
    except (PyMongoError, TypeError, ValueError, AttributeError) as exc:
        return ("error", type(exc).__name__)


def _answers(collection: Any, query: dict[str, Any], direction: int, limit: int) -> list[Any]:
    return [
        _outcome(lambda: list(collection.find(query))),
        _outcome(lambda: collection.count_documents(query)),
        _outcome(lambda: list(collection.find(query).sort("s", direction).limit(limit))),
        _outcome(lambda: list(collection.find(query).sort("s", direction).skip(1).limit(limit))),
        _outcome(lambda: list(collection.find(query, {"a": 1}).limit(limit))),
        _outcome(lambda: collection.find_one(query)),
    ]


writes = st.one_of(
    st.tuples(st.just("insert"), documents),
    st.tuples(st.just("set"), queries, st.sampled_from(["a", "b", "m", "s"]), values),
    st.tuples(st.just("push"), queries, scalars),
    st.tuples(st.just("delete"), queries),
    st.tuples(st.just("replace"), st.integers(0, 12), documents),
)


def _apply(collection: Any, write: tuple[Any, ...], next_id: int) -> Any:
    kind = write[0]
    if kind == "insert":
        return _outcome(lambda: collection.insert_one({"_id": next_id, **write[1]}).inserted_id)
    if kind == "set":
        _, query, field, value = write
        return _outcome(
            lambda: collection.update_many(query, {"$set": {field: value}}).modified_count
        )
    if kind == "push":
        _, query, value = write
        return _outcome(lambda: collection.update_one(query, {"$push": {"m": value}}).matched_count)
    if kind == "delete":
        return _outcome(lambda: collection.delete_many(write[1]).deleted_count)
    _, target, document = write
    return _outcome(lambda: collection.replace_one({"_id": target}, document).matched_count)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(writes, min_size=1, max_size=14),
    st.lists(st.tuples(queries, st.sampled_from([1, -1]), st.integers(1, 4)), max_size=6),
)
def test_indexed_collection_answers_exactly_as_mongomock(write_list, query_list):
    plain, indexed = _pair()
    for number, write in enumerate(write_list):
        assert _apply(indexed, write, number) == _apply(plain, write, number)
    assert list(indexed.find()) == list(plain.find())
    for query, direction, limit in query_list:
        assert _answers(indexed, query, direction, limit) == _answers(
            plain, query, direction, limit
        )


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.fixed_dictionaries({"w": st.sampled_from(["w1", "w2"]), "n": values}), max_size=12),
    st.lists(st.tuples(st.integers(0, 11), st.sampled_from(["n1", "n2", 1, None])), max_size=6),
)
def test_unique_checks_refuse_the_same_writes_as_mongomock(inserts, renames):
    plain: Any = mongomock.MongoClient().db.c
    indexed = IndexedMongoClient().db.c
    for collection in (plain, indexed):
        collection.create_index([("w", 1), ("n", 1)], unique=True)
    for number, document in enumerate(inserts):
        inserted = [
            _outcome(lambda c=c: c.insert_one({"_id": number, **document}).inserted_id)  # noqa: B023
            for c in (plain, indexed)
        ]
        assert inserted[0] == inserted[1]
    for target, name in renames:
        renamed = [_outcome(lambda c=c: _rename(c, target, name)) for c in (plain, indexed)]  # noqa: B023
        assert renamed[0] == renamed[1]
    assert list(indexed.find()) == list(plain.find())


def _rename(collection: Any, target: int, name: Any) -> tuple[int, int]:
    result = collection.update_one({"_id": target}, {"$set": {"n": name}})
    return result.matched_count, result.modified_count


def test_path_values_reach_into_arrays_of_documents():
    document = {"members": [{"user_id": "u1"}, {"user_id": "u2"}], "meta": {"group_id": "g"}}
    assert path_values(document, "members.user_id") == {"u1", "u2"}
    assert path_values(document, "meta.group_id") == {"g"}
    assert path_values(document, "members.0.user_id") == {"u1"}
    assert path_values(document, "nothing") == set()


def test_an_index_created_after_the_documents_answers_for_them():
    collection = IndexedMongoClient().db.c
    collection.insert_many([{"_id": i, "k": i % 3} for i in range(9)])
    collection.create_index("k")
    assert [d["_id"] for d in collection.find({"k": 1})] == [1, 4, 7]


def test_a_failed_update_leaves_the_indexes_right():
    collection = IndexedMongoClient().db.c
    collection.create_index("k", unique=True)
    collection.insert_many([{"_id": 1, "k": "a"}, {"_id": 2, "k": "b"}])
    with pytest.raises(DuplicateKeyError):
        collection.update_one({"_id": 2}, {"$set": {"k": "a"}})
    assert [d["_id"] for d in collection.find({"k": "b"})] == [2]
    assert [d["_id"] for d in collection.find({"k": "a"})] == [1]


def test_a_page_reads_only_as_far_as_its_limit():
    collection = IndexedMongoClient().db.c
    collection.create_index([("w", 1), ("seq", 1)])
    collection.insert_many([{"_id": i, "w": i % 2, "seq": i} for i in range(2000)])
    checked = []
    original = collection._store.ordered_scan

    def counting(*args):
        for doc in original(*args):
            checked.append(doc["_id"])
            yield doc

    collection._store.ordered_scan = counting
    page = list(collection.find({"w": 1, "seq": {"$gt": 1500}}).sort("seq", 1).limit(5))
    assert [d["_id"] for d in page] == [1501, 1503, 1505, 1507, 1509]
    assert len(checked) <= 5 + 1


# -- 16 MiB ----------------------------------------------------------------------


def _document_of_size(size: int) -> dict[str, Any]:
    # {"_id": 1 (int32), "p": "<n chars>"}: 4 + (1+4+4) + (1+2+4+n+1) + 1 = n + 22 bytes
    return {"_id": 1, "p": "x" * (size - 22)}


def test_a_document_of_exactly_16_mib_is_stored():
    collection = IndexedMongoClient().db.c
    collection.insert_one(_document_of_size(MAX_BSON_SIZE))
    assert collection.count_documents({}) == 1


def test_a_document_one_byte_over_16_mib_is_refused_and_nothing_is_stored():
    collection = IndexedMongoClient().db.c
    with pytest.raises(DocumentTooLarge):
        collection.insert_one(_document_of_size(MAX_BSON_SIZE + 1))
    with pytest.raises(DocumentTooLarge):
        collection.insert_many([{"_id": 0}, _document_of_size(MAX_BSON_SIZE + 1)])
    assert collection.count_documents({}) == 0


def test_an_update_growing_a_document_over_16_mib_is_refused_and_changes_nothing():
    collection = IndexedMongoClient().db.c
    collection.insert_one({"_id": 1, "p": "small"})
    with pytest.raises(DocumentTooLarge):
        collection.update_one({"_id": 1}, {"$set": {"p": "x" * MAX_BSON_SIZE}})
    assert collection.find_one({"_id": 1}) == {"_id": 1, "p": "small"}


def test_a_group_over_16_mib_is_a_constraint_violation(store, workflow, alice):
    # Over 16 MiB + 16 KiB, so that pymongo refuses it before sending it to a real
    # server (FerretDB accepts documents up to that size; MongoDB refuses them).
    spec = {"blob": "x" * (MAX_BSON_SIZE + 64 * 1024)}
    with pytest.raises(ConstraintViolationError, match="too large"):
        store.groups.create_group(workflow.workflow_id, "big", [], spec, user_id=alice.user_id)
    assert store.groups.list_groups() == []


def test_the_in_memory_store_keeps_indexes_and_atomic_writes():
    with groupstore.connect("mongomock://") as store:
        groups = store.db.groups
        assert isinstance(groups, IndexedCollection) and isinstance(groups, AtomicCollection)
        assert isinstance(groups._store, IndexedCollectionStore)
        assert "group_by_workflow" in groups._store.indexes
