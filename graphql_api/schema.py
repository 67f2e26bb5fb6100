"""The GraphQL schema: queries, mutations, and the extensions that guard them.

The gateway keeps no access rule of its own: a resolver names the caller
(``caller=info.context.caller``, UNAUTHENTICATED when anonymous) and the
library decides (``groupstore.ACCESS_RULES``: anyone sees a group's summary,
members its contents and files, the owner manages it). Each resolver unpacks
its arguments, calls one library method in the threadpool (the library is
synchronous), and adapts the result.

Accounts (registerUser, login, logout, users, tokens, passwords) live in
``graphql_api.accounts``; their root types are merged into these. Who may
call each operation: ``graphql_api.access`` (the README's table).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from strawberry.extensions import DisableIntrospection, SchemaExtension
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

import groupstore
from graphql_api.accounts import AccountMutation, AccountQuery
from graphql_api.context import Info
from graphql_api.errors import BadRequest, ErrorCodes, log_errors
from graphql_api.limits import Limits, document_guard
from graphql_api.settings import Settings
from graphql_api.subscriptions import Subscription
from graphql_api.types import (
    MAX_PAGE_SIZE,
    SCALARS,
    Group,
    GroupConnection,
    UploadedFile,
    User,
    Workflow,
    decode_cursor,
    field,
    mutation,
    page_size,
)
from graphql_api.uploads import StrictUpload, store_upload

DEFAULT_PAGE_SIZE = 50


@strawberry.type
class Query:
    @field("The caller, or null when not logged in.")
    async def me(self, info: Info) -> User | None:
        user = info.context.user
        return None if user is None else User.from_domain(user)

    @strawberry.field
    async def workflow(self, info: Info, id: strawberry.ID) -> Workflow:
        info.context.require_user()
        workflow = await run_in_threadpool(info.context.store.workflows.get_workflow, id)
        return Workflow.from_domain(workflow)

    @field("All workflows in creation order.")
    async def workflows(self, info: Info) -> list[Workflow]:
        info.context.require_user()
        workflows = await run_in_threadpool(info.context.store.workflows.list_workflows)
        return [Workflow.from_domain(workflow) for workflow in workflows]

    @field("The group: all of it for members, its summary for anyone else.")
    async def group(self, info: Info, id: strawberry.ID) -> Group:
        caller = info.context.caller
        group = await run_in_threadpool(info.context.store.groups.get_group, id, caller=caller)
        return Group.from_domain(group)

    @field(
        "Groups in creation order: the caller's own unless a filter or `all` is given, "
        "optionally of one workflow and/or with one member (summaries of groups the caller "
        "is not in). Another user's groups are only those the caller shares with them, "
        "unless the caller is an administrator (membership is private). "
        f"`first` is 0 to {MAX_PAGE_SIZE}; `after` takes `pageInfo.endCursor`."
    )
    async def groups(
        self,
        info: Info,
        workflow_id: strawberry.ID | None = None,
        user_id: strawberry.ID | None = None,
        all: bool = False,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
    ) -> GroupConnection:
        caller = info.context.caller
        page_size(first)
        if workflow_id is None and user_id is None and not all:
            user_id = strawberry.ID(caller)  # flowserv's default: the caller's groups
        page = await run_in_threadpool(
            info.context.store.groups.list_groups_page,
            workflow_id=workflow_id,
            user_id=user_id,
            after=None if after is None else decode_cursor(after),
            first=first,
            caller=caller,
        )
        return GroupConnection.from_domain(page)

    @field("The group's files in upload order; members only.")
    async def uploaded_files(self, info: Info, group_id: strawberry.ID) -> list[UploadedFile]:
        files = await run_in_threadpool(
            info.context.store.groups.list_uploaded_files, group_id, caller=info.context.caller
        )
        return [UploadedFile.from_domain(file) for file in files]


def _to_member(
    info: Info,
    action: Callable[..., groupstore.Group],
    group_id: str,
    user_id: str | None,
    username: str | None,
) -> groupstore.Group:
    """``action(group_id, user id, caller=...)`` on the user named by id or by name
    (membership mutations take either, as the CLI does); in the threadpool."""
    if (user_id is None) == (username is None):
        raise BadRequest("name the user by userId or by username (one of them)")
    if username is not None:
        user_id = info.context.store.users.get_user_by_name(username).user_id
    return action(group_id, user_id, caller=info.context.caller)


@strawberry.type
class Mutation:
    @mutation("A new workflow; administrators only (FORBIDDEN).")
    async def create_workflow(
        self,
        info: Info,
        name: str,
        description: str | None = None,
        workflow_spec: JSON | None = None,
        parameters: JSON | None = None,
        identifier: strawberry.ID | None = None,
        engine_config: JSON | None = None,
    ) -> Workflow:
        user = info.context.require_user()
        workflow = await run_in_threadpool(
            info.context.store.workflows.create_workflow,
            name,
            description=description,
            workflow_spec=workflow_spec,
            parameters=parameters,
            identifier=identifier,
            engine_config=engine_config,
            caller=user.user_id,
        )
        return Workflow.from_domain(workflow)

    @mutation(
        "A new group of the workflow; the caller is its owner and first member. "
        "`parameters`, `workflowSpec` and `engineConfig` default to the workflow's."
    )
    async def create_group(
        self,
        info: Info,
        workflow_id: strawberry.ID,
        name: str,
        members: list[strawberry.ID] | None = None,
        parameters: JSON | None = None,
        workflow_spec: JSON | None = None,
        engine_config: JSON | None = None,
        identifier: strawberry.ID | None = None,
    ) -> Group:
        group = await run_in_threadpool(
            info.context.store.groups.create_group,
            workflow_id,
            name,
            parameters=parameters,
            workflow_spec=workflow_spec,
            members=members,
            engine_config=engine_config,
            identifier=identifier,
            caller=info.context.caller,
        )
        return Group.from_domain(group)

    @mutation("Rename and/or replace the member list (the owner must stay in it); owner only.")
    async def update_group(
        self,
        info: Info,
        id: strawberry.ID,
        name: str | None = None,
        members: list[strawberry.ID] | None = None,
    ) -> Group:
        group = await run_in_threadpool(
            info.context.store.groups.update_group,
            id,
            name=name,
            members=members,
            caller=info.context.caller,
        )
        return Group.from_domain(group)

    @mutation("Delete the group and its files; owner only.")
    async def delete_group(self, info: Info, id: strawberry.ID) -> bool:
        await run_in_threadpool(
            info.context.store.groups.delete_group, id, caller=info.context.caller
        )
        return True

    @mutation(
        "Add an active user (by `userId` or `username`) to the group; owner only. "
        "Adding a member again is a no-op."
    )
    async def add_member(
        self,
        info: Info,
        group_id: strawberry.ID,
        user_id: strawberry.ID | None = None,
        username: str | None = None,
    ) -> Group:
        group = await run_in_threadpool(
            _to_member, info, info.context.store.groups.add_member, group_id, user_id, username
        )
        return Group.from_domain(group)

    @mutation(
        "Remove a member (by `userId` or `username`); owner only (the owner leaves only "
        "after a transfer)."
    )
    async def remove_member(
        self,
        info: Info,
        group_id: strawberry.ID,
        user_id: strawberry.ID | None = None,
        username: str | None = None,
    ) -> Group:
        group = await run_in_threadpool(
            _to_member, info, info.context.store.groups.remove_member, group_id, user_id, username
        )
        return Group.from_domain(group)

    @mutation("The caller leaves the group (the owner must transfer ownership first).")
    async def leave_group(self, info: Info, group_id: strawberry.ID) -> bool:
        await run_in_threadpool(
            info.context.store.groups.leave_group, group_id, info.context.caller
        )
        return True

    @mutation(
        "Make another member (by `userId` or `username`) the owner; owner only. "
        "The old owner stays a member."
    )
    async def transfer_ownership(
        self,
        info: Info,
        group_id: strawberry.ID,
        user_id: strawberry.ID | None = None,
        username: str | None = None,
    ) -> Group:
        group = await run_in_threadpool(
            _to_member,
            info,
            info.context.store.groups.transfer_ownership,
            group_id,
            user_id,
            username,
        )
        return Group.from_domain(group)

    @mutation(
        "Upload a file (GraphQL multipart request spec; send 'GraphQL-Require-Preflight: 1'). "
        "`name` defaults to the uploaded file name. Members only."
    )
    async def upload_file(
        self, info: Info, group_id: strawberry.ID, file: UploadFile, name: str | None = None
    ) -> UploadedFile:
        try:
            uploaded = await store_upload(
                info.context.store,
                group_id,
                file,
                name,
                info.context.settings.max_upload_bytes,
                caller=info.context.caller,
            )
        finally:
            await file.close()
        return UploadedFile.from_domain(uploaded)

    @mutation("Delete one file of the group; members only.")
    async def delete_file(
        self, info: Info, group_id: strawberry.ID, file_id: strawberry.ID
    ) -> bool:
        await run_in_threadpool(
            info.context.store.groups.delete_file, group_id, file_id, caller=info.context.caller
        )
        return True


class GatewaySchema(strawberry.Schema):
    """Logs unexpected errors with their traceback, client errors only at DEBUG."""

    async def execute(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        # execute() serves plain HTTP, where a subscription would resolve to null:
        # refuse it there (400); WebSockets run subscriptions through stream().
        allowed = kwargs.get("allowed_operation_types")
        if allowed is not None:
            kwargs["allowed_operation_types"] = set(allowed) - {OperationType.SUBSCRIPTION}
        return await super().execute(*args, **kwargs)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        log_errors(errors)


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema with its guards; limits and introspection come from ``settings``."""
    settings = settings or Settings()
    limits = Limits(
        max_depth=settings.max_query_depth,
        max_aliases=settings.max_aliases,
        max_fields=settings.max_query_fields,
    )
    extensions: list[type[SchemaExtension] | object] = [
        ErrorCodes,
        # Token limit, parse and validation caches, and the depth / alias / size limits,
        # all linear in the document (Strawberry's limiters re-expand every fragment spread).
        document_guard(limits, settings.max_tokens),
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    # The Upload scalar refuses literals and non-file values (they reached resolvers before).
    scalars = {**SCALARS, UploadFile: StrictUpload}
    return GatewaySchema(
        query=merge_types("Query", (Query, AccountQuery)),
        mutation=merge_types("Mutation", (AccountMutation, Mutation)),
        subscription=Subscription,
        extensions=extensions,  # type: ignore[arg-type]
        config=StrawberryConfig(scalar_map=scalars),  # type: ignore[arg-type]
    )
