"""groupstore.flowserv: flowserv's service API with groups and uploads in groupstore.

flowserv's SQL database is SQLite with foreign keys enforced (as PostgreSQL
does), or the database at GROUPSTORE_TEST_FLOWSERV_DB (a SQLAlchemy URL).
"""

from __future__ import annotations

import io
import os
import sys
from types import SimpleNamespace

import pytest

import groupstore

pytestmark = pytest.mark.flowserv

HELLO = """\
workflow:
    files:
        inputs:
        - hello.py
        - $[[names]]
        outputs:
        - results/greetings.txt
    steps:
    - name: say_hello
      action:
          environment: python
          commands:
          - ${python} hello.py "${names}" "${greeting}"
    parameters:
        names: $[[names]]
        greeting: $[[greeting]]
parameters:
    - {name: names, dtype: file, target: data/names.txt}
    - {name: greeting, dtype: string, defaultValue: Hello}
"""

HELLO_PY = """\
import os, sys
names = open(sys.argv[1]).read().split()
os.makedirs("results", exist_ok=True)
with open("results/greetings.txt", "w") as out:
    out.writelines(f"{sys.argv[2]} {name}!\\n" for name in names)
"""


@pytest.fixture
def fsv():
    """flowserv's modules, imported only where the marker let the test run."""
    import flowserv.error as err
    from flowserv.config import Config
    from flowserv.model.base import GroupObject, RunObject, UploadFile, group_member
    from flowserv.model.database import DB
    from flowserv.volume.base import IOBuffer
    from flowserv.volume.fs import FStore

    from groupstore import flowserv as adapter

    return SimpleNamespace(
        err=err,
        Config=Config,
        DB=DB,
        FStore=FStore,
        IOBuffer=IOBuffer,
        GroupObject=GroupObject,
        RunObject=RunObject,
        UploadFile=UploadFile,
        group_member=group_member,
        adapter=adapter,
    )


def flowserv_db(fsv, tmp_path):
    url = os.environ.get("GROUPSTORE_TEST_FLOWSERV_DB") or f"sqlite:///{tmp_path}/flowserv.db"
    db = fsv.DB(connect_url=url, web_app=False)
    if url.startswith("sqlite"):
        from sqlalchemy import event

        @event.listens_for(db._engine, "connect")
        def _foreign_keys(connection, _record):
            connection.execute("PRAGMA foreign_keys=ON")

    return db.init()


@pytest.fixture
def deployment(fsv, store, tmp_path):
    """A flowserv deployment on groupstore: factory, users, a hello-world workflow."""
    volume = tmp_path / "volume"
    env = fsv.Config().basedir(str(tmp_path)).volume(fsv.FStore(basedir=str(volume)))
    env = env.auth().run_sync()
    db = flowserv_db(fsv, tmp_path)
    factory = fsv.adapter.LocalAPIFactory(env=env, db=db, store=store)
    source = tmp_path / "hello"
    source.mkdir()
    (source / "benchmark.yaml").write_text(HELLO)
    (source / "hello.py").write_text(HELLO_PY)
    (source / "flowserv.yaml").write_text(
        "name: hello\nspecfile: benchmark.yaml\nfiles:\n    - source: hello.py\n"
    )
    with factory() as api:
        users = [
            api.users().register_user(username=name, password="pw", verify=False)["id"]
            for name in ("alice", "bob", "carol")
        ]
        workflow_id = api.workflows().workflow_repo.create_workflow(source=str(source)).workflow_id
    return SimpleNamespace(
        factory=factory, db=db, store=store, users=users, workflow_id=workflow_id, volume=volume
    )


def create_group(d, name="team", members=None):
    with d.factory(user_id=d.users[0]) as api:
        return api.groups().create_group(d.workflow_id, name, members=members)


def test_groups_through_flowservs_service_api(deployment):
    d = deployment
    alice, bob, carol = d.users
    group = create_group(d, members=[bob])
    assert [m["username"] for m in group["members"]] == ["alice", "bob"]
    assert [p["name"] for p in group["parameters"]] == ["names", "greeting"]
    with d.factory(user_id=bob) as api:
        assert api.groups().get_group(group["id"])["name"] == "team"
        assert [g["id"] for g in api.groups().list_groups()["groups"]] == [group["id"]]
        renamed = api.groups().update_group(group["id"], name="renamed", members=[alice, carol])
    assert renamed["name"] == "renamed"
    assert [m["username"] for m in renamed["members"]] == ["alice", "carol"]
    with d.factory(user_id=carol) as api:
        api.groups().delete_group(group["id"])
        assert api.groups().list_groups()["groups"] == []
    assert d.store.groups.list_groups() == []


