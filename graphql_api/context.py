"""The per-request GraphQL context and its DataLoaders.

A context lives for one request: the caller, the store, and fresh loaders
(no cache shared between requests or users). Loaders batch every lookup a
query makes in one tick into one library call, so a page of groups costs one
``get_users`` call for all their members together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias, TypeVar

import strawberry
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.dataloader import DataLoader

import groupstore
from graphql_api.auth import require_user
from graphql_api.events import EventBroker
from graphql_api.settings import Settings

if TYPE_CHECKING:
    from graphql_api.sockets import SocketHandler

UserLoader: TypeAlias = DataLoader[str, groupstore.User | None]
WorkflowLoader: TypeAlias = DataLoader[str, groupstore.Workflow | None]
FilesLoader: TypeAlias = DataLoader[groupstore.Group, list[groupstore.UploadedFile]]
T = TypeVar("T")
# A $in over more ids than this is split (each batch is one round trip).
MAX_BATCH_SIZE = 1000


def get_events(connection: Request | WebSocket) -> EventBroker:
    """The process's event broker (``create_app`` makes it; the lifespan may replace it)."""
    events: EventBroker = connection.app.state.events
    return events


def get_store(request: Request | WebSocket) -> groupstore.GroupStore:
    """The process's store: injected into ``create_app`` or opened by its lifespan."""
    store: groupstore.GroupStore | None = getattr(request.app.state, "store", None)
    if store is None:
        raise RuntimeError("no store: create_app(store=...) or run the app's lifespan")
    return store


def batch_loader(
    fetch: Callable[[list[str]], list[T]], key: Callable[[T], str]
) -> DataLoader[str, T | None]:
    """A loader that fetches a batch of ids in one library call; unknown ids load as None."""

    async def load(ids: list[str]) -> list[T | None]:
        found = {key(item): item for item in await run_in_threadpool(fetch, ids)}
        return [found.get(item_id) for item_id in ids]

    return DataLoader(load_fn=load, max_batch_size=MAX_BATCH_SIZE)


@dataclass
class Context:
    request: Request | WebSocket
    response: Response | WebSocket
    store: groupstore.GroupStore
    settings: Settings
    user: groupstore.User | None = None
    token: str | None = None
    events: EventBroker = field(default_factory=EventBroker)
    connection_params: dict[str, object] | None = None
    """WebSocket only: the ``connection_init`` payload (Strawberry sets it)."""
    socket: SocketHandler | None = None
    """WebSocket only, once authenticated: the socket's handler (its session, its end)."""
    users: UserLoader = field(init=False)
    workflows: WorkflowLoader = field(init=False)
    files: FilesLoader = field(init=False)

    def __post_init__(self) -> None:
        self.users = batch_loader(self.store.users.get_users, lambda user: user.user_id)
        self.workflows = batch_loader(
            self.store.workflows.get_workflows, lambda workflow: workflow.workflow_id
        )
        self.files = DataLoader(
            load_fn=self._load_files,
            max_batch_size=MAX_BATCH_SIZE,
            cache_key_fn=lambda group: group.group_id,
        )
        if self.user is not None:
            self.users.prime(self.user.user_id, self.user)

    async def _load_files(
        self, groups: list[groupstore.Group]
    ) -> list[list[groupstore.UploadedFile]]:
        # Whole groups only: the library gives those to members alone.
        found = await run_in_threadpool(self.store.groups.list_uploads, groups)
        return [found[group.group_id] for group in groups]

    def require_user(self) -> groupstore.User:
        """The caller; UNAUTHENTICATED for anonymous requests."""
        return require_user(self.user)

    @property
    def caller(self) -> str:
        """The caller's user id, for the library's access rule (UNAUTHENTICATED if anonymous)."""
        return self.require_user().user_id


Info: TypeAlias = strawberry.Info[Context, None]
