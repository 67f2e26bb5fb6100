"""repair(): what an interrupted call can leave behind is found and removed, nothing else."""

from __future__ import annotations

import dataclasses
import io
from datetime import timedelta

import pytest
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from groupstore import RepairReport, UnknownFileError, repair
from groupstore.storage.documents import utc_now

NOW = timedelta(0)


@pytest.fixture
def group(store, workflow, alice):
    return store.groups.create_group(workflow.workflow_id, "G", [], {}, user_id=alice.user_id)


def orphan_bytes(store, group_id="deleted-group", file_id="orphan", with_files_doc=True):
    """What an upload racing its group's deletion (or interrupted mid-stream) leaves."""
    store.fs.write(file_id, "x.bin", io.BytesIO(b"x" * 600_000), {"group_id": group_id}, utc_now())
    if not with_files_doc:
        store.db["fs.files"].delete_one({"_id": file_id})


def test_repair_of_a_clean_store_finds_nothing(store, group):
    store.groups.upload_file(group.group_id, b"keep", "k.txt")
    report = repair(store, grace=NOW)
    assert report.total == 0


def test_repair_removes_a_gridfs_file_of_a_group_that_is_gone(store, group):
    kept = store.groups.upload_file(group.group_id, b"keep", "k.txt")
    orphan_bytes(store)
    report = repair(store, grace=NOW)
    assert report.orphan_files == ["orphan"]
    assert store.db["fs.files"].distinct("_id") == [kept.file_id]
    assert store.db["fs.chunks"].distinct("files_id") == [kept.file_id]


def test_repair_removes_chunks_without_a_files_document(store, group):
    orphan_bytes(store, group.group_id, with_files_doc=False)
    report = repair(store, grace=NOW)
    assert report.orphan_chunk_files == ["orphan"]
    assert store.db["fs.chunks"].count_documents({}) == 0


def test_repair_removes_groups_of_a_deleted_workflow_with_their_files(store, workflow, group):
    store.groups.upload_file(group.group_id, b"x", "a.txt")
    store.db.workflows.delete_one({"_id": workflow.workflow_id})  # as if interrupted
    report = repair(store, grace=NOW)
    assert report.orphan_groups == [group.group_id]
    assert store.db.groups.count_documents({}) == 0
    assert store.db["fs.files"].count_documents({}) == 0


def test_repair_leaves_recent_orphans_alone(store, group):
    orphan_bytes(store, group.group_id)
    orphan_bytes(store, group.group_id, file_id="half", with_files_doc=False)
    report = repair(store)  # default grace: an hour
    assert report.total == 0
    assert store.db["fs.chunks"].count_documents({}) > 0


def test_repair_removes_a_listed_file_whose_bytes_are_gone(store, group):
    kept = store.groups.upload_file(group.group_id, b"keep", "k.txt")
    broken = store.groups.upload_file(group.group_id, b"x" * 600_000, "big.bin")
    store.db["fs.chunks"].delete_one({"files_id": broken.file_id, "n": 1})
    report = repair(store, grace=NOW)
    assert report.broken_files == [broken.file_id]
    assert [f.file_id for f in store.groups.list_uploaded_files(group.group_id)] == [kept.file_id]
    assert store.db["fs.chunks"].distinct("files_id") == [kept.file_id]


def test_repair_removes_a_stale_group_lease_only(store, group):
    store.db.group_locks.insert_many(
        [
            {"_id": "stale", "token": "t", "expires_at": utc_now() - timedelta(hours=2)},
            {"_id": "held", "token": "t", "expires_at": utc_now() + timedelta(seconds=30)},
        ]
    )
    report = repair(store, grace=timedelta(hours=1))
    assert report.stale_locks == ["stale"]
    assert store.db.group_locks.distinct("_id") == ["held"]


def test_dry_run_reports_but_removes_nothing(store, group):
    orphan_bytes(store)
    report = repair(store, grace=NOW, dry_run=True)
    assert report.orphan_files == ["orphan"] and not report.removed
    assert store.db["fs.files"].count_documents({"_id": "orphan"}) == 1


def test_repair_reports_progress(store, group):
    messages: list[str] = []
    repair(store, grace=NOW, progress=messages.append)
    assert any("GridFS files" in m for m in messages)


# The `groupstore repair` command is tested in tests/test_cli_admin.py.


def test_repair_leaves_a_long_upload_in_progress_alone(store, group):
    """Its first chunks are old, its newest is recent: it is still being written."""
    old = ObjectId.from_datetime(utc_now() - timedelta(hours=5))
    store.db["fs.chunks"].insert_one({"_id": old, "files_id": "long", "n": 0, "data": b"a"})
    store.db["fs.chunks"].insert_one({"files_id": "long", "n": 1, "data": b"b"})
    report = repair(store)
    assert report.orphan_chunk_files == []
    assert store.db["fs.chunks"].count_documents({"files_id": "long"}) == 2


def test_repair_removes_chunks_whose_newest_is_older_than_the_grace(store, group):
    for n in range(2):
        stamp = ObjectId.from_datetime(utc_now() - timedelta(hours=3 - n))
        store.db["fs.chunks"].insert_one({"_id": stamp, "files_id": "dead", "n": n, "data": b"x"})
    report = repair(store)
    assert report.orphan_chunk_files == ["dead"]
    assert store.db["fs.chunks"].count_documents({}) == 0


