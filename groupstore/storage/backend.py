"""``Storage``: every collection object of one database, built once and handed down.

``groupstore.connect`` opens the client, detects what kind of server it talks
to, and builds one ``Storage``; the managers take it (or, for callers who
build a manager by hand as flowserv does, a pymongo ``Database``, from which
one is built). So a store holds exactly one object per collection, and the
server's quirks are decided in one place: ``kind`` is ``"mongodb"``,
``"ferretdb"`` or ``"memory"``, and ``atomic_updates`` says whether a
single-document update is atomic there (not on FerretDB 1.x: see
``storage.locks``). On a FerretDB that filters ``files_id`` itself (SQLite)
``fs`` reads chunks by ``_id`` (``storage.files.chunk_reads_for``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import mongomock
from pymongo.database import Database

from groupstore.storage.accounts import FailureLog, TokenCollection
from groupstore.storage.changes import ChangeLog
from groupstore.storage.errors import translated
from groupstore.storage.files import GridFSStore, chunk_reads_for, file_store
from groupstore.storage.groups import GroupCollection
from groupstore.storage.locks import DEFAULT_WAIT, GroupLocks
from groupstore.storage.users import UserCollection
from groupstore.storage.workflows import WorkflowCollection

ServerKind: TypeAlias = Literal["mongodb", "ferretdb", "memory"]


def server_kind(client: Any) -> ServerKind:
    """What the client talks to (one ``buildInfo`` for a real server)."""
    if isinstance(client, mongomock.MongoClient):
        return "memory"
    with translated():
        info = client.admin.command("buildInfo")
    return "ferretdb" if "ferretdb" in str(info).lower() else "mongodb"


@dataclass
class Storage:
    """The collections of one database, each wrapped once."""

    db: Database[Any]
    kind: ServerKind
    fs: GridFSStore
    groups: GroupCollection
    workflows: WorkflowCollection
    users: UserCollection
    tokens: TokenCollection
    failures: FailureLog
    changes: ChangeLog

    @property
    def atomic_updates(self) -> bool:
        return self.kind != "ferretdb"

    @classmethod
    def build(
        cls,
        db: Database[Any],
        kind: ServerKind | None = None,
        fs: GridFSStore | None = None,
        timeout: float = DEFAULT_WAIT,
    ) -> Storage:
        """``timeout``: connect's; a writer waits for a busy group no longer than any
        other call waits for the server, so a lease left by a writer that died, or
        whose release a frozen server never saw, cannot hold requests longer."""
        kind = kind or server_kind(db.client)
        fs = fs or GridFSStore(db)
        if fs.chunk_reads is None:
            fs.chunk_reads = chunk_reads_for(fs.chunks, kind)  # one explain on FerretDB
        locks = GroupLocks(db.group_locks, enabled=kind == "ferretdb", wait=timeout)
        return cls(
            db=db,
            kind=kind,
            fs=fs,
            groups=GroupCollection(db, fs, locks),
            workflows=WorkflowCollection(db),
            users=UserCollection(db),
            tokens=TokenCollection(db),
            failures=FailureLog(db),
            changes=ChangeLog(db),
        )


StorageLike: TypeAlias = "Storage | Database[Any]"
"""What a manager accepts: the store's ``Storage``, or a database to build one on."""


def storage_of(db: Storage | Database[Any], fs: Any = None) -> Storage:
    """The ``Storage`` a manager works on: built when given a bare database or another ``fs``.

    ``fs``: a ``GridFSStore`` or a stock ``gridfs.GridFSBucket`` of that database.
    """
    if isinstance(db, Storage):
        if fs is None:
            return db
        built = Storage.build(db.db, db.kind, file_store(db.db, fs))
        built.changes = db.changes  # one log per store: its positions are learned once
        return built
    return Storage.build(db, fs=None if fs is None else file_store(db, fs))
