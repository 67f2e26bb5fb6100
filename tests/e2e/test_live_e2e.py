"""End to end: subscriptions over graphql-transport-ws and signed download URLs.

The real ``python -m graphql_api`` (in-memory events: one process) on the
suite's backend; gql's websockets transport subscribes, while the HTTP
client of ``gqlclient`` makes the changes from other users.
Each subscription's first message (kind INITIAL) arrives once it listens,
so the tests need no sleeps; ``fail_after`` only bounds a hung test.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio
import httpx
import pytest
from gql import Client, FileVar, GraphQLRequest
from gql.transport.exceptions import TransportError, TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from websockets.exceptions import ConnectionClosed

from tests.e2e.gqlclient import (
    CREATE_GROUP,
    CREATE_WORKFLOW,
    LOGOUT,
    TIMEOUT,
    UPDATE_GROUP,
    UPLOAD,
    admin_session,
    register_and_login,
    unique,
)
from tests.e2e.server import Gateway

pytestmark = pytest.mark.anyio

FILES_CHANGED = """
subscription($g: ID!) {
  filesChanged(groupId: $g) { kind groupId fileId files { id name size } }
}"""
GROUP_CHANGED = """
subscription($g: ID!) {
  groupChanged(id: $g) { kind groupId group { name members { username } } }
}"""
SIGNED_FILES = """
query($group: ID!, $ttl: Int) { uploadedFiles(groupId: $group) { id signedUrl(ttlSeconds: $ttl) } }
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def ws_client(gateway: Gateway, init_payload: dict[str, Any]) -> Client:
    transport = WebsocketsTransport(
        url="ws" + gateway.graphql_url.removeprefix("http"),
        init_payload=init_payload,
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
    )
    return Client(transport=transport, execute_timeout=TIMEOUT)


@asynccontextmanager
async def subscribed(
    gateway: Gateway, token: str, document: str, group_id: str
) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
    """A live subscription (its INITIAL message already received and checked)."""
    async with ws_client(gateway, {"Authorization": f"Bearer {token}"}) as session:
        stream = session.subscribe(GraphQLRequest(document, variable_values={"g": group_id}))
        try:
            with anyio.fail_after(TIMEOUT):
                first = await anext(stream)
            assert next(iter(first.values()))["kind"] == "INITIAL"
            yield stream
        finally:
            await stream.aclose()


