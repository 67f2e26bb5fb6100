"""Accounts over GraphQL: registration, sessions, tokens, passwords, finding people.

Who may do what:

    registerUser          anyone while registration is open (the default);
                          administrators only when GROUPSTORE_OPEN_REGISTRATION=false
    login, activateUser,  anyone
    requestPasswordReset,
    resetPassword
    logout, changePassword,
    users                 authenticated

These types are merged into the schema's root types (``build_schema``).

Password work (register, login, change, reset) runs in at most as many
threads as the store has hashing slots; further requests wait on the event
loop, not in a thread, and get TOO_MANY_REQUESTS after the slots' wait time.
So a burst of logins neither grows memory past the hashing ceiling nor
takes the threadpool that every other request needs.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
import strawberry
from starlette.concurrency import run_in_threadpool

import groupstore
from graphql_api.context import Info
from graphql_api.types import (
    MAX_PAGE_SIZE,
    ApiKey,
    PageInfo,
    User,
    decode_cursor,
    encode_cursor,
    field,
    mutation,
    page_size,
)

DEFAULT_PAGE_SIZE = 50
CURSOR_PREFIX = "users:"
T = TypeVar("T")


class PasswordGate:
    """At most ``slots`` password operations in worker threads; the rest wait on the loop."""

    def __init__(self, slots: int, wait_seconds: float) -> None:
        self.slots = slots
        self.wait_seconds = wait_seconds
        # One semaphore per event loop (an asyncio primitive belongs to one loop).
        self._semaphores: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Semaphore
        ] = weakref.WeakKeyDictionary()

    async def run(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.slots)
        acquired = False
        with anyio.move_on_after(self.wait_seconds):
            await semaphore.acquire()
            acquired = True
        if not acquired:
            raise groupstore.TooManyRequestsError(
                1, "the server is busy checking passwords; try again"
            )
        try:
            return await run_in_threadpool(func, *args, **kwargs)
        finally:
            semaphore.release()


_gates: weakref.WeakKeyDictionary[groupstore.GroupStore, PasswordGate] = weakref.WeakKeyDictionary()


async def password_work(info: Info, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a library call that hashes a password, through the store's gate."""
    store = info.context.store
    gate = _gates.get(store)
    if gate is None:
        slots = store.users.slots
        gate = _gates[store] = PasswordGate(slots.max_concurrent, slots.wait_seconds)
    return await gate.run(func, *args, **kwargs)


def client_address(info: Info) -> str | None:
    """The client's IP address as the server sees it (behind a proxy: uvicorn's
    ``--proxy-headers`` / ``--forwarded-allow-ips`` decide which address that is)."""
    client = info.context.request.client
    return None if client is None else client.host


@strawberry.type(description="A user as others see them in a member picker: id and name only.")
class UserSummary:
    id: strawberry.ID
    username: str


@strawberry.type
class UserEdge:
    cursor: str
    node: UserSummary


@strawberry.type(description="A page of active users in name order (keyset pagination).")
class UserConnection:
    edges: list[UserEdge]
    page_info: PageInfo

    @field("The users of `edges`, without cursors.")
    def nodes(self) -> list[UserSummary]:
        return [edge.node for edge in self.edges]

    @classmethod
    def from_domain(cls, page: groupstore.UserPage) -> UserConnection:
        edges = [
            UserEdge(
                cursor=encode_cursor(cursor, CURSOR_PREFIX),
                node=UserSummary(id=strawberry.ID(user.user_id), username=user.username),
            )
            for cursor, user in page.items
        ]
        end_cursor = edges[-1].cursor if edges else None
        return cls(
            edges=edges, page_info=PageInfo(has_next_page=page.has_next_page, end_cursor=end_cursor)
        )


@strawberry.type
class AccountQuery:
    @field(
        "Active users whose name starts with `prefix` (any case), in name order: id and name "
        f"only. `first` is 0 to {MAX_PAGE_SIZE}; `after` takes `pageInfo.endCursor`."
    )
    async def users(
        self,
        info: Info,
        prefix: str | None = None,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
    ) -> UserConnection:
        info.context.require_user()
        page_size(first)
        page = await run_in_threadpool(
            info.context.store.users.list_users_page,
            prefix=prefix,
            after=None if after is None else decode_cursor(after, CURSOR_PREFIX),
            first=first,
        )
        return UserConnection.from_domain(page)


@strawberry.type
class AccountMutation:
    @mutation(
        "A new user: active, or inactive until `activateUser` when the server requires "
        "verification (the token is sent to the user). FORBIDDEN when registration is "
        "closed, unless the caller is an administrator; TOO_MANY_REQUESTS (with "
        "`extensions.retryAfter`) past the registrations allowed per address or in total."
    )
    async def register_user(self, info: Info, username: str, password: str) -> User:
        caller = info.context.user
        by_admin = caller is not None and caller.is_admin
        verify = info.context.settings.require_verification and not by_admin
        # Self-registrations (with an address) are refused when registration is closed and
        # count against the per-address and total limits (the library's rules); an
        # administrator's are not. Past a limit: TOO_MANY_REQUESTS before any hashing.
        address = None if by_admin else client_address(info) or "unknown"
        user = await password_work(
            info,
            info.context.store.users.register_user,
            username,
            password,
            verify,
            client_address=address,
        )
        return User.from_domain(user)

    @mutation(
        "A new API key; UNKNOWN_USER for a wrong name or password. After too many failures "
        "TOO_MANY_REQUESTS, with `extensions.retryAfter` and a `Retry-After` header (seconds)."
    )
    async def login(self, info: Info, username: str, password: str) -> ApiKey:
        key = await password_work(
            info,
            info.context.store.users.login_user,
            username,
            password,
            client_address=client_address(info),
        )
        return ApiKey.from_domain(key)

    @mutation("End the session of the API key this request carries.")
    async def logout(self, info: Info) -> bool:
        info.context.require_user()
        # The library announces the ended session (SESSION_ENDED): its sockets close.
        await run_in_threadpool(info.context.store.users.logout_user, info.context.token or "")
        return True

    @mutation("Activate the account of a one-time activation token; UNAUTHENTICATED if invalid.")
    async def activate_user(self, info: Info, token: str) -> User:
        user = await run_in_threadpool(info.context.store.users.activate_user_with_token, token)
        return User.from_domain(user)

    @mutation(
        "Send a one-time password reset token to the user of that name. Always true: the "
        "answer does not tell whether the name exists. TOO_MANY_REQUESTS past the requests "
        "allowed per name or address (counted apart from failed logins)."
    )
    async def request_password_reset(self, info: Info, username: str) -> bool:
        await run_in_threadpool(
            info.context.store.users.request_password_reset,
            username,
            client_address=client_address(info),
        )
        return True

    @mutation("Set a new password with a reset token (works once); ends all the user's sessions.")
    async def reset_password(self, info: Info, token: str, password: str) -> bool:
        await password_work(info, info.context.store.users.reset_password, token, password)
        return True

    @mutation(
        "Change the caller's password (FORBIDDEN for a wrong old one); ends the caller's "
        "other sessions, this one stays valid."
    )
    async def change_password(self, info: Info, old_password: str, new_password: str) -> bool:
        user = info.context.require_user()
        await password_work(
            info,
            info.context.store.users.change_password,
            user.user_id,
            old_password,
            new_password,
            keep_api_key=info.context.token,
        )
        return True
