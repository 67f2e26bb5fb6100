"""GraphQL subscriptions over ``graphql-transport-ws``: ``groupChanged``, ``filesChanged``.

Each subscription first sends the group's state as it starts (kind
INITIAL; it is already listening then, so nothing falls in between), then
one message per change.

The socket is authenticated by the ``connection_init`` payload
``{"Authorization": "Bearer <api key>"}`` (``GatewayGraphQL.on_ws_connect``)
and its session re-checked for every operation and while it is open
(``graphql_api.sockets``); a missing or bad key closes it with 4403, a
session that ended with 4401. A subscription is for members: UNKNOWN_GROUP /
FORBIDDEN otherwise, as for queries. A user holds at most
``GROUPSTORE_WS_MAX_SUBSCRIPTIONS_PER_USER`` at once (TOO_MANY_REQUESTS).

For every event of its group a subscription checks that the session holds
(the socket's cached check, at most ``GROUPSTORE_WS_SESSION_CHECK_SECONDS``
old; asked afresh on SESSION_ENDED) and that the caller is still a member of
the group as read after the event, then sends the group. That read is made
once per event for all the subscriptions that receive it
(:class:`SharedReads`), in a worker thread, as is every read here. A caller
removed from the group gets FORBIDDEN and the subscription ends. Events come
from ``graphql_api.events`` (the library's change log: every process's writes).

Every message carries ``position``, its place in the change log. A
subscription started with ``after: <position>`` (from an earlier message,
on this gateway or another) first sends INITIAL, then the group's changes
made after that position (read from the log), then the live ones: resume
after a gateway restart without missing a change, and drop duplicates by
position.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any, TypeVar, cast

import strawberry
from starlette.concurrency import run_in_threadpool

import groupstore
from graphql_api.context import Context, Info
from graphql_api.events import Change, ChangeKind, EventQueue
from graphql_api.sockets import get_limits
from graphql_api.types import Group, UploadedFile

F = TypeVar("F", bound=Callable[..., Any])
SHARED_READS = 256


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
    """INITIAL, then the group's events of ``kinds`` (those after the position ``after``,
    when given), each after re-checking the caller.

    Ends after the group's deletion. Every read runs in a worker thread;
    each event's read is shared by all the subscriptions that receive it.
    """
    socket = context.socket
    if socket is None:  # unreachable: subscriptions run on acknowledged sockets only
        raise groupstore.UnauthenticatedAccessError()
    resume = _position(after)
    caller = context.caller
    with_files = ChangeKind.GROUP_UPDATED not in kinds  # filesChanged: the files are sent
    reads = get_reads(context)
    # Listen first, then read: no change can fall between the INITIAL state and the events.
    with (
        get_limits(context.request).subscription(caller),
        context.events.subscribe(group_id) as queue,
    ):
        # Every change up to ``settled`` is reflected in the INITIAL read that follows.
        settled = await run_in_threadpool(context.store.settled_position, queue.since)
        initial = await _current_group(context, group_id, with_files)
        if initial is None:
            raise groupstore.UnknownWorkflowGroupError(group_id)
        _fresh_loaders(context)
        yield Observed(GroupChangeKind.INITIAL, None, initial, settled)
        async for event in _changes(context, group_id, queue, settled, resume):
            if event.kind is ChangeKind.SESSION_ENDED:
                if event.user_id in (None, caller):
                    await socket.require_session(max_age=0)  # announced here: ask now
                continue
            await socket.require_session()
            if event.group_id is None:  # a broadcast (WORKFLOW_DELETED): read this group
                event = replace(event, group_id=group_id)
            group = await reads.group_after(context.store, event, with_files)
            position = event.position or 0
            if group is None:
                if ChangeKind.GROUP_DELETED in kinds:
                    yield Observed(GroupChangeKind.GROUP_DELETED, None, None, position)
                return
            if not group.is_member(caller):  # the library's rule: the rest is for members
                raise groupstore.UnauthorizedAccessError("only members of the group may do this")
            if event.kind in kinds:
                _fresh_loaders(context)
                yield Observed(GroupChangeKind(event.kind.value), event.file_id, group, position)


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


class SharedReads:
    """The group as read after an event, once per event for all its subscriptions.

    Keyed by the event object (every queue of the process receives the same
    one) and whether the files are wanted; the last ``size`` reads are kept.
    The read is the trusted one: each subscription then checks its caller.
    """

    def __init__(self, size: int = SHARED_READS) -> None:
        self.size = size
        self._reads: OrderedDict[
            tuple[int, bool], tuple[Change, asyncio.Future[groupstore.Group | None]]
        ] = OrderedDict()

    async def group_after(
        self, store: groupstore.GroupStore, event: Change, with_files: bool
    ) -> groupstore.Group | None:
        key = (id(event), with_files)
        entry = self._reads.get(key)
        if entry is None or entry[0] is not event:
            read = asyncio.ensure_future(
                run_in_threadpool(_read_group, store, event.group_id or "", with_files)
            )
            entry = self._reads[key] = (event, read)
            while len(self._reads) > self.size:
                self._reads.popitem(last=False)
        # Shielded: a subscription cancelled while waiting leaves the read to the others.
        return await asyncio.shield(entry[1])


def _read_group(
    store: groupstore.GroupStore, group_id: str, with_files: bool
) -> groupstore.Group | None:
    """The whole group (None once deleted), its files read too when wanted (worker thread)."""
    try:
        group = store.groups.get_group(group_id)
    except groupstore.UnknownWorkflowGroupError:
        return None
    if with_files:
        group.uploads  # noqa: B018 - read here, not on the event loop
    return group


def get_reads(context: Context) -> SharedReads:
    reads: SharedReads = context.request.app.state.reads
    return reads


async def _current_group(
    context: Context, group_id: str, with_files: bool
) -> groupstore.Group | None:
    """The group as its member sees it; None once deleted; FORBIDDEN for a non-member.

    The library decides: a caller who is not a member gets the summary only,
    and these feeds carry what only members may see.
    """

    def read() -> groupstore.Group | groupstore.GroupSummary | None:
        try:
            group = context.store.groups.get_group(group_id, caller=context.caller)
        except groupstore.UnknownWorkflowGroupError:
            return None
        if with_files and isinstance(group, groupstore.Group):
            group.uploads  # noqa: B018 - read here, not on the event loop
        return group

    group = await run_in_threadpool(read)
    if group is None:
        return None
    if not isinstance(group, groupstore.Group):
        raise groupstore.UnauthorizedAccessError("only members of the group may do this")
    return group


def _fresh_loaders(context: Context) -> None:
    # A socket's context lives as long as the socket: forget what earlier events loaded.
    context.users.clear_all()
    context.workflows.clear_all()
    context.files.clear_all()
    if context.user is not None:
        context.users.prime(context.user.user_id, context.user)
