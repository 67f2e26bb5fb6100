"""Converting between MongoDB documents and the domain dataclasses.

User-supplied JSON (workflow spec, engine config, parameter declarations with
their defaults) is stored as canonical JSON *text* inside the group document.
MongoDB would store most of it natively, but not everything a user may send:
keys with ``.`` or a leading ``$`` are reserved or awkward in MongoDB and are
rejected outright by FerretDB and by some drivers' checks, FerretDB rejects
nested arrays, and BSON has no integers beyond 64 bits while JSON does.
As text, every JSON value reads back equal on every server; the price is that
the server cannot query inside these fields, which nothing here needs.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from bson import ObjectId

from groupstore.jsonvalue import check_json
from groupstore.model import JSON, Group, Member, UploadedFile, User, Workflow
from groupstore.parameters import Parameter, parameter_from_dict, parameters_to_list


def utc_now() -> datetime:
    """The current UTC time at the millisecond precision that BSON keeps.

    Truncating before writing makes a returned object equal to the same
    object read back later.
    """
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def as_utc(value: datetime) -> datetime:
    """A BSON date read back (naive UTC unless the client is tz-aware) as aware UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def new_seq() -> ObjectId:
    """A creation-order key: ObjectIds grow with time and with a per-process counter."""
    return ObjectId()


def encode_json(value: JSON, what: str) -> str:
    """Canonical JSON text for a JSON-compatible value (else ConstraintViolationError)."""
    check_json(value, what)
    return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def decode_json(text: str | None) -> JSON:
    if text is None or text == "null":  # engine_config is mostly null: skip the parser
        return None
    return json.loads(text)


def encode_parameters(parameters: dict[str, Parameter]) -> str:
    return encode_json(parameters_to_list(parameters), "parameters")


def decode_parameters(text: str | None) -> dict[str, Parameter]:
    """The parameters of a stored declaration, a fresh dict each time.

    Parameters are frozen dataclasses, so one decoded tuple serves every group
    with the same declaration (groups usually copy their workflow's): reading a
    page of groups then parses each distinct declaration once, not once a group
    (it was 40% of a page of 50 in memory).
    """
    return {parameter.name: parameter for parameter in _decoded_parameters(text)}


@functools.lru_cache(maxsize=1024)
def _decoded_parameters(text: str | None) -> tuple[Parameter, ...]:
    return tuple(parameter_from_dict(doc) for doc in decode_json(text) or [])


def members_to_documents(members: list[Member]) -> list[dict[str, Any]]:
    return [{"user_id": member.user_id, "username": member.username} for member in members]


def member_fields(members: list[Member]) -> dict[str, Any]:
    """The two fields that hold a group's members, always written together.

    ``members`` (``{user_id, username}`` entries) is what readers get;
    ``member_ids`` (the same ids, in the same order, as a top-level array of
    strings) is what queries and write filters use: an equality on it is
    served by the ``group_by_member_id`` index on MongoDB, and, unlike a path
    into an array of documents (``members.user_id``), FerretDB applies it in
    update filters on every backend and pushes it down to PostgreSQL
    (docs/postgresql.md: listing a member's groups 8x faster there).
    """
    return {
        "members": members_to_documents(members),
        "member_ids": [member.user_id for member in members],
    }


def members_from_documents(docs: list[dict[str, Any]]) -> list[Member]:
    return [Member(user_id=doc["user_id"], username=doc["username"]) for doc in docs]


def file_from_document(doc: dict[str, Any]) -> UploadedFile:
    """An uploaded file from its GridFS ``files`` document (the file's metadata lives there)."""
    metadata = doc["metadata"]
    return UploadedFile(
        file_id=doc["_id"],
        name=doc["filename"],
        mime_type=metadata["contentType"],
        size=doc["length"],
        created_at=as_utc(doc["uploadDate"]),
        sha256=metadata["sha256"],
        group_id=metadata["group_id"],
    )


def group_to_document(group: Group, seq: ObjectId) -> dict[str, Any]:
    return {
        "_id": group.group_id,
        "workflow_id": group.workflow_id,
        "name": group.name,
        "owner_id": group.owner_id,
        **member_fields(group.members),
        "parameters": encode_parameters(group.parameters),
        "workflow_spec": encode_json(group.workflow_spec, "workflow_spec"),
        "engine_config": encode_json(group.engine_config, "engine_config"),
        "created_at": group.created_at,
        "updated_at": group.updated_at,
        "seq": seq,
    }


def group_from_document(doc: dict[str, Any], uploads: Callable[[], list[UploadedFile]]) -> Group:
    """The group of a document; ``uploads`` reads its files when they are first asked for."""
    return Group(
        group_id=doc["_id"],
        name=doc["name"],
        workflow_id=doc["workflow_id"],
        owner_id=doc["owner_id"],
        members=members_from_documents(doc["members"]),
        parameters=decode_parameters(doc["parameters"]),
        workflow_spec=decode_json(doc["workflow_spec"]),
        engine_config=decode_json(doc["engine_config"]),
        created_at=as_utc(doc["created_at"]),
        updated_at=as_utc(doc["updated_at"]),
        _uploads=uploads,
    )


def user_from_document(doc: dict[str, Any]) -> User:
    return User(
        user_id=doc["_id"],
        username=doc["username"],
        active=doc["active"],
        created_at=as_utc(doc["created_at"]),
    )


def workflow_to_document(workflow: Workflow, seq: ObjectId) -> dict[str, Any]:
    return {
        "_id": workflow.workflow_id,
        "name": workflow.name,
        "description": workflow.description,
        "workflow_spec": encode_json(workflow.workflow_spec, "workflow_spec"),
        "parameters": encode_parameters(workflow.parameters),
        "engine_config": encode_json(workflow.engine_config, "engine_config"),
        "created_at": workflow.created_at,
        "seq": seq,
    }


def workflow_from_document(doc: dict[str, Any]) -> Workflow:
    return Workflow(
        workflow_id=doc["_id"],
        name=doc["name"],
        description=doc.get("description"),
        workflow_spec=decode_json(doc["workflow_spec"]),
        parameters=decode_parameters(doc["parameters"]),
        created_at=as_utc(doc["created_at"]),
        engine_config=decode_json(doc.get("engine_config")),
    )
