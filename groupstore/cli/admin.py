"""``groupstore repair``, ``schema``, ``serve`` and ``completion``."""

from __future__ import annotations

import importlib
import os
import signal
from collections.abc import Callable
from datetime import timedelta
from importlib.metadata import entry_points
from typing import Any

import click

from groupstore import local
from groupstore.cli._base import (
    MONGOMOCK,
    CliState,
    UsageProblem,
    json_option,
    pass_state,
    print_json,
    store_options,
)
from groupstore.repair import DEFAULT_GRACE
from groupstore.repair import repair as run_repair

NO_REPAIR_STORE = (
    "repair needs the store to check: serve the local store (scripts/serve), "
    "or pass --uri mongodb://HOST/DB or set GROUPSTORE_MONGO_URI"
)
MONGOMOCK_REPAIR = (
    "repair cannot check mongomock://: an in-memory store lives in one process only, "
    "so this command would see an empty one"
)


@click.command()
@click.option(
    "--apply/--dry-run",
    default=False,
    help="Remove the orphans (default: --dry-run, which only reports them).",
)
@click.option(
    "--grace-minutes",
    type=click.FloatRange(min=0),
    default=DEFAULT_GRACE.total_seconds() / 60,
    show_default=True,
    help="Leave orphans younger than this alone (an upload in progress looks the same); "
    "listed files with chunks missing and expired leases are removed at any age.",
)
@json_option
@store_options
@pass_state
def repair(state: CliState, apply: bool, grace_minutes: float, as_json: bool) -> None:
    """Find (and with --apply remove) what interrupted uploads and deletes left behind.

    Orphans are groups of deleted workflows, GridFS files no group lists, and
    chunks without a GridFS file, older than the grace period; listed files
    with chunks missing and expired leases, whatever their age.
    """
    if state.store is None:
        if not (state.uri or local.running_uri()):
            raise UsageProblem(NO_REPAIR_STORE, "NO_STORE")
        if state.require_uri().startswith(MONGOMOCK):
            raise UsageProblem(MONGOMOCK_REPAIR)
    progress = None if state.quiet or as_json else (lambda m: click.echo(f"... {m}", err=True))
    with state.open_store() as store:
        report = run_repair(
            store, grace=timedelta(minutes=grace_minutes), dry_run=not apply, progress=progress
        )
    if as_json:
        print_json({"removed": report.removed, **report.found()})
        return
    click.echo(f"{'removed' if apply else 'would remove'} {report.summary()}")
    if not apply and report.total:
        state.note("dry run: nothing removed (run again with --apply to remove them)")


GATEWAY_ENTRY_POINTS = "groupstore.gateway"
GATEWAY_MODULE = "graphql_api.__main__"  # where the entry points lead; the fallback
GATEWAY_FALLBACK = {"serve": "serve", "schema": "schema_sdl"}


def gateway(name: str) -> Callable[..., Any]:
    """The gateway's ``serve`` or ``schema``, found through the ``groupstore.gateway`` entry
    points (the gateway depends on the library, never the other way round)."""
    for point in entry_points(group=GATEWAY_ENTRY_POINTS, name=name):
        found: Callable[..., Any] = point.load()
        return found
    # An install made before the entry points existed (editable): the module by name.
    module = importlib.import_module(GATEWAY_MODULE)
    found = getattr(module, GATEWAY_FALLBACK[name])
    return found


@click.command()
def schema() -> None:
    """Print the gateway's GraphQL schema (SDL)."""
    click.echo(gateway("schema")())


LOOPBACK = ("127.0.0.1", "localhost", "::1")
NO_FERRETDB = (
    "no store named and no FerretDB binary for the local store: build one with "
    "scripts/ferretdb build (needs Go >= 1.24) or set GROUPSTORE_FERRETDB_BIN; "
    "or pass --uri mongodb://HOST/DB, or --memory for a store that keeps nothing"
)


@click.command()
@click.option("--host", help="Interface to listen on (default: GROUPSTORE_HOST, else 127.0.0.1).")
@click.option(
    "--port", type=click.IntRange(1, 65535), help="TCP port (default: GROUPSTORE_PORT, else 8000)."
)
@click.option(
    "--memory", is_flag=True, help="The in-memory store: nothing is kept when the gateway stops."
)
@store_options
@pass_state
def serve(state: CliState, host: str | None, port: int | None, memory: bool) -> None:
    """Serve the GraphQL gateway (the other settings: GROUPSTORE_* variables).

    With no store named (--uri, GROUPSTORE_MONGO_URI, --memory) it serves the
    local store: a FerretDB on SQLite in GROUPSTORE_DATA_DIR, started and
    stopped with the gateway.
    """
    serve_gateway = gateway("serve")
    # The gateway's settings, passed to it: the environment with what the options name.
    environ = dict(os.environ)
    if state.database:
        environ["GROUPSTORE_DATABASE"] = state.database
    if memory or state.uri:
        environ["GROUPSTORE_MONGO_URI"] = MONGOMOCK if memory else str(state.uri)
        raise SystemExit(serve_gateway(environ, host=host, port=port))
    binary = local.ferretdb_binary()
    if binary is None:
        raise UsageProblem(NO_FERRETDB, "NO_STORE")
    directory = local.data_dir()
    # Signed links made before a restart stay valid: the key lives in the data directory.
    environ.setdefault("GROUPSTORE_SIGNING_SECRET", local.signing_secret(directory))
    # Its first user administers it, when only this machine can reach it (a stranger on
    # the network must not be first); GROUPSTORE_ADMINS and `users promote` make more.
    if (host or environ.get("GROUPSTORE_HOST") or "127.0.0.1") in LOOPBACK:
        environ.setdefault("GROUPSTORE_FIRST_USER_ADMIN", "true")
    # uvicorn re-raises the SIGTERM it caught once it has shut down: make that an exit
    # that stops the local FerretDB too (Ctrl-C arrives as KeyboardInterrupt already).
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    server = local.LocalServer(directory, binary)
    uri = server.start()
    try:
        state.note(f"groupstore: the local store: {directory} (FerretDB on SQLite, {uri})")
        environ["GROUPSTORE_MONGO_URI"] = uri
        status = serve_gateway(environ, host=host, port=port)
    finally:
        server.stop()
    raise SystemExit(status)


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(0)


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the shell completion script: eval "$(groupstore completion bash)"."""
    from click.shell_completion import get_completion_class

    root = ctx.find_root().command
    cls = get_completion_class(shell)
    assert cls is not None  # the choice allows only known shells
    click.echo(cls(root, {}, "groupstore", "_GROUPSTORE_COMPLETE").source())
