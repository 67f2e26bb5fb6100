"""``groupstore groups``: create, list, show, rename, delete.

Members are added and removed with ``groupstore groups members`` (wired once
the library's single-member operations exist).
"""

from __future__ import annotations

import click

from groupstore.cli._base import (
    CliState,
    json_option,
    pass_state,
    print_json,
    print_record,
    print_table,
    read_data_file,
    store_options,
)
from groupstore.cli._records import find_user, find_workflow, group_record


@click.group()
def groups() -> None:
    """Create, list, show, rename and delete workflow groups."""


@groups.command()
@click.argument("workflow")
@click.argument("name")
@click.option("--owner", required=True, help="The owning user (an id or a name).")
@click.option("--member", "members", multiple=True, help="Another member (id or name); repeatable.")
@click.option("--spec", "spec_file", metavar="FILE", help="Workflow spec (JSON/YAML file).")
@click.option(
    "--parameters", "parameters_file", metavar="FILE", help="Parameters (JSON/YAML list)."
)
@click.option("--engine-config", "engine_file", metavar="FILE", help="Engine config (JSON/YAML).")
@click.option("--id", "identifier", help="Choose the id (1-32 of A-Z a-z 0-9 _).")
@json_option
@store_options
@pass_state
def create(
    state: CliState,
    workflow: str,
    name: str,
    owner: str,
    members: tuple[str, ...],
    spec_file: str | None,
    parameters_file: str | None,
    engine_file: str | None,
    identifier: str | None,
    as_json: bool,
) -> None:
    """Create the group NAME of WORKFLOW (an id or a name); prints its id.

    The spec and parameters default to the workflow's.
    """
    spec = read_data_file(spec_file) if spec_file else None
    parameters = read_data_file(parameters_file) if parameters_file else None
    engine_config = read_data_file(engine_file) if engine_file else None
    with state.open_store() as store:
        found = find_workflow(store, workflow)
        group = store.groups.create_group(
            found.workflow_id,
            name,
            parameters=list(found.parameters.values()) if parameters is None else parameters,
            workflow_spec=found.workflow_spec if spec is None else spec,
            user_id=find_user(store, owner).user_id,
            members=[find_user(store, member).user_id for member in members],
            engine_config=engine_config,
            identifier=identifier,
        )
    if as_json:
        print_json(group_record(group, full=True))
    else:
        click.echo(group.group_id)
        state.note(f"created group {group.name}")


@groups.command("list")
@click.option("--workflow", help="Only groups of this workflow (an id or a name).")
@click.option("--user", help="Only groups with this member (an id or a name).")
@json_option
@store_options
@pass_state
def list_(state: CliState, workflow: str | None, user: str | None, as_json: bool) -> None:
    """List groups in creation order."""
    with state.open_store() as store:
        workflow_id = find_workflow(store, workflow).workflow_id if workflow else None
        user_id = find_user(store, user).user_id if user else None
        records = [
            group_record(g, names=not as_json)
            for g in store.groups.list_groups(workflow_id=workflow_id, user_id=user_id)
        ]
    if as_json:
        print_json(records)
    else:
        print_table(records, ["id", "name", "workflow_id", "owner", "members"], "groups")


@groups.command()
@click.argument("group_id")
@json_option
@store_options
@pass_state
def show(state: CliState, group_id: str, as_json: bool) -> None:
    """Show the group GROUP_ID: members, parameters, spec and files."""
    with state.open_store() as store:
        record = group_record(store.groups.get_group(group_id), full=True, names=not as_json)
    if as_json:
        print_json(record)
    else:
        print_record(record)


@groups.command()
@click.argument("group_id")
@click.argument("name")
@store_options
@pass_state
def rename(state: CliState, group_id: str, name: str) -> None:
    """Rename the group GROUP_ID to NAME."""
    with state.open_store() as store:
        group = store.groups.update_group(group_id, name=name)
    state.note(f"renamed to {group.name}")


@groups.command()
@click.argument("group_id")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@store_options
@pass_state
def delete(state: CliState, group_id: str, yes: bool) -> None:
    """Delete the group GROUP_ID and its files."""
    with state.open_store() as store:
        group = store.groups.get_group(group_id)
        if not yes:
            click.confirm(f"Delete group {group.name!r} and its files?", abort=True)
        store.groups.delete_group(group_id)
    state.note(f"deleted group {group.name}")


@groups.group()
def members() -> None:
    """Add or remove one member (each one atomic write: concurrent edits do not undo each other)."""


@members.command("add")
@click.argument("group_id")
@click.argument("user")
@store_options
@pass_state
def members_add(state: CliState, group_id: str, user: str) -> None:
    """Add USER (an id or a name) to the group GROUP_ID."""
    with state.open_store() as store:
        member = find_user(store, user)
        store.groups.add_member(group_id, member.user_id)
    state.note(f"{member.username} is a member")


@members.command("remove")
@click.argument("group_id")
@click.argument("user")
@store_options
@pass_state
def members_remove(state: CliState, group_id: str, user: str) -> None:
    """Remove USER (an id or a name) from the group GROUP_ID (the owner: transfer first)."""
    with state.open_store() as store:
        member = find_user(store, user)
        store.groups.remove_member(group_id, member.user_id)
    state.note(f"{member.username} is no longer a member")
