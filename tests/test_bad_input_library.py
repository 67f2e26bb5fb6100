"""Bad input through the library: every case is a coded groupstore error and changes nothing.

Table-driven over every public manager method a caller can misuse: wrong
types, blank/long/odd names, control and bidi characters, unknown ids,
non-JSON values, malformed parameter declarations, bad files and cursors,
short passwords, and calls the access rule refuses. Each case must raise a
``GroupStoreError`` subclass (never the bare STORE_ERROR, never a driver or
Python error) and leave users, workflows, groups, members and files as they were.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

import groupstore
from groupstore import GroupStore
from tests.backend import PASSWORD


@dataclass
class World:
    store: GroupStore
    owner: str
    member: str
    outsider: str
    inactive: str
    workflow: str
    group: str
    file: str
    other: str  # a second group of the workflow, named "taken"


@pytest.fixture
def world(store: GroupStore) -> World:
    users = store.users
    owner = users.register_user("owner", PASSWORD).user_id
    member = users.register_user("member", PASSWORD).user_id
    outsider = users.register_user("outsider", PASSWORD).user_id
    inactive = users.register_user("pending", PASSWORD, verify=True).user_id
    workflow = store.workflows.create_workflow("wf").workflow_id
    group = store.groups.create_group(workflow, "team", user_id=owner, members=[member])
    file = store.groups.upload_file(group.group_id, b"data", "a.txt")
    other = store.groups.create_group(workflow, "taken", user_id=owner).group_id
    return World(
        store, owner, member, outsider, inactive, workflow, group.group_id, file.file_id, other
    )


def snapshot(store: GroupStore) -> Any:
    """Everything a call could have changed, read through the public API."""
    groups = store.groups.list_groups()
    return (
        sorted((u.user_id, u.username, u.active, u.is_admin) for u in store.users.list_users()),
        sorted(
            (w.workflow_id, w.name, json.dumps(w.workflow_spec, sort_keys=True))
            for w in store.workflows.list_workflows()
        ),
        [
            (
                g.group_id,
                g.name,
                g.owner_id,
                g.member_ids,
                json.dumps(g.workflow_spec, sort_keys=True),
                json.dumps(g.engine_config, sort_keys=True),
                sorted(g.parameters),
                [(f.file_id, f.name, f.size, f.sha256) for f in g.uploads],
            )
            for g in groups
        ],
    )


Case = Callable[[World], object]
NAMES: dict[str, Any] = {
    "empty": "",
    "blank": "   ",
    "too long": "x" * 513,
    "NUL": "a\x00b",
    "escape": "a\x1b[31mb",
    "newline": "a\nb",
    "bidi override": "c06\u202egpj.exe",
    "bidi isolate": "a\u2066b",
    "lone surrogate": "a\ud800b",
    "not a string": 5,
    "None": None,
    "bytes": b"name",
}
FILE_NAMES: dict[str, Any] = {
    **{k: v for k, v in NAMES.items() if k not in ("None",)},
    "slash": "a/b.txt",
    "backslash": "a\\b.txt",
    "dotdot": "..",
    "parent": "../x",
}
IDENTIFIERS: dict[str, Any] = {
    "with dash": "a-b",
    "too long": "a" * 33,
    "space": "a b",
    "not a str": 5,
}
NON_JSON: dict[str, Any] = {
    "set": {1, 2},
    "bytes": b"x",
    "object": object(),
    "nan": float("nan"),
    "inf": float("inf"),
    "tuple key": {(1, 2): 3},
    "int key": {1: "a"},
}
PARAMETERS: dict[str, Any] = {
    "not a list": "string",
    "number": 5,
    "unknown dtype": [{"name": "a", "dtype": "nope"}],
    "no name": [{"dtype": "string"}],
    "duplicate": [{"name": "a", "dtype": "string"}, {"name": "a", "dtype": "int"}],
    "unknown key": [{"name": "a", "dtype": "string", "bogus": 1}],
    "item not a dict": [5],
    "mapping key differs": {"b": {"name": "a", "dtype": "string"}},
}

CASES: dict[str, Case] = {}
NOT_A_STRING: Any = 5  # what a caller without type checks may pass


def with_value(value: Any, call: Callable[[World, Any], object]) -> Case:
    """A case that makes ``call`` with one bad value."""
    return lambda world: call(world, value)


for label, name in NAMES.items():
    CASES[f"create_group name {label}"] = with_value(
        name, lambda w, n: w.store.groups.create_group(w.workflow, n, user_id=w.owner)
    )
    if name is not None:  # update_group(name=None) means: keep the name
        CASES[f"update_group name {label}"] = with_value(
            name, lambda w, n: w.store.groups.update_group(w.group, name=n, caller=w.owner)
        )
    CASES[f"register_user name {label}"] = with_value(
        name, lambda w, n: w.store.users.register_user(n, PASSWORD)
    )
    CASES[f"create_workflow name {label}"] = with_value(
        name, lambda w, n: w.store.workflows.create_workflow(n)
    )
for label, name in FILE_NAMES.items():
    CASES[f"upload_file name {label}"] = with_value(
        name, lambda w, n: w.store.groups.upload_file(w.group, b"x", n)
    )
for label, ident in IDENTIFIERS.items():
    CASES[f"create_group identifier {label}"] = with_value(
        ident,
        lambda w, i: w.store.groups.create_group(
            w.workflow, "other", user_id=w.owner, identifier=i
        ),
    )
for label, value in NON_JSON.items():
    CASES[f"create_group spec {label}"] = with_value(
        value,
        lambda w, v: w.store.groups.create_group(
            w.workflow, "other", workflow_spec={"v": v}, user_id=w.owner
        ),
    )
    CASES[f"create_group engine config {label}"] = with_value(
        value,
        lambda w, v: w.store.groups.create_group(
            w.workflow, "other", engine_config=[v], user_id=w.owner
        ),
    )
for label, value in PARAMETERS.items():
    CASES[f"create_group parameters {label}"] = with_value(
        value,
        lambda w, v: w.store.groups.create_group(
            w.workflow, "other", parameters=v, user_id=w.owner
        ),
    )
CASES.update(
    {
        "create_group taken name": lambda w: w.store.groups.create_group(
            w.workflow, "team", user_id=w.owner
        ),
        "create_group taken identifier": lambda w: w.store.groups.create_group(
            w.workflow, "other", user_id=w.owner, identifier=w.group
        ),
        "create_group unknown workflow": lambda w: w.store.groups.create_group(
            "nope", "other", user_id=w.owner
        ),
        "create_group no owner": lambda w: w.store.groups.create_group(w.workflow, "other"),
        "create_group unknown member": lambda w: w.store.groups.create_group(
            w.workflow, "other", user_id=w.owner, members=["nope"]
        ),
        "create_group inactive member": lambda w: w.store.groups.create_group(
            w.workflow, "other", user_id=w.owner, members=[w.inactive]
        ),
        "create_group members a string": lambda w: w.store.groups.create_group(
            w.workflow, "other", user_id=w.owner, members=w.member
        ),
        "create_group members of numbers": lambda w: w.store.groups.create_group(
            w.workflow, "other", user_id=w.owner, members=[NOT_A_STRING]
        ),
        "create_group for someone else": lambda w: w.store.groups.create_group(
            w.workflow, "other", user_id=w.member, caller=w.owner
        ),
        "get_group unknown": lambda w: w.store.groups.get_group("nope"),
        "update_group unknown": lambda w: w.store.groups.update_group("nope", name="x"),
        "update_group rename to taken": lambda w: w.store.groups.update_group(
            w.group, name=" taken "
        ),
        "update_group members without the owner": lambda w: w.store.groups.update_group(
            w.group, members=[w.member]
        ),
        "update_group unknown member": lambda w: w.store.groups.update_group(
            w.group, members=[w.owner, "nope"]
        ),
        "update_group by a member": lambda w: w.store.groups.update_group(
            w.group, name="mine", caller=w.member
        ),
        "update_group by an outsider": lambda w: w.store.groups.update_group(
            w.group, name="mine", caller=w.outsider
        ),
        "delete_group unknown": lambda w: w.store.groups.delete_group("nope"),
        "delete_group by a member": lambda w: w.store.groups.delete_group(w.group, caller=w.member),
        "add_member unknown user": lambda w: w.store.groups.add_member(w.group, "nope"),
        "add_member inactive user": lambda w: w.store.groups.add_member(w.group, w.inactive),
        "add_member by a member": lambda w: w.store.groups.add_member(
            w.group, w.outsider, caller=w.member
        ),
        "add_member to an unknown group": lambda w: w.store.groups.add_member("nope", w.outsider),
        "remove_member the owner": lambda w: w.store.groups.remove_member(w.group, w.owner),
        "remove_member a non-member": lambda w: w.store.groups.remove_member(w.group, w.outsider),
        "remove_member by a member": lambda w: w.store.groups.remove_member(
            w.group, w.member, caller=w.member
        ),
        "leave_group as the owner": lambda w: w.store.groups.leave_group(w.group, w.owner),
        "leave_group as an outsider": lambda w: w.store.groups.leave_group(w.group, w.outsider),
        "transfer_ownership to an outsider": lambda w: w.store.groups.transfer_ownership(
            w.group, w.outsider
        ),
        "transfer_ownership by a member": lambda w: w.store.groups.transfer_ownership(
            w.group, w.member, caller=w.member
        ),
        "transfer_ownership of an unknown group": lambda w: w.store.groups.transfer_ownership(
            "nope", w.member
        ),
        "upload_file to an unknown group": lambda w: w.store.groups.upload_file(
            "nope", b"x", "a.txt"
        ),
        "upload_file by an outsider": lambda w: w.store.groups.upload_file(
            w.group, b"x", "a.txt", caller=w.outsider
        ),
        "upload_file text stream": lambda w: w.store.groups.upload_file(
            w.group, io.StringIO("text"), "a.txt"
        ),
        "upload_file a number": lambda w: w.store.groups.upload_file(w.group, 5, "a.txt"),
        "upload_file a missing path": lambda w: w.store.groups.upload_file(
            w.group, "/no/such/file", "a.txt"
        ),
        "list_uploaded_files unknown group": lambda w: w.store.groups.list_uploaded_files("nope"),
        "list_uploaded_files by an outsider": lambda w: w.store.groups.list_uploaded_files(
            w.group, caller=w.outsider
        ),
        "get_uploaded_file unknown file": lambda w: w.store.groups.get_uploaded_file(
            w.group, "nope"
        ),
        "get_uploaded_file of another group": lambda w: w.store.groups.get_uploaded_file(
            w.other, w.file
        ),
        "delete_file of another group": lambda w: w.store.groups.delete_file(w.other, w.file),
        "get_uploaded_file by an outsider": lambda w: w.store.groups.get_uploaded_file(
            w.group, w.file, caller=w.outsider
        ),
        "delete_file unknown file": lambda w: w.store.groups.delete_file(w.group, "nope"),
        "delete_file by an outsider": lambda w: w.store.groups.delete_file(
            w.group, w.file, caller=w.outsider
        ),
        "list_groups unknown workflow": lambda w: w.store.groups.list_groups(workflow_id="nope"),
        "list_groups unknown user": lambda w: w.store.groups.list_groups(user_id="nope"),
        "list_groups_page bad cursor": lambda w: w.store.groups.list_groups_page(after="nope"),
        "list_groups_page negative size": lambda w: w.store.groups.list_groups_page(first=-1),
        "list_groups_page huge size": lambda w: w.store.groups.list_groups_page(first=10**6),
        "register_user taken name": lambda w: w.store.users.register_user("OWNER", PASSWORD),
        "register_user short password": lambda w: w.store.users.register_user("new", "short"),
        "register_user password not a string": lambda w: w.store.users.register_user(
            "new", NOT_A_STRING
        ),
        "register_user huge password": lambda w: w.store.users.register_user("new", "x" * 5000),
        "login_user wrong password": lambda w: w.store.users.login_user("owner", "wrong one!"),
        "login_user unknown user": lambda w: w.store.users.login_user("nobody", PASSWORD),
        "login_user inactive user": lambda w: w.store.users.login_user("pending", PASSWORD),
        "authenticate bad key": lambda w: w.store.users.authenticate("nope"),
        "authenticate no key": lambda w: w.store.users.authenticate(None),
        "activate_user unknown": lambda w: w.store.users.activate_user("nope"),
        "activate_user_with_token bad token": lambda w: w.store.users.activate_user_with_token(
            "nope"
        ),
        "reset_password bad token": lambda w: w.store.users.reset_password("nope", PASSWORD),
        "change_password wrong old": lambda w: w.store.users.change_password(
            w.owner, "wrong one!", "a new long password"
        ),
        "change_password short new": lambda w: w.store.users.change_password(
            w.owner, PASSWORD, "short"
        ),
        "get_user unknown": lambda w: w.store.users.get_user("nope"),
        "promote_user unknown": lambda w: w.store.users.promote_user("nope"),
        "create_workflow taken name": lambda w: w.store.workflows.create_workflow("wf"),
        "create_workflow by a non-admin": lambda w: w.store.workflows.create_workflow(
            "other", caller=w.owner
        ),
        "create_workflow spec not JSON": lambda w: w.store.workflows.create_workflow(
            "other", workflow_spec={"v": {1, 2}}
        ),
        "get_workflow unknown": lambda w: w.store.workflows.get_workflow("nope"),
        "delete_workflow unknown": lambda w: w.store.workflows.delete_workflow("nope"),
        "delete_workflow by a non-admin": lambda w: w.store.workflows.delete_workflow(
            w.workflow, caller=w.owner
        ),
    }
)


def test_the_battery_has_at_least_80_cases() -> None:
    assert len(CASES) >= 80


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_a_coded_error_and_changes_nothing(world: World, case: str) -> None:
    before = snapshot(world.store)
    with pytest.raises(groupstore.GroupStoreError) as raised:
        CASES[case](world)
    assert type(raised.value) is not groupstore.GroupStoreError, raised.value
    assert raised.value.code not in ("STORE_ERROR", "STORE_UNAVAILABLE")
    assert snapshot(world.store) == before
