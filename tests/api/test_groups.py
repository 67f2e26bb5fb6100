"""group, groups, createGroup, updateGroup and deleteGroup, for each kind of caller.

Any authenticated user sees a group's summary; members see all of it;
changing or deleting a group is for its owner (here alice, the member).
Every refusal is checked to have changed nothing.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from groupstore import Group, GroupStore, UploadedFile, User, Workflow

from .conftest import DENIED, Api, error_code

pytestmark = pytest.mark.anyio

GROUP = """query($id: ID!) {
  group(id: $id) { id name workflowId parameters workflowSpec engineConfig
                   owner { username } members { username } workflow { name } }
}"""
CREATE = """mutation($w: ID!, $n: String!, $m: [ID!], $p: JSON, $s: JSON, $e: JSON) {
  createGroup(workflowId: $w, name: $n, members: $m, parameters: $p, workflowSpec: $s,
              engineConfig: $e) { id name members { id } owner { id } parameters workflowSpec }
}"""
UPDATE = """mutation($id: ID!, $n: String, $m: [ID!]) {
  updateGroup(id: $id, name: $n, members: $m) { name members { id } }
}"""
DELETE = "mutation($id: ID!) { deleteGroup(id: $id) }"


# -- group ------------------------------------------------------------------


async def test_group_reads_the_group_with_its_members(
    api: Api, group: Group, member_token: str
) -> None:
    body = await api(GROUP, {"id": group.group_id}, token=member_token)

    read = body["data"]["group"]
    assert read["name"] == "team-a"
    assert read["owner"] == {"username": "alice"}
    assert read["members"] == [{"username": "alice"}]
    assert read["workflow"] == {"name": "benchmark"}
    assert read["parameters"] == [] and read["workflowSpec"] == {}


async def test_group_when_anonymous_is_unauthenticated(api: Api, group: Group) -> None:
    body = await api(GROUP, {"id": group.group_id})

    assert error_code(body) == "UNAUTHENTICATED"


async def test_group_of_an_unknown_id_is_unknown_group(api: Api, member_token: str) -> None:
    body = await api(GROUP, {"id": "nope"}, token=member_token)

    assert error_code(body) == "UNKNOWN_GROUP"


async def test_group_files_are_listed_for_members(
    api: Api, group: Group, uploaded: UploadedFile, member_token: str
) -> None:
    body = await api(
        "query($id: ID!) { group(id: $id) { files { id name } } }",
        {"id": group.group_id},
        token=member_token,
    )

    assert body["data"]["group"]["files"] == [{"id": uploaded.file_id, "name": "hello.txt"}]


async def test_group_shows_a_non_member_its_summary_only(
    api: Api, group: Group, uploaded: UploadedFile, outsider_token: str
) -> None:
    body = await api(GROUP, {"id": group.group_id}, token=outsider_token)

    read = body["data"]["group"]
    assert "errors" not in body
    assert (read["id"], read["name"], read["workflowId"]) == (
        group.group_id,
        "team-a",
        group.workflow_id,
    )
    hidden = ("parameters", "workflowSpec", "engineConfig", "owner", "members")
    assert {key: read[key] for key in hidden} == dict.fromkeys(hidden)


async def test_group_files_are_null_for_non_members(
    api: Api, group: Group, uploaded: UploadedFile, outsider_token: str
) -> None:
    body = await api(
        "query($id: ID!) { group(id: $id) { name isMember files { id } } }",
        {"id": group.group_id},
        token=outsider_token,
    )

    assert body["data"]["group"] == {"name": "team-a", "isMember": False, "files": None}


# -- groups -----------------------------------------------------------------


async def test_groups_pages_through_all_groups_with_opaque_cursors(
    api: Api, store: GroupStore, alice: User, workflow: Workflow, member_token: str
) -> None:
    for i in range(5):
        store.groups.create_group(workflow.workflow_id, f"g{i}", [], {}, user_id=alice.user_id)
    query = """query($after: String) { groups(first: 2, after: $after) {
        edges { cursor node { name } } pageInfo { hasNextPage endCursor } } }"""

    names, after, pages = [], None, 0
    while True:
        page = (await api(query, {"after": after}, token=member_token))["data"]["groups"]
        names += [edge["node"]["name"] for edge in page["edges"]]
        pages += 1
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    assert names == ["g0", "g1", "g2", "g3", "g4"]
    assert pages == 3
    assert after is not None
    assert not after.isdigit() and "groups" not in after  # opaque, not the raw keyset value


async def test_groups_stays_stable_when_groups_are_added_between_pages(
    api: Api, store: GroupStore, alice: User, workflow: Workflow, member_token: str
) -> None:
    for i in range(3):
        store.groups.create_group(workflow.workflow_id, f"g{i}", [], {}, user_id=alice.user_id)
    query = """query($after: String) { groups(first: 2, after: $after) {
        nodes { name } pageInfo { endCursor } } }"""
    first = (await api(query, token=member_token))["data"]["groups"]

    store.groups.create_group(workflow.workflow_id, "late", [], {}, user_id=alice.user_id)
    after = first["pageInfo"]["endCursor"]
    second = (await api(query, {"after": after}, token=member_token))["data"]["groups"]

    assert [n["name"] for n in first["nodes"] + second["nodes"]] == ["g0", "g1", "g2", "late"]


async def test_groups_filters_by_workflow_and_member(
    api: Api, store: GroupStore, alice: User, bob: User, workflow: Workflow, member_token: str
) -> None:
    other = store.workflows.create_workflow("other")
    store.groups.create_group(workflow.workflow_id, "a", [], {}, user_id=alice.user_id)
    store.groups.create_group(other.workflow_id, "b", [], {}, user_id=alice.user_id)
    store.groups.create_group(other.workflow_id, "c", [], {}, user_id=bob.user_id)
    store.groups.create_group(
        other.workflow_id, "d", [], {}, user_id=bob.user_id, members=[alice.user_id]
    )
    query = "query($w: ID, $u: ID) { groups(workflowId: $w, userId: $u) { nodes { name } } }"

    by_workflow = await api(query, {"w": other.workflow_id}, token=member_token)
    by_member = await api(query, {"u": bob.user_id}, token=member_token)
    both = await api(query, {"w": other.workflow_id, "u": alice.user_id}, token=member_token)

    assert [g["name"] for g in by_workflow["data"]["groups"]["nodes"]] == ["b", "c", "d"]
    assert [g["name"] for g in by_member["data"]["groups"]["nodes"]] == ["d"]  # shared only
    assert [g["name"] for g in both["data"]["groups"]["nodes"]] == ["b", "d"]


async def test_groups_of_another_user_are_those_shared_unless_the_caller_is_an_administrator(
    api: Api,
    store: GroupStore,
    alice: User,
    bob: User,
    workflow: Workflow,
    member_token: str,
    admin_token: str,
) -> None:
    store.groups.create_group(workflow.workflow_id, "bobs", [], {}, user_id=bob.user_id)
    query = "query($u: ID) { groups(userId: $u) { nodes { name } } }"

    by_alice = await api(query, {"u": bob.user_id}, token=member_token)
    by_admin = await api(query, {"u": bob.user_id}, token=admin_token)

    assert by_alice == {"data": {"groups": {"nodes": []}}}
    assert [g["name"] for g in by_admin["data"]["groups"]["nodes"]] == ["bobs"]


async def test_groups_of_an_unknown_workflow_is_unknown_workflow(
    api: Api, member_token: str
) -> None:
    body = await api('{ groups(workflowId: "nope") { nodes { id } } }', token=member_token)

    assert error_code(body) == "UNKNOWN_WORKFLOW"


@pytest.mark.parametrize(
    "arguments", ['after: "not a cursor"', 'after: "Z3JvdXBzOg"', "first: -1", "first: 101"]
)
async def test_groups_with_a_bad_cursor_or_page_size_is_bad_request(
    api: Api, member_token: str, arguments: str
) -> None:
    body = await api(f"{{ groups({arguments}) {{ nodes {{ id }} }} }}", token=member_token)

    assert error_code(body) == "BAD_REQUEST"


async def test_groups_when_anonymous_is_unauthenticated(api: Api, group: Group) -> None:
    body = await api("{ groups { nodes { id } } }")

    assert error_code(body) == "UNAUTHENTICATED"


# -- createGroup ------------------------------------------------------------


async def test_create_group_makes_the_caller_owner_and_member(
    api: Api, store: GroupStore, alice: User, bob: User, workflow: Workflow, member_token: str
) -> None:
    body = await api(
        CREATE,
        {"w": workflow.workflow_id, "n": "team", "m": [bob.user_id], "e": {"workers": 2}},
        token=member_token,
    )

    created = body["data"]["createGroup"]
    assert created["owner"] == {"id": alice.user_id}
    assert created["members"] == [{"id": alice.user_id}, {"id": bob.user_id}]
    stored = store.groups.get_group(created["id"])
    assert stored.owner_id == alice.user_id and stored.engine_config == {"workers": 2}


async def test_create_group_takes_parameters_and_spec_from_the_workflow_by_default(
    api: Api, store: GroupStore, member_token: str
) -> None:
    parameters = [{"name": "n", "dtype": "int", "index": 0, "isRequired": False}]
    wf = store.workflows.create_workflow("wf", workflow_spec={"steps": [1]}, parameters=parameters)

    body = await api(CREATE, {"w": wf.workflow_id, "n": "team"}, token=member_token)

    created = body["data"]["createGroup"]
    assert created["parameters"] == parameters
    assert created["workflowSpec"] == {"steps": [1]}


async def test_create_group_when_anonymous_is_unauthenticated_and_stores_nothing(
    api: Api, store: GroupStore, workflow: Workflow
) -> None:
    body = await api(CREATE, {"w": workflow.workflow_id, "n": "team"})

    assert error_code(body) == "UNAUTHENTICATED"
    assert store.groups.list_groups() == []


async def test_create_group_with_a_taken_name_is_a_constraint_violation(
    api: Api, store: GroupStore, group: Group, workflow: Workflow, member_token: str
) -> None:
    body = await api(CREATE, {"w": workflow.workflow_id, "n": " team-a "}, token=member_token)

    assert error_code(body) == "CONSTRAINT_VIOLATION"
    assert [g.group_id for g in store.groups.list_groups()] == [group.group_id]


async def test_create_group_with_an_unknown_member_is_unknown_user_and_stores_nothing(
    api: Api, store: GroupStore, workflow: Workflow, member_token: str
) -> None:
    body = await api(
        CREATE, {"w": workflow.workflow_id, "n": "team", "m": ["ghost"]}, token=member_token
    )

    assert error_code(body) == "UNKNOWN_USER"
    assert store.groups.list_groups() == []


async def test_create_group_of_an_unknown_workflow_is_unknown_workflow(
    api: Api, member_token: str
) -> None:
    body = await api(CREATE, {"w": "nope", "n": "team"}, token=member_token)

    assert error_code(body) == "UNKNOWN_WORKFLOW"


# -- updateGroup ------------------------------------------------------------


async def test_update_group_by_a_member_renames_and_replaces_members(
    api: Api, store: GroupStore, group: Group, alice: User, bob: User, member_token: str
) -> None:
    body = await api(
        UPDATE,
        {"id": group.group_id, "n": "renamed", "m": [alice.user_id, bob.user_id]},
        token=member_token,
    )

    assert body["data"]["updateGroup"]["name"] == "renamed"
    stored = store.groups.get_group(group.group_id)
    assert (stored.name, stored.member_ids) == ("renamed", [alice.user_id, bob.user_id])


@pytest.mark.parametrize(("role", "code"), DENIED)
async def test_update_group_is_refused_to_non_members_and_changes_nothing(
    api: Api,
    store: GroupStore,
    group: Group,
    bob: User,
    token_of: Callable[[str], str | None],
    role: str,
    code: str,
) -> None:
    body = await api(
        UPDATE, {"id": group.group_id, "n": "taken", "m": [bob.user_id]}, token=token_of(role)
    )

    assert error_code(body) == code
    assert store.groups.get_group(group.group_id) == group


async def test_update_group_with_an_unknown_member_changes_nothing(
    api: Api, store: GroupStore, group: Group, bob: User, member_token: str
) -> None:
    body = await api(
        UPDATE, {"id": group.group_id, "m": [bob.user_id, "ghost"]}, token=member_token
    )

    assert error_code(body) == "UNKNOWN_USER"
    assert store.groups.get_group(group.group_id) == group


async def test_update_group_of_an_unknown_id_is_unknown_group(api: Api, member_token: str) -> None:
    body = await api(UPDATE, {"id": "nope", "n": "x"}, token=member_token)

    assert error_code(body) == "UNKNOWN_GROUP"


# -- deleteGroup ------------------------------------------------------------


async def test_delete_group_by_a_member_removes_it_and_its_files(
    api: Api, store: GroupStore, group: Group, uploaded: UploadedFile, member_token: str
) -> None:
    body = await api(DELETE, {"id": group.group_id}, token=member_token)

    assert body == {"data": {"deleteGroup": True}}
    assert store.groups.list_groups() == []
    assert store.db["fs.files"].count_documents({}) == 0
    assert store.db["fs.chunks"].count_documents({}) == 0


@pytest.mark.parametrize(("role", "code"), DENIED)
async def test_delete_group_is_refused_to_non_members_and_changes_nothing(
    api: Api,
    store: GroupStore,
    group: Group,
    uploaded: UploadedFile,
    token_of: Callable[[str], str | None],
    role: str,
    code: str,
) -> None:
    before = store.groups.get_group(group.group_id)

    body = await api(DELETE, {"id": group.group_id}, token=token_of(role))

    assert error_code(body) == code
    assert store.groups.get_group(group.group_id) == before
    assert store.groups.get_uploaded_file(group.group_id, uploaded.file_id).open().read() == (
        b"hello world"
    )


async def test_delete_group_of_an_unknown_id_is_unknown_group(api: Api, member_token: str) -> None:
    body = await api(DELETE, {"id": "nope"}, token=member_token)

    assert error_code(body) == "UNKNOWN_GROUP"


async def test_groups_without_filters_lists_the_callers_own_groups(
    api: Api, group: Group, outsider_token: str, member_token: str
) -> None:
    query = "{ groups { nodes { name members { username } } } }"

    assert (await api(query, token=outsider_token))["data"]["groups"]["nodes"] == []
    assert (await api(query, token=member_token))["data"]["groups"]["nodes"] == [
        {"name": "team-a", "members": [{"username": "alice"}]}
    ]


async def test_groups_with_all_lists_summaries_of_others_groups(
    api: Api, group: Group, outsider_token: str
) -> None:
    body = await api(
        "{ groups(all: true) { nodes { name isMember members { username } } } }",
        token=outsider_token,
    )

    assert body["data"]["groups"]["nodes"] == [
        {"name": "team-a", "isMember": False, "members": None}
    ]


MEMBER_BY = """mutation($g: ID!, $u: ID, $n: String) {
  add: addMember(groupId: $g, userId: $u, username: $n) { members { username } } }"""
TRANSFER_BY = """mutation($g: ID!, $n: String) {
  transferOwnership(groupId: $g, username: $n) { owner { username } } }"""
REMOVE_BY = """mutation($g: ID!, $n: String) {
  removeMember(groupId: $g, username: $n) { members { username } } }"""


async def test_membership_mutations_take_a_username_as_well_as_an_id(
    api: Api, group: Group, bob: User, member_token: str
) -> None:
    by_name = await api(MEMBER_BY, {"g": group.group_id, "n": "Bob"}, token=member_token)
    by_id = await api(MEMBER_BY, {"g": group.group_id, "u": bob.user_id}, token=member_token)
    moved = await api(TRANSFER_BY, {"g": group.group_id, "n": "bob"}, token=member_token)

    assert by_name["data"]["add"]["members"] == [{"username": "alice"}, {"username": "bob"}]
    assert by_id["data"]["add"] == by_name["data"]["add"]  # adding again: a no-op
    assert moved["data"]["transferOwnership"]["owner"] == {"username": "bob"}


async def test_removing_a_member_by_username_removes_them(
    api: Api, store: GroupStore, group: Group, bob: User, member_token: str
) -> None:
    store.groups.add_member(group.group_id, bob.user_id)

    body = await api(REMOVE_BY, {"g": group.group_id, "n": "bob"}, token=member_token)

    assert body["data"]["removeMember"]["members"] == [{"username": "alice"}]


@pytest.mark.parametrize("named", [{}, {"u": "x", "n": "bob"}])
async def test_membership_mutations_need_exactly_one_of_user_id_and_username(
    api: Api, group: Group, bob: User, member_token: str, named: dict[str, str]
) -> None:
    body = await api(MEMBER_BY, {"g": group.group_id, **named}, token=member_token)

    assert error_code(body) == "BAD_REQUEST"


async def test_an_unknown_username_is_unknown_user(
    api: Api, group: Group, member_token: str
) -> None:
    body = await api(MEMBER_BY, {"g": group.group_id, "n": "nobody"}, token=member_token)

    assert error_code(body) == "UNKNOWN_USER"
