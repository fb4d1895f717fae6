"""Model manifests: what a model is, apart from its weights.

A pose manifest names the architecture and carries everything needed to use the model's output:
keypoint names (the prompts), skeleton, flip pairs, OKS sigmas, crop size and normalisation, and
where the weights come from (:class:`WeightsSource`). ``keypoint_set: ap10k`` in a manifest file
fills keypoints, skeleton, flip pairs and sigmas from :mod:`wildpose.keypoints`; the loaded object
always holds them resolved, and every wildpose checkpoint embeds its own resolved manifest.
Detector manifests (``kind: detector``) only say where an ultralytics weights file comes from.
Manifests of known models live in ``models/`` (installed as ``wildpose.manifests``).
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from ..errors import ModelError

WeightsFormat = Literal["wildpose", "clamp-official", "ultralytics"]
SOURCE_SCHEMES = ("https://", "http://", "file://", "gdrive:", "ultralytics:")
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class WeightsSource:
    """Where a model's weights come from and how a download of them is checked.

    ``file``: the installed file name, looked up in :func:`weights_dirs`. ``source``: an
    ``https://`` or ``file://`` URL, ``gdrive:FILE_ID`` (Google Drive) or ``ultralytics:NAME``
    (ultralytics' release assets). ``download_name``: the downloaded file's name, the same on
    every mirror (default ``file``). ``sha256`` and ``size`` (bytes) describe the downloaded file;
    ``None`` where not known yet (the first download records the sha256 it got). ``format``: what
    the download is: a wildpose checkpoint, the official CLAMP release (one checkpoint or an
    archive of several, converted on install) or ultralytics weights. ``mirror``: a base URL
    serving the same file names (``WILDPOSE_MIRROR`` overrides it). ``package``: the Python
    package whose data holds ``file`` (weights shipped inside wildpose, e.g. ``wildpose.demo``).
    """

    file: str | None = None
    source: str | None = None
    package: str | None = None
    download_name: str | None = None
    sha256: str | None = None
    size: int | None = None
    licence: str | None = None
    mirror: str | None = None
    format: WeightsFormat = "wildpose"
    how_to_get: str = ""
    random_init_seed: int | None = None

    @property
    def fetch_name(self) -> str | None:
        """The name the downloaded file has on mirrors and in the download cache."""
        return self.download_name or self.file

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None, source: str = "manifest") -> WeightsSource:
        """Validate a manifest's ``weights`` mapping; one-line errors naming ``source``."""
        d = dict(d or {})
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise ModelError(f"{source}: unknown weights keys {sorted(unknown)}")
        try:
            w = cls(
                **{k: (str(v) if isinstance(v, str) else v) for k, v in d.items() if v is not None}
            )
        except TypeError as e:
            raise ModelError(f"{source}: malformed weights ({e})") from None
        w._check(source)
        return w

    def _check(self, source: str) -> None:
        if self.format not in ("wildpose", "clamp-official", "ultralytics"):
            raise ModelError(f"{source}: weights format {self.format!r} is not known")
        if self.source is not None and not self.source.startswith(SOURCE_SCHEMES):
            raise ModelError(
                f"{source}: weights source {self.source!r} must start with one of "
                + ", ".join(SOURCE_SCHEMES)
            )
        if self.sha256 is not None and not _SHA256.fullmatch(str(self.sha256)):
            raise ModelError(f"{source}: weights sha256 must be 64 lower-case hex digits")
        if self.size is not None and (not isinstance(self.size, int) or self.size <= 0):
            raise ModelError(f"{source}: weights size must be a positive number of bytes")
        if (self.source or self.package) and not self.file:
            raise ModelError(f"{source}: weights with a source need a file name ('file')")
        if self.source and self.package:
            raise ModelError(f"{source}: weights are either shipped (package) or downloaded")


@dataclass(frozen=True)
class Manifest:
    """Pose model description; index pairs are 0-based keypoint indices."""

    name: str
    arch: str
    keypoints: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...] = ()
    flip_pairs: tuple[tuple[int, int], ...] = ()
    sigmas: tuple[float, ...] = ()
    input_size: tuple[int, int] = (256, 256)
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    description: str = ""
    weights: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        k = len(self.keypoints)
        if k == 0:
            raise ModelError(f"manifest {self.name!r} lists no keypoints")
        for what, pairs in (("skeleton", self.skeleton), ("flip_pairs", self.flip_pairs)):
            for a, b in pairs:
                if not (0 <= a < k and 0 <= b < k):
                    raise ModelError(
                        f"manifest {self.name!r}: {what} pair ({a}, {b}) is out of "
                        f"range for {k} keypoints"
                    )
        if self.sigmas and len(self.sigmas) != k:
            raise ModelError(f"manifest {self.name!r}: {len(self.sigmas)} sigmas for {k} keypoints")

    @property
    def weights_source(self) -> WeightsSource:
        """The ``weights`` mapping as a validated :class:`WeightsSource`."""
        return WeightsSource.from_dict(self.weights, source=f"manifest {self.name!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("keypoints", "sigmas", "input_size", "mean", "std"):
            d[key] = list(d[key])
        d["skeleton"] = [list(p) for p in self.skeleton]
        d["flip_pairs"] = [list(p) for p in self.flip_pairs]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "manifest") -> Manifest:
        """Build from a mapping (a manifest file or a checkpoint's embedded manifest).

        ``keypoint_set: NAME`` fills keypoints, skeleton, flip_pairs and sigmas from the named
        :data:`wildpose.keypoints.KEYPOINT_SETS` entry (a skeleton given beside it wins).
        """
        known = {f.name for f in fields(cls)} | {"keypoint_set", "kind"}
        unknown = set(d) - known
        if unknown:
            raise ModelError(f"{source}: unknown manifest keys {sorted(unknown)}")
        if d.get("kind", "pose") != "pose":
            raise ModelError(f"{source}: not a pose model (kind {d.get('kind')!r})")
        d = _with_keypoint_set(d, source)
        try:
            return cls(
                name=str(d["name"]),
                arch=str(d["arch"]),
                keypoints=tuple(str(k) for k in d["keypoints"]),
                skeleton=tuple((int(a), int(b)) for a, b in d.get("skeleton", ())),
                flip_pairs=tuple((int(a), int(b)) for a, b in d.get("flip_pairs", ())),
                sigmas=tuple(float(s) for s in d.get("sigmas", ())),
                input_size=tuple(int(s) for s in d.get("input_size", (256, 256))),  # type: ignore[arg-type]
                mean=tuple(float(s) for s in d.get("mean", cls.mean)),  # type: ignore[arg-type]
                std=tuple(float(s) for s in d.get("std", cls.std)),  # type: ignore[arg-type]
                description=str(d.get("description", "")),
                weights=dict(d.get("weights") or {}),
            )
        except KeyError as e:
            raise ModelError(f"{source}: manifest lacks the key {e.args[0]!r}") from None
        except (TypeError, ValueError) as e:
            raise ModelError(f"{source}: malformed manifest ({e})") from None


