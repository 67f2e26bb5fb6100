"""The ``users`` and ``api_keys`` collections.

API keys are stored under the SHA-256 of the token: a random 256-bit token
needs no slow, salted hash (nothing to brute-force), and a plain digest can be
looked up by index. The token itself is never stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database

from groupstore.errors import DuplicateUserError, GroupStoreError
from groupstore.model import User
from groupstore.storage.documents import as_utc, user_from_document, utc_now
from groupstore.storage.errors import translated


class UserCollection:
    def __init__(self, db: Database[Any]) -> None:
        self.users: Collection[Any] = db.users
        self.api_keys: Collection[Any] = db.api_keys

    def insert(self, user: User, username_key: str, secret: str) -> None:
        def duplicate(index: str | None) -> GroupStoreError:
            return DuplicateUserError(user.username)

        with translated(on_duplicate=duplicate):
            self.users.insert_one(
                {
                    "_id": user.user_id,
                    "username": user.username,
                    "username_key": username_key,
                    "secret": secret,
                    "active": user.active,
                    "created_at": user.created_at,
                }
            )

    def get(self, user_id: str, active: bool | None = None) -> User | None:
        query: dict[str, Any] = {"_id": user_id}
        if active is not None:
            query["active"] = active
        with translated():
            doc = self.users.find_one(query, {"secret": 0})
        return None if doc is None else user_from_document(doc)

    def get_many(self, user_ids: Iterable[str]) -> list[User]:
        """The users that exist among ``user_ids`` (one round trip, any order)."""
        with translated():
            docs = self.users.find({"_id": {"$in": list(user_ids)}}, {"secret": 0})
            return [user_from_document(doc) for doc in docs]

    def active_ids(self, user_ids: Iterable[str]) -> set[str]:
        """The ids among ``user_ids`` that belong to active users (one round trip)."""
        with translated():
            docs = self.users.find({"_id": {"$in": list(user_ids)}, "active": True}, {"_id": 1})
            return {doc["_id"] for doc in docs}

    def get_credentials(self, username_key: str) -> tuple[User, str] | None:
        """The active user with that name key and their password hash."""
        with translated():
            doc = self.users.find_one({"username_key": username_key, "active": True})
        return None if doc is None else (user_from_document(doc), doc["secret"])

    def set_secret(self, user_id: str, secret: str) -> None:
        with translated():
            self.users.update_one({"_id": user_id}, {"$set": {"secret": secret}})

    def activate(self, user_id: str) -> User | None:
        with translated():
            result = self.users.update_one({"_id": user_id}, {"$set": {"active": True}})
        return self.get(user_id) if result.matched_count else None

    def list_active(self, key_prefix: str | None) -> list[User]:
        """Active users ordered by name; a prefix is matched as a range, never as a pattern."""
        query: dict[str, Any] = {"active": True}
        if key_prefix:
            query["username_key"] = {"$gte": key_prefix, "$lt": key_prefix + "\U0010ffff"}
        with translated():
            docs = self.users.find(query, {"secret": 0}).sort("username_key", 1)
            return [user_from_document(doc) for doc in docs]

    # A key document carries a snapshot of its user, so that authenticating a
    # request is one round trip. That is sound because keys are issued only to
    # active users and users are never renamed or deactivated; whatever comes
    # to deactivate a user must delete their keys in the same step.

    def insert_key(self, key_hash: str, user: User, expires_at: datetime) -> None:
        """Store a new key and drop the user's expired ones (two round trips)."""
        with translated():
            self.api_keys.delete_many({"user_id": user.user_id, "expires_at": {"$lte": utc_now()}})
            self.api_keys.insert_one(
                {
                    "_id": key_hash,
                    "user_id": user.user_id,
                    "username": user.username,
                    "user_created_at": user.created_at,
                    "expires_at": expires_at,
                }
            )

    def find_key(self, key_hash: str) -> tuple[User, datetime] | None:
        """The user and expiry of a key (one round trip)."""
        with translated():
            doc = self.api_keys.find_one({"_id": key_hash})
        return None if doc is None else (_key_user(doc), as_utc(doc["expires_at"]))

    def delete_key(self, key_hash: str) -> User | None:
        """Remove a key; the user it belonged to, or None if unknown."""
        with translated():
            doc = self.api_keys.find_one_and_delete({"_id": key_hash})
        return None if doc is None else _key_user(doc)


def _key_user(doc: dict[str, Any]) -> User:
    return User(
        user_id=doc["user_id"],
        username=doc["username"],
        active=True,
        created_at=as_utc(doc["user_created_at"]),
    )
