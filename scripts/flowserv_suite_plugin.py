"""pytest plugin for scripts/flowserv-suite: one groupstore database per test.

flowserv's service tests give every test a fresh SQL database; on a MongoDB
server (GROUPSTORE_MONGO_URI) this gives every test a fresh groupstore
database to go with it (GROUPSTORE_DATABASE, dropped afterwards), as one
flowserv deployment has one groupstore database. The in-memory store is
fresh for every factory anyway. The tests themselves are not touched.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _groupstore_database(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    uri = os.environ.get("GROUPSTORE_MONGO_URI")
    if not uri:
        yield
        return
    name = f"flowserv_suite_{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("GROUPSTORE_DATABASE", name)
    yield
    import pymongo

    with pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000) as client:
        client.drop_database(name)
