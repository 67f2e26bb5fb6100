"""The ``workflows`` collection."""

from __future__ import annotations

from typing import Any

from pymongo.collection import Collection
from pymongo.database import Database

from groupstore.model import Workflow
from groupstore.storage.documents import new_seq, workflow_from_document, workflow_to_document
from groupstore.storage.errors import insert_unique, translated


class WorkflowCollection:
    def __init__(self, db: Database[Any]) -> None:
        self.collection: Collection[Any] = db.workflows

    def insert(self, workflow: Workflow) -> None:
        document = workflow_to_document(workflow, new_seq())
        insert_unique(self.collection, document, f"workflow '{workflow.name}' exists")

    def get(self, workflow_id: str) -> Workflow | None:
        with translated():
            doc = self.collection.find_one({"_id": workflow_id})
        return None if doc is None else workflow_from_document(doc)

    def exists(self, workflow_id: str) -> bool:
        with translated():
            return self.collection.find_one({"_id": workflow_id}, {"_id": 1}) is not None

    def get_many(self, workflow_ids: list[str]) -> list[Workflow]:
        """The existing workflows among ``workflow_ids`` (one round trip, any order)."""
        with translated():
            docs = self.collection.find({"_id": {"$in": workflow_ids}})
            return [workflow_from_document(doc) for doc in docs]

    def list(self) -> list[Workflow]:
        with translated():
            return [workflow_from_document(doc) for doc in self.collection.find().sort("seq", 1)]

    def delete(self, workflow_id: str) -> bool:
        with translated():
            return self.collection.delete_one({"_id": workflow_id}).deleted_count == 1
