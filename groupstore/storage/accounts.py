"""The ``account_tokens`` and ``login_failures`` collections.

Both are written only with inserts and deletes of whole documents, never
with in-place updates, because those are the operations every supported
server makes atomic under concurrency (FerretDB 1.24 loses ``$inc``
increments and can return one document to two racing ``findAndModify``):

- a one-time token is consumed by ``delete_one`` on its hash: of two
  concurrent uses, exactly one sees ``deleted_count == 1``;
- a failed login is one inserted document per (key, failure); the count of
  documents in the window is the throttle's counter. Old ones are pruned by
  the writer (and by a TTL index where the server has them).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database

from groupstore.storage.documents import as_utc
from groupstore.storage.errors import translated


class TokenCollection:
    """One-time tokens, stored as the SHA-256 of the token."""

    def __init__(self, db: Database[Any]) -> None:
        self.tokens: Collection[Any] = db.account_tokens

    def insert(
        self, token_hash: str, user_id: str, purpose: str, now: datetime, expires_at: datetime
    ) -> None:
        with translated():
            self.tokens.insert_one(
                {
                    "_id": token_hash,
                    "user_id": user_id,
                    "purpose": purpose,
                    "created_at": now,
                    "expires_at": expires_at,
                }
            )

    def find(self, token_hash: str, purpose: str) -> tuple[str, datetime] | None:
        """(user id, expiry) of a token of that purpose, without consuming it."""
        with translated():
            doc = self.tokens.find_one({"_id": token_hash, "purpose": purpose})
        return None if doc is None else (doc["user_id"], as_utc(doc["expires_at"]))

    def consume(self, token_hash: str, purpose: str) -> bool:
        """Delete the token; True for the one caller that deleted it."""
        with translated():
            result = self.tokens.delete_one({"_id": token_hash, "purpose": purpose})
        return result.deleted_count == 1

    def delete_for_user(self, user_id: str, purpose: str | None = None) -> None:
        query: dict[str, Any] = {"user_id": user_id}
        if purpose is not None:
            query["purpose"] = purpose
        with translated():
            self.tokens.delete_many(query)


class FailureLog:
    """Failed attempts, one document each: ``{key, at, expires_at}``."""

    def __init__(self, db: Database[Any]) -> None:
        self.failures: Collection[Any] = db.login_failures

    def newest(self, keys: list[str], since: datetime, limit: int) -> dict[str, list[datetime]]:
        """The times of failures after ``since`` of each key, newest first: the newest
        ``limit`` over all the keys together, in one indexed find.

        Callers pass the sum of the keys' limits: when that truncates, at least
        one key still shows as many as its own limit (so it is throttled), and
        that key's times are its true newest ones.
        """
        found: dict[str, list[datetime]] = {key: [] for key in keys}
        with translated():
            docs = (
                self.failures.find(
                    {"key": {"$in": keys}, "at": {"$gt": since}}, {"_id": 0, "key": 1, "at": 1}
                )
                .sort("at", -1)
                .limit(limit)
            )
            for doc in docs:
                found[doc["key"]].append(as_utc(doc["at"]))
        return found

    def record(self, keys: Iterable[str], now: datetime, window: timedelta) -> None:
        """One new document per key; drops the keys' documents that left the window."""
        keys = list(keys)
        with translated():
            self.failures.insert_many(
                [{"key": key, "at": now, "expires_at": now + window} for key in keys],
                ordered=False,
            )
            self.failures.delete_many({"key": {"$in": keys}, "at": {"$lte": now - window}})
