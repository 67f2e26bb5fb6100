"""What every ``groupstore`` command shares: where the store comes from, output, errors.

The store comes from ``--uri``/``--database`` (before or after the command
name) or ``GROUPSTORE_MONGO_URI``/``GROUPSTORE_DATABASE``. Tests inject a
store through the click context object (``CliState(store=...)``), which the
commands then use as it is and never close.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

import groupstore
from groupstore import GroupStore, GroupStoreError, local

MONGOMOCK = groupstore.MEMORY_URI
NO_STORE = (
    "no store given: start the local store with scripts/serve (or groupstore serve), "
    "or pass --uri mongodb://HOST/DB or set GROUPSTORE_MONGO_URI"
)
F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class CliState:
    """The click context object: options of the root command, or an injected store."""

    uri: str | None = None
    database: str | None = None
    quiet: bool = False
    debug: bool = False
    timeout: float = groupstore.DEFAULT_TIMEOUT
    store: GroupStore | None = None
    """An open store to use instead of connecting (tests); never closed here."""

    def require_uri(self) -> str:
        """The store named, else the local store while ``groupstore serve`` serves it."""
        if not self.uri:
            self.uri = local.running_uri()
        if not self.uri:
            raise UsageProblem(NO_STORE, "NO_STORE")
        return self.uri

    @contextmanager
    def open_store(self) -> Iterator[GroupStore]:
        """The injected store, or one connected for this command and closed after it."""
        if self.store is not None:
            yield self.store
            return
        uri = self.require_uri()
        if uri.startswith(MONGOMOCK):
            self.warn("mongomock:// keeps the data in this command's memory: nothing is kept")
        with groupstore.connect(uri, self.database, timeout=self.timeout) as store:
            yield store

    def warn(self, message: str) -> None:
        if not self.quiet:
            click.echo(f"groupstore: warning: {message}", err=True)

    def note(self, message: str) -> None:
        """A progress or confirmation line on stderr (stdout stays for data)."""
        if not self.quiet:
            click.echo(message, err=True)


pass_state = click.make_pass_decorator(CliState, ensure=True)


def _set_state(attribute: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        if value is not None:
            setattr(ctx.ensure_object(CliState), attribute, value)

    return callback


def store_options(command: F) -> F:
    """``--uri`` / ``--database`` after the command name too (they win over the root's)."""
    command = click.option(
        "--database",
        expose_value=False,
        callback=_set_state("database"),
        help="Database (default: from the URI, else GROUPSTORE_DATABASE, else groupstore).",
    )(command)
    command = click.option(
        "--uri",
        expose_value=False,
        callback=_set_state("uri"),
        help="MongoDB connection string (default: GROUPSTORE_MONGO_URI).",
    )(command)
    return command


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (for scripts) instead of a table."
)


class CommandError(click.ClickException):
    """A failure shown as one line on stderr, ``groupstore: error: MESSAGE [CODE]``, with
    exit status 1."""

    exit_code = 1

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code

    def show(self, file: Any = None) -> None:
        click.echo(f"groupstore: error: {self.message} [{self.code}]", err=True)

    @classmethod
    def from_click(cls, exc: click.ClickException) -> CommandError:
        """click's own errors (a missing argument, a file that does not exist) in one line."""
        message = exc.format_message()
        context = getattr(exc, "ctx", None)
        if isinstance(exc, click.UsageError) and context is not None:
            message += f" (see '{context.command_path} --help')"
        if isinstance(exc, click.UsageError):
            return UsageProblem(message)
        return cls(message, "USAGE")


class UsageProblem(CommandError):
    """A command that cannot run as given (exit status 2), in one line."""

    exit_code = 2

    def __init__(self, message: str, code: str = "USAGE") -> None:
        super().__init__(message, code)


class ErrorsAsOneLine(click.Group):
    """A group that turns library errors into one line and a non-zero exit (no traceback)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except GroupStoreError as exc:
            if _debug(ctx):
                raise
            raise CommandError(str(exc), exc.code) from None
        except OSError as exc:  # files named on the command line
            if _debug(ctx):
                raise
            where = f": {exc.filename}" if exc.filename else ""
            code = "FILE_NOT_FOUND" if isinstance(exc, FileNotFoundError) else "FILE_ERROR"
            raise CommandError(f"{exc.strerror or exc}{where}", code) from None


def _debug(ctx: click.Context) -> bool:
    state = ctx.find_object(CliState)
    return state is not None and state.debug


def configure_logging(state: CliState) -> None:
    """Library log messages on stderr: warnings by default, none with --quiet, all with --debug."""
    level = logging.DEBUG if state.debug else logging.ERROR if state.quiet else logging.WARNING
    logger = logging.getLogger("groupstore")
    logger.setLevel(level)
    if not any(getattr(h, "_groupstore_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("groupstore: %(levelname)s: %(message)s"))
        handler._groupstore_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.propagate = False


# -- output ---------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A JSON-ready copy: datetimes as ISO 8601, the rest as is."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def print_json(value: Any) -> None:
    click.echo(json.dumps(plain(value), indent=2, ensure_ascii=False))


def print_table(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str | None) -> None:
    """A rich table of ``rows`` (each a dict keyed by column), or a note when empty."""
    from rich.console import Console
    from rich.table import Table

    console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
    if not rows:
        console.print(f"no {title or 'rows'}", style="dim")
        return
    table = Table(title=None, show_edge=False, header_style="bold")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(row.get(column)) for column in columns))
    console.print(table)


def print_record(record: dict[str, Any]) -> None:
    """One object as ``key: value`` lines (nested JSON values indented)."""
    width = max((len(key) for key in record), default=0)
    for key, value in record.items():
        if isinstance(value, (dict, list)) and value:
            text = json.dumps(plain(value), indent=2, ensure_ascii=False)
            click.echo(f"{key + ':':<{width + 1}} " + text.replace("\n", "\n" + " " * (width + 2)))
        else:
            click.echo(f"{key + ':':<{width + 1}} {_cell(value)}")


def _cell(value: Any) -> str:
    if value is None or value == [] or value == {}:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # unreachable


def transfer_bar(console: Any) -> Any:
    """A rich ``Progress`` in bytes (size, speed, time left) on ``console``: enter it to draw."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


# -- input ----------------------------------------------------------------------


def read_data_file(path: str) -> Any:
    """A JSON or YAML (``.yaml``/``.yml``, needs PyYAML) file's value; ``-`` reads stdin."""
    if path == "-":
        text, suffix = sys.stdin.read(), ".json"
    else:
        text, suffix = Path(path).read_text(encoding="utf-8"), Path(path).suffix.lower()
    if suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            raise CommandError(
                f"{path}: YAML needs PyYAML (pip install 'groupstore[yaml]'), or use JSON",
                "MISSING_DEPENDENCY",
            ) from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise CommandError(
                f"{path}: not valid YAML: {_one_line(exc)}", "INVALID_FILE"
            ) from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{path}: not valid JSON: {exc}", "INVALID_FILE") from None


def _one_line(exc: Exception) -> str:
    """A YAML error as one line: what is wrong, and where (its own text spans several)."""
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None)
    if not problem:
        return " ".join(str(exc).split())
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{problem}{where}"
