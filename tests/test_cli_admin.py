"""``groupstore repair / schema / serve / completion``, ``--version``, errors and ``--quiet``."""

from __future__ import annotations

import logging
import os
import re
import signal
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner

import groupstore
from graphql_api.settings import Settings
from groupstore import GroupStore
from groupstore.cli import CliState, cli, main
from tests.backend import MONGO_URI
from tests.cli_helpers import Cli
from tests.test_repair import orphan_bytes

UNREACHABLE = "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300&connectTimeoutMS=300"


@pytest.fixture
def run(store: GroupStore) -> Cli:
    return Cli(store)


@pytest.fixture
def group(store, workflow, alice):
    return store.groups.create_group(workflow.workflow_id, "G", [], {}, user_id=alice.user_id)


@pytest.fixture
def no_store_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No store named in the environment (restored after the test)."""
    for name in ("MONGO_URI", "DATABASE", "FIRST_USER_ADMIN", "SIGNING_SECRET"):
        monkeypatch.setenv(f"GROUPSTORE_{name}", "")  # so that delenv restores "unset"
        monkeypatch.delenv(f"GROUPSTORE_{name}")


# -- repair ---------------------------------------------------------------------


def test_repair_is_a_dry_run_by_default(run, store, group):
    orphan_bytes(store)

    result = run.ok("repair", "--grace-minutes", "0")

    assert "would remove 0 orphan groups, 1 orphan files" in result.stdout
    assert "--apply" in result.stderr
    assert store.db["fs.files"].count_documents({"_id": "orphan"}) == 1


def test_repair_apply_removes_the_orphans(run, store, group):
    orphan_bytes(store)

    report = run.json("repair", "--grace-minutes", "0", "--apply")

    assert report == {
        "removed": True,
        "orphan_groups": [],
        "orphan_files": ["orphan"],
        "orphan_chunk_files": [],
        "broken_files": [],
        "stale_locks": [],
        "unsynced_members": [],
        "unsynced_files": [],
    }
    assert store.db["fs.files"].count_documents({"_id": "orphan"}) == 0


def test_repair_leaves_young_orphans_alone(run, store, group):
    orphan_bytes(store)

    assert run.json("repair", "--apply")["orphan_files"] == []
    assert store.db["fs.files"].count_documents({"_id": "orphan"}) == 1


def test_repair_refuses_a_negative_grace(run):
    assert run("repair", "--grace-minutes", "-1").exit_code == 2


def test_repair_refuses_to_run_without_a_store_uri(no_store_env, capsys):
    assert main(["repair"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "groupstore: error: repair needs the store to check: serve the local store "
        "(scripts/serve), or pass --uri mongodb://HOST/DB or set GROUPSTORE_MONGO_URI "
        "[NO_STORE]\n"
    )


@pytest.mark.parametrize("where", ["before", "after"])
def test_repair_refuses_an_in_memory_store(no_store_env, capsys, where):
    args = ["--uri", "mongomock://"]
    assert main([*args, "repair"] if where == "before" else ["repair", *args]) == 2
    assert "cannot check mongomock://" in capsys.readouterr().err


def test_repair_refuses_mongomock_from_the_environment(monkeypatch, capsys):
    monkeypatch.setenv("GROUPSTORE_MONGO_URI", "mongomock://")
    assert main(["repair", "--apply"]) == 2
    assert "cannot check mongomock://" in capsys.readouterr().err


@pytest.mark.real_server  # the command opens its own connection: in memory, stores are private
def test_repair_command_connects_by_uri(store, group, capsys, no_store_env):
    orphan_bytes(store)
    args = ["repair", "--uri", MONGO_URI, "--database", store.db.name, "--grace-minutes", "0"]

    assert main([*args, "--apply"]) == 0

    assert "removed 0 orphan groups, 1 orphan files" in capsys.readouterr().out
    assert store.db["fs.files"].count_documents({}) == 0


# -- errors and noise -----------------------------------------------------------


def test_an_unreachable_server_is_one_short_line(no_store_env, capsys):
    assert main(["--uri", UNREACHABLE, "users", "list"]) == 1

    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("groupstore: error: the database is unavailable: 127.0.0.1:9")
    assert err.rstrip().endswith("[STORE_UNAVAILABLE]")
    assert "Topology" not in err and "Traceback" not in err


def test_store_unavailable_error_text_leaves_out_the_topology():
    with pytest.raises(groupstore.StoreUnavailableError) as info:
        groupstore.connect(UNREACHABLE)

    assert "Topology" not in str(info.value) and len(str(info.value)) < 200


def test_commands_without_a_store_uri_say_how_to_give_one(no_store_env, capsys):
    assert main(["users", "list"]) == 2
    assert "pass --uri mongodb://HOST/DB or set GROUPSTORE_MONGO_URI" in capsys.readouterr().err


def test_quiet_silences_notes_and_warnings(no_store_env, capsys):
    assert main(["--uri", "mongomock://", "workflows", "create", "w"]) == 0
    loud = capsys.readouterr()
    assert main(["--quiet", "--uri", "mongomock://", "workflows", "create", "w"]) == 0
    quiet = capsys.readouterr()

    assert "warning: mongomock://" in loud.err and "created workflow w" in loud.err
    assert quiet.err == "" and len(quiet.out.strip()) == 32  # only the id


def test_the_ttl_index_notice_is_not_a_warning(caplog):
    from groupstore.storage import client

    client._warn_no_ttl_indexes.cache_clear()
    with caplog.at_level(logging.DEBUG, logger="groupstore"):
        client._warn_no_ttl_indexes()

    [record] = [r for r in caplog.records if "TTL" in r.getMessage()]
    assert record.levelno < logging.WARNING


# -- version, schema, completion, serve ---------------------------------------------


def test_version_prints_the_package_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"groupstore, version {groupstore.__version__}\n"


def test_schema_prints_the_committed_sdl():
    from pathlib import Path

    result = CliRunner().invoke(cli, ["schema"])

    committed = (Path(__file__).resolve().parent.parent / "schema.graphql").read_text()
    assert result.exit_code == 0
    assert result.stdout.strip() == committed.strip()


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_a_script_for_the_shell(shell):
    result = CliRunner().invoke(cli, ["completion", shell])

    assert result.exit_code == 0 and "_GROUPSTORE_COMPLETE" in result.stdout


def test_the_gateway_is_found_through_its_entry_point(monkeypatch):
    from groupstore.cli import admin

    class Point:
        def load(self) -> Any:
            return lambda: "from the entry point"

    def points(group: str, name: str) -> list[Point]:
        return [Point()] if (group, name) == ("groupstore.gateway", "schema") else []

    monkeypatch.setattr(admin, "entry_points", points)
    assert CliRunner().invoke(cli, ["schema"]).stdout == "from the entry point\n"


def test_without_the_entry_point_the_gateway_module_is_imported_by_name(monkeypatch):
    from graphql_api.__main__ import serve
    from groupstore.cli import admin

    monkeypatch.setattr(admin, "entry_points", lambda group, name: [])  # an older install
    assert admin.gateway("serve") is serve


def test_completion_completes_subcommands(monkeypatch):
    monkeypatch.setenv("_GROUPSTORE_COMPLETE", "bash_complete")
    monkeypatch.setenv("COMP_WORDS", "groupstore wor")
    monkeypatch.setenv("COMP_CWORD", "1")

    result = CliRunner().invoke(cli, [], prog_name="groupstore")

    assert "workflows" in result.stdout


def test_serve_passes_host_port_and_store_to_the_gateway(monkeypatch, no_store_env):
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    monkeypatch.setenv("GROUPSTORE_HOST", "127.0.0.1")  # undone by monkeypatch after the test
    monkeypatch.setenv("GROUPSTORE_PORT", "8000")

    result = CliRunner().invoke(
        cli,
        [
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            "9321",
            "--uri",
            "mongomock://",
            "--database",
            "d1",
        ],
        obj=CliState(),
    )

    assert result.exit_code == 0, result.output
    [(app, options)] = calls
    assert (options["host"], options["port"]) == ("0.0.0.0", 9321)
    settings = served_settings(app)
    assert (settings.mongo_uri, settings.database) == ("mongomock://", "d1")
    assert "GROUPSTORE_MONGO_URI" not in os.environ  # passed as an argument, not written


def served_settings(app: Any) -> Settings:
    """The settings the gateway's app factory was given (``functools.partial``)."""
    settings = app.keywords["settings"]
    assert isinstance(settings, Settings)
    return settings


