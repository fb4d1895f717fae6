"""onnxruntime as the pose network's runtime: an exported CLAMP in place of the torch module.

:class:`OnnxNetwork` is called like ``ClampPose`` (``network(images, prompts) -> heatmaps``)
so :class:`~wildpose.pose.predictor.PosePredictor` can swap it in (``backend="onnxruntime"``).
The prompts are constants of the exported graph; the weights are those at export time (for
inference, not for a model being trained). Exports are cached by the hash of the model's state,
the opset and the torch version under ``$XDG_CACHE_HOME/wildpose/onnx``. onnxruntime:
onnxruntime.ai.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch

from ..pose.checkpoint import state_sha256
from ..pose.model import ClampPose
from . import OPSET

__all__ = ["OnnxNetwork", "cached_export", "onnx_cache_dir"]

log = logging.getLogger(__name__)


def onnx_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/wildpose/onnx`` (default ``~/.cache/wildpose/onnx``)."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "wildpose" / "onnx"


def cached_export(model: ClampPose, opset: int = OPSET, folder: Path | None = None) -> Path:
    """The ONNX file of ``model`` (exported on first use: ~10-60 s on a laptop CPU)."""
    from .onnx import export_onnx

    sha = state_sha256(model)
    torch_version = torch.__version__.split("+")[0]
    path = (folder or onnx_cache_dir()) / f"{sha[:16]}-opset{opset}-torch{torch_version}.onnx"
    if not path.exists():
        log.info("exporting the pose network to ONNX for onnxruntime, once: %s", path)
        export_onnx(model, path, opset=opset, extra={"weights_sha256": sha})
    return path


class OnnxNetwork:
    """``network(images (N, 3, S, S), prompts=None) -> heatmaps (N, K, Hm, Wm)`` float32 on
    the CPU, run by an onnxruntime CPU session with ``threads`` intra-op threads."""

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or torch.get_num_threads()
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # no busy-waiting between runs: the decoder and tracker share these cores
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def __call__(self, images: torch.Tensor, prompts: torch.Tensor | None = None) -> torch.Tensor:
        x = np.ascontiguousarray(images.detach().float().cpu().numpy())
        (out,) = self.session.run(["heatmaps"], {"images": x})
        return torch.from_numpy(out)
