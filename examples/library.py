"""groupstore as a library: users, a workflow, a group, a file, read back.

    python examples/library.py [MONGODB_URI]

The URI defaults to GROUPSTORE_MONGO_URI, else the local store while
``scripts/serve`` serves it, else ``mongomock://`` (in memory). From the
checkout: ``.venv/bin/python examples/library.py``.
"""

from __future__ import annotations

import os
import sys
import uuid

import groupstore
from groupstore import Int, String, local


def main(uri: str | None = None, database: str | None = None) -> None:
    suffix = uuid.uuid4().hex[:6]  # rerunnable against the same database
    uri = uri or os.environ.get("GROUPSTORE_MONGO_URI") or local.running_uri()
    with groupstore.connect(uri, database) as store:
        alice = store.users.register_user(f"alice-{suffix}", "a long password")
        bob = store.users.register_user(f"bob-{suffix}", "another password")
        workflow = store.workflows.create_workflow(f"hello-world-{suffix}")

        group = store.groups.create_group(
            workflow.workflow_id,
            "team-a",
            parameters=[String("greeting", default="hi"), Int("runs", default=3)],
            workflow_spec={"steps": [{"image": "python:3.12", "cmd": ["python", "run.py"]}]},
            user_id=alice.user_id,  # the owner, always a member
            members=[bob.user_id],
        )
        uploaded = store.groups.upload_file(group.group_id, b"name,score\nalice,3\n", "results.csv")
        with store.groups.get_uploaded_file(group.group_id, uploaded.file_id).open() as stream:
            header = stream.readline().decode().strip()
        store.groups.update_group(group.group_id, name="team-alpha")

        mine = [g.name for g in store.groups.list_groups(user_id=bob.user_id)]
        print(f"group: {mine[0]}")
        print(f"file: {uploaded.name} ({uploaded.size} bytes, {uploaded.mime_type})")
        print(f"header: {header}")
        print(f"parameters: {', '.join(group.parameters)}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
