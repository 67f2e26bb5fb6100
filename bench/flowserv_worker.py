# mypy: disable-error-code="import-not-found"
"""The workload on flowserv-core 0.9.4: its WorkflowGroupManager on SQLite and a file-system volume.

Runs in flowserv's own virtual environment (scripts/bench makes it), as a
subprocess of bench_groups.py: reads the sizes as JSON from argv, prints the
results as JSON on stdout. One database session per operation, committed at
its end, as flowserv's service layer does (SessionManager per API call).

    <flowserv venv>/bin/python bench/flowserv_worker.py '{"groups": 1000, ...}' [--big]
"""

from __future__ import annotations

import io
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workload
from flowserv.model.base import WorkflowObject
from flowserv.model.database import DB
from flowserv.model.group import WorkflowGroupManager
from flowserv.model.parameter.numeric import Float, Int
from flowserv.model.parameter.string import String
from flowserv.model.template.parameter import ParameterIndex
from flowserv.model.user import UserManager
from flowserv.volume.base import IOBuffer, IOHandle
from flowserv.volume.fs import FileSystemStorage


class _Stream(IOHandle):  # type: ignore[misc]
    """A big upload read from a stream (flowserv's FileSystemStorage copies it in pieces)."""

    def __init__(self, source: Any, size: int) -> None:
        self.source, self.length = source, size

    def open(self) -> Any:
        return self.source

    def size(self) -> int:
        return self.length


class FlowservSystem:
    def __init__(self, directory: str, parameters: int) -> None:
        self.db = DB(connect_url=f"sqlite:///{directory}/flowserv.db").init()
        self.fs = FileSystemStorage(basedir=f"{directory}/files")
        kinds = [String, Int, Float]
        self.parameters = ParameterIndex(
            [kinds[i % 3](name=f"p{i}", index=i) for i in range(parameters)]
        )

    def _manager(self, session: Any) -> WorkflowGroupManager:
        return WorkflowGroupManager(session=session, fs=self.fs)

    def make_users(self, names: list[str]) -> list[str]:
        ids = []
        for name in names:
            with self.db.session() as session:
                ids.append(UserManager(session).register_user(name, "a password").user_id)
        return ids

    def make_workflows(self, names: list[str]) -> list[str]:
        ids = []
        with self.db.session() as session:
            for name in names:
                workflow = WorkflowObject(workflow_id=name, name=name, workflow_spec={})
                session.add(workflow)
                ids.append(name)
        return ids

    def create_group(
        self, workflow_id: str, name: str, owner: str, members: list[str], spec: Any
    ) -> str:
        with self.db.session() as session:
            group = self._manager(session).create_group(
                workflow_id=workflow_id,
                name=name,
                parameters=self.parameters,
                workflow_spec=spec,
                user_id=owner,
                members=members,
            )
            return str(group.group_id)

    def get_group(self, group_id: str) -> Any:
        with self.db.session() as session:
            group = self._manager(session).get_group(group_id)
            return (group.name, [m.user_id for m in group.members], group.workflow_spec)

    def list_by_user(self, user_id: str) -> int:
        with self.db.session() as session:
            return len([g.name for g in self._manager(session).list_groups(user_id=user_id)])

    def list_by_workflow(self, workflow_id: str) -> int:
        with self.db.session() as session:
            groups = self._manager(session).list_groups(workflow_id=workflow_id)
            return len([(g.name, [m.user_id for m in g.members]) for g in groups])

    def set_members(self, group_id: str, members: list[str]) -> None:
        with self.db.session() as session:
            self._manager(session).update_group(group_id, members=members)

    def upload(self, group_id: str, data: bytes, name: str) -> str:
        with self.db.session() as session:
            handle = IOBuffer(io.BytesIO(data))
            return str(self._manager(session).upload_file(group_id, handle, name).file_id)

    def download(self, group_id: str, file_id: str) -> bytes:
        with self.db.session() as session:
            handle = self._manager(session).get_uploaded_file(group_id, file_id)
        with handle.open() as stream:
            return bytes(stream.read())

    def list_files(self, group_id: str) -> int:
        with self.db.session() as session:
            return len([f.name for f in self._manager(session).list_uploaded_files(group_id)])

    def delete_group(self, group_id: str) -> None:
        with self.db.session() as session:
            self._manager(session).delete_group(group_id)

    def upload_stream(self, group_id: str, source: Any, size: int, name: str) -> str:
        with self.db.session() as session:
            uploaded = self._manager(session).upload_file(group_id, _Stream(source, size), name)
            return str(uploaded.file_id)

    def download_count(self, group_id: str, file_id: str) -> int:
        with self.db.session() as session:
            handle = self._manager(session).get_uploaded_file(group_id, file_id)
        total = 0
        with handle.open() as stream:
            while block := stream.read(1024 * 1024):
                total += len(block)
        return total


def main() -> None:
    sizes = workload.Sizes(**json.loads(sys.argv[1]))
    with tempfile.TemporaryDirectory(prefix="flowserv-bench-") as directory:
        system = FlowservSystem(directory, sizes.parameters)
        if "--big" in sys.argv[2:]:
            result = workload.big_file(system, sizes.big_mib)
        else:
            result = workload.run(system, sizes)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
