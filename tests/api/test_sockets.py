"""WebSocket bounds, shared reads, message size and URLs, in process (Starlette's test client).

(tests/api/test_socket_sessions.py has what needs a real server and a clock:
the end of a session, and HTTP answering while the socket bound is hit.)
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, cast

import pytest
from starlette.applications import Starlette
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from graphql_api.app import create_app
from graphql_api.settings import Settings
from groupstore import Group, GroupStore, UploadedFile
from groupstore.storage.files import GridFSStore
from tests.backend import PASSWORD
from tests.support import CommandCounter

from .conftest import TestClient
from .test_round_trips import counted  # noqa: F401 - the counting store fixture
from .test_subscriptions import (
    FILES_CHANGED,
    GROUP_CHANGED,
    PROTOCOL,
    RENAME,
    data,
    graphql,
    socket,
    subscribe,
    upload,
)

MiB = 1024 * 1024


@pytest.fixture
def client_with(make_app: Callable[..., Starlette]) -> Iterator[Callable[..., TestClient]]:
    """A test client of an app with these settings (closed after the test)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        clients: list[TestClient] = []

        def make(**settings: Any) -> TestClient:
            client = TestClient(make_app(**settings))
            clients.append(client.__enter__())
            return client

        yield make
        for client in clients:
            client.__exit__(None, None, None)


def closed_with(ws: Any) -> int:
    with pytest.raises(WebSocketDisconnect) as closed:
        ws.receive_json()
    return closed.value.code


def test_a_users_sockets_beyond_the_bound_are_closed_with_4429(
    client_with: Callable[..., TestClient], member_token: str
) -> None:
    http = client_with(ws_max_sockets_per_user=2)
    init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {member_token}"}}
    with (
        socket(http, member_token),
        socket(http, member_token),
        http.websocket_connect("/graphql", subprotocols=PROTOCOL) as third,
    ):
        third.send_json(init)

        assert closed_with(third) == 4429

    with socket(http, member_token):  # the count went down with the sockets
        pass


def test_an_addresss_sockets_beyond_the_bound_are_refused_with_429(
    client_with: Callable[..., TestClient],
) -> None:
    http = client_with(ws_max_sockets_per_address=2)
    with (
        http.websocket_connect("/graphql", subprotocols=PROTOCOL),
        http.websocket_connect("/graphql", subprotocols=PROTOCOL),
        pytest.raises(WebSocketDenialResponse) as refused,
    ):
        http.websocket_connect("/graphql", subprotocols=PROTOCOL).__enter__()

    assert refused.value.status_code == 429
    assert refused.value.json()["errors"][0]["extensions"]["code"] == "TOO_MANY_REQUESTS"


def test_a_socket_that_does_not_init_in_time_is_closed_with_4408(
    client_with: Callable[..., TestClient],
) -> None:
    http = client_with(ws_init_timeout_seconds=0.2)
    with http.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        assert closed_with(ws) == 4408


def test_a_users_subscriptions_beyond_the_bound_get_too_many_requests(
    client_with: Callable[..., TestClient], team: Group, member_token: str
) -> None:
    http = client_with(ws_max_subscriptions_per_user=2)
    with socket(http, member_token) as one, socket(http, member_token) as two:
        data(subscribe(one, GROUP_CHANGED, team.group_id, op="a"))
        data(subscribe(two, GROUP_CHANGED, team.group_id, op="b"))

        refused = subscribe(two, GROUP_CHANGED, team.group_id, op="c")

    assert refused["payload"]["errors"][0]["extensions"]["code"] == "TOO_MANY_REQUESTS"


def test_a_message_over_1_mib_closes_the_socket_with_4413_unexecuted(
    client_with: Callable[..., TestClient], member_token: str
) -> None:
    http = client_with()
    with socket(http, member_token) as ws:
        ws.send_json(
            {
                "id": "big",
                "type": "subscribe",
                "payload": {"query": "{ me { id } }", "variables": {"pad": "x" * MiB}},
            }
        )

        assert closed_with(ws) == 4413


