"""ONNX export of a CLAMP pose model: normalised crops in, heatmaps out.

The text side (text encoder + prompt encoder) depends only on the weights, so its output is
folded into the graph as a constant: the exported network takes one input, ``images``
(N, 3, S, S) float32 crops normalised by the manifest's mean/std, with a dynamic batch axis,
and returns ``heatmaps`` (N, K, S/4, S/4) float32. The flip test, crop cutting and decoding stay
in :class:`~wildpose.pose.predictor.PosePredictor`. The file's metadata (ONNX
``metadata_props``) names the opset and everything a runtime needs to use the heatmaps.
ONNX: onnx.ai; exporter: pytorch.org/docs/stable/onnx.html.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import __version__
from ..atomic import atomic_path
from ..pose.checkpoint import LoadedModel
from ..pose.model import ClampPose
from . import OPSET

__all__ = ["OPSET", "HeatmapNetwork", "export_onnx", "metadata", "read_metadata"]


class HeatmapNetwork(nn.Module):
    """``forward(images (N, 3, S, S)) -> heatmaps (N, K, Hm, Wm)`` with the prompts baked in."""

    def __init__(self, model: ClampPose) -> None:
        super().__init__()
        self.model = model
        with torch.no_grad():
            prompts = model.encode_prompts().detach().float()
        self.register_buffer("prompts", prompts, persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images, self.prompts)


def metadata(loaded: LoadedModel, opset: int) -> dict[str, str]:
    """String metadata stored in the ONNX file (JSON for lists)."""
    m, arch = loaded.manifest, loaded.model.arch
    return {
        "opset": str(opset),
        "model": m.name,
        "source": loaded.source,
        "weights_sha256": loaded.sha256,
        "arch": arch.name,
        "input": "images (N, 3, S, S) float32, RGB on [0, 1] normalised by mean/std",
        "output": "heatmaps (N, K, Hm, Wm) float32, no flip test",
        "input_size": json.dumps([arch.image_size, arch.image_size]),
        "heatmap_size": json.dumps([arch.heatmap_size, arch.heatmap_size]),
        "mean": json.dumps(list(m.mean)),
        "std": json.dumps(list(m.std)),
        "keypoints": json.dumps(list(m.keypoints)),
        "flip_pairs": json.dumps([list(p) for p in m.flip_pairs]),
    }


def export_onnx(
    model: ClampPose | LoadedModel,
    out: str | Path,
    *,
    opset: int = OPSET,
    extra: dict[str, str] | None = None,
) -> Path:
    """Write ``model`` as ONNX to ``out`` (atomically); returns the path.

    Exported in fp32 on the CPU with the ``torch.export`` based exporter (example batch 2, the
    batch axis dynamic), then checked with ``onnx.checker``. A :class:`LoadedModel` adds its
    manifest to the metadata (:func:`metadata`); ``extra`` adds more string entries.
    """
    import onnx

    loaded = model if isinstance(model, LoadedModel) else None
    net_model = loaded.model if loaded is not None else model
    props = metadata(loaded, opset) if loaded is not None else {"opset": str(opset)}
    props |= {"producer": f"wildpose {__version__}"} | (extra or {})
    size = net_model.arch.image_size
    net = HeatmapNetwork(net_model.cpu().float().eval()).eval()
    example = torch.zeros(2, 3, size, size)
    out = Path(out)
    with atomic_path(out, keep_suffix=True) as tmp, torch.no_grad(), _quiet_exporter():
        torch.onnx.export(
            net,
            (example,),
            str(tmp),
            input_names=["images"],
            output_names=["heatmaps"],
            dynamic_shapes={"images": {0: torch.export.Dim("batch", min=1)}},
            opset_version=opset,
            dynamo=True,
            external_data=False,
            verbose=False,
        )
        proto = onnx.load(str(tmp))
        for key, value in props.items():
            proto.metadata_props.add(key=key, value=value)
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
    return out


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Hold back the exporter's notes below ERROR (onnxscript's optimizer logs the constant
    folds it skips as warnings, which a user cannot act on)."""
    loggers = [logging.getLogger(name) for name in ("onnxscript", "torch.onnx")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def read_metadata(path: str | Path) -> dict[str, Any]:
    """The metadata :func:`export_onnx` wrote, JSON values decoded."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    out: dict[str, Any] = {}
    for p in proto.metadata_props:
        try:
            out[p.key] = json.loads(p.value)
        except ValueError:
            out[p.key] = p.value
    return out