def test_a_group_and_its_file_live_in_mongodb_not_in_flowservs_sql_or_volume(fsv, deployment):
    d = deployment
    group = create_group(d)
    with d.factory(user_id=d.users[0]) as api:
        handle = api.uploads().upload_file(
            group["id"], fsv.IOBuffer(io.BytesIO(b"alice\nbob\n")), "names.txt"
        )
    in_mongo = d.store.groups.get_group(group["id"])
    assert in_mongo.member_ids == [d.users[0]]
    (uploaded,) = d.store.groups.list_uploaded_files(group["id"])
    assert (uploaded.file_id, uploaded.size) == (handle["id"], 10)
    with d.store.groups.get_uploaded_file(group["id"], handle["id"]).open() as stream:
        assert stream.read() == b"alice\nbob\n"
    with d.db.session() as session:
        assert session.query(fsv.UploadFile).count() == 0
        assert session.query(fsv.group_member).count() == 0
        anchor = session.get(fsv.GroupObject, group["id"])  # the foreign-key anchor only
        assert (anchor.name, anchor.owner_id, anchor.members) == ("team", None, [])
    on_disk = [p for p in d.volume.rglob("*") if p.is_file()]
    assert all(b"alice\nbob" not in p.read_bytes() for p in on_disk)
    assert not any("groups" in p.parts for p in on_disk)


def test_uploads_list_download_and_delete(fsv, deployment):
    d = deployment
    group = create_group(d, members=[d.users[1]])
    with d.factory(user_id=d.users[1]) as api:
        uploads = api.uploads()
        file_id = uploads.upload_file(group["id"], fsv.IOBuffer(io.BytesIO(b"{}")), "a.json")["id"]
        listing = uploads.list_uploaded_files(group["id"])["files"]
        assert [(f["id"], f["name"], f["size"]) for f in listing] == [(file_id, "a.json", 2)]
        assert api.groups().get_group(group["id"])["files"][0]["id"] == file_id
    with d.factory(user_id=None) as api:  # flowserv lets anyone download
        assert api.uploads().get_uploaded_file(group["id"], file_id).read() == b"{}"
    with d.factory(user_id=d.users[2]) as api, pytest.raises(fsv.err.UnauthorizedAccessError):
        api.uploads().delete_file(group["id"], file_id)
    with d.factory(user_id=d.users[0]) as api:
        api.uploads().delete_file(group["id"], file_id)
        with pytest.raises(fsv.err.UnknownFileError):
            api.uploads().get_uploaded_file(group["id"], file_id)


def test_hello_world_run_reads_its_input_file_from_gridfs(fsv, deployment):
    d = deployment
    group = create_group(d)
    with d.factory(user_id=d.users[0]) as api:
        file_id = api.uploads().upload_file(
            group["id"], fsv.IOBuffer(io.BytesIO(b"Alice\nBob\n")), "names.txt"
        )["id"]
        names = {"type": "$file", "value": {"fileId": file_id, "targetPath": "data/names.txt"}}
        run = api.runs().start_run(
            group["id"], [{"name": "names", "value": names}, {"name": "greeting", "value": "Hi"}]
        )
        assert run["state"] == "SUCCESS", run
        assert run["groupId"] == group["id"]
        (result,) = run["files"]
        data = api.runs().get_result_file(run["id"], result["id"]).open().read()
    assert data == b"Hi Alice!\nHi Bob!\n"
    with d.db.session() as session:  # the run references the anchor (foreign key)
        assert session.get(fsv.RunObject, run["id"]).group.name == "team"
    with d.factory(user_id=d.users[0]) as api:  # deleting the group deletes its runs
        api.groups().delete_group(group["id"])
    with d.db.session() as session:
        assert session.query(fsv.RunObject).count() == 0


def test_auth_policy_asks_groupstore_once(fsv, deployment, monkeypatch):
    d = deployment
    group = create_group(d, members=[d.users[1]])
    calls = []
    access = d.store.storage.groups.access

    def counted(*args, **kwargs):  # one call of access() is one find_one
        calls.append(args)
        return access(*args, **kwargs)

    monkeypatch.setattr(d.store.storage.groups, "access", counted)
    with d.db.session() as session:
        for policy in (fsv.adapter.DefaultAuthPolicy, fsv.adapter.OpenAccessAuth):
            auth = policy(session, d.store)
            calls.clear()
            assert auth.is_group_member(d.users[1], group_id=group["id"]) is True
            assert len(calls) == 1
            assert auth.is_group_member(d.users[2], group_id=group["id"]) is (
                policy is fsv.adapter.OpenAccessAuth
            )
            assert auth.group_or_run_exists(group_id=group["id"]) == group["id"]
            with pytest.raises(fsv.err.UnknownWorkflowGroupError):
                auth.is_group_member(d.users[0], group_id="nope")
            with pytest.raises(fsv.err.UnknownRunError):
                auth.is_group_member(d.users[0], run_id="nope")
            with pytest.raises(ValueError):
                auth.group_or_run_exists()