def test_debug_shows_the_real_exception(no_store_env):
    with pytest.raises(groupstore.StoreUnavailableError):
        main(["--debug", "--uri", UNREACHABLE, "users", "list"])


# -- every error one line with a code --------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["files", "upload", "G", "nope.csv"],  # click: a file that does not exist
        ["groups", "create"],  # click: missing arguments
        ["groups", "nosuch"],  # click: unknown command
        ["--nope"],  # click: unknown option
        ["workflows", "create", "hello", "--spec", "nope.yaml"],  # our open()
    ],
)
def test_usage_and_file_errors_are_one_line_with_a_code(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["--uri", "mongomock://", *argv]) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert re.fullmatch(r"groupstore: error: .+ \[[A-Z_]+\]\n", err), err


def test_a_yaml_parse_error_is_one_line_saying_where(capsys, tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("a: [1\n b")
    assert main(["--uri", "mongomock://", "-q", "workflows", "create", "w", "--spec", str(spec)])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("(line 2, column 3) [INVALID_FILE]\n"), err


# -- serve: the local store by default --------------------------------------------


def test_serve_without_a_store_and_without_ferretdb_asks_for_uri_or_memory(
    monkeypatch, no_store_env, tmp_path, capsys
):
    monkeypatch.setenv("GROUPSTORE_FERRETDB_BIN", str(tmp_path / "no-ferretdb"))
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: pytest.fail("served"))

    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "--uri" in err and "--memory" in err and err.endswith("[NO_STORE]\n")


