"""Which database the suite runs on (see conftest.py)."""

from __future__ import annotations

import os
import uuid

import pymongo
from argon2 import PasswordHasher

MONGO_URI = os.environ.get("GROUPSTORE_TEST_MONGO_URI")
# Argon2 at its default cost takes ~64 MiB and ~50 ms per hash; tests register
# hundreds of users, so they use the cheapest valid parameters.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
# A password that meets the default policy (at least 8 characters), for tests that need any.
PASSWORD = "test-password"


def _server_is_ferretdb() -> bool:
    if not MONGO_URI:
        return False
    client: pymongo.MongoClient[dict[str, object]]
    with pymongo.MongoClient(MONGO_URI, serverSelectionTimeoutMS=10_000) as client:
        info = client.admin.command("buildInfo")
    return "ferretdb" in str(info).lower()


IS_FERRETDB = _server_is_ferretdb()


def new_store_uri() -> tuple[str, str]:
    """A (uri, database) pair for a fresh, empty store on the test backend."""
    if MONGO_URI:
        return MONGO_URI, f"gs_test_{uuid.uuid4().hex[:12]}"
    return "mongomock://", "groupstore"
