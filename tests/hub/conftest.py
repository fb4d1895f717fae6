"""A loopback HTTP server (127.0.0.1) serving files the tests make, with Range support, and an
environment where pulled models land in a temporary folder."""

from __future__ import annotations

import http.server
import socket
import threading
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest


@dataclass
class Server:
    """What the handler serves and what it saw.

    ``files``: name -> bytes. ``cut``: name -> how many more answers to cut midway (the
    connection is dropped after half of the body). ``ranges``: honour Range requests.
    ``requests``: (name, Range header or None) per GET.
    """

    url: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    cut: dict[str, int] = field(default_factory=dict)
    ranges: bool = True
    requests: list[tuple[str, str | None]] = field(default_factory=list)

    def count(self, name: str) -> int:
        return sum(1 for n, _ in self.requests if n == name)


def _handler(state: Server) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            name = urllib.parse.unquote(self.path.lstrip("/").split("?", 1)[0])
            header = self.headers.get("Range")
            state.requests.append((name, header))
            data = state.files.get(name)
            if data is None:
                self.send_error(404, "Not Found")
                return
            start = 0
            if header and state.ranges:
                start = int(header.removeprefix("bytes=").split("-")[0])
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes" if state.ranges else "none")
            self.end_headers()
            if state.cut.get(name, 0) > 0:
                state.cut[name] -= 1
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)  # the cable is pulled
                self.close_connection = True
                return
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[Server]:
    """A started loopback server; ``server.url`` is its base URL (no trailing slash)."""
    state = Server()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def hub_env(tmp_path, monkeypatch):
    """Downloads allowed, no mirror, weights installed into ``tmp_path/models``."""
    for var in ("HF_HUB_OFFLINE", "WILDPOSE_OFFLINE", "WILDPOSE_MIRROR"):
        monkeypatch.delenv(var, raising=False)
    models = tmp_path / "models"
    monkeypatch.setenv("WILDPOSE_MODELS", str(models))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return models
