"""Running the ``groupstore`` command in tests: in-process (CliRunner) or as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from groupstore import GroupStore
from groupstore.cli import CliState, cli

REPO = Path(__file__).resolve().parent.parent


class Cli:
    """``cli("users", "list")`` runs the command in-process on the injected test store."""

    def __init__(self, store: GroupStore) -> None:
        self.store = store
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | bytes | None = None) -> Result:
        return self.runner.invoke(cli, list(args), obj=CliState(store=self.store), input=input)

    def ok(self, *args: str, input: str | bytes | None = None) -> Result:
        """Run; the command must succeed."""
        result = self(*args, input=input)
        assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json").stdout)


def cli_process(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """``python -m groupstore ARGS`` as a separate process (no GROUPSTORE_* inherited)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GROUPSTORE_")}
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "groupstore", *args],
        env=environ,
        cwd=cwd or REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **kwargs,
    )
