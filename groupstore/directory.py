"""Where the group manager looks up users and workflows: the ``Directory`` seam.

The group manager needs two things it does not own: the active users a
group's members must be, and a workflow's defaults (parameters, spec, engine
config) a new group takes. By default both come from groupstore's own
collections (``StoreDirectory``); another application (flowserv, with users
and workflows in its SQL database) passes its own directory instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from groupstore.errors import UnknownUserError
from groupstore.model import JSON, Member

if TYPE_CHECKING:
    from groupstore.parameters import Parameter
    from groupstore.storage.workflows import WorkflowCollection
    from groupstore.users import UserManager


@dataclass(frozen=True)
class WorkflowDefaults:
    """What a new group of a workflow takes when its creator gives nothing else."""

    parameters: dict[str, Parameter]
    workflow_spec: JSON
    engine_config: JSON


class Directory(Protocol):
    """Users and workflows, as the group manager sees them."""

    def members(self, user_ids: Sequence[str]) -> list[Member]:
        """Members for these ids, in order (one round trip).

        Raises UnknownUserError for an unknown or inactive user.
        """
        ...

    def workflow(self, workflow_id: str) -> WorkflowDefaults | None:
        """The workflow's defaults; None if there is no such workflow (one round trip)."""
        ...

    def workflow_exists(self, workflow_id: str) -> bool:
        """Whether the workflow exists (one round trip)."""
        ...

    def workflows_among(self, workflow_ids: Sequence[str]) -> set[str]:
        """The ids among these that name existing workflows (one round trip; for repair)."""
        ...


def members_in_order(user_ids: Sequence[str], found: dict[str, str]) -> list[Member]:
    """Members for ``user_ids`` from ``found`` (active user id -> name); UnknownUserError else."""
    members = []
    for user_id in user_ids:
        username = found.get(user_id)
        if username is None:
            raise UnknownUserError(user_id)
        members.append(Member(user_id=user_id, username=username))
    return members


class StoreDirectory:
    """The default directory: groupstore's own users and workflows collections."""

    def __init__(self, users: UserManager, workflows: WorkflowCollection) -> None:
        self.users = users
        self.workflows = workflows

    def members(self, user_ids: Sequence[str]) -> list[Member]:
        if not user_ids:
            return []
        found = {u.user_id: u.username for u in self.users.get_users(user_ids) if u.active}
        return members_in_order(user_ids, found)

    def workflow(self, workflow_id: str) -> WorkflowDefaults | None:
        workflow = self.workflows.get(workflow_id)
        if workflow is None:
            return None
        return WorkflowDefaults(
            parameters=workflow.parameters,
            workflow_spec=workflow.workflow_spec,
            engine_config=workflow.engine_config,
        )

    def workflow_exists(self, workflow_id: str) -> bool:
        return self.workflows.exists(workflow_id)

    def workflows_among(self, workflow_ids: Sequence[str]) -> set[str]:
        return {w.workflow_id for w in self.workflows.get_many(list(workflow_ids))}
