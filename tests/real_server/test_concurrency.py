"""Races and sharing that only a real server can show: threads, processes, connections."""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import groupstore
from groupstore import ConstraintViolationError
from tests.backend import MONGO_URI, PASSWORD
from tests.support import cheap_hashing

pytestmark = pytest.mark.real_server


def _race(calls: int, action) -> list[object]:
    """Run ``action(i)`` from ``calls`` threads released at the same moment."""
    barrier = threading.Barrier(calls)

    def run(i: int) -> object:
        barrier.wait()
        try:
            return action(i)
        except groupstore.GroupStoreError as exc:
            return exc

    with ThreadPoolExecutor(calls) as pool:
        return list(pool.map(run, range(calls)))


@pytest.fixture
def owner(store):
    return store.users.register_user("owner", PASSWORD)


def test_a_group_written_through_one_connection_reads_back_through_another(store, workflow, owner):
    group = store.groups.create_group(
        workflow.workflow_id, "G", [], {"a": 1}, user_id=owner.user_id
    )
    file = store.groups.upload_file(group.group_id, b"shared bytes", "a.txt")
    with groupstore.connect(MONGO_URI, database=store.db.name) as other:
        assert other.groups.get_group(group.group_id) == store.groups.get_group(group.group_id)
        with other.groups.get_uploaded_file(group.group_id, file.file_id).open() as stream:
            assert stream.read() == b"shared bytes"


def _read_in_child(uri: str, database: str, group_id: str, file_id: str, queue) -> None:
    with groupstore.connect(uri, database=database) as store:
        group = store.groups.get_group(group_id)
        with store.groups.get_uploaded_file(group_id, file_id).open() as stream:
            queue.put((group.name, group.workflow_spec, stream.read()))


def test_a_group_written_in_one_process_reads_back_in_another(store, workflow, owner):
    spec = {"a.b": [[1]], "$k": "ü"}
    group = store.groups.create_group(workflow.workflow_id, "G", [], spec, user_id=owner.user_id)
    file = store.groups.upload_file(group.group_id, b"x" * 700_000, "a.bin")
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(
        target=_read_in_child, args=(MONGO_URI, store.db.name, group.group_id, file.file_id, queue)
    )
    child.start()
    try:
        assert queue.get(timeout=60) == ("G", spec, b"x" * 700_000)
    finally:
        child.join(timeout=30)
    assert child.exitcode == 0


def test_sixteen_threads_creating_one_name_give_exactly_one_group(store, workflow, owner):
    results = _race(
        16,
        lambda i: store.groups.create_group(
            workflow.workflow_id, "same", [], {}, user_id=owner.user_id
        ),
    )
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(results) - len(errors) == 1
    assert all(isinstance(e, ConstraintViolationError) for e in errors), errors
    assert store.db.groups.count_documents({"name": "same"}) == 1


def _create_in_child(uri, database, workflow_id, owner_id, barrier, queue) -> None:
    with groupstore.connect(uri, database=database) as store:
        barrier.wait()
        try:
            store.groups.create_group(workflow_id, "same", [], {}, user_id=owner_id)
            queue.put("created")
        except ConstraintViolationError:
            queue.put("conflict")


def test_two_processes_creating_one_name_give_exactly_one_group(store, workflow, owner):
    context = multiprocessing.get_context("spawn")
    barrier, queue = context.Barrier(2), context.Queue()
    args = (MONGO_URI, store.db.name, workflow.workflow_id, owner.user_id, barrier, queue)
    children = [context.Process(target=_create_in_child, args=args) for _ in range(2)]
    for child in children:
        child.start()
    outcomes = sorted(queue.get(timeout=60) for _ in children)
    for child in children:
        child.join(timeout=30)
    assert outcomes == ["conflict", "created"]
    assert store.db.groups.count_documents({"name": "same"}) == 1


def test_sixteen_threads_renaming_to_one_name_leave_exactly_one(store, workflow, owner):
    groups = [
        store.groups.create_group(workflow.workflow_id, f"g{i}", [], {}, user_id=owner.user_id)
        for i in range(16)
    ]
    results = _race(16, lambda i: store.groups.update_group(groups[i].group_id, name="target"))
    errors = [r for r in results if isinstance(r, Exception)]
    assert len(results) - len(errors) == 1
    assert all(isinstance(e, ConstraintViolationError) for e in errors), errors
    assert store.db.groups.count_documents({"name": "target"}) == 1


def test_concurrent_uploads_and_deletes_on_one_group_stay_consistent(store, workflow, owner):
    group = store.groups.create_group(workflow.workflow_id, "G", [], {}, user_id=owner.user_id)
    uploaded = [
        store.groups.upload_file(group.group_id, bytes([i]) * 300_000, f"pre{i}.bin")
        for i in range(8)
    ]

    def act(i: int) -> object:
        if i < 8:
            return store.groups.delete_file(group.group_id, uploaded[i].file_id)
        return store.groups.upload_file(group.group_id, bytes([i]) * 300_000, f"new{i}.bin")

    results = _race(16, act)
    assert not [r for r in results if isinstance(r, Exception)]
    listed = store.groups.list_uploaded_files(group.group_id)
    assert sorted(f.name for f in listed) == sorted(f"new{i}.bin" for i in range(8, 16))
    for file in listed:
        with store.groups.get_uploaded_file(group.group_id, file.file_id).open() as stream:
            assert stream.read() == bytes([int(file.name[3:-4])]) * 300_000
    gridfs_ids = set(store.db["fs.files"].distinct("_id"))
    assert gridfs_ids == {f.file_id for f in listed}
    assert set(store.db["fs.chunks"].distinct("files_id")) == gridfs_ids


def test_store_is_usable_from_many_threads(store, workflow, owner):
    """One GroupStore (one MongoClient) is shared by all threads, as the gateway does."""
    cheap_hashing(store)
    results = _race(
        16,
        lambda i: (
            store.groups.create_group(
                workflow.workflow_id, f"g{i}", [], {}, user_id=owner.user_id
            ).name
        ),
    )
    assert sorted(map(str, results)) == sorted(f"g{i}" for i in range(16))
