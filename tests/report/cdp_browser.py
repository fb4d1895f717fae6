"""Load a page in headless Chromium and report what a reader would see go wrong.

Speaks the Chrome DevTools Protocol over ``--remote-debugging-pipe`` (JSON messages ending in
NUL on file descriptors 3 and 4; https://chromedevtools.github.io/devtools-protocol/), so no
websocket client is needed. Collected: console errors and uncaught exceptions
(``Runtime.consoleAPICalled``, ``Runtime.exceptionThrown``, ``Log.entryAdded``), every request
the page makes (``Network.requestWillBeSent``) and, after the load event, each ``<img>``'s
``complete`` / ``naturalWidth`` once decoded.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)
_IMAGES = """Promise.all(Array.from(document.images).map(i => i.decode().then(() => true,
  () => false))).then(() => JSON.stringify(Array.from(document.images).map(i =>
  ({alt: i.alt, complete: i.complete, width: i.naturalWidth, height: i.naturalHeight}))))"""


def find_chromium() -> str | None:
    """The Chromium (or Chrome) executable on PATH, or None."""
    names = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
    return next((p for p in map(shutil.which, names) if p), None)


@dataclass
class PageCheck:
    """What loading a page showed: ``errors`` (console errors, exceptions, error log entries),
    ``requests`` (URLs the page asked for), ``images`` (alt, complete, width, height)."""

    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)


class Chromium:
    """A headless Chromium driven over the DevTools pipe; use as a context manager."""

    def __init__(self, executable: str, timeout_s: float = 60.0) -> None:
        self.timeout_s = timeout_s
        self._profile = tempfile.TemporaryDirectory()
        to_chrome, self._out = os.pipe()
        self._in, from_chrome = os.pipe()

        def child_fds() -> None:  # fds 3 and 4 are where Chromium expects the pipe
            a, b = os.dup(to_chrome), os.dup(from_chrome)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [executable, *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"]
        self._proc = subprocess.Popen(
            args,
            preexec_fn=child_fds,
            close_fds=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome)
        os.close(from_chrome)
        self._buf = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send one command and wait for its result (events meanwhile go to ``events``)."""
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._out, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_event(self, method: str) -> dict:
        """The first event named ``method`` (already received or next)."""
        while True:
            for e in self.events:
                if e.get("method") == method:
                    self.events.remove(e)
                    return e
            self.events.append(self._receive())

    def _receive(self) -> dict:
        deadline = time.monotonic() + self.timeout_s
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._in], [], [], left)[0]:
                raise TimeoutError(f"no reply from Chromium in {self.timeout_s:g} s")
            chunk = os.read(self._in, 1 << 20)
            if not chunk:
                raise EOFError("Chromium closed the DevTools pipe")
            self._buf += chunk
        message, self._buf = self._buf.split(b"\0", 1)
        return json.loads(message)

    def check_page(
        self, url: str, *, width: int = 1200, height: int = 2400, screenshot: Path | None = None
    ) -> PageCheck:
        """Open ``url`` in a new tab, wait for its load event and report (see :class:`PageCheck`);
        ``screenshot`` saves the top ``width`` x ``height`` px as PNG."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        sid = session["sessionId"]
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.call(f"{domain}.enable", session=sid)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=sid,
        )
        self.call("Page.navigate", {"url": url}, session=sid)
        self.wait_event("Page.loadEventFired")
        value = self.call(
            "Runtime.evaluate",
            {"expression": _IMAGES, "awaitPromise": True, "returnByValue": True},
            session=sid,
        )
        check = PageCheck(images=json.loads(value["result"]["value"]))
        if screenshot is not None:
            shot = self.call("Page.captureScreenshot", {"format": "png"}, session=sid)
            screenshot.write_bytes(base64.b64decode(shot["data"]))
        for e in self.events:
            if e.get("sessionId") == sid:
                _collect(e, check)
        self.events.clear()
        self.call("Target.closeTarget", {"targetId": target})
        return check

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except (OSError, EOFError, TimeoutError, RuntimeError):
            pass
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        for fd in (self._in, self._out):
            os.close(fd)
        self._profile.cleanup()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _collect(event: dict[str, Any], check: PageCheck) -> None:
    method, p = event.get("method"), event.get("params", {})
    if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
        check.errors.append("console: " + " ".join(str(a.get("value", a)) for a in p["args"]))
    elif method == "Runtime.exceptionThrown":
        check.errors.append("exception: " + json.dumps(p.get("exceptionDetails", {}))[:500])
    elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
        check.errors.append("log: " + p["entry"].get("text", ""))
    elif method == "Network.requestWillBeSent":
        check.requests.append(p["request"]["url"])
