"""Budget: moving 256 MiB through the gateway, either way, grows memory by < 32 MiB.

Measured in-process with tracemalloc (every Python allocation, peak included):
- Uploads go through httpx's ASGITransport, which streams the request body:
  the test generates it 1 MiB at a time (never 256 MiB at once), and
  Starlette spools the file part to a temporary file on disk.
- Downloads are driven by a 20-line ASGI caller that hashes and drops each
  piece, because ASGITransport collects the whole response body in a list
  (that would be the test's memory, not the server's).
- On a real server (GROUPSTORE_TEST_MONGO_URI) the stored bytes live in the
  database process, so the peak growth is the gateway's working memory.
  On mongomock the database *is* this process: for the upload, the 256 MiB it
  keeps are subtracted (measured as what is still allocated afterwards).
  Reading back from mongomock cannot be bounded at all (its cursor copies
  every matching chunk on the first read: +256 MiB measured, the same through
  the library alone), so in memory the download route is measured over a
  256 MiB file generated on the fly, and the full round trip through GridFS
  runs on a real server only.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp, Message

from graphql_api.app import create_app
from graphql_api.settings import Settings
from groupstore import FileHandle, Group, GroupStore, User, Workflow
from tests.backend import MONGO_URI

from .conftest import BASE_URL, PREFLIGHT, bearer

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

MiB = 1024 * 1024
SIZE = 256 * MiB
BUDGET = 32 * MiB
PIECE = hashlib.sha256(b"seed").digest() * (MiB // 32)  # 1 MiB, not all one byte
BOUNDARY = "groupstore-memory-test"


def multipart_body(group_id: str) -> tuple[list[bytes], int]:
    """The parts around the file content, and the total length of the body."""
    operations = json.dumps(
        {
            "query": "mutation($g: ID!, $f: Upload!) { uploadFile(groupId: $g, file: $f) "
            "{ id size sha256 } }",
            "variables": {"g": group_id, "f": None},
        }
    )
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n'
        f"{operations}\r\n"
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="map"\r\n\r\n'
        '{"0": ["variables.f"]}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="0"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    return [head, tail], len(head) + SIZE + len(tail)


async def stream_body(head: bytes, tail: bytes) -> AsyncIterator[bytes]:
    yield head
    for _ in range(SIZE // MiB):
        yield PIECE  # the same object each time: the client side allocates nothing
    yield tail


async def download(app: ASGIApp, path: str, token: str) -> tuple[int, str, int]:
    """GET the path straight through ASGI; (status, sha256, size) of the streamed body."""
    digest, size, status = hashlib.sha256(), 0, 0
    scope = {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
        "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
        "query_string": b"", "root_path": "", "server": ("gateway.test", 80),
        "client": ("127.0.0.1", 1),
        "headers": [(b"host", b"gateway.test"), (b"authorization", f"Bearer {token}".encode())],
    }  # fmt: skip

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal size, status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            digest.update(message.get("body", b""))
            size += len(message.get("body", b""))

    await app(scope, receive, send)
    return status, digest.hexdigest(), size


def allocated() -> int:
    gc.collect()
    return tracemalloc.get_traced_memory()[0]


async def upload(app: ASGIApp, group_id: str, token: str) -> tuple[dict[str, Any], int, int]:
    """POST a generated 256 MiB upload; (uploadFile result, peak growth, retained growth)."""
    (head, tail), length = multipart_body(group_id)
    headers = {
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
        "Content-Length": str(length),
        **PREFLIGHT,
        **bearer(token),
    }
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        before = allocated()
        tracemalloc.reset_peak()
        response = await client.post("/graphql", content=stream_body(head, tail), headers=headers)
        peak = tracemalloc.get_traced_memory()[1] - before
        retained = allocated() - before
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["uploadFile"], peak, retained


async def measured_download(app: ASGIApp, path: str, token: str) -> tuple[int, str, int, int]:
    """(status, sha256, size, peak growth) of a download."""
    before = allocated()
    tracemalloc.reset_peak()
    status, sha256, size = await download(app, path, token)
    return status, sha256, size, tracemalloc.get_traced_memory()[1] - before


def expected_sha256() -> str:
    digest = hashlib.sha256()
    for _ in range(SIZE // MiB):
        digest.update(PIECE)
    return digest.hexdigest()


@pytest.fixture
def tracing() -> Iterator[None]:
    tracemalloc.start()
    try:
        yield
    finally:
        tracemalloc.stop()


@pytest.fixture
def setup(store: GroupStore, alice: User, workflow: Workflow) -> tuple[ASGIApp, Group, str]:
    group = store.groups.create_group(workflow.workflow_id, "g", [], {}, user_id=alice.user_id)
    token = store.users.login_user("alice", "alice-password").token
    return create_app(store=store, settings=Settings(max_upload_bytes=SIZE)), group, token


async def test_a_256_mib_upload_grows_memory_by_less_than_32_mib(
    setup: tuple[ASGIApp, Group, str], tracing: None
) -> None:
    app, group, token = setup

    uploaded, peak, retained = await upload(app, group.group_id, token)

    print(f"\nupload: peak +{peak / MiB:.1f} MiB, retained +{retained / MiB:.1f} MiB")
    assert (uploaded["size"], uploaded["sha256"]) == (SIZE, expected_sha256())
    stored_in_this_process = 0 if MONGO_URI else retained
    assert peak - stored_in_this_process < BUDGET


async def test_a_256_mib_download_grows_memory_by_less_than_32_mib(
    setup: tuple[ASGIApp, Group, str],
    store: GroupStore,
    monkeypatch: pytest.MonkeyPatch,
    tracing: None,
) -> None:
    app, group, token = setup
    generated = FileHandle(
        file_id="f", group_id=group.group_id, name="big.bin", mime_type="application/octet-stream",
        length=SIZE, created_at=group.created_at, sha256=expected_sha256(),
        _opener=lambda: io.BufferedReader(GeneratedFile(), buffer_size=255 * 1024),
    )  # fmt: skip
    monkeypatch.setattr(
        store.groups, "get_uploaded_file", lambda group_id, file_id, caller=None: generated
    )

    status, sha256, size, peak = await measured_download(app, f"/files/{group.group_id}/f", token)

    print(f"\ndownload: peak +{peak / MiB:.1f} MiB")
    assert (status, size, sha256) == (200, SIZE, expected_sha256())
    assert peak < BUDGET


@pytest.mark.real_server
async def test_256_mib_up_and_down_through_gridfs_grows_memory_by_less_than_32_mib(
    setup: tuple[ASGIApp, Group, str], tracing: None
) -> None:
    app, group, token = setup

    uploaded, up_peak, _ = await upload(app, group.group_id, token)
    path = f"/files/{group.group_id}/{uploaded['id']}"
    status, sha256, size, down_peak = await measured_download(app, path, token)

    print(f"\nupload: peak +{up_peak / MiB:.1f} MiB; download: peak +{down_peak / MiB:.1f} MiB")
    assert (status, size, sha256) == (200, SIZE, expected_sha256())
    assert up_peak < BUDGET
    assert down_peak < BUDGET


class GeneratedFile(io.RawIOBase):
    """A seekable 256 MiB file of repeated PIECEs, produced on demand."""

    def __init__(self) -> None:
        super().__init__()
        self.position = 0
        self.source = memoryview(PIECE + PIECE)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.position = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: SIZE}[whence]
        self.position += offset
        return self.position

    def readinto(self, buffer: Any) -> int:
        count = min(len(buffer), SIZE - self.position, MiB)
        start = self.position % MiB
        buffer[:count] = self.source[start : start + count]
        self.position += count
        return count


def test_the_generated_body_is_what_the_server_parses() -> None:
    (head, tail), length = multipart_body("g")

    assert length == len(head) + SIZE + len(tail)
    assert head.startswith(f"--{BOUNDARY}".encode()) and tail.endswith(b"--\r\n")
