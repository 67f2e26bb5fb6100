"""Budget: a page of 50 groups with their members' names costs a constant number of round trips.

Round trips are counted with pymongo's command monitoring on a real server
(GROUPSTORE_TEST_MONGO_URI), and on mongomock by counting the outermost
collection calls (each is one command on a server; a ``find`` whose results
fit in the first batch, as 51 groups do, is one round trip).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import mongomock.collection
import pytest
from pymongo import monitoring

from graphql_api.app import create_app
from graphql_api.settings import Settings
from groupstore import GroupStore
from tests.backend import MONGO_URI, PASSWORD
from tests.support import CommandCounter

from .conftest import BASE_URL, PREFLIGHT, bearer, upload_form

pytestmark = pytest.mark.anyio

MONGOMOCK_COMMANDS = (
    "find", "find_one", "find_one_and_update", "find_one_and_delete", "find_one_and_replace",
    "insert_one", "insert_many", "update_one", "update_many", "replace_one", "delete_one",
    "delete_many", "aggregate", "count_documents", "estimated_document_count", "distinct",
    "bulk_write", "create_index", "create_indexes",
)  # fmt: skip
AUTHENTICATION = 1  # authenticate(): the key document carries its user


_LISTENER = CommandCounter(on=False)
if MONGO_URI:
    # Applies to clients created from now on: the stores of these tests.
    monitoring.register(_LISTENER)


@pytest.fixture
def counted(
    store_factory: Callable[..., GroupStore], monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[GroupStore, CommandCounter]]:
    store = store_factory()
    _LISTENER.database, _LISTENER.on = store.db.name, True
    _LISTENER.commands = []
    if not MONGO_URI:
        _count_mongomock_calls(monkeypatch, _LISTENER)
    yield store, _LISTENER
    _LISTENER.database, _LISTENER.on = None, False


def _count_mongomock_calls(monkeypatch: pytest.MonkeyPatch, counter: CommandCounter) -> None:
    depth = threading.local()  # mongomock calls itself (find_one -> find): count the outer call

    def counting(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            outer = getattr(depth, "n", 0) == 0
            if outer and self.database.name == counter.database:
                counter.commands.append(name)
                counter.seen.append((name, self.name, {}))
            depth.n = getattr(depth, "n", 0) + 1
            try:
                return method(self, *args, **kwargs)
            finally:
                depth.n -= 1

        return wrapper

    for name in MONGOMOCK_COMMANDS:
        method = getattr(mongomock.collection.Collection, name)
        monkeypatch.setattr(mongomock.collection.Collection, name, counting(name, method))


PAGE = """{ groups(first: 50) { edges { cursor node {
    name owner { username } members { username } } } pageInfo { hasNextPage } } }"""


async def _page_of_50(store: GroupStore, counter: CommandCounter) -> tuple[list[str], str]:
    users = [store.users.register_user(f"user{i}", PASSWORD) for i in range(12)]
    workflow = store.workflows.create_workflow("wf")
    for i in range(50):
        members = [users[(i + k) % 11 + 1].user_id for k in (0, 1, 2)]
        store.groups.create_group(
            workflow.workflow_id, f"g{i}", [], {}, user_id=users[0].user_id, members=members
        )
    token = store.users.login_user("user0", PASSWORD).token
    app = create_app(store=store, settings=Settings())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL
    ) as client:
        counter.commands.clear()
        response = await client.post("/graphql", json={"query": PAGE}, headers=bearer(token))
    body = response.json()
    assert "errors" not in body, body
    edges = body["data"]["groups"]["edges"]
    assert len(edges) == 50 and all(len(e["node"]["members"]) == 4 for e in edges)
    return list(counter.commands), token


async def test_a_page_of_50_groups_with_member_names_costs_2_round_trips_after_authentication(
    counted: tuple[GroupStore, CommandCounter],
) -> None:
    store, counter = counted

    commands, _ = await _page_of_50(store, counter)

    # authenticate (the key), then one listing: members' names are in the group documents.
    assert len(commands) - AUTHENTICATION <= 2, commands


async def test_authentication_costs_1_round_trip(
    counted: tuple[GroupStore, CommandCounter],
) -> None:
    store, counter = counted
    store.users.register_user("u", PASSWORD)
    token = store.users.login_user("u", PASSWORD).token
    app = create_app(store=store, settings=Settings())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL
    ) as client:
        counter.commands.clear()
        await client.post("/graphql", json={"query": "{ me { id } }"}, headers=bearer(token))

    assert len(counter.commands) == AUTHENTICATION, counter.commands


async def test_a_page_of_50_groups_with_member_names_costs_at_most_3_round_trips_in_total(
    counted: tuple[GroupStore, CommandCounter],
) -> None:
    store, counter = counted

    commands, _ = await _page_of_50(store, counter)

    assert len(commands) <= 3, commands


def _team(store: GroupStore) -> tuple[str, str, str]:
    """(owner token, owner id, group id) of a fresh group with one file."""
    owner = store.users.register_user("owner", PASSWORD)
    workflow = store.workflows.create_workflow("wf")
    group = store.groups.create_group(workflow.workflow_id, "team", user_id=owner.user_id)
    return store.users.login_user("owner", PASSWORD).token, owner.user_id, group.group_id


def _library_cost(store: GroupStore, counter: CommandCounter, call: Callable[[], object]) -> int:
    counter.commands.clear()
    call()
    return len(counter.commands)


async def _gateway_cost(
    store: GroupStore, counter: CommandCounter, token: str, **request: Any
) -> list[str]:
    app = create_app(store=store, settings=Settings())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=BASE_URL
    ) as client:
        counter.commands.clear()
        response = await client.post("/graphql", headers=bearer(token) | PREFLIGHT, **request)
    body = response.json()
    assert "errors" not in body, body
    return list(counter.commands)


async def test_a_members_upload_through_the_gateway_costs_what_the_library_call_costs(
    counted: tuple[GroupStore, CommandCounter],
) -> None:
    store, counter = counted
    token, owner, group_id = _team(store)
    alone = _library_cost(
        store, counter, lambda: store.groups.upload_file(group_id, b"x", "a.txt", caller=owner)
    )

    commands = await _gateway_cost(store, counter, token, files=upload_form(group_id, b"x", "b"))

    assert len(commands) - AUTHENTICATION <= alone, commands


async def test_a_rename_through_the_gateway_costs_what_the_library_call_costs(
    counted: tuple[GroupStore, CommandCounter],
) -> None:
    store, counter = counted
    token, owner, group_id = _team(store)
    alone = _library_cost(
        store, counter, lambda: store.groups.update_group(group_id, name="one", caller=owner)
    )
    rename = 'mutation($id: ID!) { updateGroup(id: $id, name: "two") { name } }'

    commands = await _gateway_cost(
        store, counter, token, json={"query": rename, "variables": {"id": group_id}}
    )

    assert len(commands) - AUTHENTICATION <= alone, commands


async def test_a_group_delete_through_the_gateway_costs_what_the_library_call_costs(
    counted: tuple[GroupStore, CommandCounter],
) -> None:
    store, counter = counted
    token, owner, group_id = _team(store)
    other = store.groups.create_group(
        store.groups.get_group(group_id).workflow_id, "other", user_id=owner
    )
    for target in (group_id, other.group_id):
        store.groups.upload_file(target, b"x", "a.txt")
    alone = _library_cost(
        store, counter, lambda: store.groups.delete_group(other.group_id, caller=owner)
    )
    delete = "mutation($id: ID!) { deleteGroup(id: $id) }"

    commands = await _gateway_cost(
        store, counter, token, json={"query": delete, "variables": {"id": group_id}}
    )

    assert len(commands) - AUTHENTICATION <= alone, commands
