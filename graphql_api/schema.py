"""The GraphQL schema: queries, mutations, and the extensions that guard them.

Who may do what (anonymous / authenticated / member of the group):

    registerUser, login                       anyone
    me                                        anyone (null when anonymous)
    logout, workflow, workflows, group,       authenticated
    groups, createWorkflow, createGroup
    Group.files, uploadedFiles, updateGroup,  members of the group
    deleteGroup, uploadFile, deleteFile

Each resolver unpacks its arguments, calls one library method in the
threadpool (the library is synchronous), and adapts the result.
"""

from __future__ import annotations

import strawberry
from graphql import GraphQLError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from strawberry.extensions import DisableIntrospection, SchemaExtension
from strawberry.scalars import JSON
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from graphql_api.context import Info
from graphql_api.errors import BadRequest, ErrorCodes, log_errors
from graphql_api.limits import Limits, document_guard
from graphql_api.settings import Settings
from graphql_api.types import (
    SCALARS,
    ApiKey,
    Group,
    GroupConnection,
    UploadedFile,
    User,
    Workflow,
    decode_cursor,
    field,
    mutation,
)
from graphql_api.uploads import StrictUpload, store_upload

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


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

    @strawberry.field
    async def group(self, info: Info, id: strawberry.ID) -> Group:
        info.context.require_user()
        group = await run_in_threadpool(info.context.store.groups.get_group, id)
        return Group.from_domain(group)

    @field(
        "Groups in creation order, optionally of one workflow and/or with one member. "
        f"`first` is 0 to {MAX_PAGE_SIZE}; `after` takes `pageInfo.endCursor` of the last page."
    )
    async def groups(
        self,
        info: Info,
        workflow_id: strawberry.ID | None = None,
        user_id: strawberry.ID | None = None,
        first: int = DEFAULT_PAGE_SIZE,
        after: str | None = None,
    ) -> GroupConnection:
        info.context.require_user()
        if not 0 <= first <= MAX_PAGE_SIZE:
            raise BadRequest(f"first must be between 0 and {MAX_PAGE_SIZE}")
        page = await run_in_threadpool(
            info.context.store.groups.list_groups_page,
            workflow_id=workflow_id,
            user_id=user_id,
            after=None if after is None else decode_cursor(after),
            first=first,
        )
        return GroupConnection.from_domain(page)

    @field("The group's files in upload order; members only.")
    async def uploaded_files(self, info: Info, group_id: strawberry.ID) -> list[UploadedFile]:
        group = await info.context.require_member(group_id)
        return [UploadedFile.from_domain(file, group.group_id) for file in group.uploads]


@strawberry.type
class Mutation:
    @mutation("A new, active user.")
    async def register_user(self, info: Info, username: str, password: str) -> User:
        user = await run_in_threadpool(info.context.store.users.register_user, username, password)
        return User.from_domain(user)

    @mutation("A new API key; UNKNOWN_USER for a wrong name or password.")
    async def login(self, info: Info, username: str, password: str) -> ApiKey:
        key = await run_in_threadpool(info.context.store.users.login_user, username, password)
        return ApiKey.from_domain(key)

    @mutation("End the session of the API key this request carries.")
    async def logout(self, info: Info) -> bool:
        info.context.require_user()
        await run_in_threadpool(info.context.store.users.logout_user, info.context.token or "")
        return True

    @strawberry.mutation
    async def create_workflow(
        self,
        info: Info,
        name: str,
        description: str | None = None,
        workflow_spec: JSON | None = None,
        parameters: JSON | None = None,
        identifier: strawberry.ID | None = None,
    ) -> Workflow:
        info.context.require_user()
        workflow = await run_in_threadpool(
            info.context.store.workflows.create_workflow,
            name,
            description=description,
            workflow_spec=workflow_spec,
            parameters=parameters,
            identifier=identifier,
        )
        return Workflow.from_domain(workflow)

    @mutation(
        "A new group of the workflow; the caller is its owner and first member. "
        "`parameters` and `workflowSpec` default to the workflow's."
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
        user = info.context.require_user()
        store = info.context.store
        params: object = parameters
        spec: object = workflow_spec
        if params is None or spec is None:
            workflow = await run_in_threadpool(store.workflows.get_workflow, workflow_id)
            params = workflow.parameters if params is None else params
            spec = workflow.workflow_spec if spec is None else spec
        group = await run_in_threadpool(
            store.groups.create_group,
            workflow_id,
            name,
            params,
            spec,
            user_id=user.user_id,
            members=members,
            engine_config=engine_config,
            identifier=identifier,
        )
        return Group.from_domain(group)

    @mutation("Rename and/or replace the member list; members only.")
    async def update_group(
        self,
        info: Info,
        id: strawberry.ID,
        name: str | None = None,
        members: list[strawberry.ID] | None = None,
    ) -> Group:
        await info.context.require_member(id)
        group = await run_in_threadpool(
            info.context.store.groups.update_group, id, name=name, members=members
        )
        return Group.from_domain(group)

    @mutation("Delete the group and its files; members only.")
    async def delete_group(self, info: Info, id: strawberry.ID) -> bool:
        await info.context.require_member(id)
        await run_in_threadpool(info.context.store.groups.delete_group, id)
        return True

    @mutation(
        "Upload a file (GraphQL multipart request spec; send 'GraphQL-Require-Preflight: 1'). "
        "`name` defaults to the uploaded file name. Members only."
    )
    async def upload_file(
        self, info: Info, group_id: strawberry.ID, file: UploadFile, name: str | None = None
    ) -> UploadedFile:
        try:
            await info.context.require_member(group_id)
            uploaded = await store_upload(
                info.context.store, group_id, file, name, info.context.settings.max_upload_bytes
            )
        finally:
            await file.close()
        return UploadedFile.from_domain(uploaded, group_id)

    @mutation("Delete one file of the group; members only.")
    async def delete_file(
        self, info: Info, group_id: strawberry.ID, file_id: strawberry.ID
    ) -> bool:
        await info.context.require_member(group_id)
        await run_in_threadpool(info.context.store.groups.delete_file, group_id, file_id)
        return True


class GatewaySchema(strawberry.Schema):
    """Logs unexpected errors with their traceback, client errors only at DEBUG."""

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
        query=Query,
        mutation=Mutation,
        extensions=extensions,  # type: ignore[arg-type]
        config=StrawberryConfig(scalar_map=scalars),  # type: ignore[arg-type]
    )
