"""An upload cut between any two of its calls never leaves a listed file without its bytes.

Issue 18: with FerretDB frozen, an upload's files insert timed out, its
cleanup deleted the chunks, then the frozen insert landed: a listed file with
no bytes. Here every call of an upload (and of its cleanup) is cut in turn,
in every way a server or a process can fail (``tests/faults.py``): a crash,
a lost answer, a call that never arrives, one that lands late, and a freeze
after which the pending calls land in either order. After each cut: every
listed file downloads whole, an acknowledged upload is listed, and ``repair``
(grace 0) leaves no chunk that no listed file owns, without touching a listed
file.
"""

from __future__ import annotations

import hashlib
import io
from datetime import timedelta
from functools import partial

import pytest

from groupstore import GroupStoreError, repair
from groupstore.storage.documents import utc_now
from groupstore.storage.files import NewFile
from tests.faults import MODES, Faults

CHUNK = 1024
DATA = bytes(range(256)) * 20  # 5 chunks of 1 KiB: 3 chunk batches of at most 2
LANDINGS = [(mode, False) for mode in MODES] + [("freeze", True)]
LANDING_IDS = [f"{mode}{'-reversed' * reverse}" for mode, reverse in LANDINGS]


@pytest.fixture
def group(store, workflow, alice):
    store.fs.chunk_size = CHUNK
    store.fs.chunks_per_batch = 2
    return store.groups.create_group(workflow.workflow_id, "G", [], {}, user_id=alice.user_id)


def upload_calls(store, group, alice) -> list[str]:
    """The calls of an upload that nothing disturbs."""
    faults = Faults()
    faults.install(store)
    try:
        store.groups.upload_file(group.group_id, DATA, "clean.bin", caller=alice.user_id)
    finally:
        faults.uninstall(store)
    return faults.calls


def upload_cut(store, group, alice, faults: Faults, name: str, reverse: bool):
    """An upload by ``alice`` under ``faults``: the file, or None if it failed or died."""
    upload = partial(store.groups.upload_file, group.group_id, DATA, name, caller=alice.user_id)
    return faults.run(store, upload, reverse=reverse)


def check_listing(store, group_id: str) -> set[str]:
    """Every listed file downloads whole; the ids listed."""
    listed = store.groups.list_uploaded_files(group_id)
    for file in listed:
        with store.groups.get_uploaded_file(group_id, file.file_id).open() as stream:
            body = stream.read()
        assert len(body) == file.size, file
        assert hashlib.sha256(body).hexdigest() == file.sha256, file
    return {file.file_id for file in listed}


def test_an_upload_nothing_disturbs_makes_these_calls(store, group, alice):
    assert upload_calls(store, group, alice) == [
        "groups.find_one",  # membership
        "chunks.insert_many",
        "chunks.insert_many",
        "chunks.insert_many",
        "files.insert_one",  # the file is listed
        "groups.find_one",  # still a member
    ]


@pytest.mark.parametrize(("mode", "reverse"), LANDINGS, ids=LANDING_IDS)
def test_an_upload_cut_anywhere_lists_only_whole_files(store, group, alice, mode, reverse):
    cut_points = range(len(upload_calls(store, group, alice)) + 3)  # the cleanup's calls too
    for cut in cut_points:
        faults = Faults(cut_at=cut, mode=mode)
        acknowledged = upload_cut(store, group, alice, faults, f"cut-{cut}.bin", reverse)
        listed = check_listing(store, group.group_id)
        if acknowledged is not None:
            assert acknowledged.file_id in listed, (cut, faults.calls)

        report = repair(store, grace=timedelta(0))
        assert not set(report.broken_files), (cut, faults.calls)
        assert not set(report.orphan_files) & listed
        assert check_listing(store, group.group_id) == listed
        owners = set(store.db["fs.chunks"].distinct("files_id"))
        assert owners <= listed, (cut, faults.calls, owners - listed)


def test_a_repair_racing_an_upload_never_leaves_a_listed_file_without_bytes(
    store, group, alice, monkeypatch
):
    # repair (grace 0) runs after the chunks are in, before the files insert:
    # the chunks look orphaned. It claims them first, so the insert fails and
    # the upload answers STORE_UNAVAILABLE, instead of listing a file whose
    # chunks repair deleted.
    real_insert = store.fs.files.insert_one
    reports = []

    def insert_one(document, *args, **kwargs):
        reports.append(repair(store, grace=timedelta(0)))
        return real_insert(document, *args, **kwargs)

    monkeypatch.setattr(store.fs.files, "insert_one", insert_one)
    with pytest.raises(GroupStoreError) as raised:
        store.groups.upload_file(group.group_id, DATA, "raced.bin", caller=alice.user_id)
    monkeypatch.undo()

    assert raised.value.code == "STORE_UNAVAILABLE"
    assert len(reports[0].orphan_chunk_files) == 1
    assert check_listing(store, group.group_id) == set()
    assert store.db["fs.chunks"].count_documents({}) == 0


@pytest.mark.parametrize(("mode", "reverse"), LANDINGS, ids=LANDING_IDS)
def test_several_files_written_at_once_and_cut_anywhere_list_only_whole_files(
    store, group, mode, reverse
):
    # write_many (the import's path): chunks of all files, then one insert of their documents.
    datas = [DATA, DATA[:1500], DATA[:700]]
    cut = 0
    while True:
        faults = Faults(cut_at=cut, mode=mode)
        metadata = {"group_id": group.group_id, "contentType": "application/octet-stream"}
        files = [
            NewFile(f"many-{cut}-{i}", f"m{i}.bin", io.BytesIO(data), metadata, utc_now())
            for i, data in enumerate(datas)
        ]
        faults.run(store, partial(store.fs.write_many, files), reverse=reverse)
        listed = check_listing(store, group.group_id)
        repair(store, grace=timedelta(0))
        assert set(store.db["fs.chunks"].distinct("files_id")) <= listed, (cut, faults.calls)
        if cut >= len(faults.calls):
            break  # nothing left to cut
        cut += 1
