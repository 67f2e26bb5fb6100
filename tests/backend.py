"""Which database the suite runs on (see conftest.py).

``BACKEND`` is one of ``BACKENDS``: ``GROUPSTORE_TEST_BACKEND`` when set (scripts/test
sets it for each leg), else found out: no ``GROUPSTORE_TEST_MONGO_URI`` means
mongomock; a server calling itself FerretDB is told apart by its query plans
(PostgreSQL's ``explain`` has a ``Plan`` tree, SQLite's a list of plan rows).
"""

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

BACKENDS = ("memory", "mongodb", "ferretdb-sqlite", "ferretdb-postgresql")


def _detect_backend() -> str:
    if not MONGO_URI:
        return "memory"
    client: pymongo.MongoClient[dict[str, object]]
    with pymongo.MongoClient(MONGO_URI, serverSelectionTimeoutMS=10_000) as client:
        info = client.admin.command("buildInfo")
        if "ferretdbVersion" not in info:
            return "mongodb"
        probe: pymongo.database.Database[dict[str, object]] = client[
            f"gs_probe_{uuid.uuid4().hex[:12]}"
        ]
        try:
            probe.x.insert_one({"_id": 1})
            plan = probe.command("explain", {"find": "x", "filter": {"_id": 1}})
        finally:
            client.drop_database(probe.name)
    tree = isinstance(plan.get("queryPlanner", {}).get("Plan"), dict)
    return "ferretdb-postgresql" if tree else "ferretdb-sqlite"


def _backend() -> str:
    named = os.environ.get("GROUPSTORE_TEST_BACKEND")
    if not named:
        return _detect_backend()
    if named not in BACKENDS:
        raise RuntimeError(f"GROUPSTORE_TEST_BACKEND={named!r}: expected one of {BACKENDS}")
    if (named == "memory") != (not MONGO_URI):
        raise RuntimeError(
            f"GROUPSTORE_TEST_BACKEND={named!r} does not fit "
            f"GROUPSTORE_TEST_MONGO_URI={MONGO_URI!r} (memory means no URI)"
        )
    return named


BACKEND = _backend()
IS_FERRETDB = BACKEND.startswith("ferretdb-")


def new_store_uri() -> tuple[str, str]:
    """A (uri, database) pair for a fresh, empty store on the test backend."""
    if MONGO_URI:
        return MONGO_URI, f"gs_test_{uuid.uuid4().hex[:12]}"
    return "mongomock://", "groupstore"
