"""Batched CLAMP inference over crops: the stateful wrapper around :class:`ClampPose`.

The predictor owns everything the network should not: device and precision, ImageNet
normalisation, cutting crops out of frames, the flip test, heatmap decoding, mapping keypoints
back to image px, and the cached prompt embeddings (text encoder + prompt encoder run once, and
again only when the weights change).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Literal

import numpy as np
import torch

from .codec import decode_heatmaps, flip_back, heatmap_to_crop, shift_right
from .crop import CropTransform, crop_images
from .model import ClampPose

Precision = Literal["fp32", "fp16", "bf16"]
_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> the first CUDA device when available, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class PosePredictor:
    """Keypoints for boxes in frames, in batches.

    ``flip_pairs`` (0-based index pairs) enable the flip test; ``mean``/``std`` are per-channel
    normalisation on [0, 1] RGB. On CPU the model runs in fp32; on CUDA ``precision`` selects
    autocast to fp16/bf16 (fp32 disables it).
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
    ) -> None:
        self.device = resolve_device(device) if isinstance(device, str) else device
        self.model = model.to(self.device).eval()
        self.mean = torch.tensor(mean, device=self.device).view(1, 3, 1, 1)
        self.std = torch.tensor(std, device=self.device).view(1, 3, 1, 1)
        self.flip_pairs = [tuple(p) for p in flip_pairs]
        self.flip_test = flip_test
        self.precision: Precision = precision if self.device.type == "cuda" else "fp32"
        self.padding = padding
        self.cache_prompts = cache_prompts
        self._prompt_cache: tuple[tuple[int, ...], torch.Tensor] | None = None
        size = model.arch.image_size
        self.input_size = (size, size)
        self.heatmap_size = (model.arch.heatmap_size, model.arch.heatmap_size)

    # -- prompts ---------------------------------------------------------------------------
    def _prompt_key(self) -> tuple[int, ...]:
        """Changes whenever a text-side parameter is modified in place (optimizer, load)."""
        m = self.model
        params = [m.contexts, *m.text_encoder.parameters(), *m.prompt_encoder.parameters()]
        return tuple([id(p) for p in params] + [p._version for p in params])

    @torch.no_grad()
    def prompt_embeddings(self) -> torch.Tensor:
        """(K, D) text + prompt encoder output, cached until the weights change."""
        if not self.cache_prompts:
            return self.model.encode_prompts()
        key = self._prompt_key()
        if self._prompt_cache is None or self._prompt_cache[0] != key:
            self._prompt_cache = (key, self.model.encode_prompts().float())
        return self._prompt_cache[1]

    # -- inference -------------------------------------------------------------------------
    def _autocast(self):
        if self.precision == "fp32":
            return nullcontext()
        return torch.autocast(self.device.type, dtype=_DTYPES[self.precision])

    @torch.no_grad()
    def heatmaps(self, crops: torch.Tensor) -> torch.Tensor:
        """Normalised crops (N, 3, H, W) -> heatmaps (N, K, Hm, Wm) float32, flip test applied."""
        prompts = self.prompt_embeddings() if self.cache_prompts else None
        with self._autocast():
            if self.flip_test:
                both = self.model(torch.cat([crops, crops.flip(-1)]), prompts).float()
                hm, hm_flip = both.chunk(2)
                hm = 0.5 * (hm + shift_right(flip_back(hm_flip, self.flip_pairs)))
            else:
                hm = self.model(crops, prompts).float()
        return hm

    @torch.no_grad()
    def predict_crops(self, crops: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalised crops (N, 3, H, W) -> xy (N, K, 2) crop px and score (N, K)."""
        xy, score = decode_heatmaps(self.heatmaps(crops))
        return heatmap_to_crop(xy, self.heatmap_size, self.input_size), score

    def prepare_frames(self, images: Sequence[np.ndarray] | np.ndarray) -> torch.Tensor:
        """(F, H, W, 3) uint8 RGB frames -> (F, 3, H, W) float [0, 1] on the device.

        Frames go through pinned memory with a non-blocking copy on CUDA.
        """
        arr = images if isinstance(images, np.ndarray) else np.stack(list(images))
        arr = np.ascontiguousarray(arr)
        t = torch.from_numpy(arr)
        if self.device.type == "cuda":
            t = t.pin_memory().to(self.device, non_blocking=True)
        return t.permute(0, 3, 1, 2).float().div_(255.0)

    @torch.no_grad()
    def predict(
        self,
        frames: torch.Tensor,
        boxes: np.ndarray,
        frame_index: np.ndarray,
        origin: Literal["corner", "center"] = "corner",
    ) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints in image px for N boxes over F frames of equal size.

        ``frames`` (F, 3, H, W) float [0, 1] on the device (see :meth:`prepare_frames`);
        ``boxes`` (N, 4) x1y1x2y2 image px; ``frame_index`` (N,) the frame of each box.
        Returns xy (N, K, 2) float32 image px and score (N, K) float32.

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