def test_serve_memory_serves_the_in_memory_store(monkeypatch, no_store_env):
    apps: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: apps.append(app))
    result = CliRunner().invoke(cli, ["serve", "--memory"], obj=CliState())

    assert result.exit_code == 0, result.output
    [app] = apps
    assert served_settings(app).mongo_uri == "mongomock://"


def test_register_without_a_store_says_so_before_asking_for_a_password(no_store_env, capsys):
    result = CliRunner().invoke(cli, ["users", "register", "alice"], obj=CliState(), input="")

    assert result.exit_code == 2
    assert "Password" not in result.output and "no store given" in result.output


class FakeLocalServer:
    uri = "mongomock://"

    def __init__(self, directory, binary) -> None:
        self.directory = directory

    def start(self) -> str:
        return self.uri

    def stop(self) -> None:
        pass


@pytest.mark.parametrize(("host", "first_user_admin"), [(None, True), ("0.0.0.0", False)])
def test_serve_makes_the_first_user_an_administrator_of_the_local_store_on_loopback_only(
    monkeypatch, no_store_env, tmp_path, host, first_user_admin
):
    from groupstore import local

    monkeypatch.setenv("GROUPSTORE_FERRETDB_BIN", "/bin/true")  # found; FakeLocalServer runs
    monkeypatch.setenv("GROUPSTORE_DATA_DIR", str(tmp_path))
    monkeypatch.setattr(local, "LocalServer", FakeLocalServer)
    monkeypatch.setattr(signal, "signal", lambda *args: None)  # pytest keeps its handlers
    seen: list[tuple[bool, str | None]] = []
    monkeypatch.setattr(
        uvicorn,
        "run",
        lambda app, **kw: seen.append(
            (served_settings(app).first_user_admin, served_settings(app).signing_secret)
        ),
    )

    args = ["serve", *(["--host", host] if host else [])]
    result = CliRunner().invoke(cli, args, obj=CliState())

    assert result.exit_code == 0, result.output
    [(flag, secret)] = seen
    assert flag is first_user_admin
    assert secret == (tmp_path / "signing-secret").read_text().strip()  # kept for restarts
    assert (tmp_path / "signing-secret").stat().st_mode & 0o777 == 0o600
