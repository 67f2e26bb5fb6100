"""The local store of ``scripts/serve``: the README's first hour, verbatim, and what survives.

Each test starts ``scripts/serve`` on a fresh data directory (its own
FerretDB and gateway), so these run once, on the memory leg (marker
``local_store``), and need the FerretDB binary ``scripts/ferretdb build``
makes. The README's code blocks are read from README.md at test time: the
"Start" section's shell blocks (the first one starts the server, the others
run in a second shell), its GraphiQL block (each operation must validate
against the schema), and the first block of "The ``groupstore`` command".
They run in a scratch directory that links ``scripts`` and ``.venv`` of this
checkout, with ``GROUPSTORE_DATA_DIR`` and ``GROUPSTORE_PORT`` as the only
settings (the README's blocks read the port with the default 8000).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from graphql import parse, validate

import groupstore
from groupstore import local
from tests.cli_helpers import REPO
from tests.support import free_port

pytestmark = [
    pytest.mark.local_store,
    pytest.mark.skipif(
        local.ferretdb_binary() is None, reason="needs FerretDB: scripts/ferretdb build"
    ),
]

README = REPO / "README.md"


def section(title: str) -> list[tuple[str, str]]:
    """The fenced blocks ``(language, text)`` of the README section ``## title``."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end != -1 else len(text)]
    return re.findall(r"^```(\w*)\n(.*?)^```$", body, flags=re.S | re.M)


class Served:
    """``scripts/serve`` (or a README block that runs it) as a process group, with its log."""

    def __init__(self, command: str, env: dict[str, str], log: Path) -> None:
        self.port = int(env["GROUPSTORE_PORT"])
        self.log = log
        with log.open("a") as out:
            self.process = subprocess.Popen(
                ["bash", "-c", command], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 120  # a first run may set up .venv
        while not self.answers():
            assert self.process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "scripts/serve did not start:\n" + log.read_text()
            time.sleep(0.1)

    def answers(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).is_success
        except httpx.TransportError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> int:
        os.killpg(self.process.pid, sig)
        return self.process.wait(timeout=30)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GROUPSTORE_")}
    return clean | {
        "GROUPSTORE_DATA_DIR": str(tmp_path / "data"),
        "GROUPSTORE_PORT": str(free_port()),
        "COLUMNS": "120",
    }


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """Where the README's commands run: a directory that looks like the checkout."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "scripts").symlink_to(REPO / "scripts")
    (work / ".venv").symlink_to(REPO / ".venv")
    return work


@pytest.fixture
def servers() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.stop(signal.SIGKILL)


def shell(command: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", command],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"$ {command}\n{done.stdout}{done.stderr}"
    return done.stdout


def ferretdb_pid(env: dict[str, str]) -> int:
    return int((Path(env["GROUPSTORE_DATA_DIR"]) / "ferretdb" / "ferretdb.pid").read_text())


def test_the_readme_first_hour_survives_restarts_and_a_killed_database(
    env: dict[str, str], workdir: Path, servers: list[Served], tmp_path: Path
):
    start = section("Start")
    [server_block, *steps] = [text for language, text in start if language == "sh"]
    [graphiql] = [text for language, text in start if language == "graphql"]
    [walkthrough, *_] = [text for language, text in section("The `groupstore` command")]
    log = tmp_path / "serve.log"

    servers.append(Served(server_block, env, log))
    flow = shell(
        "\n".join(steps) + '\nprintf "%s\\n" "$TOKEN" "$GROUP" "$LINK" > saved.txt', workdir, env
    )
    cli = shell(walkthrough, workdir, env)
    token, group_id, link = (workdir / "saved.txt").read_text().split()
    assert "downloaded again: the same bytes" in flow
    assert (workdir / "scores-copy.csv").read_text() == "name,score\ncarol,5\n"
    assert "owner:" in cli and "carol" in cli and "bob" in cli

    from graphql_api.schema import build_schema

    schema = build_schema()._schema
    for line in graphiql.splitlines():
        if not line.startswith("#"):
            assert validate(schema, parse(line)) == [], line

    before = state(env, token, group_id)
    # kill -9 of the database: the gateway starts it again and serves on.
    os.kill(ferretdb_pid(env), signal.SIGKILL)
    deadline = time.monotonic() + 20
    while state(env, token, group_id, check=False) != before:
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    # SIGTERM stops both; serving again finds everything, the signed link included.
    assert servers[0].stop() == 0
    assert local.running_uri(Path(env["GROUPSTORE_DATA_DIR"])) is None
    servers.append(Served("scripts/serve", env, log))
    assert state(env, token, group_id) == before
    assert httpx.get(link).content == b"name,score\nalice,3\n"
    # kill -9 of the gateway: its FerretDB goes too; a stale pid file does not stop a restart.
    servers[1].stop(signal.SIGKILL)
    servers.append(Served("scripts/serve", env, log))
    assert state(env, token, group_id) == before


def state(env: dict[str, str], token: str, group_id: str, check: bool = True) -> object:
    """What a user sees (themselves, the group with members and files) and every user."""
    query = (
        "{ me { username isAdmin } group(id: " + json.dumps(group_id) + ") { name "
        "owner { username } members { username } files { name size sha256 } } }"
    )
    try:
        answer = httpx.post(
            f"http://127.0.0.1:{env['GROUPSTORE_PORT']}/graphql",
            json={"query": query}, headers={"Authorization": f"Bearer {token}"}, timeout=10,
        ).json()  # fmt: skip
        uri = local.running_uri(Path(env["GROUPSTORE_DATA_DIR"]))
        assert uri is not None
        with groupstore.connect(uri, timeout=2) as store:
            users = sorted((u.username, u.is_admin) for u in store.users.list_users())
    except (httpx.TransportError, groupstore.StoreUnavailableError, AssertionError):
        if check:
            raise
        return None
    return answer, users


def test_the_examples_run_against_the_start_server_as_it_starts(
    env: dict[str, str], servers: list[Served], tmp_path: Path
):
    [server_block, *_] = [text for language, text in section("Start") if language == "sh"]
    servers.append(Served(server_block, env, tmp_path / "serve.log"))
    url = f"http://127.0.0.1:{env['GROUPSTORE_PORT']}"
    examples = REPO / "examples"

    clients = [
        ["bash", str(examples / "curl.sh"), url],
        [sys.executable, str(examples / "client.py"), url],
    ]
    for command in clients:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        assert done.stdout.splitlines() == ["groups: team-a", "file: name,score"]
    library = subprocess.run(
        [sys.executable, str(examples / "library.py")],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert library.returncode == 0, library.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "groupstore", "groups", "list", "--json"],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert "team-alpha" in {g["name"] for g in json.loads(listed)}  # it used the local store
