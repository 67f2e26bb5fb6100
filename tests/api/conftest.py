"""Fixtures of the gateway tests: an app over the test store, an in-process client, callers.

Requests go through ``httpx.ASGITransport`` (no server, no lifespan: the
store is injected). Three callers: anonymous (no header), ``outsider``
(bob, authenticated, not a member) and ``member`` (alice, the group's owner).
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.10 prefers the `httpx2` package for its TestClient and warns on
    # plain httpx (installed, and working); the suite turns warnings into errors.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from graphql_api.app import create_app
from graphql_api.settings import Settings
from groupstore import Group, GroupStore, UploadedFile, User, Workflow

__all__ = ["TestClient"]

BASE_URL = "http://gateway.test"
PREFLIGHT = {"GraphQL-Require-Preflight": "1"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def make_app(store: GroupStore) -> Callable[..., Starlette]:
    """An app over the test store; keyword arguments override settings."""

    def make(**settings: Any) -> Starlette:
        # Subscriptions read the change log often: tests wait less for each event.
        return create_app(
            store=store, settings=Settings(**{"events_poll_seconds": 0.02, **settings})
        )

    return make


@pytest.fixture
async def client(make_app: Callable[..., Starlette]) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


def bearer(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


class Api:
    """Posts GraphQL operations as a given caller."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        response = await self.client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=bearer(token)
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def upload(
        self,
        group_id: str,
        content: bytes,
        filename: str = "data.csv",
        token: str | None = None,
        headers: dict[str, str] | None = None,
        name: str | None = None,
    ) -> httpx.Response:
        """A multipart `uploadFile` request (with the CSRF header unless ``headers`` is given)."""
        return await self.client.post(
            "/graphql",
            files=upload_form(group_id, content, filename, name),
            headers={**(PREFLIGHT if headers is None else headers), **bearer(token)},
        )


def upload_form(
    group_id: str, content: bytes, filename: str, name: str | None = None
) -> dict[str, Any]:
    import json

    operations = {
        "query": "mutation($g: ID!, $f: Upload!, $n: String) {"
        " uploadFile(groupId: $g, file: $f, name: $n)"
        " { id name size mimeType sha256 downloadUrl } }",
        "variables": {"g": group_id, "f": None, "n": name},
    }
    return {
        "operations": (None, json.dumps(operations)),
        "map": (None, json.dumps({"0": ["variables.f"]})),
        "0": (filename, content, "application/octet-stream"),
    }


def error_code(body: dict[str, Any]) -> str:
    """The code of the one error of a response."""
    assert body.get("errors"), body
    assert len(body["errors"]) == 1, body
    code: str = body["errors"][0]["extensions"]["code"]
    return code


@pytest.fixture
def api(client: httpx.AsyncClient) -> Api:
    return Api(client)


def login(store: GroupStore, user: User) -> str:
    return store.users.login_user(user.username, f"{user.username}-password").token


@pytest.fixture
def member_token(store: GroupStore, alice: User) -> str:
    return login(store, alice)


@pytest.fixture
def outsider_token(store: GroupStore, bob: User) -> str:
    return login(store, bob)


@pytest.fixture
def admin(store: GroupStore) -> User:
    """An administrator ("root"), promoted by a trusted call."""
    user = store.users.register_user("root", "root-password")
    return store.users.promote_user(user.user_id)


@pytest.fixture
def admin_token(store: GroupStore, admin: User) -> str:
    return login(store, admin)


@pytest.fixture
def group(store: GroupStore, alice: User, workflow: Workflow) -> Group:
    return store.groups.create_group(workflow.workflow_id, "team-a", [], {}, user_id=alice.user_id)


@pytest.fixture
def team(store: GroupStore, group: Group, bob: User) -> Group:
    """alice's group with bob as a second member."""
    return store.groups.update_group(group.group_id, members=[group.owner_id, bob.user_id])


@pytest.fixture
def uploaded(store: GroupStore, group: Group) -> UploadedFile:
    return store.groups.upload_file(group.group_id, b"hello world", "hello.txt")


@pytest.fixture
def token_of(member_token: str, outsider_token: str) -> Callable[[str], str | None]:
    """The token of a role: "anonymous", "outsider" or "member"."""
    tokens = {"anonymous": None, "outsider": outsider_token, "member": member_token}
    return tokens.__getitem__


DENIED = [
    pytest.param("anonymous", "UNAUTHENTICATED", id="anonymous"),
    pytest.param("outsider", "FORBIDDEN", id="non-member"),
]
"""The callers a members-only operation refuses, with the code they get."""
