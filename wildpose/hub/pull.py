"""``wildpose models pull``: fetch, verify and install a known model, and the first-use hook.

:func:`pull` installs a model named in ``models/`` into :func:`~wildpose.pose.manifest.install_dir`:

- a detector (``kind: detector``) or a wildpose checkpoint: the download itself;
- the official CLAMP release (``format: clamp-official``): downloaded once into the download
  cache (``INSTALL_DIR/downloads``, kept for the other backbones), then the checkpoint of the
  manifest's architecture is found by its tensor layout and converted (:mod:`.official`).

Sources by scheme: ``gdrive:ID`` through gdown, ``ultralytics:NAME`` through ultralytics' asset
download, ``https://``/``file://`` through :func:`.download.download`; a mirror replaces all of
them by ``MIRROR/NAME``. A manifest without a pinned sha256 trusts its first download and records
the sha256 beside the file (``NAME.sha256``, ``sha256sum`` format): later downloads must match.
:func:`ensure_model` is what ``track`` and ``batch`` call before loading a model.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

from ..atomic import write_text
from ..errors import ModelError
from ..pose.manifest import (
    AnyManifest,
    DetectorManifest,
    Manifest,
    WeightsSource,
    detector_by_file,
    find_weights,
    install_dir,
    load_any_manifest,
    load_manifest,
    manifest_names,
)
from .catalog import source_label
from .download import OFFLINE_VARS, download, is_offline, mirror_url

GDRIVE = "gdrive:"
ULTRALYTICS = "ultralytics:"


def weights_of(manifest: AnyManifest) -> WeightsSource:
    """A manifest's validated weights description."""
    if isinstance(manifest, DetectorManifest):
        return manifest.weights
    return manifest.weights_source


def downloads_dir() -> Path:
    """The download cache: official releases before conversion."""
    return install_dir() / "downloads"


def pull(
    name: str, *, offline: bool = False, progress: bool = True, force: bool = False
) -> Path | None:
    """Install the known model ``name``; returns its weights file (None: built in).

    Already-installed weights are returned as they are unless ``force``. Raises
    :class:`ModelError` (one line) when offline, or when a download fails or does not verify.
    """
    return install(load_any_manifest(name), offline=offline, progress=progress, force=force)


def install(
    manifest: AnyManifest, *, offline: bool = False, progress: bool = True, force: bool = False
) -> Path | None:
    """:func:`pull` for a manifest object."""
    w = weights_of(manifest)
    if not w.file:
        return None  # built in: random init
    found = find_weights(manifest)
    if w.package or (found is not None and not force):
        return found  # shipped inside wildpose, or installed
    if not w.source:
        raise ModelError(f"{manifest.name} has no download source; to get it: {w.how_to_get}")
    if is_offline(offline):
        raise offline_error(manifest, offline)
    dst = install_dir() / w.file
    if w.format == "clamp-official" and isinstance(manifest, Manifest):
        from .official import install_official

        release = fetch_release(w, progress=progress)
        _say(f"{manifest.name}: converting the {manifest.arch} checkpoint of {release.name}")
        install_official(release, manifest.arch, dst)
        _say(
            f"kept the download {release} ({release.stat().st_size / 1e6:.0f} MB) for the other "
            "backbones; delete it to free the space"
        )
    else:
        fetch(w, dst, progress=progress)
    _say(f"{manifest.name}: installed {dst}")
    return dst


def fetch_release(w: WeightsSource, *, progress: bool) -> Path:
    """The official release in the download cache, downloaded (and verified) if absent."""
    dst = downloads_dir() / str(w.fetch_name)
    if not dst.is_file():
        fetch(w, dst, progress=progress)
    return dst


