"""The ``groupstore`` command: manage a store from the shell.

    groupstore --version
    groupstore [--uri URI] [--database DB] [--quiet] COMMAND ...
    groupstore users | workflows | groups | files ...    (--json on every listing)
    groupstore repair [--apply]                          (a dry run by default)
    groupstore import-flowserv --db URL --volume DIR     (copy a flowserv deployment in)
    groupstore backup PATH | restore PATH [--merge]     (a whole store in one file)
    groupstore serve [--host H] [--port P] [--memory]    (the gateway; the local store)
    groupstore schema | completion SHELL

Errors print one line on stderr and exit 1 (2 for a usage error). ``main``
runs the command and returns the exit status; ``cli`` is the click group
(tests call it through ``click.testing.CliRunner`` with ``obj=CliState(store=...)``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from groupstore import DEFAULT_TIMEOUT, __version__
from groupstore.cli._base import CliState, CommandError, ErrorsAsOneLine, configure_logging
from groupstore.cli.admin import completion, repair, schema, serve
from groupstore.cli.backup import backup, restore
from groupstore.cli.files import files
from groupstore.cli.groups import groups
from groupstore.cli.importing import import_flowserv
from groupstore.cli.users import users
from groupstore.cli.workflows import workflows

__all__ = ["CliState", "cli", "main"]


@click.group(cls=ErrorsAsOneLine, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="groupstore")
@click.option(
    "--uri",
    envvar="GROUPSTORE_MONGO_URI",
    help="MongoDB connection string [env: GROUPSTORE_MONGO_URI].",
)
@click.option(
    "--database",
    envvar="GROUPSTORE_DATABASE",
    help="Database (default: from the URI, else groupstore) [env: GROUPSTORE_DATABASE].",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=DEFAULT_TIMEOUT,
    show_default=True,
    help="Seconds to wait for the server before giving up.",
)
@click.option("-q", "--quiet", is_flag=True, help="Only data and errors: no notes, no warnings.")
@click.option("--debug", is_flag=True, help="Log everything; show tracebacks.")
@click.pass_context
def cli(
    ctx: click.Context,
    uri: str | None,
    database: str | None,
    timeout: float,
    quiet: bool,
    debug: bool,
) -> None:
    """Manage a groupstore: users, workflows, groups, files; repair it; serve the gateway."""
    state = ctx.ensure_object(CliState)
    if uri:
        state.uri = uri
    if database:
        state.database = database
    state.timeout = timeout
    state.quiet = state.quiet or quiet
    state.debug = state.debug or debug
    if state.store is None:  # an injected store means a test: leave its logging alone
        configure_logging(state)


for command in (
    users,
    workflows,
    groups,
    files,
    repair,
    import_flowserv,
    backup,
    restore,
    schema,
    serve,
    completion,
):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="groupstore",
            standalone_mode=False,
        )
    except CommandError as exc:
        exc.show()
        return exc.exit_code
    except click.ClickException as exc:  # click's usage errors: one line too
        error = CommandError.from_click(exc)
        error.show()
        return error.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.Abort:
        click.echo("groupstore: aborted", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("groupstore: interrupted", err=True)
        return 130
    return result if isinstance(result, int) else 0


def run() -> None:
    """The console script."""
    sys.exit(main())
