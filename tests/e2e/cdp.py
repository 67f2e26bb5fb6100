"""A small Chrome DevTools Protocol client over ``--remote-debugging-pipe``.

Standard library only. Chromium reads commands from fd 3 and writes replies
and events to fd 4, each message a JSON object terminated by a NUL byte. A
shell wrapper (``exec ... 3<&r 4>&w``) puts our pipe ends on those numbers, so
no ``preexec_fn`` is needed.

Every wait has a timeout; :meth:`Browser.close` always ends the browser's
process group (it runs in its own session), also after errors.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Debian's chromium first; Google Chrome (preinstalled on GitHub's Ubuntu runners,
# where `chromium` is a snap shim) as a fallback. GROUPSTORE_TEST_CHROMIUM overrides.
CHROMIUM_CANDIDATES = ("chromium", "google-chrome-stable", "google-chrome")

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-quic",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--password-store=basic",
    "--window-size=1280,900",
)


class CDPError(RuntimeError):
    """A protocol error reply, a timeout, or a browser that went away."""


def find_chromium() -> str | None:
    override = os.environ.get("GROUPSTORE_TEST_CHROMIUM")
    if override:
        return override if os.access(override, os.X_OK) else None
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found is not None:
            return found
    return None


def _high_fd(fd: int) -> int:
    """``fd`` moved to a number >= 10, so the shell's ``3<&r 4>&w`` cannot clobber it."""
    moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return moved


def _pipe() -> tuple[int, int]:
    read, write = os.pipe()
    return _high_fd(read), _high_fd(write)


class Browser:
    """One headless Chromium process and its DevTools pipe."""

    def __init__(self, executable: str, *, timeout: float = 30.0) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="gs-chromium-")
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        to_browser_r, self._to_browser = _pipe()
        self._from_browser, from_browser_w = _pipe()
        args = [
            executable,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={self.profile}",
            "--remote-debugging-pipe",
            "about:blank",
        ]
        wrapper = f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w}'
        try:
            self.process = subprocess.Popen(
                ["/bin/bash", "-c", wrapper, *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                pass_fds=(to_browser_r, from_browser_w),
                start_new_session=True,
            )
        finally:
            os.close(to_browser_r)
            os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self._replies: dict[int, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self._closed = False

    # -- low level ---------------------------------------------------------

    def _pump(self, deadline: float) -> None:
        """Read at least one message (or raise CDPError at the deadline)."""
        while True:
            if b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if "id" in message:
                    self._replies[message["id"]] = message
                else:
                    self.events.append(message)
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CDPError("timed out waiting for the browser")
            ready, _, _ = select.select([self._from_browser], [], [], min(remaining, 0.5))
            if not ready:
                if self.process.poll() is not None:
                    raise CDPError(f"chromium exited ({self.process.returncode}): {self.stderr()}")
                continue
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise CDPError(f"chromium closed the DevTools pipe: {self.stderr()}")
            self._buffer += chunk

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send a command and wait for its reply; returns ``result``."""
        self._next_id += 1
        message_id = self._next_id
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            try:
                written = os.write(self._to_browser, data)
            except BrokenPipeError:
                raise CDPError(f"chromium is gone ({method}): {self.stderr()}") from None
            data = data[written:]
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while message_id not in self._replies:
            self._pump(deadline)
        reply = self._replies.pop(message_id)
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error']}")
        result: dict[str, Any] = reply.get("result", {})
        return result

    def wait_event(
        self, predicate: Callable[[dict[str, Any]], bool], *, timeout: float | None = None
    ) -> dict[str, Any]:
        """The first buffered or future event matching ``predicate`` (consumed)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        seen = 0
        while True:
            for index in range(seen, len(self.events)):
                if predicate(self.events[index]):
                    return self.events.pop(index)
            seen = len(self.events)
            self._pump(deadline)

    def stderr(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-4000:]

    # -- pages ---------------------------------------------------------------

    def new_page(self) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        return Page(self, session["sessionId"])

    # -- shutdown ------------------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if self.process.poll() is None:
                with contextlib.suppress(CDPError, OSError):
                    self.send("Browser.close", timeout=5)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=5)
        finally:
            # The browser runs in its own session: end its whole process group
            # (renderer, GPU and zygote helpers included).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
            for fd in (self._to_browser, self._from_browser):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._stderr.close()
            shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class Page:
    """One tab, attached with a flat session."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    def send(self, method: str, params: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
        return self.browser.send(method, params, session=self.session, **kw)

    def events(self, method: str) -> list[dict[str, Any]]:
        """Params of the buffered events ``method`` of this page (not consumed)."""
        return [
            event["params"]
            for event in self.browser.events
            if event.get("sessionId") == self.session and event.get("method") == method
        ]

    def navigate(self, url: str, *, timeout: float | None = None) -> None:
        self.send("Page.enable")
        self.send("Page.navigate", {"url": url})
        self.browser.wait_event(
            lambda e: (
                e.get("sessionId") == self.session and e.get("method") == "Page.loadEventFired"
            ),
            timeout=timeout,
        )

    def evaluate(self, expression: str, *, timeout: float | None = None) -> Any:
        """The JSON value of ``expression`` (promises awaited); page exceptions raise."""
        result = self.send(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            timeout=timeout,
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise CDPError(f"page exception: {text}")
        return result["result"].get("value")

    def wait_for(self, expression: str, *, timeout: float = 20.0, interval: float = 0.1) -> Any:
        """Poll until ``expression`` is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise CDPError(f"timed out after {timeout}s waiting for: {expression}")
            time.sleep(interval)

    def center_of(self, selector: str, *, text: str | None = None) -> tuple[float, float]:
        """Viewport coordinates of the centre of the first element matching ``selector``
        (and, if given, whose trimmed text is ``text``)."""
        box = self.evaluate(
            f"""(() => {{
                const text = {json.dumps(text)};
                const el = Array.from(document.querySelectorAll({json.dumps(selector)}))
                    .find((e) => text === null || e.textContent.trim() === text);
                if (!el) return null;
                el.scrollIntoView({{block: "center", inline: "center"}});
                const r = el.getBoundingClientRect();
                return [r.left + r.width / 2, r.top + r.height / 2, r.width, r.height];
            }})()"""
        )
        if not box or box[2] <= 0 or box[3] <= 0:
            raise CDPError(f"no visible element for {selector!r} (text {text!r})")
        return box[0], box[1]

    def click(self, selector: str, *, text: str | None = None) -> None:
        """A real mouse click (pressed + released) on the element's centre."""
        x, y = self.center_of(selector, text=text)
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            params: dict[str, Any] = {"type": kind, "x": x, "y": y}
            if kind != "mouseMoved":
                params.update(button="left", clickCount=1)
            self.send("Input.dispatchMouseEvent", params)

    def key(self, key: str, code: str, key_code: int, *, modifiers: int = 0) -> None:
        """Press and release one key (modifiers: 1 Alt, 2 Ctrl, 4 Meta, 8 Shift)."""
        common = {
            "key": key,
            "code": code,
            "windowsVirtualKeyCode": key_code,
            "modifiers": modifiers,
        }
        self.send("Input.dispatchKeyEvent", {"type": "rawKeyDown", **common})
        self.send("Input.dispatchKeyEvent", {"type": "keyUp", **common})

    def insert_text(self, text: str) -> None:
        self.send("Input.insertText", {"text": text})

    def screenshot(self, path: str | os.PathLike[str]) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        target = Path(path)
        target.write_bytes(base64.b64decode(data))
        return target
