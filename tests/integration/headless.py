"""Drive Debian's headless chromium over the DevTools protocol on a pipe (--remote-debugging-pipe):
no WebDriver, no socket, nothing downloaded. The page under test keeps its own CSP (no script runs
in it); the test's questions are asked through Runtime.evaluate, which the page's CSP does not govern.

Messages are JSON, each ended by a NUL byte: chromium reads commands on fd 3 and writes replies and
events on fd 4.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class BrowserError(Exception):
    pass


@dataclass
class Chromium:
    """One headless chromium with a throwaway profile; use as a context manager (always stopped)."""

    binary: str
    timeout: float = 60.0

    def __enter__(self) -> "Chromium":
        self._profile = Path(tempfile.mkdtemp(prefix="fixproof-chromium-"))
        cmd_r, self._cmd_w = os.pipe()  # we write commands, chromium reads them on fd 3
        self._out_r, out_w = os.pipe()  # chromium writes on fd 4, we read
        # moved above 20 first, so that putting them at 3 and 4 in the child cannot clobber one with the other
        hi_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 20)
        hi_w = fcntl.fcntl(out_w, fcntl.F_DUPFD_CLOEXEC, 20)
        os.close(cmd_r)
        os.close(out_w)

        def child() -> None:
            os.dup2(hi_r, 3)  # inheritable; every other fd of ours is close-on-exec (PEP 446)
            os.dup2(hi_w, 4)

        try:
            self._proc = subprocess.Popen(
                [self.binary, "--headless", "--remote-debugging-pipe", "--no-sandbox", "--disable-gpu",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-extensions", "--disable-quic", "--hide-scrollbars", f"--user-data-dir={self._profile}",
                 "about:blank"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                close_fds=False, preexec_fn=child)
        finally:
            os.close(hi_r)
            os.close(hi_w)
        self._buf = b""
        self._next = 0
        self._events: list[dict[str, Any]] = []
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self._proc.terminate()
            self._proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(timeout=15)
        finally:
            for fd in (self._cmd_w, self._out_r):
                try:
                    os.close(fd)
                except OSError:
                    pass
            shutil.rmtree(self._profile, ignore_errors=True)

    # --- protocol --------------------------------------------------------------------------------------

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> dict[str, Any]:
        self._next += 1
        msg: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._cmd_w, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise BrowserError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._events.append(reply)

    def wait_event(self, method: str, session: str) -> dict[str, Any]:
        while True:
            for i, e in enumerate(self._events):
                if e.get("method") == method and e.get("sessionId") == session:
                    return self._events.pop(i)
            self._events.append(self._read())

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._out_r], [], [], left)[0]:
                raise BrowserError(f"chromium sent nothing within {self.timeout:.0f} s")
            chunk = os.read(self._out_r, 1 << 16)
            if not chunk:
                raise BrowserError(f"chromium closed the pipe (exit code {self._proc.poll()})")
            self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw)

    # --- what the tests ask ------------------------------------------------------------------------------

    def open(self, url: str, width: int, height: int = 800, mobile: bool = False) -> "Tab":
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                         "mobile": mobile}, session=session)
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_event("Page.loadEventFired", session)
        return Tab(self, session)


@dataclass
class Tab:
    browser: Chromium
    session: str

    def eval(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression evaluated in the page (outside its CSP)."""
        r = self.browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True},
                              session=self.session)
        if "exceptionDetails" in r:
            raise BrowserError(f"{expression!r}: {r['exceptionDetails']}")
        return r["result"].get("value")
