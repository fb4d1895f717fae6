"""Self-describing checkpoints and model loading by name, path or ``hf://`` address.

A wildpose checkpoint is a ``torch.save`` dict of plain containers and tensors (loadable with
``weights_only=True``)::

    {"format": "wildpose.clamp", "format_version": 1, "wildpose_version": str,
     "arch": ClampArch dict, "manifest": Manifest dict, "train_config": dict | None,
     "state_dict": {name: tensor}, "weights_sha256": str}

so ``--pose my.pt`` rebuilds the model with nothing else. Loading checks every field (one line
naming the file and the field), verifies ``weights_sha256`` (:func:`tensors_sha256` of the
state dict: damaged tensor data is refused, where torch's reader would load it silently;
checkpoints written before it was recorded load without this check) and refuses non-finite
weights.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..atomic import atomic_path
from ..errors import ModelError
from .arch import ClampArch, get_arch
from .manifest import Manifest, find_weights, load_manifest, weights_dirs
from .model import ClampPose, build_clamp

FORMAT = "wildpose.clamp"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class LoadedModel:
    """A ready model with its manifest; ``sha256`` identifies the weights (file or state)."""

    model: ClampPose
    manifest: Manifest
    sha256: str
    source: str
    train_config: dict[str, Any] | None = None


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def tensors_sha256(state: dict[str, torch.Tensor]) -> str:
    """Hash of a state dict (names, shapes, dtypes and values), independent of files."""
    h = hashlib.sha256()
    for name, t in sorted(state.items()):
        h.update(name.encode())
        h.update(str((tuple(t.shape), str(t.dtype))).encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def state_sha256(model: torch.nn.Module) -> str:
    """Hash of a model's state (names, shapes, dtypes and values), independent of files."""
    return tensors_sha256(model.state_dict())


