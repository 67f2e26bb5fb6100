"""registerUser, login, logout, me, and how the gateway treats API keys."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from groupstore import GroupStore, User
from tests.backend import PASSWORD

from .conftest import Api, error_code

pytestmark = pytest.mark.anyio

REGISTER = """mutation($u: String!, $p: String!) {
  registerUser(username: $u, password: $p) { id username active } }"""
LOGIN = """mutation($u: String!, $p: String!) {
  login(username: $u, password: $p) { token expiresAt user { id username } } }"""
ME = "{ me { id username } }"


async def test_register_user_creates_an_active_user(api: Api, store: GroupStore) -> None:
    body = await api(REGISTER, {"u": "dave", "p": "dave-password"})

    created = body["data"]["registerUser"]
    assert created["username"] == "dave" and created["active"] is True
    assert store.users.get_user(created["id"]).username == "dave"


async def test_register_user_with_a_taken_name_is_duplicate_user(api: Api, alice: User) -> None:
    body = await api(REGISTER, {"u": "ALICE", "p": PASSWORD})

    assert error_code(body) == "DUPLICATE_USER"


async def test_register_user_with_an_empty_password_is_a_constraint_violation(api: Api) -> None:
    body = await api(REGISTER, {"u": "dave", "p": " "})

    assert error_code(body) == "CONSTRAINT_VIOLATION"


async def test_login_returns_a_key_that_authenticates(api: Api, alice: User) -> None:
    body = await api(LOGIN, {"u": "alice", "p": "alice-password"})

    key = body["data"]["login"]
    assert key["user"] == {"id": alice.user_id, "username": "alice"}
    assert key["expiresAt"]
    me = await api(ME, token=key["token"])
    assert me["data"]["me"]["id"] == alice.user_id


async def test_login_with_a_wrong_password_is_unknown_user(api: Api, alice: User) -> None:
    body = await api(LOGIN, {"u": "alice", "p": "wrong"})

    assert error_code(body) == "UNKNOWN_USER"
    assert body["errors"][0]["message"] == "wrong username or password"
    assert body["data"] is None


async def test_me_is_null_when_anonymous(api: Api) -> None:
    body = await api(ME)

    assert body == {"data": {"me": None}}


async def test_logout_ends_the_session_of_the_key(
    api: Api, client: httpx.AsyncClient, member_token: str
) -> None:
    body = await api("mutation { logout }", token=member_token)

    assert body == {"data": {"logout": True}}
    after = await client.post("/graphql", json={"query": ME}, headers=_bearer(member_token))
    assert after.status_code == 401


async def test_logout_keeps_other_sessions_of_the_user(
    api: Api, store: GroupStore, alice: User, member_token: str
) -> None:
    other = store.users.login_user("alice", "alice-password").token

    await api("mutation { logout }", token=member_token)

    assert (await api(ME, token=other))["data"]["me"]["id"] == alice.user_id


async def test_logout_when_anonymous_is_unauthenticated(api: Api) -> None:
    body = await api("mutation { logout }")

    assert error_code(body) == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Bearer not-a-key", id="unknown key"),
        pytest.param("Bearer ", id="empty key"),
        pytest.param("Basic YWxpY2U6cHc=", id="other scheme"),
        pytest.param("alice-password", id="no scheme"),
    ],
)
async def test_a_request_with_a_bad_key_is_refused_not_run_anonymously(
    client: httpx.AsyncClient, header: str
) -> None:
    response = await client.post(
        "/graphql", json={"query": REGISTER, "variables": {"u": "eve", "p": PASSWORD}},
        headers={"Authorization": header},
    )  # fmt: skip

    assert response.status_code == 401
    assert error_code(response.json()) == "UNAUTHENTICATED"
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_request_with_a_bad_key_changes_nothing(
    client: httpx.AsyncClient, store: GroupStore
) -> None:
    await client.post(
        "/graphql", json={"query": REGISTER, "variables": {"u": "eve", "p": PASSWORD}},
        headers={"Authorization": "Bearer not-a-key"},
    )  # fmt: skip

    assert store.users.list_users() == []


async def test_an_expired_key_is_refused(
    client: httpx.AsyncClient, store: GroupStore, alice: User
) -> None:
    store.users.token_ttl = timedelta(seconds=-1)
    expired = store.users.login_user("alice", "alice-password").token

    response = await client.post("/graphql", json={"query": ME}, headers=_bearer(expired))

    assert response.status_code == 401
    assert error_code(response.json()) == "UNAUTHENTICATED"


async def test_the_api_key_is_never_readable_from_user(api: Api) -> None:
    body = await api('{ __type(name: "User") { fields { name } } }')

    names = {field["name"] for field in body["data"]["__type"]["fields"]}
    assert names == {"id", "username", "active", "createdAt", "isAdmin"}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
