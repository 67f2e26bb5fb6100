"""flowserv's authorization policies, answered from groupstore.

flowserv's policies ask its SQL ``workflow_group`` table whether a group
exists and who its members are; these ask groupstore, in one round trip (a
run id costs one SQL query first, for the run's group).
"""

from __future__ import annotations

from typing import Any

from flowserv.model.auth import DefaultAuthPolicy as FlowservDefaultAuthPolicy
from flowserv.model.auth import OpenAccessAuth as FlowservOpenAccessAuth
from flowserv.model.base import RunObject

from groupstore.errors import UnknownWorkflowGroupError
from groupstore.flowserv.errors import UnknownRunError, flowserv_error
from groupstore.storage.groups import Access
from groupstore.store import GroupStore


class GroupAccess:
    """``group_or_run_exists`` and the membership question, from groupstore."""

    session: Any

    def __init__(self, session: Any, store: GroupStore) -> None:
        super().__init__(session)  # type: ignore[call-arg]  # flowserv's policy, next in the MRO
        self.store = store

    def _access(self, group_id: str | None, run_id: str | None) -> tuple[str | None, Access | None]:
        """The group's id and access list (None, None for a run without a group)."""
        if group_id is None and run_id is None:
            raise ValueError("no identifier given")
        if group_id is not None and run_id is not None:
            raise ValueError("invalid arguments")
        if group_id is None:
            row = self.session.query(RunObject.group_id).filter(RunObject.run_id == run_id).first()
            if row is None:
                raise flowserv_error(UnknownRunError(run_id))
            group_id = row[0]
            if group_id is None:  # a post-processing run
                return None, None
        access = self.store.storage.groups.access(group_id)
        if access is None:
            raise flowserv_error(UnknownWorkflowGroupError(group_id))
        return group_id, access

    def group_or_run_exists(
        self, group_id: str | None = None, run_id: str | None = None
    ) -> str | None:
        """The group's id (of the run's group for a run); unknown-group/run errors else."""
        return self._access(group_id, run_id)[0]

    def members_of(self, group_id: str | None, run_id: str | None) -> frozenset[str] | None:
        access = self._access(group_id, run_id)[1]
        return None if access is None else access.member_ids


class DefaultAuthPolicy(GroupAccess, FlowservDefaultAuthPolicy):  # type: ignore[misc]
    """flowserv's default policy: members only; membership read from groupstore."""

    def is_group_member(
        self, user_id: str | None, group_id: str | None = None, run_id: str | None = None
    ) -> bool:
        members = self.members_of(group_id, run_id)
        return members is None or user_id in members


class OpenAccessAuth(GroupAccess, FlowservOpenAccessAuth):  # type: ignore[misc]
    """flowserv's open policy: anyone, once the group or run exists (checked in groupstore)."""

    def is_group_member(
        self, user_id: str | None, group_id: str | None = None, run_id: str | None = None
    ) -> bool:
        self.group_or_run_exists(group_id, run_id)
        return True
