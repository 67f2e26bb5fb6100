"""A gql client for the gateway process, shared by the end-to-end and browser tests."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXTransport

from tests.e2e.server import Gateway

CSRF_HEADER = {"GraphQL-Require-Preflight": "1"}
TIMEOUT = 30.0


class Api:
    """One gql session against the gateway, optionally as a logged-in user."""

    def __init__(self, gateway: Gateway, token: str | None = None) -> None:
        headers = dict(CSRF_HEADER)
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        self.token = token
        self.client = Client(
            transport=HTTPXTransport(gateway.graphql_url, headers=headers, timeout=TIMEOUT),
            # gql introspects the server and validates every document locally.
            fetch_schema_from_transport=True,
            execute_timeout=TIMEOUT,
        )
        self.session = self.client.connect_sync()

    def close(self) -> None:
        self.client.close_sync()

    def run(self, document: str, upload_files: bool = False, **variables: Any) -> dict[str, Any]:
        request = GraphQLRequest(document, variable_values=variables)
        result: dict[str, Any] = self.session.execute(request, upload_files=upload_files)
        return result

    def error_code(self, document: str, **variables: Any) -> str:
        with pytest.raises(TransportQueryError) as caught:
            self.run(document, **variables)
        assert caught.value.errors
        code: str = caught.value.errors[0]["extensions"]["code"]
        return code


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


REGISTER = """
mutation($u: String!, $p: String!) { registerUser(username: $u, password: $p) { id username } }"""
LOGIN = (
    "mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token user { id } } }"
)
ME = "{ me { id username } }"
CREATE_WORKFLOW = """
mutation($name: String!, $parameters: JSON) {
  createWorkflow(name: $name, description: "e2e", parameters: $parameters) { id name }
}"""
CREATE_GROUP = """
mutation($wf: ID!, $name: String!) {
  createGroup(workflowId: $wf, name: $name) {
    id name workflowId parameters owner { username } members { username }
  }
}"""
UPLOAD = """
mutation($group: ID!, $file: Upload!) {
  uploadFile(groupId: $group, file: $file) { id name mimeType size sha256 downloadUrl }
}"""
FILES = "query($group: ID!) { uploadedFiles(groupId: $group) { id name size downloadUrl } }"
GROUPS = """
query($wf: ID) {
  groups(workflowId: $wf, first: 10) {
    edges { cursor node { id name members { username } files { id name } } }
    pageInfo { hasNextPage endCursor }
  }
}"""
UPDATE_GROUP = """
mutation($id: ID!, $name: String, $members: [ID!]) {
  updateGroup(id: $id, name: $name, members: $members) { id name members { username } }
}"""
DELETE_GROUP = "mutation($id: ID!) { deleteGroup(id: $id) }"
GROUP = "query($id: ID!) { group(id: $id) { id name } }"
LOGOUT = "mutation { logout }"


class Apis:
    """``apis(token=None)`` opens a session on the gateway (as that user); ``close()`` all."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.opened: list[Api] = []

    def __call__(self, token: str | None = None) -> Api:
        session = Api(self.gateway, token)
        self.opened.append(session)
        return session

    def close(self) -> None:
        for session in self.opened:
            session.close()


def register_and_login(api: Any, username: str) -> tuple[str, str]:
    """(user id, API key) of a new user."""
    password = f"{username}-password"
    anonymous = api()
    user = anonymous.run(REGISTER, u=username, p=password)["registerUser"]
    assert user["username"] == username
    login = anonymous.run(LOGIN, u=username, p=password)["login"]
    assert login["user"]["id"] == user["id"]
    return user["id"], login["token"]


ADMIN = "e2e_admin"  # named in GROUPSTORE_ADMINS of the gateway process (server.py)


def admin_session(api: Any) -> Api:
    """A session of the administrator (registered by the first test that asks)."""
    password = f"{ADMIN}-password"
    anonymous = api()
    try:
        anonymous.run(REGISTER, u=ADMIN, p=password)
    except TransportQueryError as exc:  # an earlier test registered it
        assert exc.errors and exc.errors[0]["extensions"]["code"] == "DUPLICATE_USER", exc
    session: Api = api(anonymous.run(LOGIN, u=ADMIN, p=password)["login"]["token"])
    return session
