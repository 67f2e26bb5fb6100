"""Finding and removing what an interrupted call can leave behind.

Writes happen in a fixed order (bytes before metadata on upload, metadata
before bytes on delete), so a crash leaves only these orphans:

* groups whose workflow was deleted (delete_workflow, or a create racing it);
* GridFS files of a group that no longer exists (an upload racing the
  group's deletion, or delete_group interrupted after the group document);
* GridFS files whose chunks are not all there (never written so by
  groupstore; a damaged database): listed, but they cannot be downloaded;
* chunks without a GridFS files document (upload interrupted mid-stream or
  answered STORE_UNAVAILABLE, or a delete interrupted after the files
  document); they are *claimed* before they are removed (see
  ``GridFSStore.claim``), so an upload still running can never list them;
* claims older than a day (what failed uploads and repair leave to keep a
  late files insert out);
* stale group write leases (a writer killed while holding one, FerretDB only).

It also rewrites a group's ``member_ids`` where they disagree with its
``members``, and gives a group's file its top-level ``group_id`` (what
listings query) where it lacks it: no crash leaves either (each is written
by the same single-document write as what it mirrors), but a process of an
earlier 0.2.0 build, which kept neither, does.

An upload in progress looks like an orphan too, so only orphans older than
``grace`` are removed (by default one hour); listed files with chunks missing
and expired leases are removed whatever their age (no upload in progress
looks like either).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from groupstore.directory import Directory
from groupstore.errors import ConstraintViolationError
from groupstore.storage.repair import find_orphans, remove_orphans
from groupstore.storage.schema import marked_directory
from groupstore.store import GroupStore

DEFAULT_GRACE = timedelta(hours=1)


REPAIR_KINDS: tuple[tuple[str, str], ...] = (
    ("orphan_groups", "{} orphan groups"),
    ("orphan_files", "{} orphan files"),
    ("orphan_chunk_files", "chunks of {} missing files"),
    ("broken_files", "{} listed files with chunks missing"),
    ("stale_locks", "{} stale leases"),
    ("unsynced_members", "{} groups with member ids to rewrite"),
    ("unsynced_files", "{} files to list again"),
)
"""What repair finds, each kind with how it is counted (``RepairReport`` has a list of ids
for each; the CLI's output and the storage's ``Orphans`` follow this list)."""


@dataclass(frozen=True)
class RepairReport:
    """What a repair found (and removed, unless it was a dry run): a list per REPAIR_KINDS."""

    orphan_groups: list[str]
    orphan_files: list[str]
    orphan_chunk_files: list[str]
    removed: bool
    broken_files: list[str] = field(default_factory=list)
    stale_locks: list[str] = field(default_factory=list)
    unsynced_members: list[str] = field(default_factory=list)
    """Groups whose ``member_ids`` disagreed with their members (rewritten unless a dry run)."""
    unsynced_files: list[str] = field(default_factory=list)
    """Group files without the top-level ``group_id`` (unlisted; given it unless a dry run)."""

    def found(self) -> dict[str, list[str]]:
        """The ids of each kind, in REPAIR_KINDS order."""
        return {kind: list(getattr(self, kind)) for kind, _ in REPAIR_KINDS}

    @property
    def total(self) -> int:
        return sum(len(ids) for ids in self.found().values())

    def summary(self) -> str:
        """``"0 orphan groups, 1 orphan files, ..."``: each kind counted."""
        return ", ".join(text.format(len(getattr(self, kind))) for kind, text in REPAIR_KINDS)


def repair(
    store: GroupStore,
    grace: timedelta = DEFAULT_GRACE,
    dry_run: bool = False,
    progress: Callable[[str], None] | None = None,
    directory: Directory | None = None,
) -> RepairReport:
    """Find orphans older than ``grace`` and, unless ``dry_run``, remove them.

    ``directory``: where the groups' workflows are looked up (default:
    groupstore's own collections). A store whose users and workflows another
    application keeps (``groupstore.flowserv``) is refused without one: checked
    against groupstore's own (empty) workflows, every group would look orphaned.
    """
    if directory is None and (elsewhere := marked_directory(store.storage)) is not None:
        raise ConstraintViolationError(
            f"this store's users and workflows live in {elsewhere}: repair it with "
            f"groupstore.{elsewhere}.repair(session, store), which checks its groups there"
        )
    workflows_among = None if directory is None else directory.workflows_among
    orphans = find_orphans(
        store.db, store.fs, grace, progress=progress, workflows_among=workflows_among
    )
    found = RepairReport(
        removed=False, **{kind: getattr(orphans, kind) for kind, _ in REPAIR_KINDS}
    )
    if progress is not None:
        progress(f"found {found.summary()}")
    if dry_run:
        return found
    remove_orphans(store.db, store.fs, orphans, progress=progress, groups=store.storage.groups)
    return dataclasses.replace(found, removed=True)
