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


def upgrade(storage: Storage) -> int:
    """Run the steps this database has not had; the number of documents changed."""
    meta = storage.db[META_COLLECTION]
    with translated():
        if meta.find_one({"_id": MEMBER_IDS_STEP}) is not None:
            return 0
    changed = 0
    while missing := storage.groups.ids_without_member_ids():
        changed += sum(storage.groups.sync_member_ids(group_id) for group_id in missing)
    # (DuplicateKeyError: another process finished the step too.)
    with translated(), contextlib.suppress(DuplicateKeyError):
        meta.insert_one({"_id": MEMBER_IDS_STEP, "done_at": utc_now()})
    if changed:
        log.info("gave %d groups their member_ids (written by an earlier version)", changed)
    return changed
