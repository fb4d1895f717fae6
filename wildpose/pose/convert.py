"""Convert an official CLAMP checkpoint (mmcv format) into a wildpose checkpoint.

Official layout: the checkpoints of github.com/xuzhang1199/CLAMP. The module names of
:class:`ClampPose` mirror the official ones, so conversion is a strict key/shape check plus
dropping the tensors the official model never uses (top-level ``text_projection``, the prompt
encoder's ``positional_embedding`` and ``text_projection``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ModelError
from .arch import get_arch
from .checkpoint import file_sha256, read_checkpoint, save_checkpoint
from .manifest import load_manifest
from .model import build_clamp

UNUSED = (
    "text_projection",
    "prompt_encoder.positional_embedding",
    "prompt_encoder.text_projection",
)
OFFICIAL_MANIFESTS = {
    "rn50": "clamp-rn50-ap10k",
    "vitb16": "clamp-vitb16-ap10k",
    "vitl14": "clamp-vitl14-ap10k",
}


def official_state(obj: dict) -> dict[str, torch.Tensor]:
    """The official state dict with ``module.`` stripped and unused tensors dropped."""
    state = obj.get("state_dict", obj)
    out = {}
    for k, v in state.items():
        if not isinstance(v, torch.Tensor):
            continue
        k = k.removeprefix("module.")
        if k in UNUSED:
            continue
        out[k] = v
    return out


def convert_official(src: str | Path, arch_name: str, dst: str | Path) -> str:
    """Convert ``src`` for ``arch_name`` into ``dst``; returns the sha256 of the written file.

    Fails with one line naming every missing or mis-shaped required tensor.
    """
    if arch_name not in OFFICIAL_MANIFESTS:
        raise ModelError(f"--arch must be one of {', '.join(OFFICIAL_MANIFESTS)}")
    obj = read_checkpoint(src)
    state = official_state(obj)
    manifest = load_manifest(OFFICIAL_MANIFESTS[arch_name])
    model = build_clamp(get_arch(arch_name), manifest.keypoints)
    own = model.state_dict()
    missing = sorted(k for k in own if k not in state and not k.endswith("num_batches_tracked"))
    shapes = sorted(
        f"{k} {tuple(state[k].shape)} (expected {tuple(v.shape)})"
        for k, v in own.items()
        if k in state and state[k].shape != v.shape
    )
    if missing or shapes:
        short, full = [], []
        for what, names in (("missing", missing), ("mis-shaped", shapes)):
            if names:
                more = f" (+{len(names) - 3} more; --debug lists all)" if len(names) > 3 else ""
                short.append(f"{len(names)} {what}: {', '.join(names[:3])}{more}")
                full.append(f"{what} {len(names)}: {', '.join(names)}")
        head = f"not an official CLAMP {arch_name} checkpoint ({len(own)} tensors expected, "
        head += f"{len(state)} in the file): "
        raise ModelError(head + "; ".join(short), path=src) from ModelError("; ".join(full))
    # BN counters are absent in some mmcv saves; keep ours (they do not affect inference).
    full = {k: state.get(k, own[k]).to(own[k].dtype) for k in own}
    model.load_state_dict(full, strict=True)
    meta = obj.get("meta") if isinstance(obj.get("meta"), dict) else {}
    save_checkpoint(
        dst,
        model,
        manifest,
        train_config={
            "converted_from": str(Path(src).name),
            "source_sha256": file_sha256(src),
            "official_meta": {
                k: str(v) for k, v in meta.items() if isinstance(v, str | int | float)
            },
        },
    )
    return file_sha256(dst)
