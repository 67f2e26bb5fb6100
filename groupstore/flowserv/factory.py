"""``LocalAPIFactory``: flowserv's local API with groups and uploads in groupstore."""

from __future__ import annotations

from typing import Any

from flowserv.model.auth import OpenAccessAuth as FlowservOpenAccessAuth
from flowserv.model.workflow.manager import WorkflowManager as FlowservWorkflowManager
from flowserv.service.local import LocalAPIFactory as FlowservLocalAPIFactory
from flowserv.service.local import SessionManager as FlowservSessionManager

import groupstore
from groupstore.flowserv.auth import DefaultAuthPolicy, OpenAccessAuth
from groupstore.flowserv.manager import WorkflowGroupManager
from groupstore.store import GroupStore


class LocalAPIFactory(FlowservLocalAPIFactory):  # type: ignore[misc]
    """flowserv's ``LocalAPIFactory`` (same arguments, same use), plus ``store``.

    ``store``: the ``groupstore.GroupStore`` for groups and uploaded files;
    by default one from ``GROUPSTORE_MONGO_URI`` / ``GROUPSTORE_DATABASE``
    (``groupstore.connect``), in memory when they are unset.
    """

    def __init__(
        self,
        env: dict[str, Any] | None = None,
        db: Any = None,
        engine: Any = None,
        user_id: str | None = None,
        store: GroupStore | None = None,
    ) -> None:
        super().__init__(env=env, db=db, engine=engine, user_id=user_id)
        self.store = store if store is not None else groupstore.connect()

    def __call__(self, user_id: str | None = None, access_token: str | None = None) -> Any:
        return SessionManager(
            env=self,
            db=self._db,
            engine=self._engine,
            fs=self._fs,
            user_id=user_id if user_id is not None else self._user_id,
            access_token=access_token,
            store=self.store,
        )


class WorkflowManager(FlowservWorkflowManager):  # type: ignore[misc]
    """flowserv's workflow manager; deleting a workflow deletes its groups in groupstore too."""

    def __init__(self, session: Any, fs: Any, groups: WorkflowGroupManager) -> None:
        super().__init__(session=session, fs=fs)
        self.groups = groups

    def delete_workflow(self, workflow_id: str) -> None:
        group_ids = [g.group_id for g in self.groups.manager.list_groups(workflow_id)]
        super().delete_workflow(workflow_id)  # commits; the anchors go with it
        for group_id in group_ids:
            self.groups.manager.delete_group(group_id)


class SessionManager(FlowservSessionManager):  # type: ignore[misc]
    """flowserv's session manager; its services get groupstore's manager and policy."""

    def __init__(self, *, store: GroupStore, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store = store

    def __enter__(self) -> Any:
        api = super().__enter__()
        session = self._session.session
        groups = WorkflowGroupManager(session, store=self.store)
        policy = OpenAccessAuth if isinstance(api.users().auth, FlowservOpenAccessAuth) else None
        auth = (policy or DefaultAuthPolicy)(session, self.store)
        workflows = WorkflowManager(session=session, fs=self._fs, groups=groups)
        for service in (api.workflows(), api.groups(), api.uploads(), api.runs(), api.users()):
            if hasattr(service, "group_manager"):
                service.group_manager = groups
            if hasattr(service, "auth"):
                service.auth = auth
            if hasattr(service, "workflow_repo"):
                service.workflow_repo = workflows
        return api
