"""The ``workflows`` collection."""

from __future__ import annotations

from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database

from groupstore.errors import ConstraintViolationError, GroupStoreError
from groupstore.model import Workflow
from groupstore.storage.documents import new_seq, workflow_from_document, workflow_to_document
from groupstore.storage.errors import translated


class WorkflowCollection:
    def __init__(self, db: Database[Any]) -> None:
        self.collection: Collection[Any] = db.workflows

    def insert(self, workflow: Workflow) -> None:
        def duplicate(index: str | None) -> GroupStoreError:
            if index is None:  # mongomock does not say which index: ask (error path only)
                found = self.collection.find_one({"_id": workflow.workflow_id}, {"_id": 1})
                index = "_id_" if found else None
            if index == "_id_":
                return ConstraintViolationError(
                    f"identifier '{workflow.workflow_id}' is already used"
                )
            return ConstraintViolationError(f"workflow '{workflow.name}' exists")

        with translated(on_duplicate=duplicate):
            self.collection.insert_one(workflow_to_document(workflow, new_seq()))

    def get(self, workflow_id: str) -> Workflow | None:
        with translated():
            doc = self.collection.find_one({"_id": workflow_id})
        return None if doc is None else workflow_from_document(doc)

    def exists(self, workflow_id: str) -> bool:
        with translated():
            return self.collection.find_one({"_id": workflow_id}, {"_id": 1}) is not None

    def list(self) -> list[Workflow]:
        with translated():
            return [workflow_from_document(doc) for doc in self.collection.find().sort("seq", 1)]

    def delete(self, workflow_id: str) -> bool:
        with translated():
            return self.collection.delete_one({"_id": workflow_id}).deleted_count == 1
