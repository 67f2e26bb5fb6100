"""GraphQL subscriptions over ``graphql-transport-ws``: ``groupChanged``, ``filesChanged``.

The socket is authenticated once, by the ``connection_init`` payload
``{"Authorization": "Bearer <api key>"}`` (``GatewayGraphQL.on_ws_connect``);
a missing or bad key closes it with 4403. A subscription is for members:
UNKNOWN_GROUP / FORBIDDEN otherwise, as for queries.

For every event of its group a subscription re-checks, with fresh reads,
that the key is still valid and the caller still a member, and then sends
the group as it is now. A caller removed from the group gets FORBIDDEN and
the subscription ends; a key that ended (logout, expiry; announced by
SESSION_ENDED, and noticed at the latest with the next event) closes the
socket with 4401. Events come from ``graphql_api.events``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from enum import Enum

import strawberry
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketState

import groupstore
from graphql_api.context import Context, Info
from graphql_api.errors import Forbidden
from graphql_api.events import Change, ChangeKind
from graphql_api.types import Group, UploadedFile

CLOSE_UNAUTHORIZED = 4401  # graphql-transport-ws: "Unauthorized"


@strawberry.enum(description="What happened to the group.")
class GroupChangeKind(Enum):
    GROUP_UPDATED = "GROUP_UPDATED"
    GROUP_DELETED = "GROUP_DELETED"
    FILE_UPLOADED = "FILE_UPLOADED"
    FILE_DELETED = "FILE_DELETED"


@strawberry.type(description="A change of a group, with the group as it is afterwards.")
class GroupChange:
    kind: GroupChangeKind
    group_id: strawberry.ID
    file_id: strawberry.ID | None = strawberry.field(
        description="The file uploaded or deleted, when known."
    )
    group: Group | None = strawberry.field(description="The group now; null once deleted.")


@strawberry.type(description="A file uploaded to or deleted from a group, with its files now.")
class FilesChange:
    kind: GroupChangeKind
    group_id: strawberry.ID
    file_id: strawberry.ID | None = strawberry.field(
        description="The file uploaded or deleted, when known."
    )
    files: list[UploadedFile] = strawberry.field(description="The group's files, in upload order.")


FILE_KINDS = frozenset({ChangeKind.FILE_UPLOADED, ChangeKind.FILE_DELETED})
GROUP_KINDS = frozenset(
    {
        ChangeKind.GROUP_UPDATED,
        ChangeKind.GROUP_DELETED,
        ChangeKind.FILE_UPLOADED,
        ChangeKind.FILE_DELETED,
    }
)


@dataclass(frozen=True)
class Observed:
    """An event of the watched group and the group as read after it (None: deleted)."""

    event: Change
    group: groupstore.Group | None


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every change of the group: renamed, members changed, files, deleted "
        "(then the subscription completes). Members only; ends with FORBIDDEN for a caller "
        "removed from the group."
    )
    async def group_changed(
        self, info: Info, id: strawberry.ID
    ) -> AsyncGenerator[GroupChange, None]:
        async for observed in watch_group(info.context, id, GROUP_KINDS):
            event, group = observed.event, observed.group
            yield GroupChange(
                kind=GroupChangeKind(event.kind.value),
                group_id=strawberry.ID(id),
                file_id=None if event.file_id is None else strawberry.ID(event.file_id),
                group=None if group is None else Group.from_domain(group),
            )

    @strawberry.subscription(
        description="Files uploaded to or deleted from the group, with the group's files after "
        "each change. Members only; completes when the group is deleted."
    )
    async def files_changed(
        self, info: Info, group_id: strawberry.ID
    ) -> AsyncGenerator[FilesChange, None]:
        async for observed in watch_group(info.context, group_id, FILE_KINDS):
            event, group = observed.event, observed.group
            if group is None:
                return
            yield FilesChange(
                kind=GroupChangeKind(event.kind.value),
                group_id=strawberry.ID(group_id),
                file_id=None if event.file_id is None else strawberry.ID(event.file_id),
                files=[UploadedFile.from_domain(file, group.group_id) for file in group.uploads],
            )


async def watch_group(
    context: Context, group_id: str, kinds: frozenset[ChangeKind]
) -> AsyncGenerator[Observed, None]:
    """The group's events of ``kinds``, each after re-checking the caller; ends on deletion."""
    # Listen first, then check: no event can fall between the check and the listening.
    with context.events.subscribe(group_id) as queue:
        await context.require_member(group_id)
        async for event in queue:
            if event.kind is ChangeKind.SESSION_ENDED:
                if event.user_id in (None, context.require_user().user_id):
                    await _require_valid_key(context)
                continue
            await _require_valid_key(context)
            group = await _current_group(context, group_id)
            if group is None:
                if ChangeKind.GROUP_DELETED in kinds:
                    yield Observed(Change(ChangeKind.GROUP_DELETED, group_id), None)
                return
            if not group.is_member(context.require_user().user_id):
                raise Forbidden("you are no longer a member of the group")
            if event.kind in kinds:
                _fresh_loaders(context)
                yield Observed(event, group)


async def _current_group(context: Context, group_id: str) -> groupstore.Group | None:
    try:
        return await run_in_threadpool(context.store.groups.get_group, group_id)
    except groupstore.UnknownWorkflowGroupError:
        return None


async def _require_valid_key(context: Context) -> None:
    """Close the socket (4401) when the connection's key no longer authenticates."""
    try:
        await run_in_threadpool(context.store.users.authenticate, context.token or "")
    except groupstore.UnauthenticatedAccessError:
        await close_socket(context, CLOSE_UNAUTHORIZED, "Unauthorized: the API key has ended")
        await asyncio.Event().wait()  # until the handler, seeing the close, cancels us


async def close_socket(context: Context, code: int, reason: str) -> None:
    """Close the connection's socket once, whichever subscription asks first."""
    socket = context.request
    if isinstance(socket, WebSocket) and socket.application_state != WebSocketState.DISCONNECTED:
        await socket.close(code=code, reason=reason)


def _fresh_loaders(context: Context) -> None:
    # A socket's context lives as long as the socket: forget what earlier events loaded.
    context.users.clear_all()
    context.workflows.clear_all()
    if context.user is not None:
        context.users.prime(context.user.user_id, context.user)
