"""``groupstore import-flowserv`` on a deployment that flowserv-core itself filled.

The source is always a SQLite database and file volume made by flowserv's
service API (``tests.flowserv_source``: 20 groups, 101 files, built once per
session); the target is the test backend (memory or FerretDB).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import groupstore
from groupstore import GroupStore, UnknownUserError
from groupstore.flowserv_import import import_deployment, read_deployment
from groupstore.storage.files import chunk_id
from tests.backend import MONGO_URI
from tests.cli_helpers import REPO, Cli
from tests.flowserv_source import PASSWORDS, FlowservDeployment, make_deployment

pytestmark = pytest.mark.flowserv

SIZES = {"full": (20, 100), "small": (6, 12)}
"""The round trip runs on 20 groups and 100 files; the other tests on fewer (CI time)."""
GROUPS, FILES = SIZES["small"]
TOTAL_FILES = FILES + 1  # and one with a path for a name (a quirk)


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, FlowservDeployment]:
    """The deployments, each filled once per session by flowserv (about 1 s per 20 files)."""

    class Lazy(dict[str, FlowservDeployment]):
        def __missing__(self, size: str) -> FlowservDeployment:
            self[size] = make_deployment(tmp_path_factory.mktemp(size), *SIZES[size])
            return self[size]

    return Lazy()


def copy_of(deployment: FlowservDeployment, directory: Path) -> FlowservDeployment:
    """A copy of the deployment that a test may change."""
    database = Path(deployment.db_url.removeprefix("sqlite:///"))
    shutil.copy(database, directory / "flowserv.db")
    shutil.copytree(deployment.volume, directory / "volume")
    copy = FlowservDeployment(**vars(deployment))
    copy.db_url, copy.volume = f"sqlite:///{directory / 'flowserv.db'}", directory / "volume"
    return copy


@pytest.fixture
def source(built: dict[str, FlowservDeployment], tmp_path: Path) -> FlowservDeployment:
    return copy_of(built["small"], tmp_path)


@pytest.fixture
def full_source(built: dict[str, FlowservDeployment], tmp_path: Path) -> FlowservDeployment:
    return copy_of(built["full"], tmp_path)


def run_import(store: GroupStore, source: FlowservDeployment, *options: str) -> dict[str, Any]:
    result = Cli(store)(
        "import-flowserv", "--db", source.db_url, "--volume", str(source.volume), "--json", *options
    )
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


def files_in(store: GroupStore) -> list[dict[str, Any]]:
    return list(store.db["fs.files"].find({}, {"_id": 1, "length": 1}))


def chunks_in(store: GroupStore) -> list[dict[str, Any]]:
    return list(store.db["fs.chunks"].find({}, {"files_id": 1, "n": 1}))


def assert_copied_once(store: GroupStore, source: FlowservDeployment) -> None:
    """Every group and file is there once, every chunk belongs to a listed file."""
    assert sorted(g.group_id for g in store.groups.list_groups()) == sorted(source.groups)
    files = files_in(store)
    assert sorted(doc["_id"] for doc in files) == sorted(source.files)
    chunks = chunks_in(store)
    assert len({(c["files_id"], c["n"]) for c in chunks}) == len(chunks)
    assert {c["files_id"] for c in chunks} <= {doc["_id"] for doc in files}
    for group_id, handle in source.groups.items():
        for listed in handle["files"]:
            stored = store.groups.get_uploaded_file(group_id, listed["id"])
            with stored.open() as stream:
                assert stream.read() == source.files[listed["id"]]


def test_import_copies_groups_members_parameters_config_and_files_keeping_ids(
    store: GroupStore, full_source: FlowservDeployment
):
    source = full_source
    groups, files = SIZES["full"]
    summary = run_import(store, source)

    assert summary["groups"] == {"copied": groups, "skipped": 0}
    assert summary["files"] == {"copied": files + 1, "skipped": 0}
    assert summary["files_verified"] == files + 1
    assert summary["bytes_copied"] == sum(len(data) for data in source.files.values())
    deployment = read_deployment(source.db_url, source.volume)
    by_id = {group.group_id: group for group in deployment.groups}
    for group_id, handle in source.groups.items():
        group = store.groups.get_group(group_id)
        original = by_id[group_id]
        assert group.workflow_id == handle["workflow"]
        if group_id not in source.quirks.values():  # those: the next test
            assert group.name == handle["name"]
            assert group.owner_id == original.owner_id
            assert sorted(m.user_id for m in group.members) == sorted(
                m["id"] for m in handle["members"]
            )
            assert sorted(m.username for m in group.members) == sorted(
                m["username"] for m in handle["members"]
            )
        assert [p.to_dict() for p in group.parameters.values()] == handle["parameters"]
        assert group.workflow_spec == original.workflow_spec
        assert group.engine_config == handle["config"]
        originals = {file.file_id: file for file in original.files}
        uploaded = store.groups.list_uploaded_files(group_id)
        assert [f.file_id for f in uploaded] == [f["id"] for f in handle["files"]]
        for file in uploaded:
            flowserv_file = originals[file.file_id]
            assert file.created_at == flowserv_file.created_at  # flowserv's, to the millisecond
            assert file.mime_type == (flowserv_file.mime_type or "application/octet-stream")
            assert file.size == len(source.files[file.file_id])
    assert_copied_once(store, source)


def test_files_keep_flowservs_mime_type_and_time(store: GroupStore, source: FlowservDeployment):
    run_import(store, source)
    handle = next(iter(source.groups.values()))
    for listed in handle["files"]:
        stored = store.groups.get_uploaded_file(handle["id"], listed["id"])
        assert stored.created_at.isoformat()[:23] == listed["createdAt"][:23]
        if listed["name"].endswith(".tar.gz"):
            assert stored.mime_type == "application/x-tar"  # flowserv's guess, kept
        if listed["name"].endswith("noext"):
            assert stored.mime_type == "application/octet-stream"  # flowserv had none


def test_imported_chunks_have_the_ids_that_readers_compute_from_the_upload_date(
    store: GroupStore, source: FlowservDeployment
):
    """On FerretDB/SQLite a reader finds chunks by those ids; any other id means a scan."""
    with sqlite3.connect(source.db_url.removeprefix("sqlite:///")) as db:  # uploaded in 2021
        db.execute("UPDATE group_upload_file SET created_at = '2021-03-04T05:06:07.891234+00:00'")
    run_import(store, source)

    chunks = list(store.db["fs.chunks"].find({}, {"files_id": 1, "n": 1}))
    dates = {doc["_id"]: doc["uploadDate"] for doc in store.db["fs.files"].find()}
    assert len(chunks) > TOTAL_FILES  # the big file has two
    assert set(dates.values()) == {datetime(2021, 3, 4, 5, 6, 7, 891000)}  # naive UTC
    for chunk in chunks:
        assert chunk["_id"] == chunk_id(chunk["files_id"], chunk["n"], dates[chunk["files_id"]])


def test_running_the_import_twice_copies_nothing_twice(
    store: GroupStore, source: FlowservDeployment
):
    run_import(store, source)
    before = (files_in(store), chunks_in(store))

    again = run_import(store, source)

    assert again["groups"] == {"copied": 0, "skipped": GROUPS}
    assert again["files"] == {"copied": 0, "skipped": TOTAL_FILES}
    assert (files_in(store), chunks_in(store)) == before
    assert_copied_once(store, source)


def test_a_dry_run_reports_what_it_would_copy_and_writes_nothing(
    store: GroupStore, source: FlowservDeployment
):
    summary = run_import(store, source, "--dry-run", "--standalone")

    assert summary["dry_run"] is True
    assert summary["groups"] == {"copied": GROUPS, "skipped": 0}
    assert summary["files"] == {"copied": TOTAL_FILES, "skipped": 0}
    assert summary["users"] == {"copied": 4, "skipped": 0}
    assert summary["workflows"] == {"copied": 2, "skipped": 0}
    assert summary["bytes_copied"] == 0
    assert store.groups.list_groups() == []
    assert store.workflows.list_workflows() == []
    assert store.users.get_users(source.user_ids.values()) == []
    assert files_in(store) == [] and chunks_in(store) == []


class CrashAtBigFile:
    """The files collection, except that listing a file over one chunk "kills" the import.

    With the cleanup of a failed write switched off too, this leaves what a
    kill -9 there would: the group document, earlier files, orphan chunks.
    """

    def __init__(self, files: Any) -> None:
        self.files = files

    def insert_many(self, documents: list[dict[str, Any]], *args: Any, **kwargs: Any) -> Any:
        if any(document["length"] > document["chunkSize"] for document in documents):
            raise KeyboardInterrupt("killed")
        return self.files.insert_many(documents, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.files, name)


def test_an_import_killed_inside_a_file_resumes_and_copies_everything_once(
    store: GroupStore, source: FlowservDeployment, monkeypatch: pytest.MonkeyPatch
):
    fs = store.storage.fs
    with monkeypatch.context() as patch:
        patch.setattr(fs, "files", CrashAtBigFile(fs.files))
        patch.setattr(fs, "_abandon_many", lambda ids: None)  # killed: no cleanup
        deployment = read_deployment(source.db_url, source.volume)
        with pytest.raises(KeyboardInterrupt):
            import_deployment(store, deployment)
    listed = {doc["_id"] for doc in files_in(store)}
    assert 0 < len(listed) < TOTAL_FILES
    assert {c["files_id"] for c in chunks_in(store)} - listed  # orphan chunks were left

    summary = run_import(store, source)

    assert summary["files"] == {"copied": TOTAL_FILES - len(listed), "skipped": len(listed)}
    assert summary["groups"]["copied"] + summary["groups"]["skipped"] == GROUPS
    assert_copied_once(store, source)


@pytest.mark.real_server
def test_an_import_killed_with_sigkill_then_run_again_copies_everything_once(
    store: GroupStore, source: FlowservDeployment
):
    command = [
        sys.executable, "-m", "groupstore", "import-flowserv", "--uri", MONGO_URI or "",
        "--database", store.db.name, "--db", source.db_url, "--volume", str(source.volume),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUPSTORE_")}
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while len(files_in(store)) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    copied = len(files_in(store))
    if copied == TOTAL_FILES:
        pytest.fail("the import ended before it could be killed: use the full source")

    summary = run_import(store, source)

    assert summary["files"]["skipped"] == copied
    assert summary["files"]["copied"] == TOTAL_FILES - copied
    assert_copied_once(store, source)


def test_what_groupstore_refuses_is_adapted_and_reported(
    store: GroupStore, source: FlowservDeployment
):
    summary = run_import(store, source)

    renamed = source.quirks["renamed_group"]
    assert store.groups.get_group(renamed).name == f"group 0 ({renamed})"
    assert summary["renamed_groups"] == [
        {"group_id": renamed, "from": "group 0", "to": f"group 0 ({renamed})"}
    ]
    file_id = source.quirks["renamed_file"]
    assert store.groups.get_uploaded_file(renamed, file_id).name == "sub_f.txt"
    assert summary["renamed_files"] == [
        {"file_id": file_id, "from": "sub/f.txt", "to": "sub_f.txt"}
    ]
    # The owner had left the group in flowserv: its remaining member owns it now.
    left = store.groups.get_group(source.quirks["owner_removed"])
    assert left.owner_id == left.members[0].user_id == source.user_ids["carol"]
    assert [m.user_id for m in left.members] == [source.user_ids["carol"]]
    # Nobody was left in the group: its owner (bob) is its only member again.
    empty = store.groups.get_group(source.quirks["no_members"])
    assert [(m.user_id, m.username) for m in empty.members] == [(source.user_ids["bob"], "bob")]
    assert empty.owner_id == source.user_ids["bob"]
    assert [change["group_id"] for change in summary["owner_changes"]] == [
        source.quirks["owner_removed"],
        source.quirks["no_members"],
    ]


def test_a_file_missing_on_the_volume_is_reported_and_the_rest_is_copied(
    store: GroupStore, source: FlowservDeployment
):
    gone = next(source.volume.rglob("files/*"))
    gone.unlink()

    result = Cli(store)(
        "import-flowserv", "--db", source.db_url, "--volume", str(source.volume), "--json"
    )

    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert [m["file_id"] for m in summary["missing_files"]] == [gone.name]
    assert summary["files"]["copied"] == TOTAL_FILES - 1
    assert "not on the volume" in result.stderr


def test_standalone_brings_users_and_workflows_and_flowserv_passwords_log_in(
    store: GroupStore, source: FlowservDeployment
):
    summary = run_import(store, source, "--standalone")

    assert summary["users"] == {"copied": 4, "skipped": 0}  # the default user is nobody's
    assert summary["workflows"] == {"copied": 2, "skipped": 0}
    assert sorted(w.workflow_id for w in store.workflows.list_workflows()) == sorted(
        source.workflow_ids
    )
    workflow = store.workflows.get_workflow(source.workflow_ids[0])
    assert list(workflow.parameters) == ["names", "sleeptime", "greeting"]
    alice = source.user_ids["alice"]
    assert store.users.get_user(alice).username == "alice"
    # flowserv stripped " alice-pw " when it hashed it; its pbkdf2 hash works here too...

    def secret() -> str:
        return str(store.db.users.find_one({"_id": alice}, {"secret": 1})["secret"])  # type: ignore[index]

    assert secret().startswith("$pbkdf2-sha256$")
    with pytest.raises(UnknownUserError):
        store.users.login_user("alice", "wrong-pw")
    key = store.users.login_user("alice", PASSWORDS["alice"].strip())
    assert key.user_id == alice
    # ...once: the first login replaced it by Argon2, and the password still works.
    assert secret().startswith("$argon2")
    assert store.users.login_user("alice", "alice-pw").user_id == alice
    with pytest.raises(UnknownUserError):
        store.users.login_user("dave", "dave-pw")  # never activated in flowserv
    # The groups' members are the imported users.
    group = store.groups.get_group(source.quirks["owner_removed"])
    assert group.members[0].user_id in {u.user_id for u in store.users.list_users()}

    again = run_import(store, source, "--standalone")
    assert again["users"] == {"copied": 0, "skipped": 4}
    assert again["workflows"] == {"copied": 0, "skipped": 2}


def test_an_adapter_import_then_standalone_adds_only_users_and_workflows(
    store: GroupStore, source: FlowservDeployment
):
    run_import(store, source)

    summary = run_import(store, source, "--standalone")

    assert summary["users"]["copied"] == 4 and summary["workflows"]["copied"] == 2
    assert summary["groups"] == {"copied": 0, "skipped": GROUPS}


def test_an_adapter_import_makes_groupstores_own_repair_refuse_until_standalone(
    store: GroupStore, source: FlowservDeployment
):
    run_import(store, source)
    with pytest.raises(groupstore.ConstraintViolationError, match="flowserv"):
        groupstore.repair(store, grace=timedelta(0), dry_run=True)  # its workflows are flowserv's

    run_import(store, source, "--standalone")

    assert groupstore.repair(store, grace=timedelta(0), dry_run=True).orphan_groups == []


def test_a_bad_database_url_is_one_line(store: GroupStore, tmp_path: Path):
    result = Cli(store)(
        "import-flowserv", "--db", f"sqlite:///{tmp_path / 'none.db'}", "--volume", str(tmp_path)
    )

    assert result.exit_code == 1
    assert result.stderr.startswith("groupstore: error: cannot read the flowserv database")
