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

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from groupstore.directory import Directory
from groupstore.errors import ConstraintViolationError
from groupstore.storage.repair import find_orphans, remove_orphans
from groupstore.storage.schema import marked_directory
from groupstore.store import GroupStore

DEFAULT_GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class RepairReport:
    """What a repair found (and removed, unless it was a dry run)."""

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

    @property
    def total(self) -> int:
        return (
            len(self.orphan_groups)
            + len(self.orphan_files)
            + len(self.orphan_chunk_files)
            + len(self.broken_files)
            + len(self.stale_locks)
            + len(self.unsynced_members)
            + len(self.unsynced_files)
        )


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
    if not dry_run:
        remove_orphans(store.db, store.fs, orphans, progress=progress, groups=store.storage.groups)
    return RepairReport(
        orphan_groups=orphans.groups,
        orphan_files=orphans.files,
        orphan_chunk_files=orphans.chunk_files,
        removed=not dry_run,
        broken_files=orphans.broken_files,
        stale_locks=orphans.stale_locks,
        unsynced_members=orphans.unsynced_members,
        unsynced_files=orphans.unsynced_files,
    )
