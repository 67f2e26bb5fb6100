"""The server goes away: calls fail fast and cleanly, and the store recovers by itself."""

from __future__ import annotations

import io
import threading
import time
from datetime import timedelta

import pytest

import groupstore
from groupstore import StoreUnavailableError
from tests.backend import PASSWORD
from tests.support import cheap_hashing

pytestmark = pytest.mark.real_server

TIMEOUT = 2.0  # seconds; connect(timeout=...) bounds every call


@pytest.fixture
def outage_store(private_server):
    store = cheap_hashing(
        groupstore.connect(private_server.uri, database="outage", timeout=TIMEOUT)
    )
    yield store
    store.close()


@pytest.fixture
def group(outage_store):
    user = outage_store.users.register_user("alice", PASSWORD)
    workflow = outage_store.workflows.create_workflow("wf")
    return outage_store.groups.create_group(workflow.workflow_id, "G", [], {}, user_id=user.user_id)


CALLS = {
    "get_group": lambda s, g: s.groups.get_group(g.group_id),
    "list_groups": lambda s, g: s.groups.list_groups(),
    "create_group": lambda s, g: s.groups.create_group(
        g.workflow_id, "x", [], {}, user_id=g.owner_id
    ),
    "update_group": lambda s, g: s.groups.update_group(g.group_id, name="y"),
    "delete_group": lambda s, g: s.groups.delete_group(g.group_id),
    "upload_file": lambda s, g: s.groups.upload_file(g.group_id, b"data", "a.txt"),
    "list_files": lambda s, g: s.groups.list_uploaded_files(g.group_id),
    "login": lambda s, g: s.users.login_user("alice", PASSWORD),
    "authenticate": lambda s, g: s.users.authenticate("token"),
    "list_workflows": lambda s, g: s.workflows.list_workflows(),
}


@pytest.mark.parametrize("call", list(CALLS), ids=list(CALLS))
def test_every_call_fails_fast_with_store_unavailable_when_the_server_is_down(
    private_server, outage_store, group, call
):
    private_server.stop()
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError):
        CALLS[call](outage_store, group)
    assert time.monotonic() - started < TIMEOUT * 3


def test_the_same_store_works_again_after_the_server_restarts(private_server, outage_store, group):
    private_server.stop()
    with pytest.raises(StoreUnavailableError):
        outage_store.groups.get_group(group.group_id)
    private_server.start()
    assert outage_store.groups.get_group(group.group_id) == group
    renamed = outage_store.groups.update_group(group.group_id, name="after")
    assert renamed.name == "after"


def test_connect_to_a_stopped_server_fails_within_the_timeout(private_server):
    private_server.stop()
    started = time.monotonic()
    with pytest.raises(StoreUnavailableError):
        groupstore.connect(private_server.uri, database="outage", timeout=TIMEOUT)
    assert time.monotonic() - started < TIMEOUT * 3


class SlowSource(io.RawIOBase):
    """Yields bytes forever (well, 1 GiB), telling when the upload is well under way."""

    def __init__(self) -> None:
        self.sent = 0
        self.under_way = threading.Event()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.sent >= 1 << 30:
            return 0
        if self.sent > 12 * 1024 * 1024:
            self.under_way.set()
            time.sleep(0.01)  # let the test kill the server mid-stream
        buffer[:] = b"k" * len(buffer)
        self.sent += len(buffer)
        return len(buffer)


def test_killed_server_during_a_large_upload_fails_cleanly_and_repair_removes_chunks(
    private_server, outage_store, group
):
    source = SlowSource()
    outcome: list[BaseException] = []

    def upload() -> None:
        try:
            outage_store.groups.upload_file(group.group_id, source, "big.bin")
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=upload)
    thread.start()
    assert source.under_way.wait(timeout=120), "the upload never got going"
    private_server.kill()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], StoreUnavailableError), outcome

    private_server.start()
    assert outage_store.groups.list_uploaded_files(group.group_id) == []
    assert outage_store.db["fs.chunks"].count_documents({}) > 0  # orphans of the dead upload
    report = groupstore.repair(outage_store, grace=timedelta(0))
    assert report.orphan_chunk_files and not report.orphan_files
    assert outage_store.db["fs.chunks"].count_documents({}) == 0
    assert outage_store.groups.get_group(group.group_id).uploads == []
