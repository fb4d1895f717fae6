"""Shrink a trained tiny-CLAMP checkpoint into the file shipped with the package.

The frozen CLIP token table (49408 x 64 floats, 60 % of the tiny model) is only ever read at
the rows of the prompt tokens, so the other rows are zeroed: the model's output is unchanged.
The weights are stored as fp16 and the archive is re-written with deflate compression (the zip
reader of ``torch.load`` reads it), which takes the zero rows to almost nothing.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import torch

from wildpose.atomic import write_bytes
from wildpose.pose.checkpoint import model_from_checkpoint, read_checkpoint

TOKEN_TABLE = "text_encoder.token_embedding.weight"


def packed_state(obj: dict[str, Any], path: str | Path) -> dict[str, torch.Tensor]:
    """The checkpoint's weights with unused token rows zeroed and floats in fp16."""
    model, _ = model_from_checkpoint(obj, path)
    state = {k: v.detach().clone() for k, v in obj["state_dict"].items()}
    table = state[TOKEN_TABLE]
    keep = torch.zeros(table.shape[0], dtype=torch.bool)
    keep[model.texts.unique()] = True
    table[~keep] = 0
    return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}


def pack_checkpoint(
    src: str | Path, dst: str | Path, *, name: str, description: str, drop_train_paths: bool = True
) -> Path:
    """Write ``src`` (a ``wildpose train`` checkpoint) as a small shipped checkpoint ``dst``.

    The manifest is renamed to ``name`` with ``description``; optimizer and resume states are
    dropped. ``drop_train_paths`` blanks the data paths of the embedded training config (they
    name folders of the machine that trained it).
    """
    obj = read_checkpoint(src)
    manifest = dict(obj["manifest"], name=name, description=description)
    config = obj.get("train_config")
    if drop_train_paths and isinstance(config, dict):
        data = {
            k: (None if "annotations" in k or "images" in k else v)
            for k, v in config["data"].items()
        }
        config = dict(config, data=data)
    out = {key: obj[key] for key in ("format", "format_version", "wildpose_version", "arch")}
    out.update(manifest=manifest, train_config=config, state_dict=packed_state(obj, src))
    raw = io.BytesIO()
    torch.save(out, raw)
    packed = io.BytesIO()
    with zipfile.ZipFile(raw) as zin, zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename), zipfile.ZIP_DEFLATED)
    return write_bytes(dst, packed.getvalue())
