"""End to end: the real ``python -m graphql_api`` process, driven by a real GraphQL client.

``gql`` with its httpx transport speaks to the server over a loopback socket;
uploads use its implementation of the GraphQL multipart request spec
(``upload_files=True``), downloads go through the file route with httpx.
The server is started once per session by the ``gateway`` fixture (conftest).
"""

from __future__ import annotations

import hashlib
import io
import json
import os

import httpx
from gql import FileVar

from tests.e2e.gqlclient import (
    CREATE_GROUP,
    CREATE_WORKFLOW,
    CSRF_HEADER,
    DELETE_GROUP,
    FILES,
    GROUP,
    GROUPS,
    LOGOUT,
    ME,
    TIMEOUT,
    UPDATE_GROUP,
    UPLOAD,
    admin_session,
    register_and_login,
    unique,
)


def download(url: str, token: str | None, **headers: str) -> httpx.Response:
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.get(url, headers=headers, timeout=TIMEOUT)


def test_health_and_readiness(gateway):
    assert httpx.get(f"{gateway.url}/healthz", timeout=TIMEOUT).json() == {"status": "ok"}
    assert httpx.get(f"{gateway.url}/readyz", timeout=TIMEOUT).status_code == 200


def test_group_lifecycle_through_the_real_server(gateway, api):
    alice_name, bob_name = unique("alice"), unique("bob")
    alice_id, alice_token = register_and_login(api, alice_name)
    bob_id, bob_token = register_and_login(api, bob_name)
    alice, bob, anonymous = api(alice_token), api(bob_token), api()

    assert alice.run(ME)["me"] == {"id": alice_id, "username": alice_name}
    assert anonymous.run(ME)["me"] is None

    # Workflow and group.
    parameters = [{"name": "n", "dtype": "int", "index": 0, "label": "N", "defaultValue": 3}]
    workflow = admin_session(api).run(CREATE_WORKFLOW, name=unique("wf"), parameters=parameters)
    workflow_id = workflow["createWorkflow"]["id"]
    group = alice.run(CREATE_GROUP, wf=workflow_id, name="  team one ")["createGroup"]
    group_id = group["id"]
    assert group["name"] == "team one"
    assert group["workflowId"] == workflow_id
    assert group["owner"] == {"username": alice_name}
    assert group["members"] == [{"username": alice_name}]
    assert [p["name"] for p in group["parameters"]] == ["n"]  # the workflow's, by default

    # Upload over the multipart spec: binary content larger than one GridFS chunk.
    content = os.urandom(600 * 1024) + bytes(range(256))
    upload = alice.run(
        UPLOAD,
        upload_files=True,
        group=group_id,
        file=FileVar(io.BytesIO(content), filename="results.csv", content_type="text/csv"),
    )["uploadFile"]
    assert upload["name"] == "results.csv"
    assert upload["mimeType"] == "text/csv"
    assert upload["size"] == len(content)
    assert upload["sha256"] == hashlib.sha256(content).hexdigest()
    url = upload["downloadUrl"]
    assert url.startswith(gateway.url + "/files/")

    # Lists.
    files = alice.run(FILES, group=group_id)["uploadedFiles"]
    assert files == [
        {"id": upload["id"], "name": "results.csv", "size": len(content), "downloadUrl": url}
    ]
    page = alice.run(GROUPS, wf=workflow_id)["groups"]
    assert [edge["node"]["id"] for edge in page["edges"]] == [group_id]
    assert page["edges"][0]["node"]["files"] == [{"id": upload["id"], "name": "results.csv"}]
    assert page["pageInfo"]["hasNextPage"] is False

    # Download through the file route: same bytes; a range; members only.
    response = download(url, alice_token)
    assert response.status_code == 200
    assert response.content == content
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-length"] == str(len(content))
    assert "results.csv" in response.headers["content-disposition"]
    partial = download(url, alice_token, Range="bytes=100-199")
    assert partial.status_code == 206
    assert partial.content == content[100:200]
    assert download(url, None).status_code == 401
    assert download(url, bob_token).status_code == 403
    assert bob.error_code(FILES, group=group_id) == "FORBIDDEN"

    # Rename, then add bob: he may now list and download.
    renamed = alice.run(UPDATE_GROUP, id=group_id, name="team two")["updateGroup"]
    assert renamed["name"] == "team two"
    assert renamed["members"] == [{"username": alice_name}]
    updated = alice.run(UPDATE_GROUP, id=group_id, members=[alice_id, bob_id])["updateGroup"]
    assert sorted(m["username"] for m in updated["members"]) == sorted([alice_name, bob_name])
    assert [f["id"] for f in bob.run(FILES, group=group_id)["uploadedFiles"]] == [upload["id"]]
    assert download(url, bob_token).content == content

    # Delete: only the owner may; then the group, its listing and its file are gone.
    assert anonymous.error_code(DELETE_GROUP, id=group_id) == "UNAUTHENTICATED"
    assert bob.error_code(DELETE_GROUP, id=group_id) == "FORBIDDEN"
    assert alice.run(DELETE_GROUP, id=group_id) == {"deleteGroup": True}
    assert alice.error_code(GROUP, id=group_id) == "UNKNOWN_GROUP"
    assert alice.run(GROUPS, wf=workflow_id)["groups"]["edges"] == []
    assert download(url, alice_token).status_code == 404

    # Logout ends the key.
    assert alice.run(LOGOUT) == {"logout": True}
    gone = download(f"{gateway.url}/files/{group_id}/{upload['id']}", alice_token)
    assert gone.status_code == 401
    gateway.assert_running()


def test_multipart_upload_needs_the_csrf_header_and_a_key(gateway, api):
    _, token = register_and_login(api, unique("carol"))
    carol = api(token)
    workflow_id = admin_session(api).run(CREATE_WORKFLOW, name=unique("wf"))["createWorkflow"]["id"]
    group_id = carol.run(CREATE_GROUP, wf=workflow_id, name="g")["createGroup"]["id"]
    mutation = "mutation($g: ID!, $f: Upload!) { uploadFile(groupId: $g, file: $f) { id } }"
    operations = {"query": mutation, "variables": {"g": group_id, "f": None}}
    form = {"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.f"]})}
    files = {"0": ("a.txt", b"hello", "text/plain")}

    def post(headers: dict[str, str]) -> httpx.Response:
        return httpx.post(
            gateway.graphql_url, data=form, files=files, headers=headers, timeout=TIMEOUT
        )

    no_csrf = post({"Authorization": f"Bearer {token}"})
    assert no_csrf.status_code == 400
    assert no_csrf.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    no_key = post(CSRF_HEADER)
    assert no_key.status_code == 401
    assert no_key.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    accepted = post({**CSRF_HEADER, "Authorization": f"Bearer {token}"})
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["data"]["uploadFile"]["id"]
    assert [f["name"] for f in carol.run(FILES, group=group_id)["uploadedFiles"]] == ["a.txt"]


def test_graphiql_page_and_assets_from_the_real_server(gateway):
    page = httpx.get(gateway.graphql_url, headers={"Accept": "text/html"}, timeout=TIMEOUT)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "https://" not in page.text and "http://" not in page.text
    srcs = [
        part.split('"', 1)[0]
        for part in page.text.split('src="')[1:] + page.text.split('stylesheet" href="')[1:]
    ]
    assert len(srcs) == 4
    for src in srcs:
        asset = httpx.get(gateway.url + src.replace("&amp;", "&"), timeout=TIMEOUT)
        assert asset.status_code == 200, src
        assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
