"""Initialise a CLAMP model from CLIP weights, as the official CLAMP training does.

Weights come from a local file (an OpenAI JIT archive such as ``RN50.pt``, or any state dict of a
CLIP model with ``visual.*`` and text keys) or from open_clip's ``openai`` pretrained tag where the
network allows. Nothing retries: a missing file or an offline cache miss is one clear error.
"""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import torch

from ..adapters.open_clip import pretrained_state
from ..errors import ModelError
from .backbone import resize_pos_embed
from .model import ClampPose

_TEXT_PREFIXES = ("transformer.", "token_embedding.", "ln_final.")


def read_clip_state(path: str | Path) -> dict[str, torch.Tensor]:
    """CLIP state dict from an OpenAI JIT archive or a (possibly wrapped) state-dict file."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(
            "CLIP weights file not found; download the OpenAI CLIP checkpoint "
            "(e.g. RN50.pt, ViT-B-16.pt) and give its path",
            path=path,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load deprecation
            state = torch.jit.load(str(path), map_location="cpu").state_dict()
    except (RuntimeError, ValueError, zipfile.BadZipFile):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:
            raise ModelError(
                f"not a readable CLIP checkpoint ({type(e).__name__})", path=path
            ) from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise ModelError("not a CLIP state dict", path=path)
    return {k.removeprefix("module."): v.float() for k, v in state.items()}


def openclip_state(model_name: str) -> dict[str, torch.Tensor]:
    """OpenAI CLIP weights through open_clip's pretrained tag (cache or download).

    Offline (``HF_HUB_OFFLINE``, ``WILDPOSE_OFFLINE``) or where the download host cannot be
    reached within a few seconds, fails at once with one line saying how to give the file,
    instead of waiting out the downloader's retries.
    """
    from ..hub.download import is_offline

    how = (
        "download the OpenAI CLIP checkpoint (open_clip's 'openai' weights of "
        f"{model_name}) and set model.clip_weights to its path"
    )
    if is_offline() and not _cached(model_name):
        raise ModelError(f"CLIP weights {model_name}/openai are not cached and downloads are off; "
                         + how)  # fmt: skip
    if not _cached(model_name) and not _reachable():
        raise ModelError(f"CLIP weights {model_name}/openai: no network to download them; " + how)
    try:
        return pretrained_state(model_name, "openai")
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(
            f"CLIP weights {model_name}/openai are not available ({first}); "
            "download the OpenAI CLIP checkpoint and set model.clip_weights to "
            "its path"
        ) from None


def _cached(model_name: str) -> bool:
    """Whether open_clip's download cache already holds the OpenAI weights of ``model_name``."""
    from ..adapters.open_clip import pretrained_cached

    return pretrained_cached(model_name, "openai")


def _reachable(host: str = "huggingface.co", timeout_s: float = 3.0) -> bool:
    """A fast check that the weights' host answers (DNS + TCP), so a machine without network
    fails in seconds, not after the downloader's retries."""
    import socket

    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def clip_to_clamp(state: dict[str, torch.Tensor], model: ClampPose) -> dict[str, torch.Tensor]:
    """Map CLIP keys to CLAMP's ``backbone.*`` / ``text_encoder.*`` with CLAMP's resizing.

    Visual positional embeddings are resized to the model's grid (ViT-B 197 -> 257 rows, RN50
    attention pool 50 -> 65); the text positional embedding keeps its first rows (13).
    """
    own = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    grid = (model.arch.grid_size, model.arch.grid_size)
    for k, v in state.items():
        if k.startswith("visual."):
            name = "backbone." + k[len("visual.") :]
            if name.endswith("positional_embedding"):
                v = resize_pos_embed(v, grid)
            out[name] = v
        elif k.startswith(_TEXT_PREFIXES) or k == "text_projection":
            out["text_encoder." + k] = v
        elif k == "positional_embedding":
            out["text_encoder.positional_embedding"] = v[: model.arch.text_context]
    bad = [
        f"{k} {tuple(v.shape)} != {tuple(own[k].shape)}"
        for k, v in out.items()
        if k in own and own[k].shape != v.shape
    ]
    if bad:
        raise ModelError(
            f"CLIP weights do not fit architecture {model.arch.name!r}: " + ", ".join(bad[:4])
        )
    missing = [
        k
        for k in own
        if k.startswith(("backbone.", "text_encoder."))
        and k not in out
        and not k.endswith("num_batches_tracked")
    ]
    if missing:
        raise ModelError(
            f"CLIP weights lack {len(missing)} tensors of {model.arch.name!r}, e.g. "
            + ", ".join(missing[:4])
        )
    return {k: v for k, v in out.items() if k in own}


def init_from_clip(model: ClampPose, source: str | Path | None) -> None:
    """Load CLIP weights into ``model`` in place (non-strict: everything else stays fresh)."""
    if source is None:
        if model.arch.clip_model is None:
            raise ModelError(f"architecture {model.arch.name!r} has no CLIP weights")
        state = openclip_state(model.arch.clip_model)
    else:
        state = read_clip_state(source)
    model.load_state_dict(clip_to_clamp(state, model), strict=False)
