"""Backup and restore through every backend once.

memory -> FerretDB/SQLite -> FerretDB/PostgreSQL -> memory, with equal manifests.

It runs on the FerretDB/PostgreSQL leg only (that leg's server, plus a FerretDB/SQLite
of its own, which starts in a second); the other legs go through their own backend
and memory in tests/test_backup.py.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import groupstore
from groupstore.backup import restore
from tests.backend import BACKEND, new_store_uri
from tests.support import FerretDB
from tests.test_backup import BIG, SPEC, memory_store, populate, take_backup

pytestmark = pytest.mark.skipif(
    BACKEND != "ferretdb-postgresql",
    reason="runs once, on the FerretDB/PostgreSQL leg (which also starts a FerretDB/SQLite)",
)


def test_round_trip_memory_sqlite_postgresql_memory_keeps_the_manifest(
    private_server: FerretDB, tmp_path: Path
) -> None:
    source = memory_store()
    ids = populate(source)
    archive = tmp_path / "memory.gsb"
    manifests = [take_backup(source, archive)]
    sqlite = groupstore.connect(private_server.uri, f"gs_chain_{uuid.uuid4().hex[:8]}")
    pg_uri, pg_database = new_store_uri()
    postgresql = groupstore.connect(pg_uri, pg_database)
    back = memory_store()
    try:
        for name, target in (("sqlite", sqlite), ("postgresql", postgresql), ("back", back)):
            restore(target, archive)
            archive = tmp_path / f"{name}.gsb"
            manifests.append(take_backup(target, archive))
        assert all(m.content == manifests[0].content for m in manifests)
        assert back.groups.get_uploaded_file(ids["group"], ids["big"]).open().read() == BIG
        workflow_id = back.groups.get_group(ids["group"]).workflow_id
        assert back.workflows.get_workflow(workflow_id).workflow_spec == SPEC
    finally:
        postgresql.client.drop_database(pg_database)
        for store in (sqlite, postgresql, back):
            store.close()
