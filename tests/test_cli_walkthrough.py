"""A new user's walk-through, as the README tells it, with every command a real process.

``scripts/serve --memory`` starts the gateway (in memory), then the ``groupstore``
command works on the test server: a user, a workflow from a spec file, a
group, a 100 MB upload with its progress bar, ``--json`` piped through
``python -m json.tool``, the download checked byte for byte, and a repair
dry run. The transcript is printed when the test fails, and saved in
``GROUPSTORE_TEST_ARTIFACTS`` when that is set.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.backend import MONGO_URI
from tests.cli_helpers import REPO
from tests.support import first_response, free_port

BIG = 100 * 1024 * 1024


class Shell:
    """Runs commands like a user at a prompt would, keeping a transcript."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd, self.env = cwd, env
        self.transcript: list[str] = []

    def __call__(self, command: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=self.cwd, env=self.env, input=input, capture_output=True, text=True,
            timeout=300, check=False,
        )  # fmt: skip
        self.transcript.append(f"$ {command}\n{done.stdout}{done.stderr}[exit {done.returncode}]")
        assert done.returncode == 0, self.text()
        return done

    def text(self) -> str:
        return "\n".join(self.transcript)


@pytest.fixture
def shell(tmp_path: Path, request: pytest.FixtureRequest):
    database = f"gs_walk_{uuid.uuid4().hex[:10]}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUPSTORE_")}
    bin_dir = Path(sys.executable).parent  # this venv's groupstore and python first
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        GROUPSTORE_MONGO_URI=str(MONGO_URI),
        GROUPSTORE_DATABASE=database,
        COLUMNS="100",
    )
    session = Shell(tmp_path, env)
    yield session
    artifacts = os.environ.get("GROUPSTORE_TEST_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        Path(artifacts, "cli-walkthrough.txt").write_text(session.text())
    import groupstore

    with groupstore.connect(MONGO_URI, database) as store:
        store.client.drop_database(database)


def test_scripts_serve_memory_starts_the_gateway_on_the_in_memory_store(tmp_path: Path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUPSTORE_")}
    env["GROUPSTORE_DATA_DIR"] = str(tmp_path / "data")  # not used: nothing may land there
    server = subprocess.Popen(
        [str(REPO / "scripts" / "serve"), "--memory", "--port", str(port)],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            # A first run sets up .venv: up to 120 s.
            health = first_response(
                http, server, "/healthz", timeout=120, interval=0.2, what="scripts/serve"
            )
            registered = http.post(
                "/graphql",
                json={"query": 'mutation { registerUser(username: "ann", password: "pw pw pw pw") '
                               "{ username } }"},
            )  # fmt: skip
        assert health.json() == {"status": "ok"}
        assert registered.json() == {"data": {"registerUser": {"username": "ann"}}}
    finally:
        server.terminate()
        output = server.communicate(timeout=15)[0]
    assert "in this process's memory only" in output  # the in-memory store says so
    assert not (tmp_path / "data").exists()


@pytest.mark.real_server  # separate processes share the store only through a server
@pytest.mark.slow
def test_a_new_users_walkthrough(shell: Shell, tmp_path: Path):
    assert shell("groupstore --version").stdout.startswith("groupstore, version ")

    alice = shell("groupstore users register alice --password-stdin", input="a long pw\n")
    alice_id = alice.stdout.strip()
    (tmp_path / "spec.json").write_text('{"steps": [{"image": "python:3.12"}]}')
    shell("groupstore workflows create hello --spec spec.json --description 'first try'")
    group_id = shell("groupstore groups create hello team-a --owner alice").stdout.strip()

    big = tmp_path / "big.bin"
    with big.open("wb") as out:
        for _ in range(BIG // (4 * 1024 * 1024)):
            out.write(os.urandom(4 * 1024 * 1024))
    upload = shell(f"groupstore files upload {group_id} big.bin")
    file_id = upload.stdout.strip()
    assert "uploading big.bin" in upload.stderr and "100.0/100.0 MiB" in upload.stderr
    assert "uploaded big.bin (100.0 MiB)" in upload.stderr

    listed = shell(f"groupstore files list {group_id} --json | python -m json.tool")
    [entry] = json.loads(listed.stdout)
    assert (entry["id"], entry["name"], entry["size"]) == (file_id, "big.bin", BIG)
    assert listed.stdout.startswith("[\n    {")  # json.tool's indentation: it parsed it

    groups = json.loads(shell("groupstore groups list --user alice --json").stdout)
    assert [(g["name"], g["owner"]) for g in groups] == [("team-a", alice_id)]

    download = shell(f"groupstore files download {group_id} {file_id} -o copy.bin")
    assert "downloading big.bin" in download.stderr
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    assert hashlib.sha256((tmp_path / "copy.bin").read_bytes()).hexdigest() == digest
    assert entry["sha256"] == digest

    repair = shell("groupstore repair")
    assert repair.stdout == (
        "would remove 0 orphan groups, 0 orphan files, chunks of 0 missing files, "
        "0 listed files with chunks missing, 0 stale leases, "
        "0 groups with member ids to rewrite, 0 files to list again\n"
    )
    shell(f"groupstore groups delete {group_id} --yes && groupstore -q groups list --json")


def test_scripts_serve_without_go_says_what_to_install_and_serves_no_memory(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUPSTORE_")}
    env |= {
        "PATH": "/usr/bin:/bin",  # no go
        "GROUPSTORE_FERRETDB_HOME": str(tmp_path / "no-ferretdb"),  # nothing built
        "GROUPSTORE_DATA_DIR": str(tmp_path / "data"),
    }
    done = subprocess.run(
        [str(REPO / "scripts" / "serve"), "--port", str(free_port())],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert done.returncode == 1, done.stdout + done.stderr
    assert "Install Go" in done.stderr and "--memory" in done.stderr
    assert "memory only" not in done.stdout + done.stderr  # no silent in-memory gateway
