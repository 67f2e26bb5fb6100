"""Copy a flowserv deployment (its SQL database and its file volume) into a groupstore.

``read_deployment(db_url, volume)`` reads flowserv-core 0.9's tables with
SQLAlchemy (``api_user``, ``workflow_template``, ``workflow_group``,
``group_member``, ``group_upload_file``: five queries, no ORM), and finds
each uploaded file on the volume at ``<volume>/<key>`` (flowserv's
``FileSystemStorage`` layout: ``<workflow>/groups/<group>/files/<file>``).
``import_deployment(store, deployment)`` writes it through the storage
methods, keeping every id, so runs and rankings left in flowserv's SQL still
point at the right groups, files, users and workflows.

Two modes:

* adapter (the default): flowserv keeps its users and workflows; the groups
  name them by id (members carry their flowserv user names), nothing else is
  copied;
* standalone: users (with their pbkdf2_sha256 password hashes, replaced by
  Argon2 at each user's first login) and workflows come across too.

Idempotent and resumable: everything is keyed by its flowserv id, and what
is there already is skipped. The writes are each one atomic document insert,
except a file's bytes (chunks first, then the files document that lists the
file): a run killed inside a file leaves chunks without a files document,
which the next run removes before copying that file again. Every copied
file is read back from GridFS and its SHA-256 compared with the source's;
files already there are checked against the source by size and SHA-256.

Where flowserv allowed what groupstore does not, the import adapts and says
so in the summary: names are stripped (and a name already taken in the
workflow gets `` (<group id>)`` appended), file names with ``/``, ``\\`` or
``..`` get ``_`` instead, and a group whose owner had been removed from the
members is owned by its first member (or, with no members left, gets its
owner back as the only member): groupstore's owner is always a member.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from groupstore.errors import ConstraintViolationError, DuplicateUserError, GroupStoreError
from groupstore.model import JSON, Group, Member, UploadedFile
from groupstore.parameters import parameters_from_input
from groupstore.storage.documents import utc_now
from groupstore.storage.files import NewFile
from groupstore.storage.schema import mark_directory, unmark_directory
from groupstore.validation import (
    MAX_NAME_LENGTH,
    guess_mime_type,
    validate_file_name,
    validate_name,
)

if TYPE_CHECKING:
    from groupstore.store import GroupStore

DEFAULT_USER = "00000000"
"""flowserv's built-in user (open access); copied only if a group names it."""
NEEDS_SQLALCHEMY = (
    "reading a flowserv database needs SQLAlchemy (and a driver for PostgreSQL): "
    "pip install 'groupstore[flowserv]'"
)
READ_BLOCK = 1024 * 1024
COPY_BATCH = 50
"""Files of a group written by one ``write_many`` (their chunks in batches of 4 MiB)."""
GROUP_BATCH = 100
"""Groups whose files already in the store are listed by one query."""
"""Files of a group written by one ``write_many`` (their chunks in batches of 4 MiB)."""

Kind = Literal["user", "workflow", "group", "file"]


# -- what flowserv holds --------------------------------------------------------


@dataclass(frozen=True)
class SourceUser:
    user_id: str
    username: str
    secret: str
    active: bool


@dataclass(frozen=True)
class SourceWorkflow:
    workflow_id: str
    name: str
    description: str | None
    workflow_spec: JSON
    parameters: list[dict[str, Any]]
    engine_config: JSON


@dataclass(frozen=True)
class SourceFile:
    file_id: str
    name: str
    mime_type: str | None
    created_at: datetime
    size: int
    path: Path


@dataclass(frozen=True)
class SourceGroup:
    group_id: str
    name: str
    workflow_id: str
    owner_id: str
    owner_name: str
    members: list[Member]
    parameters: list[dict[str, Any]]
    workflow_spec: JSON
    engine_config: JSON
    files: list[SourceFile]


@dataclass(frozen=True)
class Deployment:
    """A flowserv deployment as read: its users, workflows and groups with their files."""

    users: list[SourceUser]
    workflows: list[SourceWorkflow]
    groups: list[SourceGroup]

    @property
    def file_count(self) -> int:
        return sum(len(group.files) for group in self.groups)


