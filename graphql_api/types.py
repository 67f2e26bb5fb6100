"""GraphQL types: thin adapters over the library's dataclasses.

Each type is built by ``from_domain(...)``; the only lookups a type makes go
through the request's DataLoaders (members, owner, workflow), never a
direct query.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import Any, NewType, TypeVar, cast

import strawberry
from starlette.datastructures import UploadFile
from strawberry.file_uploads import UploadDefinition
from strawberry.scalars import JSON

import groupstore
from graphql_api.context import Info
from graphql_api.errors import BadRequest, Forbidden
from groupstore.parameters import parameters_to_list

Long = NewType("Long", int)
"""A 64-bit integer (file sizes may exceed GraphQL's 32-bit ``Int``)."""

SCALARS = {
    Long: strawberry.scalar(
        name="Long",
        description="A 64-bit signed integer, sent as a JSON number.",
        serialize=int,
        parse_value=int,
    ),
    # Resolvers receive Starlette's UploadFile for the `Upload` scalar.
    UploadFile: UploadDefinition,
}

CURSOR_PREFIX = "groups:"
F = TypeVar("F", bound=Callable[..., Any])


def field(description: str) -> Callable[[F], F]:
    """``@strawberry.field(description=...)``, typed (strawberry types it ``Any``)."""
    return cast("Callable[[F], F]", strawberry.field(description=description))


def mutation(description: str) -> Callable[[F], F]:
    """``@strawberry.mutation(description=...)``, typed (strawberry types it ``Any``)."""
    return cast("Callable[[F], F]", strawberry.mutation(description=description))


def encode_cursor(cursor: str) -> str:
    """An opaque cursor: the library's keyset cursor, URL-safe base64, no padding."""
    return base64.urlsafe_b64encode((CURSOR_PREFIX + cursor).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    if not raw.startswith(CURSOR_PREFIX) or len(raw) == len(CURSOR_PREFIX):
        raise BadRequest(f"invalid cursor '{cursor}'")
    return raw[len(CURSOR_PREFIX) :]


@strawberry.type(description="A registered user. Passwords and API keys never appear here.")
class User:
    id: strawberry.ID
    username: str
    active: bool
    created_at: datetime
    is_admin: bool = strawberry.field(
        description="Administrators create workflows and activate other users."
    )

    @classmethod
    def from_domain(cls, user: groupstore.User) -> User:
        return cls(
            id=strawberry.ID(user.user_id),
            username=user.username,
            active=user.active,
            created_at=user.created_at,
            is_admin=user.is_admin,
        )


@strawberry.type(
    description="The result of `login`: send the token as `Authorization: Bearer <token>`."
)
class ApiKey:
    token: str
    expires_at: datetime
    user: User

    @classmethod
    def from_domain(cls, key: groupstore.ApiKey) -> ApiKey:
        return cls(token=key.token, expires_at=key.expires_at, user=User.from_domain(key.user))


@strawberry.type(description="A workflow template that groups are created for.")
class Workflow:
    id: strawberry.ID
    name: str
    description: str | None
    workflow_spec: JSON
    parameters: JSON = strawberry.field(
        description="Parameter declarations, a list in flowserv's JSON shape."
    )
    created_at: datetime

    @classmethod
    def from_domain(cls, workflow: groupstore.Workflow) -> Workflow:
        return cls(
            id=strawberry.ID(workflow.workflow_id),
            name=workflow.name,
            description=workflow.description,
            workflow_spec=workflow.workflow_spec,
            parameters=JSON(parameters_to_list(workflow.parameters)),
            created_at=workflow.created_at,
        )


@strawberry.type(description="A file uploaded to a group; download it from `downloadUrl`.")
class UploadedFile:
    id: strawberry.ID
    name: str
    mime_type: str
    size: Long
    sha256: str
    created_at: datetime
    group_id: strawberry.Private[str]

    @field("The file route: GET/HEAD with a member's `Authorization: Bearer`; Range supported.")
    def download_url(self, info: Info) -> str:
        url = info.context.request.url_for("download", group_id=self.group_id, file_id=str(self.id))
        return str(url)

    @classmethod
    def from_domain(cls, file: groupstore.UploadedFile, group_id: str) -> UploadedFile:
        return cls(
            id=strawberry.ID(file.file_id),
            name=file.name,
            mime_type=file.mime_type,
            size=Long(file.size),
            sha256=file.sha256,
            created_at=file.created_at,
            group_id=group_id,
        )


@strawberry.type(description="A workflow group: members, parameters, spec, engine config, files.")
class Group:
    id: strawberry.ID
    name: str
    workflow_id: strawberry.ID
    parameters: JSON = strawberry.field(
        description="Parameter declarations, a list in flowserv's JSON shape."
    )
    workflow_spec: JSON | None
    engine_config: JSON | None
    created_at: datetime
    updated_at: datetime
    domain: strawberry.Private[groupstore.Group]

    @field("The user who created the group.")
    async def owner(self, info: Info) -> User | None:
        user = await info.context.users.load(self.domain.owner_id)
        return None if user is None else User.from_domain(user)

    @strawberry.field
    async def members(self, info: Info) -> list[User]:
        users = await info.context.users.load_many(self.domain.members)
        return [User.from_domain(user) for user in users if user is not None]

    @strawberry.field
    async def workflow(self, info: Info) -> Workflow | None:
        workflow = await info.context.workflows.load(self.domain.workflow_id)
        return None if workflow is None else Workflow.from_domain(workflow)

    @field("The uploaded files, in upload order; members only (FORBIDDEN).")
    def files(self, info: Info) -> list[UploadedFile] | None:
        user = info.context.require_user()
        if not self.domain.is_member(user.user_id):
            raise Forbidden()
        return [
            UploadedFile.from_domain(file, self.domain.group_id) for file in self.domain.uploads
        ]

    @classmethod
    def from_domain(cls, group: groupstore.Group) -> Group:
        return cls(
            id=strawberry.ID(group.group_id),
            name=group.name,
            workflow_id=strawberry.ID(group.workflow_id),
            parameters=JSON(parameters_to_list(group.parameters)),
            workflow_spec=group.workflow_spec,
            engine_config=group.engine_config,
            created_at=group.created_at,
            updated_at=group.updated_at,
            domain=group,
        )


@strawberry.type
class GroupEdge:
    cursor: str
    node: Group


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="A page of groups in creation order (keyset pagination).")
class GroupConnection:
    edges: list[GroupEdge]
    page_info: PageInfo

    @field("The groups of `edges`, without cursors.")
    def nodes(self) -> list[Group]:
        return [edge.node for edge in self.edges]

    @classmethod
    def from_domain(cls, page: groupstore.GroupPage) -> GroupConnection:
        edges = [
            GroupEdge(cursor=encode_cursor(cursor), node=Group.from_domain(group))
            for cursor, group in page.items
        ]
        return cls(
            edges=edges,
            page_info=PageInfo(
                has_next_page=page.has_next_page, end_cursor=edges[-1].cursor if edges else None
            ),
        )
