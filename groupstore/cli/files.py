"""``groupstore files``: upload and download (with a progress bar), list, delete."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import click

from groupstore.cli._base import (
    CliState,
    CommandError,
    human_size,
    json_option,
    pass_state,
    print_json,
    print_table,
    store_options,
    transfer_bar,
)
from groupstore.cli._records import file_record, size_of

PROGRESS_MIN_BYTES = 1024 * 1024
"""Smaller transfers get no progress bar: they are over before it would show."""
CHUNK = 1024 * 1024


@click.group()
def files() -> None:
    """Upload, download, list and delete a group's files."""


class _CountingReader:
    """A binary file object that reports how many bytes were read from it."""

    def __init__(self, raw: IO[bytes], advance: Callable[[int], None]) -> None:
        self.raw = raw
        self.advance = advance

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.advance(len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        count = self.raw.readinto(buffer)  # type: ignore[attr-defined]
        self.advance(count or 0)
        return int(count or 0)


@contextmanager
def _progress(state: CliState, label: str, total: int) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr for transfers of 1 MiB and more (none with --quiet)."""
    if state.quiet or total < PROGRESS_MIN_BYTES:
        yield lambda count: None
        return
    from rich.console import Console

    with transfer_bar(Console(stderr=True)) as progress:
        task = progress.add_task(label, total=total)
        yield lambda count: progress.advance(task, count)


@files.command()
@click.argument("group_id")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@click.option("--name", help="The file's name in the group (default: PATH's name).")
@json_option
@store_options
@pass_state
def upload(state: CliState, group_id: str, path: str, name: str | None, as_json: bool) -> None:
    """Upload the file PATH (- for stdin, with --name) to the group GROUP_ID; prints its id."""
    if path == "-" and not name:
        raise click.UsageError("uploading stdin needs --name")
    name = name or Path(path).name
    with (
        state.open_store() as store,
        _open_input(path) as (raw, total),
        _progress(state, f"uploading {name}", total) as advance,
    ):
        uploaded = store.groups.upload_file(group_id, _CountingReader(raw, advance), name)
    if as_json:
        print_json(file_record(uploaded))
    else:
        click.echo(uploaded.file_id)
        state.note(f"uploaded {uploaded.name} ({human_size(uploaded.size)})")


@contextmanager
def _open_input(path: str) -> Iterator[tuple[IO[bytes], int]]:
    if path == "-":
        yield sys.stdin.buffer, 0
        return
    with open(path, "rb") as raw:
        yield raw, os.fstat(raw.fileno()).st_size


@files.command()
@click.argument("group_id")
@click.argument("file_id")
@click.option(
    "-o",
    "--output",
    metavar="PATH",
    help="Where to write (default: the file's name here; - for stdout).",
)
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@store_options
@pass_state
def download(state: CliState, group_id: str, file_id: str, output: str | None, force: bool) -> None:
    """Download the file FILE_ID of the group GROUP_ID, checking its SHA-256."""
    with state.open_store() as store:
        handle = store.groups.get_uploaded_file(group_id, file_id)
        target = output or handle.name
        digest = hashlib.sha256()
        with _open_output(target, force) as sink, handle.open() as source:
            label = f"downloading {handle.name}"
            with _progress(state, label, 0 if target == "-" else size_of(handle)) as advance:
                while chunk := source.read(CHUNK):
                    digest.update(chunk)
                    sink.write(chunk)
                    advance(len(chunk))
    expected = getattr(handle, "sha256", None)
    if expected and digest.hexdigest() != expected:
        raise CommandError(
            f"{target}: SHA-256 does not match the stored one (corrupt copy)", "CHECKSUM_MISMATCH"
        )
    if target != "-":
        state.note(f"saved {target} ({human_size(size_of(handle))})")


@contextmanager
def _open_output(target: str, force: bool) -> Iterator[IO[bytes]]:
    if target == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    try:
        sink = open(target, "wb" if force else "xb")  # noqa: SIM115 - closed below
    except FileExistsError:
        raise CommandError(
            f"{target} exists (--force to overwrite, -o to choose)", "FILE_EXISTS"
        ) from None
    try:
        with sink:
            yield sink
    except BaseException:
        Path(target).unlink(missing_ok=True)  # no half-written file left behind
        raise


@files.command("list")
@click.argument("group_id")
@json_option
@store_options
@pass_state
def list_(state: CliState, group_id: str, as_json: bool) -> None:
    """List the files of the group GROUP_ID in upload order."""
    with state.open_store() as store:
        records = [file_record(f) for f in store.groups.list_uploaded_files(group_id)]
    if as_json:
        print_json(records)
        return
    for record in records:
        record["size"] = human_size(record["size"])
    print_table(records, ["id", "name", "size", "mime_type", "created_at"], "files")


@files.command()
@click.argument("group_id")
@click.argument("file_id")
@store_options
@pass_state
def delete(state: CliState, group_id: str, file_id: str) -> None:
    """Delete the file FILE_ID of the group GROUP_ID."""
    with state.open_store() as store:
        store.groups.delete_file(group_id, file_id)
    state.note(f"deleted file {file_id}")