def test_repair_rewrites_member_ids_that_disagree_with_the_members(store, group, bob):
    """What a process of an earlier 0.2.0 build leaves: members changed, member_ids not."""
    store.db.groups.update_one(
        {"_id": group.group_id},
        {"$push": {"members": {"user_id": bob.user_id, "username": bob.username}}},
    )
    assert store.groups.list_groups(user_id=bob.user_id) == []

    dry = repair(store, grace=NOW, dry_run=True)
    assert dry.unsynced_members == [group.group_id]
    assert store.groups.list_groups(user_id=bob.user_id) == []

    report = repair(store, grace=NOW)
    assert report.unsynced_members == [group.group_id]
    assert [g.group_id for g in store.groups.list_groups(user_id=bob.user_id)] == [group.group_id]
    assert repair(store, grace=NOW).total == 0


def test_repair_lists_again_a_file_written_without_the_top_level_group_id(store, group):
    """What a process of an earlier 0.2.0 build leaves: a file its group's listing misses."""
    file = store.groups.upload_file(group.group_id, b"x", "a.txt")
    store.db["fs.files"].update_one({"_id": file.file_id}, {"$unset": {"group_id": ""}})
    assert store.groups.list_uploaded_files(group.group_id) == []

    assert repair(store, grace=NOW, dry_run=True).unsynced_files == [file.file_id]
    assert repair(store, grace=NOW).unsynced_files == [file.file_id]

    assert [f.file_id for f in store.groups.list_uploaded_files(group.group_id)] == [file.file_id]
    assert repair(store, grace=NOW).total == 0


# -- issue 18: what a user would meet is found at once; claims keep late inserts out --------


def test_repair_removes_a_listed_file_with_chunks_missing_whatever_its_age(store, group):
    # Never an upload in progress (a file is listed only once its chunks are in),
    # so the grace does not apply: it would keep a file that fails to download.
    broken = store.groups.upload_file(group.group_id, b"x" * 600_000, "big.bin")
    store.db["fs.chunks"].delete_one({"files_id": broken.file_id, "n": 2})
    report = repair(store)  # default grace: an hour
    assert report.broken_files == [broken.file_id]
    assert store.groups.list_uploaded_files(group.group_id) == []
    assert store.db["fs.chunks"].count_documents({}) == 0


def test_repair_removes_an_expired_lease_whatever_the_grace(store, group):
    store.db.group_locks.insert_one(
        {"_id": group.group_id, "token": "t", "expires_at": utc_now() - timedelta(seconds=1)}
    )
    report = repair(store)  # default grace: an hour
    assert report.stale_locks == [group.group_id]
    assert store.db.group_locks.count_documents({}) == 0


def test_repair_claims_orphan_chunks_so_that_a_late_files_insert_cannot_list_them(store, group):
    orphan_bytes(store, group.group_id, file_id="late", with_files_doc=False)
    report = repair(store, grace=NOW)
    assert report.orphan_chunk_files == ["late"]
    assert store.db["fs.chunks"].count_documents({}) == 0
    # The upload's files insert, frozen until now, lands: the claim refuses it.
    with pytest.raises(DuplicateKeyError):
        store.db["fs.files"].insert_one({"_id": "late", "group_id": group.group_id, "length": 1})
    assert store.groups.list_uploaded_files(group.group_id) == []


def test_repair_keeps_a_claim_a_day_then_removes_it(store, group):
    assert store.fs.claim(["young", "old"]) == ["young", "old"]
    store.db["fs.files"].update_one(
        {"_id": "old"}, {"$set": {"uploadDate": utc_now() - timedelta(days=2)}}
    )
    report = repair(store, grace=NOW)
    assert report.orphan_files == ["old"]
    assert store.db["fs.files"].distinct("_id") == ["young"]


def test_a_claim_is_not_listed_nor_served(store, group):
    store.fs.claim(["claimed"])
    assert store.groups.list_uploaded_files(group.group_id) == []
    with pytest.raises(UnknownFileError):
        store.groups.get_uploaded_file(group.group_id, "claimed")


def test_claiming_an_id_that_has_a_file_leaves_the_file(store, group):
    kept = store.groups.upload_file(group.group_id, b"keep", "k.txt")
    assert store.fs.claim([kept.file_id, "free"]) == ["free"]
    assert store.fs.claim(["free"]) == ["free"]  # claimed already: still claimed
    with store.groups.get_uploaded_file(group.group_id, kept.file_id).open() as stream:
        assert stream.read() == b"keep"


def test_the_repair_kinds_are_listed_once():
    """RepairReport, the storage's Orphans and the CLI's output follow REPAIR_KINDS."""
    from groupstore.repair import REPAIR_KINDS
    from groupstore.storage.repair import Orphans

    kinds = [kind for kind, _ in REPAIR_KINDS]
    report_lists = [f.name for f in dataclasses.fields(RepairReport) if f.name != "removed"]
    assert sorted(report_lists) == sorted(kinds)
    assert [f.name for f in dataclasses.fields(Orphans)] == kinds
    report = RepairReport([], ["f"], [], removed=False)
    assert report.total == 1 and list(report.found()) == kinds
    assert report.summary().startswith("0 orphan groups, 1 orphan files, ")