def save_checkpoint(
    path: str | Path,
    model: ClampPose,
    manifest: Manifest,
    train_config: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write a self-describing checkpoint atomically. ``extra`` adds top-level entries
    (optimizer state, epoch, RNG states for resuming)."""
    obj = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "wildpose_version": __version__,
        "arch": model.arch.to_dict(),
        "manifest": replace(manifest, keypoints=model.keypoints).to_dict(),
        "train_config": train_config,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    obj["weights_sha256"] = tensors_sha256(obj["state_dict"])
    obj.update(extra or {})
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint dict safely (``weights_only``), with one-line errors."""
    path = Path(path)
    if not path.exists():
        raise ModelError("no such checkpoint file", path=path)
    if path.is_dir():
        raise ModelError("is a folder, not a checkpoint file", path=path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(
            f"not a readable checkpoint (corrupt or truncated: {first})", path=path
        ) from None
    except Exception as e:  # pickle.UnpicklingError and friends
        raise ModelError(f"not a readable checkpoint ({type(e).__name__})", path=path) from None
    if not isinstance(obj, dict):
        raise ModelError("not a wildpose checkpoint (no dict inside)", path=path)
    return obj


def model_from_checkpoint(obj: dict[str, Any], path: str | Path) -> tuple[ClampPose, Manifest]:
    """Rebuild the model a checkpoint dict describes and load its weights strictly."""
    if obj.get("format") != FORMAT:
        sd = obj.get("state_dict", obj)
        if isinstance(sd, dict) and any(
            str(k).startswith(("backbone.", "module.backbone.")) for k in sd
        ):
            raise ModelError(
                "this is an official CLAMP checkpoint; convert it first with "
                "'wildpose convert FILE --arch rn50|vitb16|vitl14 -o OUT.pt'",
                path=path,
            )
        raise ModelError("not a wildpose checkpoint (no 'format' entry)", path=path)
    arch, manifest, state = check_fields(obj, path)
    model = build_clamp(arch, manifest.keypoints)
    load_state_strict(model, state, path)
    return model, manifest


def check_fields(
    obj: dict[str, Any], path: str | Path
) -> tuple[ClampArch, Manifest, dict[str, torch.Tensor]]:
    """Every field of a wildpose checkpoint dict checked; ModelError (one line naming the file
    and the field) for the first bad one. Returns the architecture, manifest and weights."""
    version = obj.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelError(f"field 'format_version' must be a whole number >= 1, got {version!r}",
                         path=path)  # fmt: skip
    if version > FORMAT_VERSION:
        raise ModelError(
            f"checkpoint format {version} is newer than this wildpose ({__version__}) reads; "
            "upgrade wildpose",
            path=path,
        )
    for name in ("arch", "manifest", "state_dict"):
        if name not in obj:
            raise ModelError(f"field {name!r} is missing", path=path)
        if not isinstance(obj[name], dict):
            raise ModelError(
                f"field {name!r} must be a mapping, got {type(obj[name]).__name__}", path=path
            )
    if obj.get("train_config") is not None and not isinstance(obj["train_config"], dict):
        raise ModelError("field 'train_config' must be a mapping or null", path=path)
    try:
        arch = ClampArch.from_dict(obj["arch"])
    except ModelError as e:
        raise ModelError(f"field 'arch': {e}", path=path) from None
    except (KeyError, TypeError, ValueError) as e:
        raise ModelError(
            f"field 'arch' is malformed ({type(e).__name__}: {e})", path=path
        ) from None
    manifest = Manifest.from_dict(obj["manifest"], source=f"{path}: field 'manifest'")
    state = obj["state_dict"]
    for key, tensor in state.items():
        if not isinstance(key, str) or not isinstance(tensor, torch.Tensor):
            raise ModelError(
                f"field 'state_dict' must map names to tensors, got {key!r}: "
                f"{type(tensor).__name__}",
                path=path,
            )
    recorded = obj.get("weights_sha256")
    if recorded is not None and recorded != tensors_sha256(state):
        raise ModelError(
            "the weights do not match the sha256 recorded when the checkpoint was saved "
            "(the file is damaged); use an intact copy",
            path=path,
        )
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise ModelError(f"tensor {key!r} holds NaN or infinite weights", path=path)
    return arch, manifest, state


def load_state_strict(model: ClampPose, state: dict[str, torch.Tensor], path: str | Path) -> None:
    """Load weights, naming every missing, unexpected or mis-shaped tensor in one line."""
    own = model.state_dict()
    k_model = model.num_keypoints
    head = state.get("keypoint_head.final_layer.weight")
    if head is not None and head.shape[0] != k_model:
        raise ModelError(
            f"keypoint-count mismatch: the weights predict {head.shape[0]} keypoints, "
            f"the manifest lists {k_model}",
            path=path,
        )
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(
        f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    )
    problems = []
    if missing:
        problems.append(f"missing {_few(missing)}")
    if unexpected:
        problems.append(f"unexpected {_few(unexpected)}")
    if shapes:
        problems.append(f"mis-shaped {_few(shapes)}")
    if problems:
        raise ModelError(
            f"weights do not fit architecture {model.arch.name!r}: " + "; ".join(problems),
            path=path,
        )
    model.load_state_dict(state, strict=True)


def _few(items: list[str], n: int = 6) -> str:
    more = f" (+{len(items) - n} more)" if len(items) > n else ""
    return ", ".join(items[:n]) + more


def load_checkpoint(path: str | Path) -> LoadedModel:
    obj = read_checkpoint(path)
    model, manifest = model_from_checkpoint(obj, path)
    return LoadedModel(
        model.eval(), manifest, file_sha256(path), str(path), obj.get("train_config")
    )


def random_model(manifest: Manifest, seed: int = 0, arch: ClampArch | None = None) -> ClampPose:
    """A randomly initialised model for a manifest, deterministic given ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_clamp(arch or get_arch(manifest.arch), manifest.keypoints).eval()


def load_model(spec: str | Path, *, random_weights: bool = False) -> LoadedModel:
    """A model from a manifest name, a checkpoint path or ``hf://ORG/REPO/FILE``.

    ``random_weights`` builds a manifest's architecture with random weights (speed measurements
    of the paper sizes without their weights).
    """
    spec = str(spec)
    if spec.startswith("hf://"):
        return load_checkpoint(_hf_download(spec))
    if spec.endswith((".pt", ".pth", ".ckpt")) or os.sep in spec or Path(spec).exists():
        return load_checkpoint(spec)
    manifest = load_manifest(spec)
    seed = manifest.weights.get("random_init_seed")
    if random_weights or (seed is not None and not manifest.weights.get("file")):
        model = random_model(manifest, int(seed or 0))
        return LoadedModel(model, manifest, state_sha256(model), f"{spec} (random weights)")
    found = find_weights(manifest)
    if found is None:
        where = " or ".join(str(d) for d in weights_dirs())
        how = manifest.weights.get("how_to_get", "")
        raise ModelError(
            f"weights of {spec} not found: expected {manifest.weights.get('file')} "
            f"in {where}; run 'wildpose models pull {spec}'"
            + (f", or by hand: {how}" if how else "")
        )
    loaded = load_checkpoint(found)
    return replace(loaded, manifest=replace(loaded.manifest, name=manifest.name))


def _hf_download(spec: str) -> Path:
    """The local copy of ``hf://ORG/REPO/FILE`` (the address checked by wildpose first: no
    ``..``, no absolute path; offline switches use the cache only)."""
    from huggingface_hub import hf_hub_download

    from ..hub.download import is_offline
    from ..hub.hf import parse_hf_spec

    repo_id, filename = parse_hf_spec(spec)
    try:
        return Path(
            hf_hub_download(repo_id=repo_id, filename=filename, local_files_only=is_offline())
        )
    except Exception as e:  # offline, missing repo or file, network failure
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(
            f"{spec}: cannot get the file from the Hugging Face Hub ({first}); "
            "download it by hand and pass its local path"
        ) from None
