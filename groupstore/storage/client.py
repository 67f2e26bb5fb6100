"""Opening a MongoDB (or in-memory mongomock) client and preparing the database."""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import mongomock
import mongomock.gridfs
from pymongo import ASCENDING, IndexModel, MongoClient
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import (
    ConfigurationError,
    ConnectionFailure,
    InvalidURI,
    OperationFailure,
    ServerSelectionTimeoutError,
)

from groupstore.errors import ConstraintViolationError
from groupstore.storage.errors import translated
from groupstore.storage.memory import MongomockClient

MEMORY_URI = "mongomock://"
"""The URI of the in-memory store (mongomock): data lives in this process only."""
log = logging.getLogger("groupstore")


@functools.cache
def _enable_mongomock_gridfs() -> None:
    """Let stock ``gridfs`` accept mongomock databases (it checks isinstance). Once per process."""
    mongomock.gridfs.enable_gridfs_integration()  # type: ignore[no-untyped-call]


def _uri_options(uri: str) -> set[str]:
    """The connection option names given in a URI's query string, lower-cased."""
    return {key.lower() for key, _ in parse_qsl(urlsplit(uri).query)}


def open_client(uri: str, timeout: float, client_options: Mapping[str, Any]) -> Any:
    """A client for ``uri``; ``mongomock://`` gives a fresh in-memory server.

    ``timeout`` (seconds) bounds server selection, connecting and each socket
    read, so that a call against a stopped server fails within a few seconds
    instead of hanging. Options written in the URI win over these defaults.

    A server that hangs instead of refusing (frozen, or cut off by the network)
    is noticed by the client's monitor, which then cancels the calls in flight:
    within one heartbeat plus two timed-out checks (the driver retries a failed
    check once), and a retried call waits one server selection more. With
    pymongo's 10 s heartbeat a call took up to 14.5 s for a 2 s ``timeout``;
    with the heartbeat and the connect timeout at half of ``timeout``, about
    2.5 x ``timeout`` (measured: at most 4.5 s for 2 s).
    """
    if uri.startswith(MEMORY_URI):
        _enable_mongomock_gridfs()
        return MongomockClient()
    given = _uri_options(uri)
    millis = int(timeout * 1000)
    defaults: dict[str, Any] = {
        "serverSelectionTimeoutMS": millis,
        "connectTimeoutMS": max(millis // 2, 100),
        "heartbeatFrequencyMS": max(millis // 2, 500),  # pymongo's minimum is 500
        # Long enough for one 4 MiB chunk batch on a slow link; a dead server
        # is noticed by server selection long before this.
        "socketTimeoutMS": max(millis * 6, 30_000),
        "appname": "groupstore",
    }
    options = {key: value for key, value in defaults.items() if key.lower() not in given}
    options.update(client_options)
    try:
        return MongoClient(uri, **options)
    except (ConfigurationError, InvalidURI, ValueError) as exc:
        raise ConstraintViolationError(f"invalid MongoDB URI: {exc}") from exc


def database_in_uri(uri: str) -> str | None:
    """The database named in the URI's path (``mongodb://host/<db>``), if any."""
    path = urlsplit(uri).path.lstrip("/")
    return path or None


def ping(client: Any) -> None:
    """Fail with ``StoreUnavailableError`` unless the server answers."""
    with translated():
        client.admin.command("ping")


GROUP_INDEXES = [
    # The database enforces name uniqueness: two racing creates cannot both win.
    IndexModel(
        [("workflow_id", ASCENDING), ("name", ASCENDING)], unique=True, name="group_name_unique"
    ),
    IndexModel([("workflow_id", ASCENDING), ("seq", ASCENDING)], name="group_by_workflow"),
    IndexModel([("member_ids", ASCENDING), ("seq", ASCENDING)], name="group_by_member_id"),
    IndexModel([("seq", ASCENDING)], name="group_by_seq"),
]
# Indexes of earlier versions that nothing queries any more.
OBSOLETE_GROUP_INDEXES = ["group_by_member"]  # (members.user_id, seq): now member_ids
OBSOLETE_FILES_INDEXES = ["files_by_group"]  # (metadata.group_id, metadata.seq): now group_id
INDEX_NOT_FOUND = 27
USER_INDEXES = [
    IndexModel([("username_key", ASCENDING)], unique=True, name="username_unique"),
]
API_KEY_INDEXES = [
    IndexModel([("user_id", ASCENDING)], name="api_key_by_user"),
]
# MongoDB removes expired keys by itself; authenticate() checks expiry anyway,
# and login prunes the user's expired keys, for servers without TTL indexes.
API_KEY_TTL_INDEX = IndexModel(
    [("expires_at", ASCENDING)], expireAfterSeconds=0, name="api_key_ttl"
)
ACCOUNT_TOKEN_INDEXES = [
    IndexModel([("user_id", ASCENDING), ("purpose", ASCENDING)], name="account_token_by_user"),
]
LOGIN_FAILURE_INDEXES = [
    IndexModel([("key", ASCENDING), ("at", ASCENDING)], name="login_failure_by_key"),
]
# Like API keys: MongoDB drops expired documents itself; elsewhere they are
# pruned by the code (tokens when used, failures when new ones are recorded).
EXPIRES_AT_TTL_INDEX = IndexModel(
    [("expires_at", ASCENDING)], expireAfterSeconds=0, name="expires_at_ttl"
)
NOT_IMPLEMENTED = 238  # the server error code for an unsupported feature
WORKFLOW_INDEXES = [
    IndexModel([("name", ASCENDING)], unique=True, name="workflow_name_unique"),
    IndexModel([("seq", ASCENDING)], name="workflow_by_seq"),
]
# The standard GridFS indexes (the same ones pymongo's GridIn would create on
# first write), created once here instead of checked on every upload.
GRIDFS_FILES_INDEXES = [
    IndexModel(
        [("filename", ASCENDING), ("uploadDate", ASCENDING)], name="filename_1_uploadDate_1"
    ),
    # A group's file listing, in upload order.
    IndexModel([("group_id", ASCENDING), ("metadata.seq", ASCENDING)], name="files_by_group_id"),
]
GRIDFS_CHUNKS_INDEXES = [
    IndexModel([("files_id", ASCENDING), ("n", ASCENDING)], unique=True, name="files_id_1_n_1"),
]


@functools.cache
def _warn_no_ttl_indexes() -> None:
    # Expected on FerretDB and handled (groupstore prunes what has expired), so not
    # a warning: at INFO it stays out of CLI output and --quiet runs, once per process.
    log.info(
        "the server has no TTL indexes; expired API keys, tokens and login failures "
        "are pruned by groupstore instead"
    )


def _create_missing(
    collection: Collection[Any], indexes: list[IndexModel], obsolete: list[str] | None = None
) -> None:
    """Create the indexes a collection lacks and drop the ``obsolete`` ones it still has.

    One listIndexes, plus a create and a drop only when needed. MongoDB accepts
    re-creating identical indexes, but FerretDB drops the connection when every
    index in a createIndexes call already exists.
    """
    existing = {index["name"] for index in collection.list_indexes()}
    missing = [index for index in indexes if index.document["name"] not in existing]
    if missing:
        collection.create_indexes(missing)
    for name in obsolete or []:
        if name in existing:
            try:
                collection.drop_index(name)
            except OperationFailure as exc:
                if exc.code != INDEX_NOT_FOUND:  # another process dropped it first
                    raise


INDEX_ATTEMPTS = 5


def ensure_indexes(db: Database[Any], bucket_name: str) -> None:
    """Create every index the store relies on; safe to call again, and concurrently.

    Several gateways starting at once on a fresh database all create the
    indexes. MongoDB copes; FerretDB 1.x may fail one of them (it drops the
    connection on a createIndexes that races another), so a failed attempt
    is retried after a short, random pause: by then the other process's
    indexes exist and are seen as such.
    """
    for attempt in range(1, INDEX_ATTEMPTS + 1):
        try:
            _ensure_indexes(db, bucket_name)
            return
        except (ConnectionFailure, OperationFailure) as exc:
            # A server that cannot be reached is not a race: fail at once.
            if attempt == INDEX_ATTEMPTS or isinstance(exc, ServerSelectionTimeoutError):
                with translated():
                    raise
            log.info("index creation raced another process (%s); retrying", exc)
            time.sleep(0.05 * attempt * (1 + random.random()))


def _ensure_indexes(db: Database[Any], bucket_name: str) -> None:
    _create_missing(db.groups, GROUP_INDEXES, OBSOLETE_GROUP_INDEXES)
    _create_missing(db.users, USER_INDEXES)
    _create_missing(db.workflows, WORKFLOW_INDEXES)
    _create_missing(db[f"{bucket_name}.files"], GRIDFS_FILES_INDEXES, OBSOLETE_FILES_INDEXES)
    _create_missing(db[f"{bucket_name}.chunks"], GRIDFS_CHUNKS_INDEXES)
    _create_with_ttl(db.api_keys, API_KEY_INDEXES, API_KEY_TTL_INDEX)
    _create_with_ttl(db.account_tokens, ACCOUNT_TOKEN_INDEXES, EXPIRES_AT_TTL_INDEX)
    _create_with_ttl(db.login_failures, LOGIN_FAILURE_INDEXES, EXPIRES_AT_TTL_INDEX)


def _create_with_ttl(
    collection: Collection[Any], indexes: list[IndexModel], ttl_index: IndexModel
) -> None:
    try:
        _create_missing(collection, [*indexes, ttl_index])
    except OperationFailure as exc:
        if exc.code != NOT_IMPLEMENTED:
            raise
        _warn_no_ttl_indexes()  # FerretDB 1.x has none
        _create_missing(collection, indexes)
