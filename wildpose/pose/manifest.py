"""Model manifests: what a model is, apart from its weights.

A manifest names the architecture and carries everything needed to use the model's output:
keypoint names (the prompts), skeleton, flip pairs, OKS sigmas, crop size and normalisation, and
where the weights come from. Manifests of known models live in ``models/`` (installed as
``wildpose.manifests``); every wildpose checkpoint embeds its own.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import ModelError


@dataclass(frozen=True)
class Manifest:
    """Model description; index pairs are 0-based keypoint indices."""

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

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("keypoints", "sigmas", "input_size", "mean", "std"):
            d[key] = list(d[key])
        d["skeleton"] = [list(p) for p in self.skeleton]
        d["flip_pairs"] = [list(p) for p in self.flip_pairs]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "manifest") -> Manifest:
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ModelError(f"{source}: unknown manifest keys {sorted(unknown)}")
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


def _manifest_files() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for entry in resources.files("wildpose.manifests").iterdir():
        if entry.name.endswith(".yaml"):
            out[entry.name[: -len(".yaml")]] = Path(str(entry))
    return dict(sorted(out.items()))


def manifest_names() -> list[str]:
    """Names of the known models (the ``models/*.yaml`` files)."""
    return list(_manifest_files())


def load_manifest(name: str) -> Manifest:
    """The manifest of a known model by name (e.g. ``clamp-tiny``)."""
    files = _manifest_files()
    if name not in files:
        raise ModelError(
            f"unknown model {name!r}; known models: {', '.join(files)} "
            "(or give a checkpoint path or hf://ORG/REPO/FILE)"
        )
    path = files[name]
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ModelError(f"{path}: not valid YAML ({e})".splitlines()[0]) from None
    return Manifest.from_dict(data, source=str(path))


def weights_dirs() -> list[Path]:
    """Folders searched for model weights, in order.

    ``$WILDPOSE_MODELS`` (colon-separated) if set, then ``$XDG_CACHE_HOME/wildpose/models``
    (default ``~/.cache/wildpose/models``).
    """
    dirs = [Path(p) for p in os.environ.get("WILDPOSE_MODELS", "").split(os.pathsep) if p]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return dirs + [cache / "wildpose" / "models"]


def find_weights(manifest: Manifest) -> Path | None:
    """The local weights file of a manifest, or None if it is not present."""
    fname = manifest.weights.get("file")
    if not fname:
        return None
    for d in weights_dirs():
        if (d / fname).is_file():
            return d / fname
    return None