def test_a_subscribe_message_without_a_request_is_refused_and_the_socket_serves_on(
    client_with: Callable[..., TestClient], member_token: str
) -> None:
    http = client_with()
    with socket(http, member_token) as ws:
        ws.send_json({"id": "bad", "type": "subscribe", "payload": {"query": 5}})
        refused = ws.receive_json()
        ws.send_json({"id": "me", "type": "subscribe", "payload": {"query": "{ me { id } }"}})
        answered = ws.receive_json()

    assert refused["type"] == "error"
    assert refused["payload"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert answered["id"] == "me" and answered["type"] == "next"


URLS = "query($g: ID!) { uploadedFiles(groupId: $g) { downloadUrl signedUrl } }"


@pytest.mark.parametrize(
    ("settings", "base"),
    [
        pytest.param({}, "http://testserver", id="server-address"),
        pytest.param({"public_url": "https://groups.example.org/api"},
                     "https://groups.example.org/api", id="public-url"),
    ],
)  # fmt: skip
def test_a_socket_with_a_spoofed_host_gets_urls_on_the_public_base(
    client_with: Callable[..., TestClient],
    group: Group,
    uploaded: UploadedFile,
    member_token: str,
    settings: dict[str, Any],
    base: str,
) -> None:
    http = client_with(**settings)
    spoofed = {"host": "attacker.example:8443", "x-forwarded-proto": "https"}
    with http.websocket_connect("/graphql", subprotocols=PROTOCOL, headers=spoofed) as ws:
        ws.send_json(
            {"type": "connection_init", "payload": {"Authorization": f"Bearer {member_token}"}}
        )
        assert ws.receive_json() == {"type": "connection_ack"}
        (file,) = cast("list[dict[str, Any]]", data(subscribe(ws, URLS, group.group_id)))

    path = f"/files/{group.group_id}/{uploaded.file_id}"
    assert file["downloadUrl"].removesuffix(":80" + path).removesuffix(path) == base
    assert file["signedUrl"].startswith(file["downloadUrl"] + "?")


@contextmanager
def counting_client(store: GroupStore) -> Iterator[TestClient]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        app = create_app(store=store, settings=Settings(ws_session_check_seconds=0.9))
        with TestClient(app) as client:
            yield client


def test_an_event_costs_one_read_for_50_subscriptions(
    counted: tuple[GroupStore, CommandCounter],  # noqa: F811
) -> None:
    store, counter = counted
    owner = store.users.register_user("owner", PASSWORD)
    workflow = store.workflows.create_workflow("wf")
    group = store.groups.create_group(workflow.workflow_id, "g", [], {}, user_id=owner.user_id)
    token = store.users.login_user("owner", PASSWORD).token
    with counting_client(store) as http:
        counter.seen.clear()
        graphql(http, token, RENAME, g=group.group_id, name="alone")
        rename_alone = foreground(counter.seen)
        with socket(http, token) as ws:
            for op in range(50):
                data(subscribe(ws, GROUP_CHANGED, group.group_id, op=str(op)))
            counter.seen.clear()
            graphql(http, token, RENAME, g=group.group_id, name="watched")
            delivered = [data(ws.receive_json()) for _ in range(50)]
            commands = foreground(counter.seen)

    assert all(d == {"kind": "GROUP_UPDATED", "group": {"name": "watched"}} for d in delivered)
    # One read of the group for all 50.
    assert len(commands) - len(rename_alone) <= 1, (rename_alone, commands)


BACKGROUND = {"changes", "api_keys"}
"""What a gateway reads on a clock, not per event: the change log it polls (every
0.2 s) and the session checks of open sockets (every 0.5 s). How many fall into a
window depends on how long the window lasts, so the per-event count leaves them out."""


def foreground(seen: list[tuple[str, Any, dict[str, Any]]]) -> list[tuple[str, Any]]:
    return [(name, collection) for name, collection, _ in seen if collection not in BACKGROUND]


def test_a_slow_store_does_not_stall_http_while_file_subscriptions_read(
    client_with: Callable[..., TestClient],
    team: Group,
    member_token: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    http = client_with()
    with socket(http, member_token) as ws:
        for op in range(5):
            data(subscribe(ws, FILES_CHANGED, team.group_id, op=str(op)))
        listing = GridFSStore.list_for_group

        def slow(self: GridFSStore, group_id: str) -> Any:
            time.sleep(0.6)  # a database that answers slowly
            return listing(self, group_id)

        monkeypatch.setattr(GridFSStore, "list_for_group", slow)
        upload(http, member_token, team.group_id, "new.txt")
        start = time.monotonic()
        health = http.get("/healthz")
        seconds = time.monotonic() - start
        delivered = [data(ws.receive_json()) for _ in range(5)]

    assert health.status_code == 200 and seconds < 0.5
    assert all(d["files"] == [{"name": "new.txt"}] for d in delivered)
