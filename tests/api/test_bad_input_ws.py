"""The bad-input battery of test_bad_input.py over WebSockets: each case as a subscribe message.

Every case of the battery that is a GraphQL request over JSON is sent on an
authenticated ``graphql-transport-ws`` socket as the payload of a
``subscribe`` message (the same bytes). A socket is always authenticated, so
an anonymous case runs on the outsider's socket, where some are no longer
errors; the cases about the Authorization header, and logout (the socket's
own end), are HTTP's only. The answer:

- a message that is a JSON object (the gateway's strict decoding, as for
  HTTP bodies): errors, if any, all coded (never INTERNAL); errors always
  for a case that is not anonymous; and the socket then answers the next
  operation;
- anything else (not JSON, too deep, not UTF-8: sent as a binary frame) is
  no graphql-transport-ws message at all: the socket closes with 4400, as
  the protocol says.

Either way nothing changes in the store.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from graphql_api import request_body
from graphql_api.errors import GatewayError
from groupstore import GroupStore

from .conftest import TestClient
from .test_bad_input import CASES, Ids, ids, snapshot  # noqa: F401 - ids: the fixture
from .test_subscriptions import PROTOCOL

_PLACEHOLDERS = Ids("group", "file", "workflow", "other_group", "other_file")


def _is_graphql_json_request(name: str) -> bool:
    """A GraphQL request over JSON, about its body (not its Authorization header), not logout."""
    request = CASES[name].build(_PLACEHOLDERS)
    headers = {key.lower(): value for key, value in request.get("headers", {}).items()}
    content = request.get("content", b"")
    return (
        request.get("method") == "POST"
        and request.get("url") == "/graphql"
        and headers.get("content-type") == "application/json"
        and "authorization" not in headers
        # A socket's own logout ends it (4401): test_socket_sessions.py.
        and b"logout" not in (content if isinstance(content, bytes) else content.encode())
    )


WS_CASES = [name for name in CASES if _is_graphql_json_request(name)]


def _message(content: bytes) -> tuple[str | bytes, bool]:
    """The subscribe frame carrying ``content``, and whether it is a protocol message."""
    try:
        text = content.decode()
    except UnicodeDecodeError:
        return b'{"id":"bad","type":"subscribe","payload":' + content + b"}", False
    frame = '{"id":"bad","type":"subscribe","payload":' + text + "}"
    try:
        request_body.expect_object(request_body.decode_json(frame), "the message")
    except GatewayError:
        return frame, False
    return frame, True


def _coded(errors: list[dict[str, Any]]) -> bool:
    codes = [error.get("extensions", {}).get("code") for error in errors]
    return bool(codes) and all(codes) and "INTERNAL" not in codes


def _answer_to(ws: Any, op: str) -> list[dict[str, Any]]:
    """The errors of operation ``op``'s answer (an ``error``, or a ``next`` and ``complete``)."""
    errors: list[dict[str, Any]] = []
    while True:
        message = ws.receive_json()
        assert message.get("id") == op, message
        if message["type"] == "error":
            return errors + list(message["payload"])
        if message["type"] == "complete":
            return errors
        errors += message["payload"].get("errors", [])


def test_the_websocket_battery_covers_the_graphql_cases() -> None:
    assert len(WS_CASES) >= 100


@pytest.mark.parametrize("name", WS_CASES)
def test_bad_input_over_a_websocket_is_a_coded_error_and_the_socket_serves_on(
    name: str,
    make_app: Callable[..., Any],
    store: GroupStore,
    ids: Ids,  # noqa: F811
    token_of: Callable[[str], str | None],
) -> None:
    case = CASES[name]
    content = case.build(ids)["content"]
    frame, is_message = _message(content if isinstance(content, bytes) else content.encode())
    token = token_of(case.role) or token_of("outsider")
    before = snapshot(store)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with (
            TestClient(make_app()) as http,
            http.websocket_connect("/graphql", subprotocols=PROTOCOL) as ws,
        ):
            ws.send_json(
                {"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}}
            )
            assert ws.receive_json() == {"type": "connection_ack"}
            if isinstance(frame, bytes):
                ws.send_bytes(frame)
            else:
                ws.send_text(frame)
            errors: list[dict[str, Any]] = []
            if not is_message:
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_json()
                assert closed.value.code == 4400
            else:
                errors = _answer_to(ws, "bad")
                assert _coded(errors) or (case.role == "anonymous" and not errors), errors
                ws.send_text(json.dumps({"id": "next", "type": "subscribe",
                                         "payload": {"query": "{ me { id } }"}}))  # fmt: skip
                served = ws.receive_json()
                assert served["type"] == "next" and served["payload"]["data"]["me"], served

    if is_message and case.role == "anonymous" and not errors:
        return  # the outsider may do what the anonymous case may not (create a group)
    assert snapshot(store) == before
