"""``connect()``: the entry point that wires one client to the three managers."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any

from groupstore.groups import WorkflowGroupManager
from groupstore.senders import TokenSender
from groupstore.storage.client import database_in_uri, ensure_indexes, open_client, ping
from groupstore.storage.files import GridFSStore
from groupstore.users import DEFAULT_TOKEN_TTL, AccountPolicy, UserManager
from groupstore.workflows import WorkflowManager

DEFAULT_URI = "mongomock://"
DEFAULT_DATABASE = "groupstore"
DEFAULT_TIMEOUT = 5.0


class GroupStore:
    """One client, one database, and the managers over them. Also a context manager."""

    def __init__(
        self,
        client: Any,
        db: Any,
        token_ttl: timedelta = DEFAULT_TOKEN_TTL,
        *,
        admins: Iterable[str] = (),
        policy: AccountPolicy | None = None,
        sender: TokenSender | None = None,
    ) -> None:
        self.client = client
        self.db = db
        self.fs = GridFSStore(db)
        self.users = UserManager(
            db, token_ttl=token_ttl, admins=admins, policy=policy, sender=sender
        )
        self.workflows = WorkflowManager(db, fs=self.fs)
        self.groups = WorkflowGroupManager(db, fs=self.fs, users=self.users)

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
    policy: AccountPolicy | None = None,
    sender: TokenSender | None = None,
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
    ``policy`` (password rules, hashing costs, login throttling, token
    lifetimes) and ``sender`` (how activation and reset tokens reach users)
    go to the ``UserManager``.
    """
    if admins is None:
        admins = os.environ.get("GROUPSTORE_ADMINS", "").split(",")
    uri = uri or os.environ.get("GROUPSTORE_MONGO_URI") or DEFAULT_URI
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
        return GroupStore(  # promotes the named administrators: one more round trip
            client, db, token_ttl=token_ttl, admins=admins, policy=policy, sender=sender
        )
    except BaseException:
        client.close()
        raise
