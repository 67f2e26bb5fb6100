"""``python -m graphql_api``: --host/--port, and one clear line when the database is down."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
import uvicorn

from graphql_api import __main__ as gateway
from tests.cli_helpers import REPO

UNREACHABLE = "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300&connectTimeoutMS=300"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("GROUPSTORE_"):
            monkeypatch.delenv(name)


def test_host_and_port_options_win_over_the_environment(
    clean_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    monkeypatch.setenv("GROUPSTORE_PORT", "8000")
    monkeypatch.setenv("GROUPSTORE_HOST", "127.0.0.1")  # main() writes both: undone after

    assert gateway.main(["--host", "0.0.0.0", "--port", "9124"]) == 0

    [options] = calls
    assert (options["host"], options["port"]) == ("0.0.0.0", 9124)
    assert os.environ["GROUPSTORE_PORT"] == "9124"  # what the server processes read


def test_a_bad_port_option_is_a_setting_error(
    clean_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        gateway.main(["--port", "70000"])

    assert exit_info.value.code == 2
    assert "GROUPSTORE_PORT must be between 1 and 65535" in capsys.readouterr().err


def test_a_database_down_at_start_up_is_one_line_and_exit_1(
    clean_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GROUPSTORE_MONGO_URI", UNREACHABLE)
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: pytest.fail("must not start"))

    assert gateway.main([]) == 1

    err = capsys.readouterr().err
    assert err == (
        "groupstore-gateway: cannot start: the database is unavailable: "
        "127.0.0.1:9: [Errno 111] Connection refused\n"
    )


def test_the_gateway_process_with_its_database_down_prints_no_traceback() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GROUPSTORE_")}
    env["GROUPSTORE_MONGO_URI"] = UNREACHABLE

    done = subprocess.run(
        [sys.executable, "-m", "graphql_api"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("groupstore-gateway: cannot start: the database is unavailable")
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