def read_deployment(db_url: str, volume: str | Path) -> Deployment:
    """Read a flowserv database (any SQLAlchemy URL) and locate its files under ``volume``.

    GroupStoreError (code ``STORE_ERROR``) when it cannot be read: a bad URL, a
    missing driver, no flowserv tables.
    """
    try:
        from sqlalchemy import create_engine, text
        from sqlalchemy.exc import SQLAlchemyError
    except ImportError:
        raise GroupStoreError(NEEDS_SQLALCHEMY) from None
    base = Path(volume)
    try:
        engine = create_engine(db_url)
    except (ImportError, SQLAlchemyError, ValueError) as exc:
        raise GroupStoreError(f"cannot open the flowserv database {db_url!r}: {exc}") from None
    try:
        with engine.connect() as connection:

            def rows(sql: str) -> list[Any]:
                return list(connection.execute(text(sql)))

            users = rows("SELECT user_id, name, secret, active FROM api_user ORDER BY name")
            workflows = rows(
                "SELECT workflow_id, name, description, workflow_spec, parameters, "
                "engine_config FROM workflow_template ORDER BY name"
            )
            groups = rows(
                "SELECT group_id, name, workflow_id, owner_id, parameters, workflow_spec, "
                "engine_config FROM workflow_group"
            )
            members = rows("SELECT group_id, user_id FROM group_member")
            files = rows(
                "SELECT file_id, group_id, key, name, created_at, mime_type, size "
                "FROM group_upload_file ORDER BY created_at, file_id"
            )
    except SQLAlchemyError as exc:
        raise GroupStoreError(f"cannot read the flowserv database: {exc}") from None
    finally:
        engine.dispose()
    names = {row.user_id: row.name for row in users}
    members_of: dict[str, dict[str, Member]] = {}
    for row in members:
        if row.user_id in names:  # SQLite never enforced the foreign key
            entry = Member(user_id=row.user_id, username=names[row.user_id])
            members_of.setdefault(row.group_id, {})[row.user_id] = entry  # duplicates collapse
    files_of: dict[str, list[SourceFile]] = {}
    for row in files:
        files_of.setdefault(row.group_id, []).append(
            SourceFile(
                file_id=row.file_id,
                name=row.name,
                mime_type=row.mime_type,
                created_at=_parse_time(row.created_at),
                size=int(row.size),
                path=base.joinpath(*row.key.split("/")),
            )
        )
    return Deployment(
        users=[SourceUser(row.user_id, row.name, row.secret, bool(row.active)) for row in users],
        workflows=[
            SourceWorkflow(
                workflow_id=row.workflow_id,
                name=row.name,
                description=row.description,
                workflow_spec=_json(row.workflow_spec, {}),
                parameters=_json(row.parameters, []),
                engine_config=_json(row.engine_config, None),
            )
            for row in workflows
        ],
        groups=[
            SourceGroup(
                group_id=row.group_id,
                name=row.name,
                workflow_id=row.workflow_id,
                owner_id=row.owner_id,
                owner_name=names.get(row.owner_id, ""),
                members=list(members_of.get(row.group_id, {}).values()),
                parameters=_json(row.parameters, []),
                workflow_spec=_json(row.workflow_spec, {}),
                engine_config=_json(row.engine_config, None),
                files=files_of.get(row.group_id, []),
            )
            for row in groups
        ],
    )


def _json(value: str | None, default: JSON) -> JSON:
    return default if value is None else json.loads(value)