async def next_message(stream: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    with anyio.fail_after(TIMEOUT):
        return await anext(stream)


def close_code(error: BaseException) -> int | None:
    """The WebSocket close code the server sent, from gql's wrapped exception."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ConnectionClosed) and cause.rcvd is not None:
            return cause.rcvd.code
        cause = cause.__cause__ or cause.__context__
    return None


@pytest.fixture
def team(api: Any) -> dict[str, Any]:
    """alice (owner) and bob in one group; carol outside it."""
    ids, tokens = {}, {}
    for name in ("alice", "bob", "carol"):
        ids[name], tokens[name] = register_and_login(api, unique(name))
    alice = api(tokens["alice"])
    workflow = admin_session(api).run(CREATE_WORKFLOW, name=unique("wf"))["createWorkflow"]["id"]
    group = alice.run(CREATE_GROUP, wf=workflow, name=unique("team"))["createGroup"]["id"]
    alice.run(UPDATE_GROUP, id=group, members=[ids["alice"], ids["bob"]])
    return {"ids": ids, "tokens": tokens, "group": group, "api": api}


def upload(team: dict[str, Any], who: str, content: bytes, name: str) -> dict[str, Any]:
    session = team["api"](team["tokens"][who])
    file = FileVar(io.BytesIO(content), filename=name)
    result: dict[str, Any] = session.run(UPLOAD, upload_files=True, group=team["group"], file=file)
    return result["uploadFile"]


async def in_thread(function: Any, *args: Any) -> Any:
    return await anyio.to_thread.run_sync(function, *args)


# -- subscriptions -------------------------------------------------------------------------


async def test_a_member_sees_an_upload_by_another_member(gateway, team):
    async with subscribed(gateway, team["tokens"]["alice"], FILES_CHANGED, team["group"]) as stream:
        uploaded = await in_thread(upload, team, "bob", b"a,b\n1,2\n", "results.csv")

        message = (await next_message(stream))["filesChanged"]

    assert message["kind"] == "FILE_UPLOADED"
    assert message["groupId"] == team["group"]
    assert message["fileId"] == uploaded["id"]
    assert message["files"] == [{"id": uploaded["id"], "name": "results.csv", "size": 8}]


async def test_group_changed_reports_a_rename_with_the_new_name(gateway, team):
    new_name = unique("renamed")
    async with subscribed(gateway, team["tokens"]["bob"], GROUP_CHANGED, team["group"]) as stream:
        alice = team["api"](team["tokens"]["alice"])
        await in_thread(lambda: alice.run(UPDATE_GROUP, id=team["group"], name=new_name))

        message = (await next_message(stream))["groupChanged"]

    assert message["kind"] == "GROUP_UPDATED"
    assert message["group"]["name"] == new_name


async def test_a_non_members_subscription_is_refused_with_forbidden(gateway, team):
    async with ws_client(gateway, {"Authorization": f"Bearer {team['tokens']['carol']}"}) as s:
        stream = s.subscribe(GraphQLRequest(FILES_CHANGED, variable_values={"g": team["group"]}))
        with pytest.raises(TransportQueryError) as caught, anyio.fail_after(TIMEOUT):
            await anext(stream)

    assert caught.value.errors
    assert caught.value.errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_a_removed_member_gets_forbidden_instead_of_the_next_upload(gateway, team):
    async with subscribed(gateway, team["tokens"]["bob"], FILES_CHANGED, team["group"]) as stream:
        alice = team["api"](team["tokens"]["alice"])
        await in_thread(
            lambda: alice.run(UPDATE_GROUP, id=team["group"], members=[team["ids"]["alice"]])
        )
        await in_thread(upload, team, "alice", b"secret", "after.txt")

        with pytest.raises(TransportQueryError) as caught:
            await next_message(stream)

    assert caught.value.errors
    assert caught.value.errors[0]["extensions"]["code"] == "FORBIDDEN"


async def test_logout_closes_the_socket(gateway, team):
    token = team["tokens"]["alice"]
    async with subscribed(gateway, token, GROUP_CHANGED, team["group"]) as stream:
        await in_thread(lambda: team["api"](token).run(LOGOUT))

        with pytest.raises(TransportError) as caught:
            await next_message(stream)

    assert close_code(caught.value) == 4401


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param({}, id="missing"),
        pytest.param({"Authorization": "Bearer not-a-key"}, id="unknown"),
        pytest.param({"Authorization": "Basic YWxpY2U6cHc="}, id="not-bearer"),
    ],
)
async def test_a_bad_or_missing_key_in_connection_init_is_refused(gateway, payload):
    with pytest.raises(TransportError) as caught, anyio.fail_after(TIMEOUT):
        async with ws_client(gateway, payload):
            pass

    assert close_code(caught.value) == 4403


# -- signed URLs ---------------------------------------------------------------------------


def signed_url(team: dict[str, Any], who: str, ttl: int | None = None) -> str:
    files = team["api"](team["tokens"][who]).run(SIGNED_FILES, group=team["group"], ttl=ttl)
    url: str = files["uploadedFiles"][0]["signedUrl"]
    return url


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_a_signed_url_downloads_without_a_header(gateway, team):
    upload(team, "alice", b"hello browser", "hello.txt")

    url = signed_url(team, "bob", ttl=60)
    response = httpx.get(url, timeout=TIMEOUT)

    assert url.startswith(gateway.url + "/files/" + team["group"] + "/")
    assert response.status_code == 200
    assert response.content == b"hello browser"


def test_a_tampered_signed_url_is_refused(gateway, team):
    upload(team, "alice", b"x", "x.txt")
    url = signed_url(team, "bob")

    as_alice = httpx.get(with_query(url, user=team["ids"]["alice"]), timeout=TIMEOUT)
    later = httpx.get(with_query(url, expires="99999999999"), timeout=TIMEOUT)

    assert as_alice.status_code == 403
    assert as_alice.json()["errors"][0]["extensions"]["code"] == "INVALID_SIGNATURE"
    assert later.status_code == 403


def test_a_signed_url_of_a_removed_member_is_refused(gateway, team):
    upload(team, "alice", b"x", "x.txt")
    url = signed_url(team, "bob")
    team["api"](team["tokens"]["alice"]).run(
        UPDATE_GROUP, id=team["group"], members=[team["ids"]["alice"]]
    )

    response = httpx.get(url, timeout=TIMEOUT)

    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_the_bare_file_url_without_a_key_is_refused(gateway, team):
    upload(team, "alice", b"x", "x.txt")
    url = signed_url(team, "bob")

    response = httpx.get(url.split("?", 1)[0], timeout=TIMEOUT)

    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