def _with_keypoint_set(d: dict[str, Any], source: str) -> dict[str, Any]:
    """``d`` with ``keypoint_set`` resolved into keypoints, skeleton, flip_pairs and sigmas."""
    name = d.get("keypoint_set")
    if name is None:
        return d
    from ..keypoints import KEYPOINT_SETS

    if name not in KEYPOINT_SETS:
        raise ModelError(
            f"{source}: unknown keypoint_set {name!r} (known: {', '.join(sorted(KEYPOINT_SETS))})"
        )
    if "keypoints" in d:
        raise ModelError(f"{source}: give either keypoint_set or keypoints, not both")
    ks = KEYPOINT_SETS[name]
    out = {k: v for k, v in d.items() if k != "keypoint_set"}
    out["keypoints"] = list(ks.keypoints)
    out.setdefault("skeleton", [list(p) for p in ks.skeleton])
    out.setdefault("flip_pairs", [list(p) for p in ks.flip_pairs])
    out.setdefault("sigmas", list(ks.sigmas))
    return out


@dataclass(frozen=True)
class DetectorManifest:
    """A known detector: an ultralytics weights file (YOLO, MegaDetector v6) and its source.

    ``classes``: the class names the weights predict, in class-index order (documentation; the
    weights carry their own).
    """

    name: str
    weights: WeightsSource
    description: str = ""
    classes: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "manifest") -> DetectorManifest:
        unknown = set(d) - {"name", "kind", "description", "classes", "weights"}
        if unknown:
            raise ModelError(f"{source}: unknown detector manifest keys {sorted(unknown)}")
        weights = WeightsSource.from_dict(d.get("weights"), source)
        if not weights.file:
            raise ModelError(f"{source}: a detector manifest needs weights.file")
        try:
            return cls(
                name=str(d["name"]),
                weights=weights,
                description=str(d.get("description", "")),
                classes=tuple(str(c) for c in d.get("classes", ())),
            )
        except KeyError as e:
            raise ModelError(f"{source}: manifest lacks the key {e.args[0]!r}") from None