ERROR_CASES = {
    "unknown group": (lambda api, g, u: api.groups().get_group("nope"), "UnknownWorkflowGroupError"),  # noqa: E501
    "taken name": (lambda api, g, u: api.groups().create_group(g["workflow"], "team"), "ConstraintViolationError"),  # noqa: E501
    "unknown member": (lambda api, g, u: api.groups().create_group(g["workflow"], "x", members=["nobody"]), "UnknownUserError"),  # noqa: E501
    "blank name": (lambda api, g, u: api.groups().create_group(g["workflow"], " "), "ConstraintViolationError"),  # noqa: E501
    "unknown file": (lambda api, g, u: api.uploads().get_uploaded_file(g["id"], "nope"), "UnknownFileError"),  # noqa: E501
    "owner removed": (lambda api, g, u: api.groups().update_group(g["id"], members=[u[1]]), "ConstraintViolationError"),  # noqa: E501
}  # fmt: skip


@pytest.mark.parametrize("case", ERROR_CASES)
def test_errors_are_flowservs_and_groupstores(fsv, deployment, case):
    call, name = ERROR_CASES[case]
    d = deployment
    group = create_group(d)
    with d.factory(user_id=d.users[0]) as api, pytest.raises(getattr(fsv.err, name)) as caught:
        call(api, group, d.users)
    assert isinstance(caught.value, getattr(groupstore, name))
    assert caught.value.code == getattr(groupstore, name).code


def test_every_groupstore_error_has_its_flowserv_class(fsv):
    import pickle

    for error_class in [groupstore.UnknownWorkflowGroupError, groupstore.UnknownFileError]:
        error = fsv.adapter.flowserv_error(error_class("g1"))
        assert isinstance(error, fsv.err.FlowservError) and isinstance(error, error_class)
        assert str(error) == str(error_class("g1"))
        again = pickle.loads(pickle.dumps(error))
        assert type(again) is type(error) and again.args == error.args
    table = fsv.adapter.ERROR_TABLE
    for name in groupstore.__all__:
        if name.endswith("Error"):  # flowserv's class of the same name, else FlowservError
            error_class = getattr(groupstore, name)
            expected = getattr(fsv.err, name, fsv.err.FlowservError)
            assert next(table[c] for c in error_class.__mro__ if c in table) is expected, name


def test_import_without_flowserv_names_the_extra(monkeypatch):
    for name in [
        n
        for n in sys.modules
        if n == "flowserv" or n.startswith(("flowserv.", "groupstore.flowserv"))
    ]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "flowserv", None)
    with pytest.raises(ImportError, match=r"groupstore\[flowserv\]"):
        import groupstore.flowserv  # noqa: F401


# -- the two stores after a failure at each step ------------------------------


class Boom(Exception):
    pass


def fail(monkeypatch, owner, name):
    def boom(*args, **kwargs):
        raise Boom(name)

    monkeypatch.setattr(owner, name, boom)


def both_stores(fsv, d):
    """(group ids in groupstore, anchor ids in flowserv's SQL), sorted."""
    with d.db.session() as session:
        anchors = sorted(g for (g,) in session.query(fsv.GroupObject.group_id))
    return sorted(g.group_id for g in d.store.groups.list_groups()), anchors


@pytest.mark.parametrize("step", ["anchor", "group", "commit"])
def test_a_create_that_fails_at_any_step_leaves_no_group_anywhere(
    fsv, deployment, monkeypatch, step
):
    d = deployment
    before = both_stores(fsv, d)
    from sqlalchemy.orm import Session

    if step == "anchor":
        fail(monkeypatch, Session, "flush")
    elif step == "group":
        fail(monkeypatch, d.store.storage.groups, "insert")
    else:
        fail(monkeypatch, Session, "commit")
    with pytest.raises(Boom), d.factory(user_id=d.users[0]) as api:
        api.groups().create_group(d.workflow_id, "team")
    monkeypatch.undo()
    assert both_stores(fsv, d) == before
    create_group(d)  # and the name is free