def _parse_time(value: str) -> datetime:
    """flowserv's ISO string (UTC, microseconds) at the millisecond precision BSON keeps."""
    parsed = datetime.fromisoformat(value)
    parsed = parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed
    parsed = parsed.astimezone(timezone.utc)
    return parsed.replace(microsecond=parsed.microsecond // 1000 * 1000)


# -- what the import did ----------------------------------------------------------


@dataclass
class Tally:
    copied: int = 0
    skipped: int = 0


@dataclass
class ImportSummary:
    """What an import copied (or, in a dry run, would copy) and what it skipped."""

    mode: Literal["adapter", "standalone"]
    dry_run: bool
    users: Tally = field(default_factory=Tally)
    workflows: Tally = field(default_factory=Tally)
    groups: Tally = field(default_factory=Tally)
    files: Tally = field(default_factory=Tally)
    bytes_copied: int = 0
    files_verified: int = 0
    renamed_groups: list[dict[str, str]] = field(default_factory=list)
    renamed_files: list[dict[str, str]] = field(default_factory=list)
    owner_changes: list[dict[str, str]] = field(default_factory=list)
    missing_files: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        tallies = ("users", "workflows", "groups", "files")
        return {
            "mode": self.mode,
            "dry_run": self.dry_run,
            **{name: vars(getattr(self, name)) for name in tallies},
            "bytes_copied": self.bytes_copied,
            "files_verified": self.files_verified,
            "renamed_groups": self.renamed_groups,
            "renamed_files": self.renamed_files,
            "owner_changes": self.owner_changes,
            "missing_files": self.missing_files,
            "seconds": round(self.seconds, 3),
        }


Progress = Callable[[Kind], None]
"""Called once per user, workflow, group and file handled (copied or skipped)."""


# -- the import -------------------------------------------------------------------


def import_deployment(
    store: GroupStore,
    deployment: Deployment,
    *,
    standalone: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportSummary:
    """Copy ``deployment`` into ``store`` (see the module docstring); safe to run again.

    ``dry_run``: read both sides and count what would be copied; write nothing.
    Raises ConstraintViolationError when the store holds something else under a
    flowserv id (another group, a file whose bytes differ, a user or workflow
    whose name is taken by another id): fix it and run again.
    """
    started = time.perf_counter()
    summary = ImportSummary(mode="standalone" if standalone else "adapter", dry_run=dry_run)
    step: Progress = progress or (lambda kind: None)
    storage = store.storage
    if standalone:
        _import_users(store, deployment, summary, step)
        _import_workflows(store, deployment, summary, step)
    # Whose users and workflows the groups name: repair must know.
    if not dry_run and standalone:
        unmark_directory(storage)
    elif not dry_run:
        mark_directory(storage, "flowserv")
    groups = deployment.groups
    for start in range(0, len(groups), GROUP_BATCH):
        batch = groups[start : start + GROUP_BATCH]
        found = {group.group_id: storage.groups.get(group.group_id) for group in batch}
        # One listing for the files of all the groups already there (a rerun's case).
        listings = storage.fs.list_for_groups([gid for gid, got in found.items() if got])
        for group in batch:
            listed = listings.get(group.group_id, [])
            _import_group(store, group, found[group.group_id], listed, summary, step)
    summary.seconds = time.perf_counter() - started
    return summary


def _import_users(
    store: GroupStore, deployment: Deployment, summary: ImportSummary, step: Progress
) -> None:
    named = {m.user_id for g in deployment.groups for m in g.members} | {
        g.owner_id for g in deployment.groups
    }
    users = [u for u in deployment.users if u.user_id != DEFAULT_USER or u.user_id in named]
    existing = {user.user_id: user for user in store.users.get_users(u.user_id for u in users)}
    for user in users:
        found = existing.get(user.user_id)
        if found is not None:
            if found.username != validate_name(user.username, "user name"):
                raise ConstraintViolationError(
                    f"user id '{user.user_id}' is '{found.username}' in the store, "
                    f"'{user.username}' in flowserv"
                )
            summary.users.skipped += 1
        else:
            if not summary.dry_run:
                try:
                    store.users.import_user(user.user_id, user.username, user.secret, user.active)
                except DuplicateUserError:
                    raise ConstraintViolationError(
                        f"user name '{user.username}' (flowserv id '{user.user_id}') is taken in "
                        "the store by another user (names are unique regardless of case)"
                    ) from None
            summary.users.copied += 1
        step("user")


def _import_workflows(
    store: GroupStore, deployment: Deployment, summary: ImportSummary, step: Progress
) -> None:
    ids = [workflow.workflow_id for workflow in deployment.workflows]
    existing = {w.workflow_id for w in store.workflows.get_workflows(ids)}
    for workflow in deployment.workflows:
        if workflow.workflow_id in existing:
            summary.workflows.skipped += 1
        else:
            if not summary.dry_run:
                store.workflows.create_workflow(
                    workflow.name,
                    description=workflow.description,
                    workflow_spec=workflow.workflow_spec,
                    parameters=workflow.parameters,
                    identifier=workflow.workflow_id,
                    engine_config=workflow.engine_config,
                )
            summary.workflows.copied += 1
        step("workflow")


def _import_group(
    store: GroupStore,
    source: SourceGroup,
    found: Group | None,
    listed: list[UploadedFile],
    summary: ImportSummary,
    step: Progress,
) -> None:
    """One group: insert it unless ``found`` (the store's), then its files not in ``listed``."""
    storage = store.storage
    if found is not None:
        if found.workflow_id != source.workflow_id:
            raise ConstraintViolationError(
                f"group id '{source.group_id}' belongs to workflow '{found.workflow_id}' in the "
                f"store, to '{source.workflow_id}' in flowserv"
            )
        summary.groups.skipped += 1
    else:
        if not summary.dry_run:
            _insert_group(store, source, summary)
        summary.groups.copied += 1
    step("group")
    present = {file.file_id: file for file in listed}
    missing = [f.file_id for f in source.files if f.file_id not in present]
    if found is not None and missing and not summary.dry_run:
        # Chunks of a copy that a killed run left without its files document (a run
        # copies a group's files only after the group: a new group has none).
        storage.fs.delete(missing)
    to_copy: list[SourceFile] = []
    for file in source.files:
        if not file.path.is_file():
            summary.missing_files.append(
                {"group_id": source.group_id, "file_id": file.file_id, "path": str(file.path)}
            )
        elif file.file_id in present:
            stored = present[file.file_id]
            if (stored.size, stored.sha256) != (file.path.stat().st_size, _sha256(file.path)):
                raise ConstraintViolationError(
                    f"file '{file.file_id}' of group '{source.group_id}' differs from "
                    f"flowserv's copy at {file.path}: delete it from the store and run again"
                )
            summary.files.skipped += 1
        else:
            to_copy.append(file)
            continue
        step("file")
    if summary.dry_run:
        for _ in to_copy:
            summary.files.copied += 1
            step("file")
        return
    for start in range(0, len(to_copy), COPY_BATCH):
        _copy_files(store, source.group_id, to_copy[start : start + COPY_BATCH], summary, step)


def _insert_group(store: GroupStore, source: SourceGroup, summary: ImportSummary) -> None:
    storage = store.storage
    members = source.members
    owner_id = source.owner_id
    if owner_id not in {m.user_id for m in members}:
        # groupstore's owner is always a member; give nobody access flowserv did not.
        if members:
            owner_id = members[0].user_id
            change = "ownership went to the first member"
        else:
            members = [Member(user_id=owner_id, username=source.owner_name)]
            change = "the owner is the only member again"
        summary.owner_changes.append(
            {"group_id": source.group_id, "owner_id": owner_id, "change": change}
        )
    now = utc_now()
    name = validate_name(source.name)
    group = Group(
        group_id=source.group_id,
        name=name,
        workflow_id=source.workflow_id,
        created_at=now,
        updated_at=now,
        owner_id=owner_id,
        members=members,
        parameters=parameters_from_input(source.parameters),
        workflow_spec=source.workflow_spec,
        engine_config=source.engine_config,
    )
    document = storage.groups.prepare(group)
    try:
        storage.groups.insert(document)
    except ConstraintViolationError:
        if storage.groups.get(source.group_id) is not None:
            raise  # the id: another process imports too
        # The name is taken in the workflow (flowserv checked names only on create).
        renamed = _suffixed(name, f" ({source.group_id})")
        storage.groups.insert(storage.groups.prepare(_with_name(group, renamed)))
        summary.renamed_groups.append(
            {"group_id": source.group_id, "from": source.name, "to": renamed}
        )


def _with_name(group: Group, name: str) -> Group:
    fields = {k: getattr(group, k) for k in Group.__dataclass_fields__ if not k.startswith("_")}
    return Group(**{**fields, "name": name})


def _suffixed(name: str, suffix: str) -> str:
    return name[: MAX_NAME_LENGTH - len(suffix)] + suffix


def _plain_file_name(name: str, file_id: str) -> str:
    """flowserv accepted ``sub/f.txt`` and ``../x``; groupstore takes plain names only."""
    try:
        return validate_file_name(name)
    except ConstraintViolationError:
        cleaned = name.replace("\x00", "").replace("/", "_").replace("\\", "_").replace("..", "_")
        try:
            return validate_file_name(cleaned)
        except ConstraintViolationError:
            return file_id


def _copy_files(
    store: GroupStore,
    group_id: str,
    files: list[SourceFile],
    summary: ImportSummary,
    step: Progress,
) -> None:
    """Copy some files of a group in one ``write_many``, then read each back to check it."""
    fs = store.storage.fs
    with ExitStack() as opened:
        new = []
        for file in files:
            name = _plain_file_name(file.name, file.file_id)
            if name != file.name:
                summary.renamed_files.append(
                    {"file_id": file.file_id, "from": file.name, "to": name}
                )
            metadata = {
                "group_id": group_id,
                "contentType": file.mime_type or guess_mime_type(name),
            }
            source = opened.enter_context(file.path.open("rb"))
            new.append(NewFile(file.file_id, name, source, metadata, file.created_at))
        written = fs.write_many(new, old_dates=True)  # chunk ids from flowserv's dates
    for file, stored in zip(files, written, strict=True):
        # Read the copy back: its bytes must hash to what was read from the volume.
        document = fs.find_file(group_id, file.file_id)
        copied = None if document is None else _stream_sha256(fs.open_document(document))
        if copied != stored.sha256:
            fs.remove(group_id, file.file_id)
            raise ConstraintViolationError(
                f"file '{file.file_id}' of group '{group_id}': the copy's SHA-256 differs "
                f"from the source's ({file.path}); that copy is removed, run again"
            )
        summary.files.copied += 1
        summary.bytes_copied += stored.size
        summary.files_verified += 1
        step("file")


def _sha256(path: Path) -> str:
    with path.open("rb") as stream:
        return _stream_sha256(stream)


def _stream_sha256(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    with stream:
        while block := stream.read(READ_BLOCK):
            digest.update(block)
    return digest.hexdigest()
