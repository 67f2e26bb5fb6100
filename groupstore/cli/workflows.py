"""``groupstore workflows``: create (spec from a JSON/YAML file), list, show, delete."""

from __future__ import annotations

from typing import Any

import click

from groupstore.cli._base import (
    CliState,
    CommandError,
    json_option,
    pass_state,
    print_json,
    print_record,
    print_table,
    read_data_file,
    store_options,
)
from groupstore.cli._records import find_workflow, workflow_record


@click.group()
def workflows() -> None:
    """Create, list, show and delete workflows."""


def _parameters_from(path: str | None) -> Any:
    if path is None:
        return None
    value = read_data_file(path)
    if not isinstance(value, (list, dict)):
        raise CommandError(
            f"{path}: parameters must be a list (or a name -> parameter map)", "INVALID_FILE"
        )
    return value


@workflows.command()
@click.argument("name")
@click.option("--description", help="A line about the workflow.")
@click.option(
    "--spec",
    "spec_file",
    metavar="FILE",
    help="The workflow spec: a JSON or YAML file (- for stdin).",
)
@click.option(
    "--parameters",
    "parameters_file",
    metavar="FILE",
    help="Parameter declarations (flowserv's JSON shape): a JSON or YAML list.",
)
@click.option("--id", "identifier", help="Choose the id (1-32 of A-Z a-z 0-9 _).")
@json_option
@store_options
@pass_state
def create(
    state: CliState,
    name: str,
    description: str | None,
    spec_file: str | None,
    parameters_file: str | None,
    identifier: str | None,
    as_json: bool,
) -> None:
    """Create the workflow NAME; prints its id."""
    spec = read_data_file(spec_file) if spec_file else None
    parameters = _parameters_from(parameters_file)
    with state.open_store() as store:
        workflow = store.workflows.create_workflow(
            name,
            description=description,
            workflow_spec=spec,
            parameters=parameters,
            identifier=identifier,
        )
    if as_json:
        print_json(workflow_record(workflow, full=True))
    else:
        click.echo(workflow.workflow_id)
        state.note(f"created workflow {workflow.name}")


@workflows.command("list")
@json_option
@store_options
@pass_state
def list_(state: CliState, as_json: bool) -> None:
    """List the workflows in creation order."""
    with state.open_store() as store:
        records = [workflow_record(w) for w in store.workflows.list_workflows()]
    if as_json:
        print_json(records)
    else:
        print_table(records, ["id", "name", "description", "created_at"], "workflows")


@workflows.command()
@click.argument("workflow")
@json_option
@store_options
@pass_state
def show(state: CliState, workflow: str, as_json: bool) -> None:
    """Show WORKFLOW (an id or a name) with its spec and parameters."""
    with state.open_store() as store:
        record = workflow_record(find_workflow(store, workflow), full=True)
    if as_json:
        print_json(record)
    else:
        print_record(record)


@workflows.command()
@click.argument("workflow")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@store_options
@pass_state
def delete(state: CliState, workflow: str, yes: bool) -> None:
    """Delete WORKFLOW (an id or a name) with all its groups and their files."""
    with state.open_store() as store:
        found = find_workflow(store, workflow)
        if not yes:
            click.confirm(
                f"Delete workflow {found.name!r} with all its groups and files?", abort=True
            )
        store.workflows.delete_workflow(found.workflow_id)
    state.note(f"deleted workflow {found.name}")
