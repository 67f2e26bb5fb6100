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
from graphql_api.errors import BadRequest
from graphql_api.signing import file_url, get_signer
from groupstore import parameters_to_list

MAX_PAGE_SIZE = min(100, groupstore.MAX_PAGE_SIZE)
"""The most rows one ``first:`` asks for over GraphQL (the library allows more)."""


def page_size(first: int) -> int:
    """``first`` when it is 0 to MAX_PAGE_SIZE (BadRequest otherwise)."""
    if not 0 <= first <= MAX_PAGE_SIZE:
        raise BadRequest(f"first must be between 0 and {MAX_PAGE_SIZE}")
    return first


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


def encode_cursor(cursor: str, prefix: str = CURSOR_PREFIX) -> str:
    """An opaque cursor: the library's keyset cursor, URL-safe base64, no padding.

    ``prefix`` names the listing, so a cursor of one listing is refused by another.
    """
    return base64.urlsafe_b64encode((prefix + cursor).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, prefix: str = CURSOR_PREFIX) -> str:
    """The library's keyset cursor of an ``encode_cursor`` cursor (BAD_REQUEST otherwise)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    if not raw.startswith(prefix) or len(raw) == len(prefix):
        raise BadRequest(f"invalid cursor '{cursor}'")
    return raw[len(prefix) :]


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
    engine_config: JSON | None = strawberry.field(
        description="The engine configuration a new group takes when given none."
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
            engine_config=workflow.engine_config,
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
        return file_url(info.context.request, self.group_id, str(self.id))

    @field(
        "A link that downloads the file with no header (for a browser's `<a href download>`), "
        "valid for `ttlSeconds` (default and maximum set by the server), only while the "
        "caller is a member and while the API key that asked for it is valid (a logout ends "
        "it). Treat it as a secret: whoever holds it can download the file."
    )
    def signed_url(self, info: Info, ttl_seconds: int | None = None) -> str:
        user = info.context.require_user()
        request = info.context.request
        session = info.context.store.users.session_id(info.context.token or "")
        params = get_signer(request).sign(
            self.group_id, str(self.id), user.user_id, session, ttl_seconds
        )
        return file_url(request, self.group_id, str(self.id), params)

    @classmethod
    def from_domain(cls, file: groupstore.UploadedFile) -> UploadedFile:
        return cls(
            id=strawberry.ID(file.file_id),
            name=file.name,
            mime_type=file.mime_type,
            size=Long(file.size),
            sha256=file.sha256,
            created_at=file.created_at,
            group_id=file.group_id,
        )


@strawberry.type(description="A member (or the owner) of a group.")
class Member:
    id: strawberry.ID
    username: str

    @classmethod
    def from_domain(cls, member: groupstore.Member) -> Member:
        return cls(id=strawberry.ID(member.user_id), username=member.username)


@strawberry.type(
    description="A workflow group. Anyone sees its summary (id, name, workflow, timestamps); "
    "members, parameters, spec, engine config and files are null unless the caller is a member."
)
class Group:
    id: strawberry.ID
    name: str
    workflow_id: strawberry.ID
    created_at: datetime
    updated_at: datetime
    is_member: bool = strawberry.field(description="Whether the caller belongs to the group.")
    parameters: JSON | None = strawberry.field(
        description="Parameter declarations, a list in flowserv's JSON shape; members only."
    )
    workflow_spec: JSON | None = strawberry.field(description="Members only.")
    engine_config: JSON | None = strawberry.field(description="Members only.")
    owner: Member | None = strawberry.field(description="The group's owner; members only.")
    members: list[Member] | None = strawberry.field(description="Members only.")
    domain: strawberry.Private[groupstore.GroupSummary]

    @strawberry.field
    async def workflow(self, info: Info) -> Workflow | None:
        workflow = await info.context.workflows.load(self.domain.workflow_id)
        return None if workflow is None else Workflow.from_domain(workflow)

    @field("The uploaded files, in upload order; members only (null otherwise).")
    async def files(self, info: Info) -> list[UploadedFile] | None:
        if not isinstance(self.domain, groupstore.Group):
            return None
        files = await info.context.files.load(self.domain)
        return [UploadedFile.from_domain(file) for file in files]

    @classmethod
    def from_domain(cls, group: groupstore.GroupSummary) -> Group:
        full = group if isinstance(group, groupstore.Group) else None
        return cls(
            id=strawberry.ID(group.group_id),
            name=group.name,
            workflow_id=strawberry.ID(group.workflow_id),
            created_at=group.created_at,
            updated_at=group.updated_at,
            is_member=full is not None,
            parameters=None if full is None else JSON(parameters_to_list(full.parameters)),
            workflow_spec=None if full is None else full.workflow_spec,
            engine_config=None if full is None else full.engine_config,
            owner=None if full is None else Member.from_domain(full.owner),
            members=None if full is None else [Member.from_domain(m) for m in full.members],
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
