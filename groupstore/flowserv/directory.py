"""flowserv's users and workflows (its SQL database) as groupstore's ``Directory``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flowserv.model.base import User, WorkflowObject

from groupstore.directory import WorkflowDefaults, members_in_order
from groupstore.model import Member
from groupstore.parameters import parameters_from_input


class SessionDirectory:
    """Members are flowserv's active users, workflows flowserv's templates (one query each)."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def members(self, user_ids: Sequence[str]) -> list[Member]:
        if not user_ids:
            return []
        rows = (
            self.session.query(User.user_id, User.name)
            .filter(User.user_id.in_(list(user_ids)))
            .filter(User.active.is_(True))
            .all()
        )
        return members_in_order(user_ids, {user_id: name for user_id, name in rows})

    def workflow(self, workflow_id: str) -> WorkflowDefaults | None:
        workflow = self.get_workflow(workflow_id)
        if workflow is None:
            return None
        template = workflow.get_template()
        return WorkflowDefaults(
            parameters=parameters_from_input(template.parameters),
            workflow_spec=template.workflow_spec,
            engine_config=workflow.engine_config,
        )

    def workflow_exists(self, workflow_id: str) -> bool:
        query = self.session.query(WorkflowObject.workflow_id)
        return query.filter(WorkflowObject.workflow_id == workflow_id).first() is not None

    def workflows_among(self, workflow_ids: Sequence[str]) -> set[str]:
        query = self.session.query(WorkflowObject.workflow_id)
        rows = query.filter(WorkflowObject.workflow_id.in_(list(workflow_ids))).all()
        return {workflow_id for (workflow_id,) in rows}

    def get_workflow(self, workflow_id: str) -> Any:
        """flowserv's workflow object, or None."""
        return self.session.get(WorkflowObject, workflow_id)
