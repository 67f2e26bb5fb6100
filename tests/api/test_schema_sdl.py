"""The committed SDL (schema.graphql) is the schema the code builds."""

from __future__ import annotations

from pathlib import Path

from graphql_api.schema import build_schema

SDL_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"
CONTRACT_OPERATIONS = {
    "Query": {"me", "workflow", "workflows", "group", "groups", "uploadedFiles", "users"},
    "Mutation": {
        "registerUser", "login", "logout", "createWorkflow", "createGroup", "updateGroup",
        "deleteGroup", "uploadFile", "deleteFile",
        # second round: single-member operations and accounts
        "addMember", "removeMember", "leaveGroup", "transferOwnership",
        "activateUser", "requestPasswordReset", "resetPassword", "changePassword",
    },
    "Subscription": {"groupChanged", "filesChanged"},
}  # fmt: skip


def test_schema_graphql_matches_the_code() -> None:
    assert str(build_schema()) + "\n" == SDL_FILE.read_text(encoding="utf-8"), (
        "schema.graphql is out of date: regenerate it with "
        "`python -m graphql_api --print-schema > schema.graphql` and review the diff"
    )


def test_the_schema_has_exactly_the_operations_of_the_contract() -> None:
    schema = build_schema()._schema

    for root, names in CONTRACT_OPERATIONS.items():
        assert set(schema.get_type(root).fields) == names  # type: ignore[union-attr]
