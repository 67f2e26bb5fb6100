"""workflow and workflows: open to any authenticated user; createWorkflow: administrators."""

from __future__ import annotations

import pytest

from groupstore import GroupStore, Workflow

from .conftest import Api, error_code

pytestmark = pytest.mark.anyio

CREATE = """mutation($n: String!, $p: JSON, $s: JSON) {
  createWorkflow(name: $n, parameters: $p, workflowSpec: $s) { id name parameters workflowSpec }
}"""
PARAMETERS = [{"name": "n", "dtype": "int", "index": 0, "isRequired": True, "defaultValue": 3}]


async def test_create_workflow_stores_it(api: Api, store: GroupStore, admin_token: str) -> None:
    body = await api(CREATE, {"n": "wf", "p": PARAMETERS, "s": {"$x.y": [1]}}, token=admin_token)

    created = body["data"]["createWorkflow"]
    assert created["parameters"] == PARAMETERS
    assert created["workflowSpec"] == {"$x.y": [1]}
    assert store.workflows.get_workflow(created["id"]).name == "wf"


async def test_create_workflow_when_anonymous_is_unauthenticated_and_stores_nothing(
    api: Api, store: GroupStore
) -> None:
    body = await api(CREATE, {"n": "wf"})

    assert error_code(body) == "UNAUTHENTICATED"
    assert store.workflows.list_workflows() == []


async def test_create_workflow_by_a_user_who_is_no_administrator_is_forbidden(
    api: Api, store: GroupStore, member_token: str
) -> None:
    body = await api(CREATE, {"n": "wf"}, token=member_token)

    assert error_code(body) == "FORBIDDEN"
    assert store.workflows.list_workflows() == []


async def test_forbidden_create_workflow_says_how_to_become_an_administrator(
    api: Api, member_token: str
) -> None:
    body = await api(CREATE, {"n": "wf"}, token=member_token)

    message = body["errors"][0]["message"]
    assert "groupstore users promote USERNAME" in message and "GROUPSTORE_ADMINS" in message


async def test_create_workflow_with_a_bad_parameter_is_invalid_parameter(
    api: Api, admin_token: str
) -> None:
    body = await api(CREATE, {"n": "wf", "p": [{"name": "n"}]}, token=admin_token)

    assert error_code(body) == "INVALID_PARAMETER"


async def test_workflow_reads_one_workflow(
    api: Api, workflow: Workflow, outsider_token: str
) -> None:
    body = await api(
        "query($id: ID!) { workflow(id: $id) { id name description } }",
        {"id": workflow.workflow_id},
        token=outsider_token,
    )

    assert body["data"]["workflow"] == {
        "id": workflow.workflow_id, "name": "benchmark", "description": "a test workflow"
    }  # fmt: skip


async def test_workflow_of_an_unknown_id_is_unknown_workflow(api: Api, member_token: str) -> None:
    body = await api('{ workflow(id: "nope") { id } }', token=member_token)

    assert error_code(body) == "UNKNOWN_WORKFLOW"


async def test_workflow_when_anonymous_is_unauthenticated(api: Api, workflow: Workflow) -> None:
    body = await api("query($id: ID!) { workflow(id: $id) { id } }", {"id": workflow.workflow_id})

    assert error_code(body) == "UNAUTHENTICATED"


async def test_workflows_lists_them_in_creation_order(
    api: Api, store: GroupStore, workflow: Workflow, outsider_token: str
) -> None:
    second = store.workflows.create_workflow("second")

    body = await api("{ workflows { id } }", token=outsider_token)

    assert [w["id"] for w in body["data"]["workflows"]] == [
        workflow.workflow_id, second.workflow_id
    ]  # fmt: skip


async def test_workflows_when_anonymous_is_unauthenticated(api: Api, workflow: Workflow) -> None:
    body = await api("{ workflows { id } }")

    assert error_code(body) == "UNAUTHENTICATED"
