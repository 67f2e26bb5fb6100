"""The local store: a FerretDB (SQLite backend) with its data in a data directory.

``groupstore serve`` with no store named starts it next to the gateway and
stops it with the gateway; the other ``groupstore`` commands find it while it
runs, so ``groupstore users promote alice`` reaches the store the gateway
serves. The data directory (``GROUPSTORE_DATA_DIR``; default ``.data`` in a
source checkout, else ``$XDG_DATA_HOME/groupstore``) holds::

    ferretdb/data/        FerretDB's SQLite files (the store itself)
    ferretdb/state/       FerretDB's own state
    ferretdb/ferretdb.log its log
    ferretdb/ferretdb.pid, ferretdb/uri   while it runs (a stale pair is ignored)
    signing-secret        the gateway's key for signed download links (mode 0600)
    serve.lock            held by the serving process: one server per directory

Why SQLite and not PostgreSQL: README, "Start". A ``kill -9`` of either
process leaves the store consistent: SQLite's journal survives a killed
process, FerretDB dies with the gateway (Linux: the parent-death signal), and
a restart removes what a killed run left behind.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from groupstore.errors import StoreUnavailableError

DATA_DIR_ENV = "GROUPSTORE_DATA_DIR"
FERRETDB_BIN_ENV = "GROUPSTORE_FERRETDB_BIN"
SIGNING_SECRET_FILE = "signing-secret"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
_CHECKOUT = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    """``GROUPSTORE_DATA_DIR``; else ``.data`` of the source checkout this runs from;
    else ``$XDG_DATA_HOME/groupstore`` (``~/.local/share/groupstore``)."""
    named = os.environ.get(DATA_DIR_ENV)
    if named:
        return Path(named).expanduser().resolve()
    if (_CHECKOUT / "scripts" / "serve").is_file() and (_CHECKOUT / "pyproject.toml").is_file():
        return _CHECKOUT / ".data"
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "groupstore"


def ferretdb_binary() -> Path | None:
    """``GROUPSTORE_FERRETDB_BIN``, else the binary ``scripts/ferretdb build`` caches; None
    when neither is an executable file."""
    named = os.environ.get(FERRETDB_BIN_ENV)
    if named:
        path = Path(named).expanduser()
    else:
        home = os.environ.get("GROUPSTORE_FERRETDB_HOME")
        if not home:
            cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
            home = str(Path(cache) / "groupstore" / "ferretdb")
        path = Path(home) / "bin" / "ferretdb"
    return path if path.is_file() and os.access(path, os.X_OK) else None


def running_uri(directory: Path | None = None) -> str | None:
    """The URI of the local store's FerretDB while it runs, else None (a stale pid file is
    ignored)."""
    base = (directory or data_dir()) / "ferretdb"
    try:
        pid = int((base / "ferretdb.pid").read_text())
        uri = (base / "uri").read_text().strip()
    except (OSError, ValueError):
        return None
    return uri if _is_ferretdb(pid) else None


def signing_secret(directory: Path) -> str:
    """The data directory's signing secret, made on first use (readable by its owner only)."""
    path = directory / SIGNING_SECRET_FILE
    directory.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48) + "\n")
    return path.read_text().strip()


class LocalServer:
    """FerretDB on the data directory, for the life of one ``groupstore serve``.

    ``start()`` returns its URI; a FerretDB that dies while serving (killed)
    is started again on the same port; ``stop()`` ends it (SIGTERM, then
    SIGKILL).
    """

    def __init__(self, directory: Path, binary: Path, log: IO[str] | None = None) -> None:
        self.directory, self.binary = directory, binary
        self.base = directory / "ferretdb"
        self.log = log or sys.stderr
        self.uri = ""
        self._port = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._lock: IO[str] | None = None
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    def start(self) -> str:
        for sub in ("data", "state"):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        self._take_lock()
        self._end_leftover()
        self._port = _free_port()
        self.uri = f"mongodb://127.0.0.1:{self._port}/"
        self._spawn()
        (self.base / "uri").write_text(self.uri + "\n")
        self._watcher = threading.Thread(target=self._watch, name="ferretdb-watch", daemon=True)
        self._watcher.start()
        return self.uri

    def stop(self) -> None:
        self._stopping.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for name in ("ferretdb.pid", "uri"):
            with contextlib.suppress(FileNotFoundError):
                (self.base / name).unlink()
        if self._lock is not None:
            self._lock.close()  # releases the flock
            self._lock = None

    # -- internals

    def _take_lock(self) -> None:
        import fcntl

        lock = (self.directory / "serve.lock").open("a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise StoreUnavailableError(
                f"the local store in {self.directory} is already being served by another "
                "process (stop it first, or set GROUPSTORE_DATA_DIR to another directory)"
            ) from None
        self._lock = lock

    def _end_leftover(self) -> None:
        """A FerretDB a killed server left running on this directory: end it first."""
        try:
            pid = int((self.base / "ferretdb.pid").read_text())
        except (OSError, ValueError):
            return
        if _is_ferretdb(pid):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT
            while _is_ferretdb(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _is_ferretdb(pid):
                os.kill(pid, signal.SIGKILL)

    def _spawn(self) -> None:
        with (self.base / "ferretdb.log").open("ab") as log:
            self._process = subprocess.Popen(
                [
                    str(self.binary),
                    f"--listen-addr=127.0.0.1:{self._port}",
                    "--handler=sqlite",
                    f"--sqlite-url=file:{self.base / 'data'}/",
                    f"--state-dir={self.base / 'state'}",
                    "--telemetry=disable",
                    "--debug-addr=-",
                    "--log-level=error",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                # Its own session: Ctrl-C reaches the gateway, which stops it after itself.
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        (self.base / "ferretdb.pid").write_text(f"{self._process.pid}\n")
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(self._port):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise StoreUnavailableError(
                    f"the local FerretDB did not start (log: {self.base / 'ferretdb.log'})"
                )
            time.sleep(0.05)

    def _watch(self) -> None:
        while not self._stopping.is_set():
            process = self._process
            if process is None:
                return
            code = process.wait()
            if self._stopping.is_set():
                return
            print(
                f"groupstore: warning: the local FerretDB exited ({code}); starting it again",
                file=self.log,
                flush=True,
            )
            try:
                self._spawn()
            except StoreUnavailableError as exc:
                print(f"groupstore: error: {exc}", file=self.log, flush=True)
                return


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _is_ferretdb(pid: int) -> bool:
    """Whether ``pid`` is a live FerretDB (a reused pid of another program is not)."""
    try:
        os.kill(pid, 0)
    except (OSError, OverflowError):
        return False
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: trust the pid
    # A zombie (killed, not yet reaped) has an empty command line: not running.
    return b"ferretdb" in command


def _die_with_parent() -> None:
    """In the child: SIGTERM when the parent dies, even by SIGKILL (Linux only)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
