"""Shared test setup: no network, tiny models, paths to the real data beside the project."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

# Offline before anything imports huggingface_hub or ultralytics.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["YOLO_OFFLINE"] = "1"
os.environ["YOLO_AUTOINSTALL"] = "False"
os.environ.setdefault("YOLO_VERBOSE", "False")
os.environ.setdefault("WILDPOSE_MODELS", "")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"

_real_connect = socket.socket.connect


def _guarded_connect(self: socket.socket, address, *args, **kwargs):  # noqa: ANN001
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and (
        host in ("localhost", "::1") or host.startswith("127.") or self.family == socket.AF_UNIX
    ):
        return _real_connect(self, address, *args, **kwargs)
    raise RuntimeError(f"test tried to reach the network: {address!r}")


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the project; skips when absent (a user's clone)."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent (real-data tests need the project's shared folder)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tiny_model():
    """The clamp-tiny model (random weights, seeded) and its manifest."""
    from wildpose.pose.checkpoint import load_model

    return load_model("clamp-tiny")


@pytest.fixture()
def invoke():
    """``invoke(args) -> int``: run ``wildpose ARGS`` in this process through ``main()`` (as
    the console script does) and return its exit code."""
    from wildpose.cli import main

    def run(args: list[str]) -> int:
        try:
            main(args)
        except SystemExit as e:
            return int(e.code or 0)
        return 0

    return run