@pytest.mark.parametrize("step", ["group", "commit"])
def test_a_delete_that_fails_at_any_step_leaves_the_group_in_both(
    fsv, deployment, monkeypatch, step
):
    d = deployment
    group = create_group(d)
    with d.factory(user_id=d.users[0]) as api:
        api.uploads().upload_file(group["id"], fsv.IOBuffer(io.BytesIO(b"x")), "x.txt")
    from sqlalchemy.orm import Session

    fail(
        monkeypatch,
        *((d.store.storage.groups, "delete") if step == "group" else (Session, "commit")),
    )
    with pytest.raises(Boom), d.factory(user_id=d.users[0]) as api:
        api.groups().delete_group(group["id"])
    monkeypatch.undo()
    assert both_stores(fsv, d) == ([group["id"]], [group["id"]])
    assert len(d.store.groups.list_uploaded_files(group["id"])) == 1


@pytest.mark.parametrize("step", ["group", "commit"])
def test_a_rename_that_fails_keeps_one_name_in_both(fsv, deployment, monkeypatch, step):
    d = deployment
    group = create_group(d)
    from sqlalchemy.orm import Session

    fail(
        monkeypatch,
        *((d.store.storage.groups, "rename") if step == "group" else (Session, "commit")),
    )
    with pytest.raises(Boom), d.factory(user_id=d.users[0]) as api:
        api.groups().update_group(group["id"], name="other")
    monkeypatch.undo()
    with d.db.session() as session:
        assert session.get(fsv.GroupObject, group["id"]).name == "team"
    assert d.store.groups.get_group(group["id"]).name == "team"


def test_repair_removes_what_a_failed_undo_left(fsv, deployment):
    d = deployment
    from datetime import timedelta

    kept = create_group(d, "kept")["id"]
    orphan_anchor = create_group(d, "anchor-only")["id"]
    files_only = create_group(d, "files-only")["id"]
    with d.factory(user_id=d.users[0]) as api:
        for group_id in (kept, files_only):
            api.uploads().upload_file(group_id, fsv.IOBuffer(io.BytesIO(b"x")), "x.txt")
    d.store.groups.delete_group(orphan_anchor)  # as if the delete's commit and undo failed
    d.store.storage.groups.delete(files_only)  # as if the delete failed at its files
    with d.db.session() as session:  # as if the create's commit and undo failed
        session.delete(session.get(fsv.GroupObject, files_only))
        manager = fsv.adapter.WorkflowGroupManager(session, store=d.store).manager
        mongo_only = manager.create_group(d.workflow_id, "mongo-only", user_id=d.users[0])
    with d.db.session() as session:
        session.get(fsv.GroupObject, kept).name = "stale"
    with d.db.session() as session:
        young = fsv.adapter.repair(session, d.store)  # a create may still be under way
        assert young.groups_deleted == [] and young.store.orphan_files == []
        old = fsv.adapter.repair(session, d.store, older_than=timedelta(0))
    assert old.groups_deleted == [mongo_only.group_id]
    assert (young.anchors_deleted, young.anchors_renamed) == ([orphan_anchor], [kept])
    assert len(old.store.orphan_files) == 1 and old.store.orphan_groups == []
    assert both_stores(fsv, d) == ([kept], [kept])
    assert len(d.store.groups.list_uploaded_files(kept)) == 1


def test_groupstores_own_repair_refuses_a_flowserv_store_and_keeps_its_groups(fsv, deployment):
    from datetime import timedelta

    d = deployment
    group_id = create_group(d)["id"]
    with pytest.raises(groupstore.ConstraintViolationError, match=r"flowserv\.repair"):
        groupstore.repair(d.store, grace=timedelta(0))
    assert [g.group_id for g in d.store.groups.list_groups()] == [group_id]


def test_deleting_a_workflow_deletes_its_groups_in_both(fsv, deployment):
    d = deployment
    create_group(d)
    with d.factory(user_id=d.users[0]) as api:
        api.workflows().delete_workflow(d.workflow_id)
    assert both_stores(fsv, d) == ([], [])


def test_default_store_comes_from_the_environment(fsv, monkeypatch, tmp_path):
    monkeypatch.delenv("GROUPSTORE_MONGO_URI", raising=False)
    env = fsv.Config().basedir(str(tmp_path)).volume(fsv.FStore(basedir=str(tmp_path)))
    factory = fsv.adapter.LocalAPIFactory(env=env, db=flowserv_db(fsv, tmp_path))
    assert factory.store.server_kind == "memory"