AnyManifest = Manifest | DetectorManifest


def _manifest_files() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for entry in resources.files("wildpose.manifests").iterdir():
        if entry.name.endswith(".yaml"):
            out[entry.name[: -len(".yaml")]] = Path(str(entry))
    return dict(sorted(out.items()))


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ModelError(f"{path}: not valid YAML ({e})".splitlines()[0]) from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: a manifest must be a mapping")
    return data


def _kinds() -> dict[str, str]:
    return {n: str(_read(p).get("kind", "pose")) for n, p in _manifest_files().items()}


def manifest_names(kind: Literal["pose", "detector", "all"] = "pose") -> list[str]:
    """Names of the known models of ``kind`` (the ``models/*.yaml`` files), sorted."""
    return [n for n, k in _kinds().items() if kind == "all" or k == kind]


def load_any_manifest(name: str) -> AnyManifest:
    """The manifest of a known pose model or detector, by name."""
    files = _manifest_files()
    if name not in files:
        raise ModelError(
            f"unknown model {name!r}; known models: {', '.join(files)} "
            "(or give a checkpoint path or hf://ORG/REPO/FILE)"
        )
    path = files[name]
    data = _read(path)
    if data.get("kind", "pose") == "detector":
        return DetectorManifest.from_dict(data, source=str(path))
    manifest = Manifest.from_dict(data, source=str(path))
    WeightsSource.from_dict(manifest.weights, source=str(path))  # validated once, here
    return manifest


def load_manifest(name: str) -> Manifest:
    """The manifest of a known pose model by name (e.g. ``clamp-tiny``)."""
    m = load_any_manifest(name)
    if isinstance(m, DetectorManifest):
        raise ModelError(f"{name!r} is a detector, not a pose model: give it to --detector")
    return m


def load_detector_manifest(name: str) -> DetectorManifest:
    """The manifest of a known detector by name (e.g. ``megadetector-v6``)."""
    m = load_any_manifest(name)
    if not isinstance(m, DetectorManifest):
        raise ModelError(f"{name!r} is a pose model, not a detector: give it to --pose")
    return m


def detector_by_file(file_name: str) -> DetectorManifest | None:
    """The known detector whose weights file is called ``file_name`` (``yolo11m.pt``)."""
    for name in manifest_names("detector"):
        m = load_detector_manifest(name)
        if m.weights.file == file_name:
            return m
    return None


def weights_dirs() -> list[Path]:
    """Folders searched for model weights, in order.

    ``$WILDPOSE_MODELS`` (colon-separated) if set, then ``$XDG_CACHE_HOME/wildpose/models``
    (default ``~/.cache/wildpose/models``).
    """
    dirs = [Path(p) for p in os.environ.get("WILDPOSE_MODELS", "").split(os.pathsep) if p]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return dirs + [cache / "wildpose" / "models"]


def install_dir() -> Path:
    """Where pulled weights are installed: the first of :func:`weights_dirs`."""
    return weights_dirs()[0]


def weights_file(manifest: AnyManifest) -> str | None:
    """The installed file name of a manifest's weights (None: built in, e.g. random init)."""
    if isinstance(manifest, DetectorManifest):
        return manifest.weights.file
    return manifest.weights.get("file") or None


def find_weights(manifest: AnyManifest) -> Path | None:
    """The local weights file of a manifest (shipped in a package, or in :func:`weights_dirs`),
    or None if it is not present."""
    fname = weights_file(manifest)
    if not fname:
        return None
    weights = manifest.weights
    package = weights.package if isinstance(weights, WeightsSource) else weights.get("package")
    if package:
        shipped = Path(str(resources.files(package).joinpath(fname)))
        return shipped if shipped.is_file() else None
    for d in weights_dirs():
        if (d / fname).is_file():
            return d / fname
    return None
