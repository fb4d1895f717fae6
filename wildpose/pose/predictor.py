"""Batched CLAMP inference over crops: the stateful wrapper around :class:`ClampPose`.

The predictor owns everything the network should not: device and precision, memory format,
ImageNet normalisation, cutting crops out of frames, the flip test, heatmap decoding, mapping
keypoints back to image px, and the cached prompt embeddings (text encoder + prompt encoder run
once, and again only when the weights change).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ..errors import ConfigError
from .codec import Refine, decode_heatmaps, flip_back, heatmap_to_crop, shift_right
from .crop import CropTransform, crop_images
from .fold import fold_batchnorm as fold_batchnorm_
from .model import ClampPose
from .precision import EffectivePrecision, Precision, autocast, resolve_precision

__all__ = ["Backend", "PosePredictor", "Precision", "resolve_device"]

Backend = Literal["torch", "onnxruntime"]


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> the first CUDA device when available, else the CPU.

    Raises ConfigError (one line, exit code 2) for a CUDA device this machine does not have,
    before any model or input is touched.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device {device!r}: CUDA is not available here (torch {torch.__version__}, "
                f"built for CUDA {torch.version.cuda or 'none'}); use --device cpu or auto"
            )
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ConfigError(f"device {device!r}: this machine has {count} CUDA device(s)")
    return dev


def _onnxruntime_device(device: str | torch.device) -> torch.device:
    """The CPU for ``backend="onnxruntime"`` (``auto`` included); ConfigError (one line) for
    another device or when onnxruntime is not installed."""
    if str(device) not in ("auto", "cpu"):
        raise ConfigError(
            f"pose backend 'onnxruntime' runs on the CPU only, not on device {str(device)!r}: "
            "use --device cpu, or the torch backend on a GPU"
        )
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        raise ConfigError(
            f"pose backend 'onnxruntime' needs onnx and onnxruntime ({e.name} is missing): "
            "pip install 'wildpose[onnx]'"
        ) from None
    return torch.device("cpu")


class PosePredictor:
    """Keypoints for boxes in frames, in batches.

    ``flip_pairs`` (0-based index pairs) enable the flip test (one batch of 2N crops);
    ``mean``/``std`` are per-channel normalisation on [0, 1] RGB. ``precision`` is resolved by
    :func:`~wildpose.pose.precision.resolve_precision` (``auto``: bf16 on CPUs with native bf16
    and on CUDA, else fp32 on the CPU / fp16 on CUDA; ``fp16`` runs fp32 on the CPU); what runs
    is :attr:`precision` (also :attr:`precision_used`). ``channels_last`` (None: for ResNet
    backbones, where convolutions dominate) puts weights and crops in NHWC memory order.
    ``compile`` wraps the network in ``torch.compile`` (minutes to start on a small CPU, see
    ``benchmarks/pose_throughput.py``). ``refine`` is the sub-pixel decoding
    (:func:`~wildpose.pose.codec.decode_heatmaps`): DARK by default (lower held-out RMSE and
    frame-to-frame jitter than the quarter offset, ``benchmarks/openfield_fastpath.py``);
    ``"quarter"`` is mmpose 0.x's default, with which the official CLAMP results were computed.
    ``backend="onnxruntime"`` (CPU, fp32) runs the network exported to ONNX (``onnx_path``, or
    exported once into the cache by :func:`~wildpose.export.runtime.cached_export`), with the
    weights as they are now. The predictor sets the model's device and memory format in place;
    ``fold_batchnorm`` also folds its BatchNorm layers into the convolutions before them
    (:func:`~wildpose.pose.fold.fold_batchnorm`, in place, for models that are only run, never
    trained again: the pipeline's; :attr:`folded` counts the pairs).
    """

    def __init__(
        self,
        model: ClampPose,
        *,
        mean: Sequence[float] = (0.485, 0.456, 0.406),
        std: Sequence[float] = (0.229, 0.224, 0.225),
        flip_pairs: Sequence[tuple[int, int]] = (),
        flip_test: bool = True,
        device: str | torch.device = "auto",
        precision: Precision = "fp16",
        padding: float = 1.25,
        cache_prompts: bool = True,
        channels_last: bool | None = None,
        compile: bool = False,
        refine: Refine = "dark",
        backend: Backend = "torch",
        onnx_path: str | Path | None = None,
        fold_batchnorm: bool = False,
    ) -> None:
        self.backend: Backend = backend
        if backend == "onnxruntime":
            device = _onnxruntime_device(device)
        self.device = resolve_device(device) if isinstance(device, str) else device
        self.requested_precision: Precision = precision
        self.precision: EffectivePrecision = (
            "fp32" if backend == "onnxruntime" else resolve_precision(precision, self.device)
        )
        if channels_last is None:
            channels_last = model.arch.backbone == "resnet"
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        model.eval()
        self.folded = fold_batchnorm_(model) if fold_batchnorm else 0
        self.model = model.to(self.device, memory_format=self.memory_format)
        self.network: Callable[..., torch.Tensor] = self.model
        if backend == "onnxruntime":
            from ..export.runtime import OnnxNetwork, cached_export

            self.network = OnnxNetwork(onnx_path or cached_export(self.model))
        elif compile:
            self.network = torch.compile(self.model)
        self.mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=self.device).view(1, 3, 1, 1)
        self.flip_pairs = [tuple(p) for p in flip_pairs]
        self.flip_test = flip_test
        self.padding = padding
        self.cache_prompts = cache_prompts
        self.refine: Refine = refine
        self._prompt_cache: tuple[tuple[int, ...], torch.Tensor] | None = None
        size = model.arch.image_size
        self.input_size = (size, size)
        self.heatmap_size = (model.arch.heatmap_size, model.arch.heatmap_size)

    @property
    def precision_used(self) -> EffectivePrecision:
        """The autocast precision that runs (fp32, fp16 or bf16): what run records should say."""
        return self.precision

    # -- prompts ---------------------------------------------------------------------------
    def _prompt_key(self) -> tuple[int, ...]:
        """Changes whenever a text-side parameter is modified in place (optimizer, load)."""
        m = self.model
        params = [m.contexts, *m.text_encoder.parameters(), *m.prompt_encoder.parameters()]
        return tuple([id(p) for p in params] + [p._version for p in params])

    @torch.no_grad()
    def prompt_embeddings(self) -> torch.Tensor:
        """(K, D) text + prompt encoder output in fp32, cached until the weights change."""
        if not self.cache_prompts:
            return self.model.encode_prompts()
        key = self._prompt_key()
        if self._prompt_cache is None or self._prompt_cache[0] != key:
            self._prompt_cache = (key, self.model.encode_prompts().float())
        return self._prompt_cache[1]

    # -- inference -------------------------------------------------------------------------
    @torch.no_grad()
    def heatmaps(self, crops: torch.Tensor) -> torch.Tensor:
        """Normalised crops (N, 3, H, W) -> heatmaps (N, K, Hm, Wm) float32, flip test applied."""
        onnx = self.backend == "onnxruntime"  # its graph holds the prompts
        prompts = self.prompt_embeddings() if self.cache_prompts and not onnx else None
        x = torch.cat([crops, crops.flip(-1)]) if self.flip_test else crops
        x = x.contiguous(memory_format=self.memory_format)
        with autocast(self.device, self.precision):
            hm = self.network(x, prompts).float()
        if self.flip_test:
            hm, hm_flip = hm.chunk(2)
            hm = 0.5 * (hm + shift_right(flip_back(hm_flip, self.flip_pairs)))
        return hm

    @torch.no_grad()
    def predict_crops(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised crops (N, 3, H, W) -> xy (N, K, 2) crop px and score (N, K)."""
        xy, score = decode_heatmaps(self.heatmaps(crops), self.refine)
        return heatmap_to_crop(xy, self.heatmap_size, self.input_size), score

    def prepare_frames(self, images: Sequence[np.ndarray] | np.ndarray) -> torch.Tensor:
        """(F, H, W, 3) uint8 RGB frames -> the same uint8 tensor on the device.

        Frames stay uint8 (a float copy of an 8K frame is ~400 MB): :meth:`predict` converts
        only the crops. On CUDA they go through pinned memory with a non-blocking copy.
        """
        arr = images if isinstance(images, np.ndarray) else np.stack(list(images))
        t = torch.from_numpy(np.ascontiguousarray(arr, dtype=np.uint8))
        if self.device.type == "cuda":
            t = t.pin_memory().to(self.device, non_blocking=True)
        return t

    @torch.no_grad()
    def predict(
        self,
        frames: torch.Tensor,
        boxes: np.ndarray,
        frame_index: np.ndarray,
        origin: Literal["corner", "center"] = "corner",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints in image px for N boxes over F frames of equal size.

        ``frames`` (F, H, W, 3) uint8 on the device (see :meth:`prepare_frames`), or
        (F, 3, H, W) float [0, 1]; ``boxes`` (N, 4) x1y1x2y2 image px; ``frame_index`` (N,) the
        frame of each box. Returns xy (N, K, 2) float32 image px and score (N, K) float32.

        ``origin`` is the pixel convention of ``boxes`` and of the result: ``"corner"`` (the
        output contract: (0, 0) is the top-left corner of the top-left pixel, whose centre is
        (0.5, 0.5)) or ``"center"`` (mmpose/COCO evaluation: pixel centres at integers, as the
        official CLAMP code computes).
        """
        k = self.model.num_keypoints
        n = int(np.asarray(boxes).shape[0])
        if n == 0:
            return np.zeros((0, k, 2), np.float32), np.zeros((0, k), np.float32)
        shift = 0.5 if origin == "corner" else 0.0
        boxes = np.asarray(boxes, np.float32) - shift
        tf = CropTransform.from_boxes(boxes, self.input_size, self.padding)
        idx = torch.as_tensor(np.asarray(frame_index, np.int64), device=self.device)
        crops = crop_images(frames, idx, tf)
        crops = (crops - self.mean) / self.std
        xy, score = self.predict_crops(crops)
        xy_img = tf.to_image(xy.cpu().numpy()) + shift
        return xy_img, score.cpu().numpy().astype(np.float32)
