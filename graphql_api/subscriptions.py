"""GraphQL subscriptions over ``graphql-transport-ws``: ``groupChanged``, ``filesChanged``.

Each subscription first sends the group's state as it starts (kind
INITIAL; it is already listening then, so nothing falls in between), then
one message per change.

The socket is authenticated once, by the ``connection_init`` payload
``{"Authorization": "Bearer <api key>"}`` (``GatewayGraphQL.on_ws_connect``);
a missing or bad key closes it with 4403. A subscription is for members:
UNKNOWN_GROUP / FORBIDDEN otherwise, as for queries.

For every event of its group a subscription re-checks, with fresh reads,
that the key is still valid and the caller still a member, and then sends
the group as it is now. A caller removed from the group gets FORBIDDEN and
the subscription ends; a key that ended (logout, expiry; announced by
SESSION_ENDED, and noticed at the latest with the next event) closes the
socket with 4401. Events come from ``graphql_api.events`` (the library's
change log: every process's writes).

Every message carries ``position``, its place in the change log. A
subscription started with ``after: <position>`` (from an earlier message,
on this gateway or another) first sends INITIAL, then the group's changes
made after that position (read from the log), then the live ones: resume
after a gateway restart without missing a change, and drop duplicates by
position.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar, cast

import strawberry
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketState

import groupstore
from graphql_api.context import Context, Info
from graphql_api.events import Change, ChangeKind, EventQueue
from graphql_api.types import Group, UploadedFile

F = TypeVar("F", bound=Callable[..., Any])
CLOSE_UNAUTHORIZED = 4401  # graphql-transport-ws: "Unauthorized"


@strawberry.enum(description="What happened to the group.")
class GroupChangeKind(Enum):
    INITIAL = strawberry.enum_value(
        "INITIAL", description="The first message: the state when the subscription started."
    )
    GROUP_UPDATED = "GROUP_UPDATED"
    GROUP_DELETED = "GROUP_DELETED"
    FILE_UPLOADED = "FILE_UPLOADED"
    FILE_DELETED = "FILE_DELETED"


POSITION = "Its place in the change log: pass it as `after` to resume from here."


@strawberry.type(description="A change of a group, with the group as it is afterwards.")
class GroupChange:
    kind: GroupChangeKind
    group_id: strawberry.ID
    position: str = strawberry.field(description=POSITION)
    file_id: strawberry.ID | None = strawberry.field(
        description="The file uploaded or deleted, when known."
    )
    group: Group | None = strawberry.field(description="The group now; null once deleted.")


@strawberry.type(description="A file uploaded to or deleted from a group, with its files now.")
class FilesChange:
    kind: GroupChangeKind
    group_id: strawberry.ID
    position: str = strawberry.field(description=POSITION)
    file_id: strawberry.ID | None = strawberry.field(
        description="The file uploaded or deleted, when known."
    )
    files: list[UploadedFile] = strawberry.field(description="The group's files, in upload order.")


def subscription(description: str) -> Callable[[F], F]:
    """``@strawberry.subscription(description=...)``, typed (strawberry types it ``Any``)."""
    return cast("Callable[[F], F]", strawberry.subscription(description=description))


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
    """What happened to the watched group, and the group as read after it (None: deleted)."""

    kind: GroupChangeKind
    file_id: str | None
    group: groupstore.Group | None
    position: int

    def file(self) -> strawberry.ID | None:
        return None if self.file_id is None else strawberry.ID(self.file_id)


@strawberry.type
class Subscription:
    @subscription(
        "Every change of the group: renamed, members changed, files, deleted "
        "(then the subscription completes). Members only; ends with FORBIDDEN for a caller "
        "removed from the group."
    )
    async def group_changed(
        self, info: Info, id: strawberry.ID, after: str | None = None
    ) -> AsyncGenerator[GroupChange, None]:
        async for observed in watch_group(info.context, id, GROUP_KINDS, after):
            group = observed.group
            yield GroupChange(
                kind=observed.kind,
                group_id=strawberry.ID(id),
                position=str(observed.position),
                file_id=observed.file(),
                group=None if group is None else Group.from_domain(group),
            )

    @subscription(
        "Files uploaded to or deleted from the group, with the group's files after "
        "each change. Members only; completes when the group is deleted."
    )
    async def files_changed(
        self, info: Info, group_id: strawberry.ID, after: str | None = None
    ) -> AsyncGenerator[FilesChange, None]:
        async for observed in watch_group(info.context, group_id, FILE_KINDS, after):
            group = observed.group
            if group is None:
                return
            yield FilesChange(
                kind=observed.kind,
                group_id=strawberry.ID(group_id),
                position=str(observed.position),
                file_id=observed.file(),
                files=[UploadedFile.from_domain(file) for file in group.uploads],
            )


def _position(after: str | None) -> int | None:
    if after is None:
        return None
    if not after.isdecimal() or len(after) > 19:
        raise groupstore.InvalidArgumentError("after: a position from an earlier message")
    return int(after)


async def watch_group(
    context: Context, group_id: str, kinds: frozenset[ChangeKind], after: str | None = None
) -> AsyncGenerator[Observed, None]:
    """INITIAL, then the group's events of ``kinds`` (after ``after``), each after re-checking
    the caller.

    Ends after the group's deletion.
    """
    resume = _position(after)
    # Listen first, then read: no change can fall between the INITIAL state and the events.
    with context.events.subscribe(group_id) as queue:
        # Every change up to ``settled`` is reflected in the INITIAL read that follows.
        settled = await run_in_threadpool(context.store.settled_position, queue.since)
        initial = await _current_group(context, group_id)
        if initial is None:
            raise groupstore.UnknownWorkflowGroupError(group_id)
        _fresh_loaders(context)
        yield Observed(GroupChangeKind.INITIAL, None, initial, settled)
        async for event in _changes(context, group_id, queue, settled, resume):
            if event.kind is ChangeKind.SESSION_ENDED:
                if event.user_id in (None, context.require_user().user_id):
                    await _require_valid_key(context)
                continue
            await _require_valid_key(context)
            group = await _current_group(context, group_id)
            if group is None:
                if ChangeKind.GROUP_DELETED in kinds:
                    yield Observed(GroupChangeKind.GROUP_DELETED, None, None, event.position or 0)
                return
            if event.kind in kinds:
                _fresh_loaders(context)
                yield Observed(
                    GroupChangeKind(event.kind.value), event.file_id, group, event.position or 0
                )


async def _changes(
    context: Context, group_id: str, queue: EventQueue, settled: int, after: int | None
) -> AsyncGenerator[Change, None]:
    """With ``after``: the group's changes after it up to ``settled``, from the log. Then the
    live changes after ``settled`` (and ``after``): those up to it are in the INITIAL state."""
    if after is not None and after < settled:
        for change in await run_in_threadpool(
            context.store.changes_between, after, settled, group_id
        ):
            yield change
    skip = max(settled, after or 0)
    async for event in queue:
        if event.position is None or event.position > skip:
            yield event


async def _current_group(context: Context, group_id: str) -> groupstore.Group | None:
    """The group as its member sees it; None once deleted; FORBIDDEN for a non-member.

    The library decides: a caller who is not a member gets the summary only,
    and these feeds carry what only members may see.
    """
    try:
        group = await run_in_threadpool(
            context.store.groups.get_group, group_id, caller=context.caller
        )
    except groupstore.UnknownWorkflowGroupError:
        return None
    if not isinstance(group, groupstore.Group):
        raise groupstore.UnauthorizedAccessError("only members of the group may do this")
    return group


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
    context.files.clear_all()
    if context.user is not None:
        context.users.prime(context.user.user_id, context.user)
