"""``groupstore users``: register, activate, list, promote."""

from __future__ import annotations

import sys

import click

from groupstore.cli._base import (
    CliState,
    CommandError,
    json_option,
    pass_state,
    print_json,
    print_record,
    print_table,
    store_options,
)
from groupstore.cli._records import find_user, user_record


@click.group()
def users() -> None:
    """Register, activate, list and promote users."""


@users.command()
@click.argument("username")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of stdin (scripts); else it is prompted for.",
)
@click.option("--inactive", is_flag=True, help="Register the user inactive (activate later).")
@json_option
@store_options
@pass_state
def register(
    state: CliState, username: str, password_stdin: bool, inactive: bool, as_json: bool
) -> None:
    """Register USERNAME (active unless --inactive); prints the new user's id."""
    if state.store is None:
        state.require_uri()  # no store: say so before asking for a password
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise CommandError("the password must not be empty", "CONSTRAINT_VIOLATION")
    with state.open_store() as store:
        user = store.users.register_user(username, password, verify=inactive)
    if as_json:
        print_json(user_record(user))
    else:
        click.echo(user.user_id)
        state.note(f"registered {user.username}{' (inactive)' if inactive else ''}")


@users.command()
@click.argument("user_id")
@store_options
@pass_state
def activate(state: CliState, user_id: str) -> None:
    """Activate the user USER_ID."""
    with state.open_store() as store:
        user = store.users.activate_user(user_id)
    state.note(f"activated {user.username}")


@users.command("list")
@click.option("--prefix", help="Only users whose name starts with this.")
@json_option
@store_options
@pass_state
def list_(state: CliState, prefix: str | None, as_json: bool) -> None:
    """List the active users, by name."""
    with state.open_store() as store:
        records = [user_record(u) for u in store.users.list_users(prefix=prefix)]
    if as_json:
        print_json(records)
    else:
        print_table(records, ["id", "username", "active", "created_at"], "users")


@users.command()
@click.argument("user")
@store_options
@pass_state
def promote(state: CliState, user: str) -> None:
    """Make USER (an id or a name) an administrator."""
    with state.open_store() as store:
        promoted = store.users.promote_user(find_user(store, user).user_id)
    state.note(f"{promoted.username} is now an administrator")


@users.command()
@click.argument("user")
@json_option
@store_options
@pass_state
def show(state: CliState, user: str, as_json: bool) -> None:
    """Show USER (an id or a name)."""
    with state.open_store() as store:
        record = user_record(find_user(store, user))
    if as_json:
        print_json(record)
    else:
        print_record(record)