def fetch(w: WeightsSource, dst: Path, *, progress: bool) -> str:
    """Download ``w`` into ``dst`` from its mirror or source, verified; returns the sha256."""
    recorded = recorded_sha256(dst)
    expected = w.sha256 or recorded
    name = str(w.fetch_name)
    source = str(w.source)
    url = mirror_url(name, w.mirror)
    _say(f"downloading {name} from {source_label(w)}")
    try:
        if url is not None:
            digest = download(url, dst, sha256=expected, size=w.size, progress=progress)
        elif source.startswith(GDRIVE):
            from .gdrive import gdrive_download

            digest = gdrive_download(
                source.removeprefix(GDRIVE), dst, sha256=expected, size=w.size, progress=progress
            )
        elif source.startswith(ULTRALYTICS):
            from .detectors import ultralytics_asset

            digest = ultralytics_asset(
                source.removeprefix(ULTRALYTICS),
                dst,
                sha256=expected,
                size=w.size,
                progress=progress,
            )
        else:
            digest = download(source, dst, sha256=expected, size=w.size, progress=progress)
    except ModelError as e:
        if w.sha256 is None and recorded is not None and "sha256 mismatch" in str(e):
            raise ModelError(
                f"{e} (the expected value was recorded at the first download in "
                f"{_sidecar(dst)}; delete that file if the source changed on purpose)"
            ) from None
        raise
    if w.sha256 is None and recorded is None:
        write_text(_sidecar(dst), f"{digest}  {dst.name}\n")
        _say(
            f"{name}: no sha256 is pinned for it; recorded {digest} in {_sidecar(dst)} "
            "(later downloads must match it)"
        )
    return digest


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def recorded_sha256(path: Path) -> str | None:
    """The sha256 recorded at the first download of ``path`` (``path.sha256``), if any."""
    try:
        text = _sidecar(path).read_text(encoding="utf-8").split()
    except (OSError, UnicodeDecodeError):
        return None
    return text[0].lower() if text else None


def offline_error(manifest: AnyManifest, flag: bool = False) -> ModelError:
    """The one-line error for a missing model while downloads are off."""
    w = weights_of(manifest)
    why = (
        "--offline"
        if flag
        else next((f"{v}={os.environ[v]}" for v in OFFLINE_VARS if os.environ.get(v)), "offline")
    )
    manual = w.how_to_get.replace("WILDPOSE_MODELS/", f"{install_dir()}/").replace(
        "into WILDPOSE_MODELS", f"into {install_dir()}"
    )
    return ModelError(
        f"{manifest.name} is not installed and downloads are off ({why}): run 'wildpose models "
        f"pull {manifest.name}' where the network is reachable"
        + (f", or by hand: {manual}" if manual else "")
    )


def ensure_model(
    spec: str,
    *,
    kind: Literal["pose", "detector"] = "pose",
    offline: bool = False,
    progress: bool = True,
) -> str:
    """The spec to load after installing a missing known model on first use.

    Pose: a manifest name stays as it is (its weights are then found by name); paths and
    ``hf://`` addresses are returned unchanged. Detector: a detector manifest name or a known
    weights file name (``yolo11n.pt``) that is not a local file becomes the installed file's
    path; ``full-frame``, ``boxes:FILE``, YAMLs and existing paths are returned unchanged.
    Raises :class:`ModelError` (one line naming ``wildpose models pull NAME``) when offline.
    """
    if kind == "pose":
        if spec.startswith("hf://") or _is_path(spec):
            return spec
        manifest: AnyManifest = load_manifest(spec)
        if weights_of(manifest).source and find_weights(manifest) is None:
            if is_offline(offline):
                raise offline_error(manifest, offline)
            _say(f"{spec} is not installed yet: downloading it now (first use)")
            install(manifest, offline=offline, progress=progress)
        return spec
    if spec == "full-frame" or spec.startswith("boxes:") or Path(spec).exists():
        return spec
    detector = _known_detector(spec)
    if detector is None:
        return spec
    found = find_weights(detector)
    if found is None:
        if is_offline(offline):
            raise offline_error(detector, offline)
        _say(f"{spec} is not installed yet: downloading it now (first use)")
        found = install(detector, offline=offline, progress=progress)
    return str(found)


def _known_detector(spec: str) -> DetectorManifest | None:
    if spec in manifest_names("detector"):
        m = load_any_manifest(spec)
        return m if isinstance(m, DetectorManifest) else None
    if os.sep in spec or "/" in spec:
        return None
    return detector_by_file(spec)


def _is_path(spec: str) -> bool:
    return spec.endswith((".pt", ".pth", ".ckpt")) or os.sep in spec or Path(spec).exists()


def _say(message: str) -> None:
    print(f"wildpose: {message}", file=sys.stderr, flush=True)
