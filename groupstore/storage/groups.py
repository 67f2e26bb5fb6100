"""The ``groups`` collection: one document per group, members embedded.

A group document holds the group's name, owner, members (``{user_id,
username}`` entries, and their ids in ``member_ids``: see
``documents.member_fields``), parameters, spec and engine config. Its files are listed by
their own GridFS ``files`` documents (see ``storage.files``).

Every write that may race with another carries its rule in the update's
filter (``{"_id": g, "owner_id": u}``, ``{"_id": g, "member_ids": u}``),
so checking and writing are one atomic step on MongoDB; only when nothing
matched does one more read tell which rule failed. On servers without
atomic single-document updates the write also holds the group's lease
(``storage.locks``). Each method is one round trip unless its docstring says
otherwise (a lease adds two where one is needed).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database

from groupstore.errors import ConstraintViolationError, GroupStoreError, StoreUnavailableError
from groupstore.model import Group, Member
from groupstore.storage.documents import group_from_document, group_to_document, new_seq
from groupstore.storage.errors import insert_unique, translated
from groupstore.storage.files import GridFSStore
from groupstore.storage.locks import GroupLocks

BATCH_SIZE = 101  # the server's default first batch; later batches are larger
# What a membership check needs of a group document.
ACCESS_FIELDS = {"owner_id": 1, "member_ids": 1}


@dataclass(frozen=True)
class Access:
    """Who may do what in a group: its owner and member ids."""

    owner_id: str
    member_ids: frozenset[str]


class GroupCollection:
    def __init__(self, db: Database[Any], files: GridFSStore, locks: GroupLocks) -> None:
        self.collection: Collection[Any] = db.groups
        self.files = files
        self.locks = locks

    def _group(self, doc: dict[str, Any]) -> Group:
        group_id = doc["_id"]
        files = self.files
        return group_from_document(doc, lambda: files.list_for_group(group_id))

    def prepare(self, group: Group) -> dict[str, Any]:
        """The new group's document (no I/O); ConstraintViolationError for non-JSON values."""
        return group_to_document(group, new_seq())

    def insert(self, document: dict[str, Any]) -> None:
        """Insert a prepared group; the unique indexes decide name and id conflicts."""
        insert_unique(self.collection, document, f"group '{document['name']}' exists")

    def get(self, group_id: str) -> Group | None:
        with translated():
            doc = self.collection.find_one({"_id": group_id})
        return None if doc is None else self._group(doc)

    def read(self, group_id: str) -> tuple[Group, frozenset[str]] | None:
        """The group and its stored ``member_ids`` (one round trip); None if there is none."""
        with translated():
            doc = self.collection.find_one({"_id": group_id})
        if doc is None:
            return None
        return self._group(doc), frozenset(doc.get("member_ids", ()))

    def access(self, group_id: str, member: str | None = None) -> Access | None:
        """The group's owner and members; None if there is no such group.

        With ``member``, None also when that user is not a member (a re-check
        that costs the same one round trip).
        """
        query: dict[str, Any] = {"_id": group_id}
        if member is not None:
            query.update(member_condition(member))
        with translated():
            doc = self.collection.find_one(query, ACCESS_FIELDS)
        if doc is None:
            return None
        return Access(owner_id=doc["owner_id"], member_ids=frozenset(doc["member_ids"]))

    def find(
        self,
        workflow_id: str | None = None,
        user_id: str | None = None,
        after: str | None = None,
        limit: int = 0,
        shared_with: str | None = None,
    ) -> Iterator[tuple[str, Group]]:
        """Groups in creation order, each with its keyset cursor (one round trip per batch).

        ``shared_with``: only groups that user is a member of too.
        """
        query: dict[str, Any] = {}
        if workflow_id is not None:
            query["workflow_id"] = workflow_id
        if user_id is not None:
            query.update(member_condition(user_id))
        if shared_with is not None:
            query["$and"] = [member_condition(shared_with)]
        if after is not None:
            query["seq"] = {"$gt": parse_cursor(after)}
        with translated():
            cursor = self.collection.find(query).sort("seq", 1).limit(limit)
            for doc in cursor.batch_size(BATCH_SIZE):
                yield str(doc["seq"]), self._group(doc)

    def update(
        self, group_id: str, conditions: dict[str, Any], update: dict[str, Any]
    ) -> Group | None:
        """Apply ``update`` if the group matches ``conditions``; the new group, or None.

        A rename to a name the workflow already has raises ConstraintViolationError.
        """

        def duplicate(index: str | None) -> GroupStoreError:
            name = update.get("$set", {}).get("name")
            return ConstraintViolationError(f"group '{name}' exists")

        with self.locks.hold(group_id), translated(on_duplicate=duplicate):
            doc = self.collection.find_one_and_update(
                {"_id": group_id, **conditions}, update, return_document=ReturnDocument.AFTER
            )
        return None if doc is None else self._group(doc)

    def pull_member(
        self, group_id: str, member: Member, conditions: dict[str, Any], changes: dict[str, Any]
    ) -> Group | None:
        """Remove one member (the exact stored element); the new group, or None."""
        # $pull by the exact stored element rather than by a condition
        # ({"user_id": ...}): both are correct on MongoDB, but FerretDB
        # silently ignores a conditional $pull while reporting a match.
        element = {"user_id": member.user_id, "username": member.username}
        return self.update(
            group_id,
            {**conditions, **member_condition(member.user_id)},
            {"$pull": {"members": element, "member_ids": member.user_id}, "$set": changes},
        )

    def sync_member_ids(self, group_id: str, attempts: int = 3) -> bool:
        """Rewrite ``member_ids`` from ``members`` if they differ; True if it was rewritten.

        Every write keeps the two together; they differ only in a document
        written before ``member_ids`` existed, or by such a version of
        groupstore still running. The write holds the group's lease and is
        conditional on ``updated_at`` (every membership change sets it), so a
        membership change landing in between is never overwritten: the group
        is read again instead.
        """
        for _ in range(attempts):
            with self.locks.hold(group_id), translated():
                doc = self.collection.find_one(
                    {"_id": group_id}, {"members": 1, "member_ids": 1, "updated_at": 1}
                )
                if doc is None:
                    return False
                ids = ids_of_members(doc)
                if doc.get("member_ids") == ids:
                    return False
                result = self.collection.update_one(
                    {"_id": group_id, "updated_at": doc["updated_at"]},
                    {"$set": {"member_ids": ids}},
                )
            if result.matched_count == 1:
                return True
        raise StoreUnavailableError(f"group '{group_id}' kept changing while being repaired")

    def ids_without_member_ids(self, limit: int = 1000) -> list[str]:
        """Ids of up to ``limit`` groups written before ``member_ids`` existed."""
        with translated():
            docs = self.collection.find({"member_ids": {"$exists": False}}, {"_id": 1}).limit(limit)
            return [doc["_id"] for doc in docs]

    def delete(self, group_id: str, conditions: dict[str, Any]) -> bool:
        """Remove the group document if it matches ``conditions``."""
        with translated():
            result = self.collection.delete_one({"_id": group_id, **conditions})
        return result.deleted_count == 1

    def ids_for_workflow(self, workflow_id: str) -> list[str]:
        with translated():
            docs = self.collection.find({"workflow_id": workflow_id}, {"_id": 1})
            return [doc["_id"] for doc in docs]

    def delete_many(self, group_ids: list[str]) -> None:
        with translated():
            self.collection.delete_many({"_id": {"$in": group_ids}})


def ids_of_members(doc: dict[str, Any]) -> list[str]:
    """The ids of a group document's ``members``: what its ``member_ids`` must equal."""
    return [entry["user_id"] for entry in doc.get("members", [])]


def member_condition(user_id: str) -> dict[str, Any]:
    """The filter "``user_id`` is a member", for queries and update filters alike.

    An equality on the top-level ``member_ids`` array: MongoDB serves it from
    ``group_by_member_id``, and FerretDB applies it in update filters and
    pushes it down to PostgreSQL. (``{"members.user_id": u}``, a path into an
    array of documents, matches nothing in a FerretDB/PostgreSQL update filter
    and is never pushed down: docs/postgresql.md.)
    """
    return {"member_ids": user_id}


def parse_cursor(cursor: str) -> ObjectId:
    try:
        return ObjectId(cursor)
    except (InvalidId, TypeError) as exc:
        raise ConstraintViolationError(f"invalid cursor '{cursor}'") from exc
