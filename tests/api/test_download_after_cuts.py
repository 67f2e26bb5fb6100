"""After an upload cut anywhere, the gateway serves every listed file whole (issue 18).

Each call of an upload is cut (``tests/faults.py``: an answer lost, a call
that lands late after the cleanup, a freeze whose calls land in reverse);
then every listed file downloads with 200 and all its bytes, and any other
file id the cut left behind in the bucket answers 404 UNKNOWN_FILE: never a
cut body, never a 500.
"""

from __future__ import annotations

import hashlib

import httpx
import pytest

from groupstore import GroupStore, User
from tests.faults import Faults
from tests.test_upload_cuts import CHUNK, upload_cut

from .conftest import bearer

pytestmark = pytest.mark.anyio

CUTS = [("lost", False), ("frozen", False), ("freeze", True)]


@pytest.mark.parametrize(("mode", "reverse"), CUTS, ids=["lost", "frozen", "freeze-reversed"])
async def test_every_listed_file_downloads_whole_after_an_upload_cut_anywhere(
    client: httpx.AsyncClient,
    store: GroupStore,
    group,
    alice: User,
    member_token: str,
    mode: str,
    reverse: bool,
) -> None:
    store.fs.chunk_size, store.fs.chunks_per_batch = CHUNK, 2
    for cut in range(9):  # the upload's 6 calls and its cleanup's
        upload_cut(store, group, alice, Faults(cut_at=cut, mode=mode), f"cut-{cut}.bin", reverse)

    listed = {f.file_id: f for f in store.groups.list_uploaded_files(group.group_id)}
    left = set(store.db["fs.chunks"].distinct("files_id")) | set(
        store.db["fs.files"].distinct("_id")
    )
    assert listed  # some cuts leave the file listed (whole)
    for file_id in left:
        response = await client.get(
            f"/files/{group.group_id}/{file_id}", headers=bearer(member_token)
        )
        if file_id in listed:
            assert response.status_code == 200, (file_id, response.text)
            assert hashlib.sha256(response.content).hexdigest() == listed[file_id].sha256
        else:
            assert response.status_code == 404, (file_id, response.status_code)
            assert response.json()["errors"][0]["extensions"]["code"] == "UNKNOWN_FILE"
