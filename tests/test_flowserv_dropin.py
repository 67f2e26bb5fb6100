"""flowserv code runs unchanged on what groupstore returns (flowserv-core 0.9.4 itself).

Needs the ``flowserv`` extra (``pip install -e '.[flowserv]'``); without it the
tests are skipped with that reason, and CI, which sets
GROUPSTORE_TEST_REQUIRE_FLOWSERV=1, fails instead.
"""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.flowserv


@pytest.fixture
def fs():
    """flowserv's modules, imported only where the marker let the test run."""
    from flowserv.model.parameter.files import File
    from flowserv.model.parameter.numeric import Int
    from flowserv.model.parameter.string import String
    from flowserv.model.template.parameter import ParameterIndex
    from flowserv.view.group import WorkflowGroupSerializer
    from flowserv.volume.base import IOBuffer
    from flowserv.volume.fs import FSFile

    return SimpleNamespace(
        File=File,
        Int=Int,
        String=String,
        ParameterIndex=ParameterIndex,
        Serializer=WorkflowGroupSerializer,
        FSFile=FSFile,
        IOBuffer=IOBuffer,
    )


@pytest.fixture
def team(store, workflow, alice, bob):
    return store, workflow, alice, bob


def test_flowserv_parameter_objects_and_index_make_a_group(fs, team):
    store, workflow, alice, _ = team
    index = fs.ParameterIndex(
        [
            fs.String("greeting", index=0, default="hi"),
            fs.Int("runs", index=1, default=3),
            fs.File("names", index=2, target="data/names.txt"),
        ]
    )
    group = store.groups.create_group(
        workflow.workflow_id, "team", index, {"steps": []}, user_id=alice.user_id
    )
    assert list(group.parameters) == ["greeting", "runs", "names"]
    assert [p.to_dict() for p in group.parameters.values()] == [p.to_dict() for p in index.values()]
    from_list = store.groups.create_group(
        workflow.workflow_id, "team2", list(index.values()), {}, user_id=alice.user_id
    )
    assert from_list.parameters == group.parameters


def test_flowserv_file_objects_upload_and_read_back_as_io_handles(fs, team, tmp_path):
    store, workflow, alice, _ = team
    group = store.groups.create_group(workflow.workflow_id, "team", user_id=alice.user_id)
    path = tmp_path / "names.txt"
    path.write_bytes(b"alice\nbob\n")
    buffered = store.groups.upload_file(group.group_id, fs.IOBuffer(io.BytesIO(b"{}")), "a.json")
    on_disk = store.groups.upload_file(group.group_id, fs.FSFile(str(path)), "names.txt")

    handle = store.groups.get_uploaded_file(group.group_id, on_disk.file_id)
    assert handle.size() == 10  # flowserv's IOHandle.size()
    with handle.open() as stream:
        assert stream.read() == b"alice\nbob\n"
    assert (buffered.group_id, buffered.size) == (group.group_id, 2)


def test_flowserv_serializer_reads_a_groupstore_group(fs, team):
    store, workflow, alice, bob = team
    group = store.groups.create_group(
        workflow.workflow_id,
        "team",
        fs.ParameterIndex([fs.String("greeting", index=0)]),
        {},
        user_id=alice.user_id,
        members=[bob.user_id],
        engine_config={"workers": 2},
    )
    uploaded = store.groups.upload_file(group.group_id, b"x", "a.txt")

    doc = fs.Serializer().group_handle(store.groups.get_group(group.group_id))

    assert doc["id"] == group.group_id and doc["workflow"] == workflow.workflow_id
    assert doc["members"] == [
        {"id": alice.user_id, "username": "alice"},
        {"id": bob.user_id, "username": "bob"},
    ]
    assert doc["parameters"] == [fs.String("greeting", index=0).to_dict()]
    assert [(f["id"], f["name"], f["size"]) for f in doc["files"]] == [
        (uploaded.file_id, "a.txt", 1)
    ]
    assert doc["config"] == {"workers": 2}
    listing = fs.Serializer().group_listing(store.groups.list_groups(user_id=bob.user_id))
    assert listing == {
        "groups": [{"id": group.group_id, "name": "team", "workflow": workflow.workflow_id}]
    }


def test_flowserv_member_idioms_work_on_a_groupstore_group(fs, team):
    store, workflow, alice, bob = team
    group = store.groups.create_group(
        workflow.workflow_id, "team", user_id=alice.user_id, members=[bob.user_id]
    )
    assert [u.user_id for u in group.members] == [alice.user_id, bob.user_id]
    assert [u.name for u in group.members] == ["alice", "bob"]
    assert group.owner.user_id == alice.user_id
