"""Detector weights through ultralytics' own release-asset download (YOLO11).

Manifests with ``source: ultralytics:NAME`` (``models/yolo11*.yaml``) come from
github.com/ultralytics/assets releases, fetched by ultralytics' own downloader (called through
:mod:`wildpose.adapters.ultralytics`); MegaDetector v6 has a plain URL (the Zenodo release its
model zoo lists, github.com/microsoft/CameraTraps ``docs/model_zoo/megadetector.md``) and goes
through :func:`wildpose.hub.download.download`. With a mirror both come from ``MIRROR/FILE``
instead (:mod:`wildpose.hub.pull` decides). Either way the file is verified by sha256 before it
gets its final name.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..atomic import commit, temp_path
from ..errors import ModelError
from .download import target_lock, verify


def ultralytics_asset(
    name: str, dst: Path, *, sha256: str | None, size: int | None, progress: bool
) -> str:
    """``name`` from ultralytics' release assets, fetched by ultralytics into a private folder,
    then verified and renamed to ``dst``."""
    from ..adapters.ultralytics import download_release_asset

    with target_lock(dst):
        work = temp_path(dst)  # a folder: ultralytics names the file itself
        work.mkdir(parents=True)
        try:
            try:
                got = download_release_asset(work / name, progress=progress)
            except Exception as e:  # requests' and ultralytics' ConnectionError and friends
                first = " ".join(str(e).split())[:300] or type(e).__name__
                raise ModelError(
                    f"ultralytics asset {name}: download failed ({first}); run the same command "
                    "again, or download it from github.com/ultralytics/assets/releases"
                ) from None
            if not got.is_file():
                raise ModelError(f"ultralytics has no release asset called {name!r}")
            digest = verify(got, sha256=sha256, size=size, what=f"ultralytics asset {name}")
            commit(got, dst)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return digest
