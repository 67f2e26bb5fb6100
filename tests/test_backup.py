"""Backup and restore: a whole store through one archive file, on the test backend.

Each round trip goes through the leg's backend and the in-memory store;
tests/real_server/test_backup_chain.py goes through all three backends once.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

import groupstore
from groupstore import GroupStore
from groupstore.backup import Manifest, backup, restore, verify_archive
from groupstore.errors import ArchiveError, StoreNotEmptyError, TruncatedArchiveError
from tests.cli_helpers import Cli
from tests.support import cheap_hashing

SPEC = {"a.b": [[1, 2], [3]], "$ref": "x", "ünï": {"c.d": None}}
BIG = bytes(range(256)) * 2000  # 512,000 bytes: a full chunk and a short one


def populate(store: GroupStore) -> dict[str, str]:
    """Every kind of document a store holds: users, a key, a token, groups, files."""
    alice = store.users.register_user("alice", "alice-password")
    bob = store.users.register_user("bob", "bob-password")
    store.users.register_user("carol", "carol-password", verify=True)  # an activation token
    store.users.login_user("alice", "alice-password")  # an API key
    workflow = store.workflows.create_workflow("benchmark", workflow_spec=SPEC)
    group = store.groups.create_group(
        workflow.workflow_id, "team-a", user_id=alice.user_id, members=[bob.user_id]
    )
    big = store.groups.upload_file(group.group_id, BIG, "big.bin")
    store.groups.upload_file(group.group_id, b"", "empty.txt")
    store.groups.upload_file(group.group_id, "héllo".encode(), "hello.txt")
    return {"group": group.group_id, "big": big.file_id, "alice": alice.user_id}


def memory_store() -> GroupStore:
    return cheap_hashing(groupstore.connect("mongomock://"))


def take_backup(store: GroupStore, path: Path) -> Manifest:
    with path.open("wb") as stream:
        return backup(store, stream)


@pytest.fixture
def source() -> GroupStore:
    store = memory_store()
    store.ids = populate(store)  # type: ignore[attr-defined]
    return store


@pytest.fixture
def archive(source: GroupStore, tmp_path: Path) -> Path:
    path = tmp_path / "store.gsb"
    take_backup(source, path)
    return path


def test_round_trip_through_the_backend_keeps_every_document_and_file(
    source, archive, store, tmp_path
):
    first = verify_archive(archive)
    restore(store, archive)
    second = take_backup(store, tmp_path / "second.gsb")
    back = memory_store()
    restore(back, tmp_path / "second.gsb")
    third = take_backup(back, tmp_path / "third.gsb")
    assert first.content == second.content == third.content
    assert first.fields["files"]["count"] == 3 and first.fields["files"]["bytes"] == len(BIG) + 6
    for restored in (store, back):
        ids = source.ids
        assert restored.users.login_user("alice", "alice-password")  # the password hash came along
        group = restored.groups.get_group(ids["group"])
        assert [m.username for m in group.members] == ["alice", "bob"]
        assert restored.workflows.get_workflow(group.workflow_id).workflow_spec == SPEC
        assert restored.groups.get_uploaded_file(ids["group"], ids["big"]).open().read() == BIG
        assert [f.name for f in restored.groups.list_uploaded_files(ids["group"])] == [
            "big.bin",
            "empty.txt",
            "hello.txt",
        ]


def test_manifest_counts_every_collection_with_a_sha256(source, archive):
    manifest = verify_archive(archive)
    collections = manifest.fields["collections"]
    assert {name: entry["count"] for name, entry in collections.items()} == {
        "account_tokens": 1,
        "api_keys": 1,
        "fs.chunks": 3,
        "fs.files": 3,
        "groups": 1,
        "groupstore_meta": 2,
        "users": 3,
        "workflows": 1,
    }
    assert all(len(entry["sha256"]) == 64 for entry in collections.values())
    assert "per document" in manifest.fields["consistency"]


def test_backup_holds_collections_it_does_not_know_but_not_write_leases(source, store, tmp_path):
    source.db["settings"].insert_one({"_id": "signing", "value": "s3cret"})
    source.db["group_locks"].insert_one({"_id": "some-group", "token": "t"})
    path = tmp_path / "store.gsb"
    manifest = take_backup(source, path)
    assert "settings" in manifest.fields["collections"]
    assert "group_locks" not in manifest.fields["collections"]
    restore(store, path)
    assert store.db["settings"].find_one({"_id": "signing"})["value"] == "s3cret"


def test_restore_refuses_a_store_that_holds_data(archive, store):
    store.users.register_user("dave", "dave-password")
    with pytest.raises(StoreNotEmptyError) as caught:
        restore(store, archive)
    assert caught.value.code == "STORE_NOT_EMPTY" and "users" in str(caught.value)
    assert [u.username for u in store.users.list_users()] == ["dave"]


def test_merge_inserts_missing_skips_identical_and_reports_conflicts(source, archive, store):
    restore(store, archive)
    ids = source.ids
    store.groups.update_group(ids["group"], name="renamed")  # now differs from the archive
    store.db["users"].delete_one({"username": "bob"})  # missing from the store
    store.users.register_user("dave", "dave-password")  # only in the store
    report = restore(store, archive, merge=True)
    assert report.inserted["users"] == 1  # bob came back
    assert report.conflicts == {"groups": [ids["group"]]} and report.conflict_count == 1
    assert report.identical["fs.chunks"] == 3 and report.identical["users"] == 2
    assert store.groups.get_group(ids["group"]).name == "renamed"  # conflicts keep the store's
    assert {u.username for u in store.users.list_users()} == {"alice", "bob", "dave"}
    assert store.db["users"].count_documents({}) == 4  # and carol, not yet active


def _assert_refused(path: Path, store: GroupStore, error: type[ArchiveError], code: str) -> None:
    with pytest.raises(error) as caught:
        restore(store, path)
    assert caught.value.code == code
    assert store.db["users"].find_one({}) is None and store.db["fs.chunks"].find_one({}) is None


@pytest.mark.parametrize("keep", [0.97, 0.5, 0.01])
def test_truncated_archive_is_refused_and_nothing_is_written(archive, store, keep):
    data = archive.read_bytes()
    archive.write_bytes(data[: int(len(data) * keep)])
    _assert_refused(archive, store, TruncatedArchiveError, "ARCHIVE_TRUNCATED")


@pytest.mark.parametrize("where", ["file bytes", "a user", "the manifest"])
def test_an_altered_byte_is_refused_and_nothing_is_written(archive, store, where):
    data = bytearray(archive.read_bytes())
    marker = {"file bytes": BIG[1000:1032], "a user": b"carol", "the manifest": b"skipped_files"}
    at = data.index(marker[where])
    data[at + 2] ^= 0x01
    archive.write_bytes(bytes(data))
    _assert_refused(archive, store, ArchiveError, "ARCHIVE_CORRUPT")


def test_not_an_archive_is_refused(tmp_path, store):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    _assert_refused(path, store, ArchiveError, "ARCHIVE_CORRUPT")


def test_a_failure_while_writing_removes_what_was_written(archive, store, monkeypatch):
    from groupstore.storage import backup as storage_backup

    calls = []
    real = storage_backup.insert_batch

    def failing(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 4:
            raise groupstore.StoreUnavailableError("the database is unavailable: test")
        return real(*args, **kwargs)

    monkeypatch.setattr(storage_backup, "insert_batch", failing)
    with pytest.raises(groupstore.StoreUnavailableError):
        restore(store, archive)
    assert len(calls) == 4
    for name in calls:
        assert store.db[name].find_one({}) is None, name


def test_files_without_all_their_bytes_are_left_out_and_counted(source, store, tmp_path):
    ids = source.ids
    # An upload in progress (chunks, no files document yet) and a damaged file.
    source.db["fs.chunks"].insert_one({"files_id": "uploading", "n": 0, "data": b"partial"})
    source.db["fs.chunks"].delete_one({"files_id": ids["big"], "n": 1})
    path = tmp_path / "store.gsb"
    manifest = take_backup(source, path)
    assert manifest.fields["skipped_files"] == 2
    assert manifest.fields["files"]["count"] == 2
    restore(store, path)
    assert store.db["fs.chunks"].find_one({"files_id": {"$in": ["uploading", ids["big"]]}}) is None
    assert [f.name for f in store.groups.list_uploaded_files(ids["group"])] == [
        "empty.txt",
        "hello.txt",
    ]


def test_chunks_stored_out_of_order_are_checked_in_order(source, store, tmp_path):
    ids = source.ids
    chunks = source.db["fs.chunks"]
    stored = list(chunks.find({"files_id": ids["big"]}))
    chunks.delete_many({"files_id": ids["big"]})
    chunks.insert_many(list(reversed(stored)))  # as a server that reuses freed space may
    path = tmp_path / "store.gsb"
    manifest = take_backup(source, path)
    assert manifest.fields["skipped_files"] == 0
    restore(store, path)
    assert store.groups.get_uploaded_file(ids["group"], ids["big"]).open().read() == BIG


def test_the_archive_is_one_stream_written_front_to_back(source):
    class WriteOnly(io.RawIOBase):
        def __init__(self) -> None:
            self.digest = hashlib.sha256()

        def writable(self) -> bool:
            return True

        def write(self, data) -> int:
            self.digest.update(data)
            return len(data)

    backup(source, io.BufferedWriter(WriteOnly()))  # no seek, no tell: a pipe would do


# -- the command line ---------------------------------------------------------------


def test_cli_backup_and_restore_print_the_manifest_as_json(source, store, tmp_path):
    path = tmp_path / "store.gsb"
    written = Cli(source).json("backup", str(path))
    assert written["path"] == str(path) and written["files"]["count"] == 3
    restored = Cli(store).json("restore", str(path))
    assert restored["manifest"]["collections"] == written["collections"]
    assert restored["inserted"]["users"] == 3 and restored["conflict_count"] == 0


def test_cli_backup_refuses_to_overwrite_without_force(source, tmp_path):
    path = tmp_path / "store.gsb"
    path.write_bytes(b"precious")
    result = Cli(source)("backup", str(path))
    assert result.exit_code == 2 and "--force" in result.stderr
    assert path.read_bytes() == b"precious"
    Cli(source).ok("backup", str(path), "--force")
    assert verify_archive(path).fields["files"]["count"] == 3


@pytest.mark.parametrize(
    ("damage", "code"),
    [("truncate", "ARCHIVE_TRUNCATED"), ("alter", "ARCHIVE_CORRUPT"), ("none", "STORE_NOT_EMPTY")],
)
def test_cli_restore_errors_are_one_line_with_a_code(archive, source, store, damage, code):
    data = bytearray(archive.read_bytes())
    if damage == "truncate":
        del data[len(data) // 2 :]
    elif damage == "alter":
        data[data.index(BIG[:32]) + 5] ^= 0xFF
    archive.write_bytes(bytes(data))
    result = Cli(source if damage == "none" else store)("restore", str(archive))
    assert result.exit_code == 1
    assert result.stderr.startswith("groupstore: error: ") and result.stderr.count("\n") == 1
    assert result.stderr.endswith(f" [{code}]\n")


def test_a_file_uploaded_during_the_backup_is_left_out_whole(source, store, tmp_path, monkeypatch):
    from groupstore.storage import backup as storage_backup

    ids = source.ids
    real = storage_backup.raw_documents

    def writes_meanwhile(storage, name):
        if name == "fs.files":  # after the chunks were read: this file's chunks were not seen
            source.groups.upload_file(ids["group"], b"late bytes", "late.txt")
        yield from real(storage, name)

    monkeypatch.setattr(storage_backup, "raw_documents", writes_meanwhile)
    path = tmp_path / "store.gsb"
    manifest = take_backup(source, path)
    assert manifest.fields["skipped_files"] == 1 and manifest.fields["files"]["count"] == 3
    restore(store, path)
    assert "late.txt" not in [f.name for f in store.groups.list_uploaded_files(ids["group"])]
