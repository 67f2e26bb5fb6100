"""uploadFile, uploadedFiles and deleteFile: members only; uploads follow the multipart spec."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.datastructures import UploadFile

from groupstore import Group, GroupStore, UploadedFile

from .conftest import DENIED, PREFLIGHT, Api, bearer, error_code, upload_form

pytestmark = pytest.mark.anyio

LIST = "query($g: ID!) { uploadedFiles(groupId: $g) { id name size mimeType downloadUrl } }"
DELETE = "mutation($g: ID!, $f: ID!) { deleteFile(groupId: $g, fileId: $f) }"


def stored_files(store: GroupStore, group: Group) -> list[UploadedFile]:
    return store.groups.list_uploaded_files(group.group_id)


def gridfs_is_empty(store: GroupStore) -> bool:
    files, chunks = store.db["fs.files"], store.db["fs.chunks"]
    return bool(files.count_documents({}) == 0 == chunks.count_documents({}))


# -- uploadFile -------------------------------------------------------------


async def test_upload_file_by_a_member_stores_the_bytes(
    api: Api, store: GroupStore, group: Group, member_token: str
) -> None:
    content = b"a,b\n1,2\n" * 1000

    response = await api.upload(group.group_id, content, "data.csv", token=member_token)

    assert response.status_code == 200, response.text
    uploaded = response.json()["data"]["uploadFile"]
    assert uploaded["name"] == "data.csv" and uploaded["mimeType"] == "text/csv"
    assert uploaded["size"] == len(content)
    assert uploaded["sha256"] == hashlib.sha256(content).hexdigest()
    handle = store.groups.get_uploaded_file(group.group_id, uploaded["id"])
    assert handle.open().read() == content


async def test_upload_file_takes_the_name_argument_over_the_file_name(
    api: Api, group: Group, member_token: str
) -> None:
    response = await api.upload(group.group_id, b"x", "tmp123", token=member_token, name="a.json")

    assert response.json()["data"]["uploadFile"]["name"] == "a.json"


async def test_upload_file_with_a_path_as_name_is_a_constraint_violation(
    api: Api, store: GroupStore, group: Group, member_token: str
) -> None:
    response = await api.upload(group.group_id, b"x", "a.txt", token=member_token, name="../a")

    assert error_code(response.json()) == "CONSTRAINT_VIOLATION"
    assert gridfs_is_empty(store)


async def test_upload_file_by_a_non_member_is_forbidden_and_stores_nothing(
    api: Api, store: GroupStore, group: Group, outsider_token: str
) -> None:
    response = await api.upload(group.group_id, b"secret", token=outsider_token)

    assert response.status_code == 200
    assert error_code(response.json()) == "FORBIDDEN"
    assert stored_files(store, group) == [] and gridfs_is_empty(store)


async def test_upload_file_to_an_unknown_group_is_unknown_group(
    api: Api, store: GroupStore, member_token: str
) -> None:
    response = await api.upload("nope", b"x", token=member_token)

    assert error_code(response.json()) == "UNKNOWN_GROUP"
    assert gridfs_is_empty(store)


async def test_upload_file_when_anonymous_is_refused_before_the_body_is_read(
    make_app: Callable[..., Any], store: GroupStore, group: Group
) -> None:
    app = make_app()
    body_read = 0
    multipart = httpx.Request(
        "POST", "http://gateway.test/graphql", files=upload_form(group.group_id, b"x" * 10, "a")
    )
    content = multipart.read()

    async def stream() -> AsyncIterator[bytes]:
        nonlocal body_read
        for start in range(0, len(content), 64):
            body_read += 64
            yield content[start : start + 64]

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        response = await client.post(
            "/graphql",
            content=stream(),
            headers={"Content-Type": multipart.headers["Content-Type"], **PREFLIGHT},
        )

    assert response.status_code == 401
    assert error_code(response.json()) == "UNAUTHENTICATED"
    assert body_read == 0
    assert stored_files(store, group) == []


async def test_upload_without_the_csrf_header_is_refused_and_stores_nothing(
    api: Api, store: GroupStore, group: Group, member_token: str
) -> None:
    response = await api.upload(group.group_id, b"x", token=member_token, headers={})

    assert response.status_code == 400
    assert error_code(response.json()) == "BAD_REQUEST"
    assert "GraphQL-Require-Preflight" in response.json()["errors"][0]["message"]
    assert stored_files(store, group) == [] and gridfs_is_empty(store)


@pytest.mark.parametrize("header", ["Apollo-Require-Preflight", "X-Apollo-Operation-Name"])
async def test_upload_accepts_apollos_preflight_headers_too(
    api: Api, group: Group, member_token: str, header: str
) -> None:
    response = await api.upload(group.group_id, b"x", token=member_token, headers={header: "1"})

    assert response.json()["data"]["uploadFile"]["size"] == 1


async def test_a_file_over_the_upload_limit_is_payload_too_large_and_not_stored(
    make_app: Callable[..., Any], store: GroupStore, group: Group, member_token: str
) -> None:
    app = make_app(max_upload_bytes=1000)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        response = await Api(client).upload(group.group_id, b"x" * 1001, token=member_token)

    assert response.status_code == 200
    assert error_code(response.json()) == "PAYLOAD_TOO_LARGE"
    assert stored_files(store, group) == [] and gridfs_is_empty(store)


async def test_a_body_over_the_limit_is_refused_with_413_and_nothing_is_stored(
    make_app: Callable[..., Any], store: GroupStore, group: Group, member_token: str
) -> None:
    app = make_app(max_upload_bytes=1000)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        response = await Api(client).upload(group.group_id, b"x" * 3_000_000, token=member_token)

    assert response.status_code == 413
    assert error_code(response.json()) == "PAYLOAD_TOO_LARGE"
    assert stored_files(store, group) == [] and gridfs_is_empty(store)


async def test_a_chunked_body_over_the_limit_is_refused_with_413(
    make_app: Callable[..., Any], group: Group, member_token: str
) -> None:
    app = make_app(max_upload_bytes=1000)
    multipart = httpx.Request(
        "POST", "http://x/graphql", files=upload_form(group.group_id, b"x" * 3_000_000, "a")
    )
    content = multipart.read()

    # No Content-Length: the limit counts the bytes as they come.
    async def chunked() -> AsyncIterator[bytes]:
        for start in range(0, len(content), 65536):
            yield content[start : start + 65536]

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
        response = await client.post(
            "/graphql",
            content=chunked(),
            headers={
                "Content-Type": multipart.headers["Content-Type"], **PREFLIGHT,
                **bearer(member_token),
            },
        )  # fmt: skip

    assert response.status_code == 413
    assert error_code(response.json()) == "PAYLOAD_TOO_LARGE"


async def test_a_json_body_over_one_mib_is_refused_with_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/graphql", json={"query": "{ me { id } }", "padding": "x" * (1024 * 1024)}
    )

    assert response.status_code == 413
    assert error_code(response.json()) == "PAYLOAD_TOO_LARGE"


async def test_the_upload_spool_file_is_closed_after_the_request(
    api: Api, group: Group, member_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[UploadFile] = []
    original = UploadFile.__init__

    def spy(self: UploadFile, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        seen.append(self)

    monkeypatch.setattr(UploadFile, "__init__", spy)

    await api.upload(group.group_id, b"x" * 2_000_000, token=member_token)
    await api.upload(group.group_id, b"y", token=None)  # refused: never parsed
    await api.upload(group.group_id, b"z", token=member_token, headers={})  # refused: CSRF

    assert len(seen) == 1
    assert seen[0].file.closed


async def test_an_unused_upload_is_closed_too(
    client: httpx.AsyncClient, group: Group, member_token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[UploadFile] = []
    original = UploadFile.__init__

    def spy(self: UploadFile, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        seen.append(self)

    monkeypatch.setattr(UploadFile, "__init__", spy)
    import json

    files: dict[str, Any] = {
        "operations": (None, json.dumps({"query": "{ me { id } }", "variables": {"f": None}})),
        "map": (None, json.dumps({"0": ["variables.f"]})),
        "0": ("a.txt", b"unused", "text/plain"),
    }

    response = await client.post(
        "/graphql", files=files, headers={**PREFLIGHT, **bearer(member_token)}
    )

    assert response.status_code == 200, response.text
    assert len(seen) == 1 and seen[0].file.closed


# -- uploadedFiles ----------------------------------------------------------


async def test_uploaded_files_lists_the_files_with_their_download_url(
    api: Api, group: Group, uploaded: UploadedFile, member_token: str
) -> None:
    body = await api(LIST, {"g": group.group_id}, token=member_token)

    assert body["data"]["uploadedFiles"] == [
        {
            "id": uploaded.file_id,
            "name": "hello.txt",
            "size": 11,
            "mimeType": "text/plain",
            "downloadUrl": f"http://gateway.test/files/{group.group_id}/{uploaded.file_id}",
        }
    ]


@pytest.mark.parametrize(("role", "code"), DENIED)
async def test_uploaded_files_is_refused_to_non_members(
    api: Api,
    group: Group,
    uploaded: UploadedFile,
    token_of: Callable[[str], str | None],
    role: str,
    code: str,
) -> None:
    body = await api(LIST, {"g": group.group_id}, token=token_of(role))

    assert error_code(body) == code
    assert body["data"] is None


async def test_uploaded_files_of_an_unknown_group_is_unknown_group(
    api: Api, member_token: str
) -> None:
    body = await api(LIST, {"g": "nope"}, token=member_token)

    assert error_code(body) == "UNKNOWN_GROUP"


# -- deleteFile -------------------------------------------------------------


async def test_delete_file_by_a_member_removes_metadata_and_bytes(
    api: Api, store: GroupStore, group: Group, uploaded: UploadedFile, member_token: str
) -> None:
    body = await api(DELETE, {"g": group.group_id, "f": uploaded.file_id}, token=member_token)

    assert body == {"data": {"deleteFile": True}}
    assert stored_files(store, group) == [] and gridfs_is_empty(store)


@pytest.mark.parametrize(("role", "code"), DENIED)
async def test_delete_file_is_refused_to_non_members_and_changes_nothing(
    api: Api,
    store: GroupStore,
    group: Group,
    uploaded: UploadedFile,
    token_of: Callable[[str], str | None],
    role: str,
    code: str,
) -> None:
    body = await api(DELETE, {"g": group.group_id, "f": uploaded.file_id}, token=token_of(role))

    assert error_code(body) == code
    assert stored_files(store, group) == [uploaded]
    assert store.groups.get_uploaded_file(group.group_id, uploaded.file_id).open().read() == (
        b"hello world"
    )


async def test_delete_file_of_another_group_is_unknown_file(
    api: Api, store: GroupStore, group: Group, uploaded: UploadedFile, member_token: str
) -> None:
    other = store.groups.create_group(group.workflow_id, "other", [], {}, user_id=group.owner_id)

    body = await api(DELETE, {"g": other.group_id, "f": uploaded.file_id}, token=member_token)

    assert error_code(body) == "UNKNOWN_FILE"
    assert stored_files(store, group) == [uploaded]
