"""``groupstore import-flowserv``: copy a flowserv deployment into the store.

The work is ``groupstore.flowserv_import``'s; this module reads the options,
shows a progress bar (on a terminal, none with --quiet) and prints the summary.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

from groupstore.cli._base import (
    CliState,
    CommandError,
    human_size,
    json_option,
    pass_state,
    print_json,
    store_options,
)
from groupstore.flowserv_import import (
    Deployment,
    ImportSummary,
    Kind,
    import_deployment,
    read_deployment,
)


@click.command("import-flowserv")
@click.option(
    "--db",
    "db_url",
    envvar="FLOWSERV_DATABASE",
    required=True,
    help="flowserv's database URL, e.g. sqlite:////srv/flowserv/flowserv.db or "
    "postgresql://user:pw@host/flowserv [env: FLOWSERV_DATABASE].",
)
@click.option(
    "--volume",
    envvar="FLOWSERV_API_DIR",
    required=True,
    type=click.Path(exists=True, file_okay=False),
    help="flowserv's file volume: the base directory of its file store, which holds "
    "<workflow>/groups/<group>/files/<file> [env: FLOWSERV_API_DIR].",
)
@click.option(
    "--standalone",
    is_flag=True,
    help="Copy users (their flowserv passwords keep working) and workflows too; "
    "by default flowserv keeps them and the groups name them by id.",
)
@click.option("--dry-run", is_flag=True, help="Report what would be copied; write nothing.")
@json_option
@store_options
@pass_state
def import_flowserv(
    state: CliState,
    db_url: str,
    volume: str,
    standalone: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Copy flowserv's groups, members and uploaded files (keeping their ids) into the store.

    Safe to run again, and to rerun after an interruption: what is already
    there is skipped, nothing is copied twice.
    """
    deployment = read_deployment(db_url, volume)
    with (
        state.open_store() as store,
        _progress(state, deployment, standalone) as advance,
    ):
        summary = import_deployment(
            store, deployment, standalone=standalone, dry_run=dry_run, progress=advance
        )
    if as_json:
        print_json(summary.to_dict())
    else:
        _print_summary(summary)
    if summary.missing_files:
        raise CommandError(
            f"{len(summary.missing_files)} files listed in flowserv's database are not on the "
            f"volume {volume} (see the summary); everything else was copied",
            "FILES_MISSING",
        )


@contextmanager
def _progress(
    state: CliState, deployment: Deployment, standalone: bool
) -> Iterator[Callable[[Kind], None]]:
    """A rich progress bar on stderr (groups and files) when stderr is a terminal."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    console = Console(stderr=True)
    if state.quiet or not console.is_terminal:
        yield lambda kind: None
        return
    with Progress(
        TextColumn("{task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
    ) as progress:
        tasks = {
            "group": progress.add_task("groups", total=len(deployment.groups)),
            "file": progress.add_task("files", total=deployment.file_count),
        }
        if standalone:
            tasks["user"] = progress.add_task("users", total=len(deployment.users))
            tasks["workflow"] = progress.add_task("workflows", total=len(deployment.workflows))
        yield lambda kind: progress.advance(tasks[kind])


def _print_summary(summary: ImportSummary) -> None:
    verb = "would copy" if summary.dry_run else "copied"
    kinds = (
        ("users", "workflows", "groups", "files")
        if summary.mode == "standalone"
        else (
            "groups",
            "files",
        )
    )
    for kind in kinds:
        tally = getattr(summary, kind)
        click.echo(f"{kind:<10} {verb} {tally.copied}, already there {tally.skipped}")
    if not summary.dry_run:
        click.echo(
            f"{human_size(summary.bytes_copied)} in {summary.seconds:.1f} s, "
            f"{summary.files_verified} files read back and verified (SHA-256)"
        )
    for label, items in (
        ("renamed groups", summary.renamed_groups),
        ("renamed files", summary.renamed_files),
        ("owner changes", summary.owner_changes),
        ("missing files", summary.missing_files),
    ):
        for item in items:
            click.echo(f"{label}: " + ", ".join(f"{k}={v}" for k, v in item.items()))
