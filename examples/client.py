"""The gateway from Python, with the standard library only (urllib).

    python examples/client.py [GATEWAY_URL]        (default http://127.0.0.1:8000)

An administrator (ADMIN_USER / ADMIN_PASSWORD, default admin / "an admin
password"; on a fresh local store of scripts/serve the first user registered
is one, elsewhere start the gateway with GROUPSTORE_ADMINS=admin) creates a
workflow. Then a new user registers, logs in, creates a group, uploads a file
(GraphQL multipart request), lists their groups page by page and downloads
the file. The documents are the ones in examples/graphql/.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

DOCUMENTS = Path(__file__).resolve().parent / "graphql"


class GraphQLError(RuntimeError):
    pass


class Client:
    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.token: str | None = None

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _send(self, body: bytes, headers: dict[str, str]) -> Any:
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={**self._headers(), **headers}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            result = json.load(response)
        if result.get("errors"):
            raise GraphQLError(json.dumps(result["errors"]))
        return result["data"]

    def run(self, document: str, **variables: Any) -> Any:
        query = (DOCUMENTS / f"{document}.graphql").read_text()
        body = json.dumps({"query": query, "variables": variables}).encode()
        return self._send(body, {"Content-Type": "application/json"})

    def upload(self, group_id: str, name: str, content: bytes) -> Any:
        """``uploadFile`` as a GraphQL multipart request (the CSRF header included)."""
        query = (DOCUMENTS / "upload_file.graphql").read_text()
        operations = {"query": query, "variables": {"groupId": group_id, "file": None}}
        boundary = uuid.uuid4().hex
        parts = [
            ("operations", None, json.dumps(operations).encode()),
            ("map", None, json.dumps({"0": ["variables.file"]}).encode()),
            ("0", name, content),
        ]
        body = b""
        for field, filename, data in parts:
            disposition = f'form-data; name="{field}"'
            if filename:
                disposition += f'; filename="{filename}"'
            body += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
            body += data + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        headers = {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "GraphQL-Require-Preflight": "1",
        }
        return self._send(body, headers)["uploadFile"]

    def download(self, url: str) -> bytes:
        """GET a ``downloadUrl`` (absolute, or relative to the gateway)."""
        absolute = urllib.parse.urljoin(self.url + "/", url)
        request = urllib.request.Request(absolute, headers=self._headers())
        with urllib.request.urlopen(request, timeout=30) as response:
            data: bytes = response.read()
            return data


def login_admin(url: str) -> Client:
    """A client logged in as the administrator (registered on first use)."""
    admin = Client(url)
    name = os.environ.get("ADMIN_USER", "admin")
    password = os.environ.get("ADMIN_PASSWORD", "an admin password")
    try:
        admin.run("register", username=name, password=password)
    except GraphQLError as exc:
        if "DUPLICATE_USER" not in str(exc):
            raise
    admin.token = admin.run("login", username=name, password=password)["login"]["token"]
    return admin


def main(url: str = "http://127.0.0.1:8000") -> None:
    client = Client(url)
    username, password = f"alice-{uuid.uuid4().hex[:8]}", "a long password"
    workflow = login_admin(url).run("create_workflow", name=f"wf-{username}", spec={"steps": []})
    workflow_id = workflow["createWorkflow"]["id"]
    user = client.run("register", username=username, password=password)["registerUser"]
    client.token = client.run("login", username=username, password=password)["login"]["token"]
    group = client.run("create_group", workflowId=workflow_id, name="team-a")["createGroup"]
    uploaded = client.upload(group["id"], "results.csv", b"name,score\nalice,3\n")

    names, after = [], None
    while True:  # every page of the user's groups
        page = client.run("my_groups", userId=user["id"], after=after)["groups"]
        names += [node["name"] for node in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]

    print(f"groups: {', '.join(names)}")
    print(f"file: {client.download(uploaded['downloadUrl']).decode().splitlines()[0]}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
