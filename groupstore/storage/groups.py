"""The ``groups`` collection: one document per group, everything embedded.

Each method is one database round trip unless its docstring says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ReturnDocument
from pymongo.collection import Collection
from pymongo.database import Database

from groupstore.errors import ConstraintViolationError, GroupStoreError
from groupstore.model import Group, UploadedFile
from groupstore.storage.documents import (
    file_from_document,
    file_to_document,
    group_from_document,
    group_to_document,
    new_seq,
)
from groupstore.storage.errors import insert_unique, translated

# What a listing needs from the server: all of it (a group is one document).
BATCH_SIZE = 101  # the server's default first batch; later batches are larger


class GroupCollection:
    def __init__(self, db: Database[Any]) -> None:
        self.collection: Collection[Any] = db.groups

    def prepare(self, group: Group) -> dict[str, Any]:
        """The new group's document (no I/O); ConstraintViolationError for non-JSON values."""
        return group_to_document(group, new_seq())

    def insert(self, document: dict[str, Any]) -> None:
        """Insert a prepared group; the unique indexes decide name and id conflicts."""
        insert_unique(self.collection, document, f"group '{document['name']}' exists")

    def get(self, group_id: str) -> Group | None:
        with translated():
            doc = self.collection.find_one({"_id": group_id})
        return None if doc is None else group_from_document(doc)

    def exists(self, group_id: str) -> bool:
        with translated():
            return self.collection.find_one({"_id": group_id}, {"_id": 1}) is not None

    def find(
        self,
        workflow_id: str | None = None,
        user_id: str | None = None,
        after: str | None = None,
        limit: int = 0,
    ) -> Iterator[tuple[str, Group]]:
        """Groups in creation order, each with its keyset cursor (one round trip per batch)."""
        query: dict[str, Any] = {}
        if workflow_id is not None:
            query["workflow_id"] = workflow_id
        if user_id is not None:
            query["members"] = user_id
        if after is not None:
            query["seq"] = {"$gt": parse_cursor(after)}
        with translated():
            cursor = self.collection.find(query).sort("seq", 1).limit(limit)
            for doc in cursor.batch_size(BATCH_SIZE):
                yield str(doc["seq"]), group_from_document(doc)

    def update(self, group_id: str, changes: dict[str, Any]) -> Group | None:
        """Apply ``$set`` changes atomically; the new group, or None if it does not exist."""

        def duplicate(index: str | None) -> GroupStoreError:
            return ConstraintViolationError(f"group '{changes.get('name')}' exists")

        with translated(on_duplicate=duplicate):
            doc = self.collection.find_one_and_update(
                {"_id": group_id}, {"$set": changes}, return_document=ReturnDocument.AFTER
            )
        return None if doc is None else group_from_document(doc)

    def delete(self, group_id: str) -> Group | None:
        """Remove the group document; the removed group (with its file list), or None."""
        with translated():
            doc = self.collection.find_one_and_delete({"_id": group_id})
        return None if doc is None else group_from_document(doc)

    def delete_for_workflow(self, workflow_id: str) -> list[str]:
        """Remove every group of a workflow; the ids of their files (two round trips)."""
        with translated():
            docs = list(self.collection.find({"workflow_id": workflow_id}, {"files.file_id": 1}))
            self.collection.delete_many({"workflow_id": workflow_id})
        return [file["file_id"] for doc in docs for file in doc.get("files", [])]

    def add_file(self, group_id: str, file: UploadedFile, changes: dict[str, Any]) -> bool:
        """Append file metadata; False if the group no longer exists."""
        with translated():
            result = self.collection.update_one(
                {"_id": group_id},
                {"$push": {"files": file_to_document(file)}, "$set": changes},
            )
        return result.matched_count == 1

    def get_file(self, group_id: str, file_id: str) -> tuple[list[str] | None, UploadedFile | None]:
        """The group's members (None if there is no such group), and the file if it has it."""
        members, entry = self._file_entry(group_id, file_id)
        return members, (None if entry is None else file_from_document(entry))

    def _file_entry(
        self, group_id: str, file_id: str
    ) -> tuple[list[str] | None, dict[str, Any] | None]:
        # The whole file list, filtered here: an $elemMatch projection would
        # send less, but FerretDB does not implement it, and the list is small.
        with translated():
            doc = self.collection.find_one({"_id": group_id}, {"files": 1, "members": 1})
        if doc is None:
            return None, None
        entries = [entry for entry in doc.get("files", []) if entry["file_id"] == file_id]
        return list(doc["members"]), (entries[0] if entries else None)

    def remove_file(
        self, group_id: str, file_id: str, changes: dict[str, Any]
    ) -> tuple[bool, bool]:
        """Remove file metadata (two round trips): (group existed, file was removed)."""
        members, entry = self._file_entry(group_id, file_id)
        if entry is None:
            return members is not None, False
        # $pull by the exact stored element rather than by a condition
        # ({"file_id": ...}): both are correct on MongoDB, but FerretDB
        # silently ignores conditional $pull while reporting a match.
        with translated():
            result = self.collection.update_one(
                {"_id": group_id, "files.file_id": file_id},
                {"$pull": {"files": entry}, "$set": changes},
            )
        return True, result.modified_count == 1


def parse_cursor(cursor: str) -> ObjectId:
    try:
        return ObjectId(cursor)
    except (InvalidId, TypeError) as exc:
        raise ConstraintViolationError(f"invalid cursor '{cursor}'") from exc
