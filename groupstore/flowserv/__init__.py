"""groupstore as flowserv's group and upload store: the one-line switch.

    from groupstore.flowserv import LocalAPIFactory   # instead of flowserv.service.local

flowserv keeps users, workflows, runs and rankings in its SQL database;
groupstore keeps the groups (members, parameters, spec, engine config) and
their uploaded files (GridFS). See docs/flowserv.md.
"""

from __future__ import annotations

try:
    import flowserv.error  # noqa: F401
except ImportError as exc:  # pragma: no cover - the message is the point
    raise ImportError(
        "groupstore.flowserv needs flowserv-core: pip install 'groupstore[flowserv]'"
    ) from exc

from groupstore.flowserv.auth import DefaultAuthPolicy, OpenAccessAuth
from groupstore.flowserv.directory import SessionDirectory
from groupstore.flowserv.errors import ERROR_TABLE, flowserv_error
from groupstore.flowserv.factory import LocalAPIFactory
from groupstore.flowserv.manager import (
    FlowservGroup,
    GridFSHandle,
    WorkflowGroupManager,
    repair,
)

__all__ = [
    "ERROR_TABLE",
    "DefaultAuthPolicy",
    "FlowservGroup",
    "GridFSHandle",
    "LocalAPIFactory",
    "OpenAccessAuth",
    "SessionDirectory",
    "WorkflowGroupManager",
    "flowserv_error",
    "repair",
]
