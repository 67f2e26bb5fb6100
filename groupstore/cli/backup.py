"""``groupstore backup PATH`` and ``groupstore restore PATH``: a whole store in one file."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from groupstore.backup import Manifest, Progress, RestoreReport
from groupstore.backup import backup as run_backup
from groupstore.backup import restore as run_restore
from groupstore.cli._base import (
    MONGOMOCK,
    CliState,
    UsageProblem,
    human_size,
    json_option,
    pass_state,
    print_json,
    store_options,
    transfer_bar,
)

MONGOMOCK_BACKUP = "{command} cannot use mongomock://: an in-memory store lives in one process only"


class _Bar:
    """A rich progress bar on stderr, one task per stage (none with --quiet or --json)."""

    def __init__(self, progress: Any) -> None:
        self._progress = progress
        self._task: Any = None

    def start(self, label: str, total: int) -> None:
        if self._task is not None:
            self._progress.update(self._task, completed=self._progress.tasks[-1].total)
        self._task = self._progress.add_task(label, total=total or None)

    def advance(self, count: int) -> None:
        self._progress.advance(self._task, count)


class _Silent:
    def start(self, label: str, total: int) -> None:
        pass

    def advance(self, count: int) -> None:
        pass


@contextmanager
def _progress(state: CliState, quiet: bool) -> Iterator[Progress]:
    from rich.console import Console

    console = Console(stderr=True)
    # Not on a terminal (a log, a pipe): no bar, so that errors stay one line.
    if state.quiet or quiet or not console.is_terminal:
        yield _Silent()
        return
    with transfer_bar(console) as bar:
        yield _Bar(bar)


def _check_uri(state: CliState, command: str) -> None:
    if state.store is None:
        state.require_uri()
        if state.uri and state.uri.startswith(MONGOMOCK):
            raise UsageProblem(MONGOMOCK_BACKUP.format(command=command))


@click.command()
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
@json_option
@store_options
@pass_state
def backup(state: CliState, path: str, force: bool, as_json: bool) -> None:
    """Write the whole store to the archive file PATH (with a manifest of counts and sha256s).

    Consistent per document: a backup taken while the store is written holds
    each document as it was when read; files uploaded or deleted meanwhile are
    left out. Stop the writers for a point-in-time copy.
    """
    _check_uri(state, "backup")
    target = Path(path)
    if target.exists() and not force:
        raise UsageProblem(f"{path} exists: pass --force to overwrite it")
    partial = target.with_name(f".{target.name}.partial")
    with state.open_store() as store, _progress(state, as_json) as progress:
        try:
            with partial.open("wb") as stream:
                manifest = run_backup(store, stream, progress)
                stream.flush()
                os.fsync(stream.fileno())
            partial.replace(target)  # a half-written archive never has the name asked for
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    if as_json:
        print_json({"path": str(target), "bytes": target.stat().st_size, **manifest.fields})
        return
    click.echo(_summary(manifest, target))


def _summary(manifest: Manifest, target: Path) -> str:
    files = manifest.fields["files"]
    text = (
        f"{target}: {manifest.documents} documents in {len(manifest.fields['collections'])} "
        f"collections, {files['count']} files ({human_size(files['bytes'])}); "
        f"archive {human_size(target.stat().st_size)}"
    )
    skipped = manifest.fields.get("skipped_files", 0)
    if skipped:
        text += f"; {skipped} files written or deleted during the backup left out"
    return text


@click.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--merge",
    is_flag=True,
    help="Restore into a store that holds data: insert what is missing, skip identical "
    "documents, report conflicts (left as the store has them).",
)
@json_option
@store_options
@pass_state
def restore(state: CliState, path: str, merge: bool, as_json: bool) -> None:
    """Load the archive PATH into the store given by --uri (empty, unless --merge).

    The whole archive is checked first (its trailer, every collection's and
    file's sha256); a damaged or truncated archive writes nothing.
    """
    _check_uri(state, "restore")
    with state.open_store() as store, _progress(state, as_json) as progress:
        report = run_restore(store, path, merge=merge, progress=progress)
    if as_json:
        print_json(_report_json(report))
        return
    inserted = sum(report.inserted.values())
    files = report.inserted.get("fs.files", 0)
    text = f"restored {inserted} documents ({files} of them files)"
    if merge:
        text += (
            f"; {sum(report.identical.values())} identical skipped, "
            f"{report.conflict_count} conflicts"
        )
    click.echo(text)
    for name, ids in report.conflicts.items():
        state.note(f"conflicts in {name} (kept as in the store): {', '.join(map(str, ids))}")


def _report_json(report: RestoreReport) -> dict[str, Any]:
    return {
        "inserted": report.inserted,
        "identical": report.identical,
        "conflicts": {name: [str(i) for i in ids] for name, ids in report.conflicts.items()},
        "conflict_count": report.conflict_count,
        "manifest": report.manifest.fields,
    }
