"""YOLO weights through ultralytics' asset download (replaced by a local writer: no network)."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path

import pytest

from wildpose.errors import ModelError
from wildpose.hub.pull import pull

WEIGHTS = b"yolo weights " * 10000


@pytest.fixture
def assets(monkeypatch):
    """ultralytics' attempt_download_asset writing WEIGHTS to the path it is given."""
    from wildpose.adapters.ultralytics import import_ultralytics

    import_ultralytics()
    downloads = importlib.import_module("ultralytics.utils.downloads")
    calls: list[str] = []

    def fake(file, **kw):
        calls.append(str(file))
        if Path(file).name == "yolo11m.pt":
            Path(file).write_bytes(WEIGHTS)
        return str(file)

    monkeypatch.setattr(downloads, "attempt_download_asset", fake)
    return calls


def test_yolo_weights_come_through_ultralytics(assets, hub_env):
    path = pull("yolo11m", progress=False)
    assert path == hub_env / "yolo11m.pt" and path.read_bytes() == WEIGHTS
    (asked,) = assets
    assert Path(asked).name == "yolo11m.pt" and Path(asked).parent != hub_env  # a private folder
    assert (
        (hub_env / "yolo11m.pt.sha256").read_text().startswith(hashlib.sha256(WEIGHTS).hexdigest())
    )
    assert sorted(p.name for p in hub_env.iterdir()) == [
        ".yolo11m.pt.lock", "yolo11m.pt", "yolo11m.pt.sha256",
    ]  # fmt: skip


def test_an_asset_ultralytics_does_not_have(assets, hub_env):
    with pytest.raises(ModelError, match="no release asset called 'yolo11l.pt'"):
        pull("yolo11l", progress=False)
    assert not (hub_env / "yolo11l.pt").exists()
