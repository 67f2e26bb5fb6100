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
from groupstore.storage.documents import as_utc, utc_now
from groupstore.storage.errors import translated

_NO_SECRET = {"secret": 0}


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
                    "is_admin": user.is_admin,
                    "created_at": user.created_at,
                }
            )

    def get(self, user_id: str, active: bool | None = None) -> User | None:
        query: dict[str, Any] = {"_id": user_id}
        if active is not None:
            query["active"] = active
        with translated():
            doc = self.users.find_one(query, _NO_SECRET)
        return None if doc is None else user_from_document(doc)

    def get_many(self, user_ids: Iterable[str]) -> list[User]:
        """The users that exist among ``user_ids`` (one round trip, any order)."""
        with translated():
            docs = self.users.find({"_id": {"$in": list(user_ids)}}, _NO_SECRET)
            return [user_from_document(doc) for doc in docs]

    def active_ids(self, user_ids: Iterable[str]) -> set[str]:
        """The ids among ``user_ids`` that belong to active users (one round trip)."""
        with translated():
            docs = self.users.find({"_id": {"$in": list(user_ids)}, "active": True}, {"_id": 1})
            return {doc["_id"] for doc in docs}

    def get_by_name_key(self, username_key: str) -> User | None:
        """The active user with that name key."""
        with translated():
            doc = self.users.find_one({"username_key": username_key, "active": True}, _NO_SECRET)
        return None if doc is None else user_from_document(doc)

    def get_credentials(self, username_key: str) -> tuple[User, str] | None:
        """The active user with that name key and their password hash."""
        with translated():
            doc = self.users.find_one({"username_key": username_key, "active": True})
        return None if doc is None else (user_from_document(doc), doc["secret"])

    def get_secret(self, user_id: str) -> tuple[User, str] | None:
        """The active user with that id and their password hash."""
        with translated():
            doc = self.users.find_one({"_id": user_id, "active": True})
        return None if doc is None else (user_from_document(doc), doc["secret"])

    def set_secret(self, user_id: str, secret: str) -> bool:
        """Replace an active user's password hash; False if there is no such user."""
        with translated():
            result = self.users.update_one(
                {"_id": user_id, "active": True}, {"$set": {"secret": secret}}
            )
        return result.matched_count == 1

    def set_active(self, user_id: str, active: bool) -> User | None:
        with translated():
            result = self.users.update_one({"_id": user_id}, {"$set": {"active": active}})
        return self.get(user_id) if result.matched_count else None

    def activate(self, user_id: str) -> User | None:
        return self.set_active(user_id, True)

    def is_admin(self, user_id: str) -> bool:
        """Whether the id names an active administrator (one round trip)."""
        with translated():
            found = self.users.find_one(
                {"_id": user_id, "active": True, "is_admin": True}, {"_id": 1}
            )
        return found is not None

    def any_admin(self) -> bool:
        """Whether some user is an administrator (one round trip)."""
        with translated():
            return self.users.find_one({"is_admin": True}, {"_id": 1}) is not None

    def promote(self, user_ids: list[str]) -> None:
        """Make the users administrators, in their API keys' snapshots too."""
        if not user_ids:
            return
        with translated():
            self.users.update_many({"_id": {"$in": user_ids}}, {"$set": {"is_admin": True}})
            self.api_keys.update_many({"user_id": {"$in": user_ids}}, {"$set": {"is_admin": True}})

    def ids_by_name_keys(self, username_keys: list[str], admin: bool) -> list[str]:
        """The ids of the users with these name keys whose role is not ``admin`` already."""
        if not username_keys:
            return []
        query = {"username_key": {"$in": username_keys}, "is_admin": {"$ne": admin}}
        with translated():
            return [doc["_id"] for doc in self.users.find(query, {"_id": 1})]

    def list_active(
        self, key_prefix: str | None, after: str | None = None, limit: int = 0
    ) -> list[User]:
        """Active users ordered by name key, after the key ``after``, at most ``limit`` (0: all).

        A prefix is matched as a range, never as a pattern.
        """
        query: dict[str, Any] = {"active": True}
        bounds: dict[str, str] = {}
        if key_prefix:
            bounds = {"$gte": key_prefix, "$lt": key_prefix + "\U0010ffff"}
        if after is not None:
            bounds["$gt"] = after
        if bounds:
            query["username_key"] = bounds
        with translated():
            docs = self.users.find(query, _NO_SECRET).sort("username_key", 1).limit(limit)
            return [user_from_document(doc) for doc in docs]

    # A key document carries a snapshot of its user, so that authenticating a
    # request is one round trip. That is sound because keys are issued only to
    # active users, users are never renamed, and whatever changes the rest
    # changes the keys too: deactivating a user or resetting a password
    # deletes their keys, promoting one updates them.

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
                    "is_admin": user.is_admin,
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

    def delete_keys(self, user_id: str, keep: str | None = None) -> None:
        """End every session of the user, except the key hashed ``keep``."""
        query: dict[str, Any] = {"user_id": user_id}
        if keep is not None:
            query["_id"] = {"$ne": keep}
        with translated():
            self.api_keys.delete_many(query)


def user_from_document(doc: dict[str, Any]) -> User:
    return User(
        user_id=doc["_id"],
        username=doc["username"],
        active=doc["active"],
        created_at=as_utc(doc["created_at"]),
        is_admin=doc.get("is_admin", False),
    )


def _key_user(doc: dict[str, Any]) -> User:
    return User(
        user_id=doc["user_id"],
        username=doc["username"],
        active=True,
        created_at=as_utc(doc["user_created_at"]),
        is_admin=doc.get("is_admin", False),
    )
