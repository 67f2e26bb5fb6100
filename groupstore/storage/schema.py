"""Bringing a database written by an earlier groupstore up to date: once, at connect.

Each step is idempotent and safe to run from several processes at once; a
marker document in ``groupstore_meta`` records that a step finished, so that
later connects cost one read. Processes of an earlier version that still
write to the database do not keep the new fields: stop them before starting
this version (``groupstore repair`` finds and fixes what they wrote since).
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING

from pymongo.errors import DuplicateKeyError

from groupstore.storage.documents import utc_now
from groupstore.storage.errors import translated

if TYPE_CHECKING:
    from groupstore.storage.backend import Storage

log = logging.getLogger(__name__)

META_COLLECTION = "groupstore_meta"
MEMBER_IDS_STEP = "group_member_ids"  # groups gained member_ids (during 0.2.0)
FILES_GROUP_ID_STEP = "files_group_id"  # files documents gained group_id (during 0.2.0)
STEPS = (MEMBER_IDS_STEP, FILES_GROUP_ID_STEP)


def upgrade(storage: Storage) -> int:
    """Run the steps this database has not had; the number of documents changed.

    One read when every step is done (the usual case).
    """
    meta = storage.db[META_COLLECTION]
    with translated():
        done = {doc["_id"] for doc in meta.find({"_id": {"$in": list(STEPS)}}, {"_id": 1})}
    changed = 0
    if MEMBER_IDS_STEP not in done:
        while missing := storage.groups.ids_without_member_ids():
            changed += sum(storage.groups.sync_member_ids(group_id) for group_id in missing)
        _mark_done(storage, MEMBER_IDS_STEP)
    if FILES_GROUP_ID_STEP not in done:
        after = None
        while missing := storage.fs.ids_without_group_id(after):
            changed += sum(storage.fs.sync_group_id(file_id) for file_id in missing)
            after = missing[-1]
        _mark_done(storage, FILES_GROUP_ID_STEP)
    if changed:
        log.info("brought %d documents written by an earlier version up to date", changed)
    return changed


def _mark_done(storage: Storage, step: str) -> None:
    # (DuplicateKeyError: another process finished the step too.)
    with translated(), contextlib.suppress(DuplicateKeyError):
        storage.db[META_COLLECTION].insert_one({"_id": step, "done_at": utc_now()})


# -- where the store's users and workflows live --------------------------------

DIRECTORY_MARKER = "directory"
"""Set when another application (flowserv) keeps the users and workflows that
the store's groups name: the groups then have no workflow in groupstore's own
collections, and a repair that checks them there would take them all for
orphans."""


def mark_directory(storage: Storage, name: str) -> None:
    """Record that ``name`` keeps this store's users and workflows (idempotent)."""
    with translated():
        storage.db[META_COLLECTION].update_one(
            {"_id": DIRECTORY_MARKER}, {"$set": {"name": name}}, upsert=True
        )


def marked_directory(storage: Storage) -> str | None:
    """The application recorded by ``mark_directory``; None for groupstore's own."""
    with translated():
        doc = storage.db[META_COLLECTION].find_one({"_id": DIRECTORY_MARKER})
    return None if doc is None else str(doc.get("name"))


def unmark_directory(storage: Storage) -> None:
    """The store keeps its own users and workflows again (a standalone import)."""
    with translated():
        storage.db[META_COLLECTION].delete_one({"_id": DIRECTORY_MARKER})
