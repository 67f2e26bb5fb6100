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
from groupstore.storage.documents import (
    group_from_document,
    group_to_document,
    member_fields,
    new_seq,
    utc_now,
)
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

    def rename(self, group_id: str, name: str, *, owner: str | None = None) -> Group | None:
        """Rename the group (if ``owner`` owns it); the new group, or None if nothing matched.

        A name the workflow already has raises ConstraintViolationError (the unique index).
        """
        return self._update(group_id, owner_condition(owner), {"$set": {"name": name}}, name)

    def replace_members(
        self,
        group_id: str,
        members: list[Member],
        *,
        owner: str | None = None,
        name: str | None = None,
    ) -> Group | None:
        """Make ``members`` the group's exact member list (and rename it, in the same write,
        if ``name`` is given); None if nothing matched.

        The owner must stay a member: the filter checks it in the same write, so
        a list without the owner (or without ``owner``, the caller who must own
        the group) matches nothing and the caller explains the miss with a read.
        """
        ids = [member.user_id for member in members]
        conditions: dict[str, Any]
        if owner is None:
            conditions = {"owner_id": {"$in": ids}}
        elif owner in ids:
            conditions = owner_condition(owner)
        else:
            conditions = {"owner_id": {"$in": []}}  # matches nothing: the caller explains it
        changes: dict[str, Any] = {} if name is None else {"name": name}
        changes.update(member_fields(members))
        return self._update(group_id, conditions, {"$set": changes}, name)

    def add_member(
        self, group_id: str, member: Member, *, owner: str | None = None
    ) -> Group | None:
        """Add ``member`` (if ``owner`` owns the group); the new group, or None.

        None also when ``member_ids`` already holds the user: a miss alone does
        not say which (the caller reads the group to tell).
        """
        entry = {"user_id": member.user_id, "username": member.username}
        # The filter skips a member already there (no write at all); $addToSet
        # keeps both lists free of duplicates even if it did not (FerretDB 1.x
        # gets $ne wrong on a path into an array of documents, members.user_id,
        # though not on the array of ids; the entries are whole: usernames
        # never change).
        conditions = {**owner_condition(owner), "member_ids": {"$ne": member.user_id}}
        return self._update(
            group_id,
            conditions,
            {"$addToSet": {"members": entry, "member_ids": member.user_id}},
        )

    def remove_member(
        self, group_id: str, member: Member, *, owner: str | None = None
    ) -> Group | None:
        """Remove one member (the exact stored element), never the owner; the new group, or None.

        With ``owner``, the group must be theirs (the caller has checked that
        ``member`` is not them); without, its owner must not be ``member``.
        """
        # $pull by the exact stored element rather than by a condition
        # ({"user_id": ...}): both are correct on MongoDB, but FerretDB
        # silently ignores a conditional $pull while reporting a match.
        element = {"user_id": member.user_id, "username": member.username}
        kept_owner: Any = owner if owner is not None else {"$ne": member.user_id}
        return self._update(
            group_id,
            {"owner_id": kept_owner, **member_condition(member.user_id)},
            {"$pull": {"members": element, "member_ids": member.user_id}},
        )

    def transfer(self, group_id: str, new_owner: str, *, owner: str | None = None) -> Group | None:
        """Make the member ``new_owner`` the owner (if ``owner`` owns the group); the new
        group, or None (not a member, not the owner's group, or no group)."""
        return self._update(
            group_id,
            {**owner_condition(owner), **member_condition(new_owner)},
            {"$set": {"owner_id": new_owner}},
        )

    def _update(
        self,
        group_id: str,
        conditions: dict[str, Any],
        update: dict[str, Any],
        name: str | None = None,
    ) -> Group | None:
        """Apply ``update`` and stamp ``updated_at`` if the group matches ``conditions``,
        under the group's lease; the new group, or None.

        ``name``: the name being written, for the error if the workflow already has it.
        """

        def duplicate(index: str | None) -> GroupStoreError:
            return ConstraintViolationError(f"group '{name}' exists")

        update = {**update, "$set": {**update.get("$set", {}), "updated_at": utc_now()}}
        with self.locks.hold(group_id), translated(on_duplicate=duplicate):
            doc = self.collection.find_one_and_update(
                {"_id": group_id, **conditions}, update, return_document=ReturnDocument.AFTER
            )
        return None if doc is None else self._group(doc)

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

    def delete(self, group_id: str, *, owner: str | None = None) -> bool:
        """Remove the group document (if ``owner`` owns it); False if nothing matched."""
        with translated():
            result = self.collection.delete_one({"_id": group_id, **owner_condition(owner)})
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


def owner_condition(owner: str | None) -> dict[str, Any]:
    """The filter "``owner`` owns the group"; no condition for None (a trusted caller)."""
    return {} if owner is None else {"owner_id": owner}


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
