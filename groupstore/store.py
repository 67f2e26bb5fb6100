"""``connect()``: the entry point that wires one client to the three managers."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any

from groupstore.changes import Change, Publisher
from groupstore.groups import WorkflowGroupManager
from groupstore.senders import TokenSender
from groupstore.storage.backend import Storage, server_kind
from groupstore.storage.changes import ChangeCursor, ChangeFeed, watch_changes
from groupstore.storage.client import (
    MEMORY_URI,
    database_in_uri,
    ensure_indexes,
    open_client,
    ping,
)
from groupstore.storage.schema import upgrade
from groupstore.users import DEFAULT_TOKEN_TTL, AccountPolicy, UserManager
from groupstore.workflows import WorkflowManager

DEFAULT_DATABASE = "groupstore"
DEFAULT_TIMEOUT = 5.0
"""Seconds a call waits for a database that does not answer (``connect(timeout=)``)."""


class GroupStore:
    """One client, one database, and the managers over them. Also a context manager.

    ``connect`` builds the storage (one object per collection) once and hands
    it to the three managers.
    """

    def __init__(
        self,
        client: Any,
        storage: Storage,
        token_ttl: timedelta = DEFAULT_TOKEN_TTL,
        *,
        admins: Iterable[str] = (),
        first_user_admin: bool = False,
        policy: AccountPolicy | None = None,
        sender: TokenSender | None = None,
        publisher: Publisher | None = None,
    ) -> None:
        """``publisher``: where the managers announce their writes; by default the
        database's change log (``storage.changes``), which every process reads."""
        self.client = client
        self.storage = storage
        self.db = storage.db
        self.fs = storage.fs
        self.publisher: Publisher = publisher or storage.changes
        self.users = UserManager(
            storage,
            token_ttl=token_ttl,
            admins=admins,
            first_user_admin=first_user_admin,
            policy=policy,
            sender=sender,
            publisher=self.publisher,
        )
        self.workflows = WorkflowManager(storage, publisher=self.publisher)
        self.groups = WorkflowGroupManager(storage, users=self.users, publisher=self.publisher)

    @property
    def database_name(self) -> str:
        return str(self.db.name)

    @property
    def server_kind(self) -> str:
        """``"mongodb"``, ``"ferretdb"`` or ``"memory"`` (decided once, at connect)."""
        return self.storage.kind

    def ping(self) -> None:
        """StoreUnavailableError unless the server answers (within the store's timeout)."""
        ping(self.client)

    def read_changes(self, after: int | None = None) -> ChangeCursor:
        """A cursor over the change log from position ``after`` (default: from now on).

        Its ``poll()`` returns the changes every process made since the last
        poll, in order, each once (one read); works on every server.
        """
        return self.storage.changes.cursor(after)

    def changes_between(self, after: int, upto: int, group_id: str | None = None) -> list[Change]:
        """The logged changes in (``after``, ``upto``], of one group when given (one read)."""
        return self.storage.changes.read(after, upto, group_id)

    def settled_position(self, after: int = 0) -> int:
        """The last position of the unbroken run of logged changes after ``after`` (one read):
        a read made now reflects every change up to it."""
        return self.storage.changes.settled(after)

    def watch_changes(self) -> ChangeFeed:
        """A feed of the change log's new entries, pushed by a change stream.

        Iterate it (blocking) and ``close()`` it when done; ChangeStreamsUnsupportedError
        on servers without change streams (standalone MongoDB, FerretDB, in memory).
        """
        return watch_changes(self.db)

    def close(self) -> None:
        """Close the client and its connection pool."""
        self.client.close()

    def __enter__(self) -> GroupStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def connect(
    uri: str | None = None,
    database: str | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    token_ttl: timedelta = DEFAULT_TOKEN_TTL,
    client_options: Mapping[str, Any] | None = None,
    admins: Iterable[str] | None = None,
    first_user_admin: bool | None = None,
    policy: AccountPolicy | None = None,
    sender: TokenSender | None = None,
    publisher: Publisher | None = None,
) -> GroupStore:
    """Connect to MongoDB (or ``mongomock://``, in memory), create indexes, return the store.

    ``uri`` defaults to ``GROUPSTORE_MONGO_URI``, else ``mongomock://``;
    ``database`` to the one in the URI, else ``GROUPSTORE_DATABASE``, else
    ``groupstore``. Fails with StoreUnavailableError when the server does not
    answer within ``timeout`` seconds; the same bound applies to later calls.
    ``client_options`` go to ``pymongo.MongoClient`` as they are (TLS files,
    pool sizes, ``event_listeners``...); they win over the URI and ``timeout``.
    ``admins``: user names that are administrators (now, or when they
    register); default the comma-separated ``GROUPSTORE_ADMINS``.
    ``first_user_admin``: a user who registers while the store has no
    administrator becomes one; default ``GROUPSTORE_FIRST_USER_ADMIN``
    (``groupstore serve`` turns it on for the local store only).
    ``policy`` (password rules, hashing costs, login throttling, token
    lifetimes) and ``sender`` (how activation and reset tokens reach users)
    go to the ``UserManager``. ``publisher`` receives every write's ``Change``
    (default: the database's change log).
    """
    if admins is None:
        admins = os.environ.get("GROUPSTORE_ADMINS", "").split(",")
    if first_user_admin is None:
        flag = os.environ.get("GROUPSTORE_FIRST_USER_ADMIN", "")
        first_user_admin = flag.strip().lower() in ("1", "true", "yes", "on")
    uri = uri or os.environ.get("GROUPSTORE_MONGO_URI") or MEMORY_URI
    database = (
        database
        or database_in_uri(uri)
        or os.environ.get("GROUPSTORE_DATABASE")
        or DEFAULT_DATABASE
    )
    client = open_client(uri, timeout, client_options or {})
    try:
        ping(client)
        db = client[database]
        ensure_indexes(db, bucket_name="fs")
        storage = Storage.build(db, server_kind(client), timeout=timeout)
        upgrade(storage)  # one read, unless the database was written by an earlier version
        return GroupStore(  # promotes the named administrators: one more round trip
            client,
            storage,
            token_ttl=token_ttl,
            admins=admins,
            first_user_admin=first_user_admin,
            policy=policy,
            sender=sender,
            publisher=publisher,
        )
    except BaseException:
        client.close()
        raise
