"""Subscriptions in process: the protocol messages, through Starlette's WebSocket test client.

(tests/e2e/test_live_e2e.py runs the main paths against the real server with gql.)
Every subscription's first message is INITIAL, sent once it listens, so a
change made after receiving it is always reported.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from groupstore import Group, GroupStore
from tests.backend import PASSWORD
from tests.support import cheap_hashing

from .conftest import TestClient

FILES_CHANGED = "subscription($g: ID!) { filesChanged(groupId: $g) { kind fileId files { name } } }"
GROUP_CHANGED = "subscription($g: ID!) { groupChanged(id: $g) { kind group { name } } }"
PROTOCOL = ["graphql-transport-ws"]


@pytest.fixture
def http(make_app: Any) -> Iterator[TestClient]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with TestClient(make_app()) as client:
            yield client


@contextmanager
def socket(http: TestClient, token: str) -> Iterator[Any]:
    with http.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws:
        ws.send_json({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
        assert ws.receive_json() == {"type": "connection_ack"}
        yield ws


def subscribe(ws: Any, query: str, group_id: str, op: str = "1") -> dict[str, Any]:
    """Start a subscription; its first message (INITIAL, or the error)."""
    ws.send_json(
        {"id": op, "type": "subscribe", "payload": {"query": query, "variables": {"g": group_id}}}
    )
    message: dict[str, Any] = ws.receive_json()
    return message


def data(message: dict[str, Any]) -> dict[str, Any]:
    assert message["type"] == "next", message
    assert "errors" not in message["payload"], message
    value: dict[str, Any] = next(iter(message["payload"]["data"].values()))
    return value


def graphql(http: TestClient, token: str, query: str, **variables: Any) -> dict[str, Any]:
    response = http.post(
        "/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Bearer {token}"},
    )
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body
    return body


RENAME = "mutation($g: ID!, $name: String) { updateGroup(id: $g, name: $name) { id } }"


def upload(http: TestClient, token: str, group_id: str, name: str) -> dict[str, Any]:
    operations = {
        "query": "mutation($g: ID!, $f: Upload!) { uploadFile(groupId: $g, file: $f) { id } }",
        "variables": {"g": group_id, "f": None},
    }
    response = http.post(
        "/graphql",
        headers={"Authorization": f"Bearer {token}", "GraphQL-Require-Preflight": "1"},
        files={
            "operations": (None, json.dumps(operations)),
            "map": (None, json.dumps({"0": ["variables.f"]})),
            "0": (name, b"content", "text/plain"),
        },
    )
    uploaded: dict[str, Any] = response.json()["data"]["uploadFile"]
    return uploaded


def test_the_first_message_is_the_state_when_the_subscription_started(
    http: TestClient, store: GroupStore, team: Group, member_token: str
) -> None:
    store.groups.upload_file(team.group_id, b"x", "before.txt")
    with socket(http, member_token) as ws:
        first = data(subscribe(ws, FILES_CHANGED, team.group_id))

    assert first == {"kind": "INITIAL", "fileId": None, "files": [{"name": "before.txt"}]}


def test_files_changed_skips_a_rename_and_reports_the_next_upload(
    http: TestClient, team: Group, member_token: str, outsider_token: str
) -> None:
    with socket(http, member_token) as ws:
        subscribe(ws, FILES_CHANGED, team.group_id)
        graphql(http, member_token, RENAME, g=team.group_id, name="renamed")
        uploaded = upload(http, outsider_token, team.group_id, "new.txt")

        message = data(ws.receive_json())

    assert message == {
        "kind": "FILE_UPLOADED",
        "fileId": uploaded["id"],
        "files": [{"name": "new.txt"}],
    }


def test_a_deleted_file_is_reported_with_the_files_left(
    http: TestClient, store: GroupStore, team: Group, member_token: str, outsider_token: str
) -> None:
    kept = store.groups.upload_file(team.group_id, b"k", "kept.txt")
    gone = store.groups.upload_file(team.group_id, b"g", "gone.txt")
    with socket(http, member_token) as ws:
        subscribe(ws, FILES_CHANGED, team.group_id)
        graphql(
            http,
            outsider_token,
            "mutation($g: ID!, $f: ID!) { deleteFile(groupId: $g, fileId: $f) }",
            g=team.group_id,
            f=gone.file_id,
        )

        message = data(ws.receive_json())

    assert message == {
        "kind": "FILE_DELETED",
        "fileId": gone.file_id,
        "files": [{"name": kept.name}],
    }


def test_deleting_the_group_ends_both_subscriptions(
    http: TestClient, team: Group, member_token: str, outsider_token: str
) -> None:
    with socket(http, member_token) as ws:
        subscribe(ws, GROUP_CHANGED, team.group_id, op="g")
        subscribe(ws, FILES_CHANGED, team.group_id, op="f")
        graphql(http, member_token, "mutation($g: ID!) { deleteGroup(id: $g) }", g=team.group_id)

        messages = [ws.receive_json() for _ in range(3)]

    assert {
        "id": "g",
        "type": "next",
        "payload": {"data": {"groupChanged": {"kind": "GROUP_DELETED", "group": None}}},
    } in messages
    assert {"id": "g", "type": "complete"} in messages
    assert {"id": "f", "type": "complete"} in messages


@pytest.mark.parametrize(
    ("group_id", "code"),
    [
        pytest.param("no-such-group", "UNKNOWN_GROUP", id="unknown"),
        pytest.param(None, "FORBIDDEN", id="non-member"),
    ],
)
def test_a_subscription_to_a_group_one_cannot_read_is_refused(
    http: TestClient, group: Group, outsider_token: str, group_id: str | None, code: str
) -> None:
    with socket(http, outsider_token) as ws:
        refused = subscribe(ws, FILES_CHANGED, group_id or group.group_id)
        done = ws.receive_json()

    assert refused["payload"]["errors"][0]["extensions"]["code"] == code
    assert done == {"id": "1", "type": "complete"}


def test_a_key_ended_elsewhere_closes_the_socket_with_a_live_subscription(
    http: TestClient, store: GroupStore, team: Group, member_token: str, outsider_token: str
) -> None:
    with socket(http, member_token) as ws:
        subscribe(ws, GROUP_CHANGED, team.group_id)
        store.users.logout_user(member_token)  # as another gateway process would: no event here
        upload(http, outsider_token, team.group_id, "x.txt")

        with pytest.raises(WebSocketDisconnect) as closed:
            for _ in range(2):  # the upload's event may still pass within the check's age
                ws.receive_json()

    assert closed.value.code == 4401


def test_another_users_logout_leaves_the_socket_open(
    http: TestClient, team: Group, member_token: str, outsider_token: str
) -> None:
    with socket(http, member_token) as ws:
        subscribe(ws, GROUP_CHANGED, team.group_id)
        graphql(http, outsider_token, "mutation { logout }")
        graphql(http, member_token, RENAME, g=team.group_id, name="still")

        message = data(ws.receive_json())

    assert message == {"kind": "GROUP_UPDATED", "group": {"name": "still"}}


def test_a_closed_socket_leaves_no_subscription_behind(
    http: TestClient, team: Group, member_token: str
) -> None:
    with socket(http, member_token) as ws:
        subscribe(ws, GROUP_CHANGED, team.group_id, op="a")
        subscribe(ws, FILES_CHANGED, team.group_id, op="b")
        assert http.app.state.events.subscriptions == 2  # type: ignore[attr-defined]

    assert http.app.state.events.subscriptions == 0  # type: ignore[attr-defined]


def test_change_stream_events_fall_back_to_polling_where_there_are_none(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from graphql_api.app import create_app
    from graphql_api.settings import Settings

    settings = Settings(mongo_uri="mongomock://", events="change-streams", events_poll_seconds=0.02)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with TestClient(create_app(settings=settings)) as http:
            store = cheap_hashing(http.app.state.store)  # type: ignore[attr-defined]
            alice = store.users.register_user("alice", PASSWORD)
            workflow = store.workflows.create_workflow("w")
            team = store.groups.create_group(workflow.workflow_id, "t", user_id=alice.user_id)
            token = store.users.login_user("alice", PASSWORD).token
            with socket(http, token) as ws:
                subscribe(ws, FILES_CHANGED, team.group_id)
                store.groups.upload_file(team.group_id, b"x", "pushed.txt")

                message = data(ws.receive_json())

    assert message["files"] == [{"name": "pushed.txt"}]
    assert "polling the change log" in caplog.text


# -- every process's writes: the library announces them, through the database --------------


def test_a_write_made_outside_the_gateway_reaches_the_subscriber(
    http: TestClient, store: GroupStore, team: Group, member_token: str
) -> None:
    with socket(http, member_token) as ws:
        subscribe(ws, FILES_CHANGED, team.group_id)
        store.groups.upload_file(team.group_id, b"x", "from-a-script.txt")  # no resolver

        message = data(ws.receive_json())

    assert message["kind"] == "FILE_UPLOADED"
    assert message["files"] == [{"name": "from-a-script.txt"}]


def test_a_member_removed_elsewhere_loses_the_subscription(
    http: TestClient, store: GroupStore, team: Group, outsider_token: str
) -> None:
    bob = store.users.authenticate(outsider_token)
    with socket(http, outsider_token) as ws:
        subscribe(ws, GROUP_CHANGED, team.group_id)
        store.groups.remove_member(team.group_id, bob.user_id)  # as another process would

        refused = ws.receive_json()
        done = ws.receive_json()

    assert refused["payload"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert done == {"id": "1", "type": "complete"}


def test_a_logout_elsewhere_closes_the_socket_without_another_write(
    http: TestClient, store: GroupStore, team: Group, member_token: str
) -> None:
    with socket(http, member_token) as ws:
        subscribe(ws, GROUP_CHANGED, team.group_id)
        store.users.logout_user(member_token)  # the library announces SESSION_ENDED

        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()

    assert closed.value.code == 4401


POSITIONED = (
    "subscription($g: ID!, $after: String) "
    "{ filesChanged(groupId: $g, after: $after) { kind position files { name } } }"
)


def test_after_resumes_from_a_position_without_missing_a_change(
    http: TestClient, store: GroupStore, team: Group, member_token: str
) -> None:
    with socket(http, member_token) as ws:
        first = data(subscribe(ws, POSITIONED, team.group_id))
    # The socket is gone (a gateway restart): two uploads nobody hears of.
    store.groups.upload_file(team.group_id, b"1", "one.txt")
    store.groups.update_group(team.group_id, name="renamed")  # not a file change
    store.groups.upload_file(team.group_id, b"2", "two.txt")

    with socket(http, member_token) as ws:
        ws.send_json(
            {
                "id": "r",
                "type": "subscribe",
                "payload": {
                    "query": POSITIONED,
                    "variables": {"g": team.group_id, "after": first["position"]},
                },
            }
        )
        resumed = [data(ws.receive_json()) for _ in range(3)]

    assert [message["kind"] for message in resumed] == ["INITIAL", "FILE_UPLOADED", "FILE_UPLOADED"]
    positions = [int(message["position"]) for message in resumed[1:]]
    assert int(first["position"]) < positions[0] < positions[1]


def test_group_files_are_read_afresh_for_each_event_of_a_long_lived_socket(
    http: TestClient, store: GroupStore, team: Group, member_token: str
) -> None:
    query = "subscription($g: ID!) { groupChanged(id: $g) { kind group { files { name } } } }"
    with socket(http, member_token) as ws:
        subscribe(ws, query, team.group_id)
        counts = []
        for n in range(3):
            store.groups.upload_file(team.group_id, b"x", f"f{n}.txt")
            counts.append(len(data(ws.receive_json())["group"]["files"]))

    assert counts == [1, 2, 3]


def test_a_subscription_over_plain_http_is_a_bad_request(http: TestClient, group: Group) -> None:
    response = http.post("/graphql", json={"query": FILES_CHANGED, "variables": {"g": "x"}})

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
