"""The torch dataset of top-down training/validation crops and their heatmap targets.

:class:`TopDownDataset` turns :class:`~wildpose.train.samples.KeypointSample` s into network
inputs and targets with the official CLAMP pipeline (Zhang et al., CVPR 2023; mmpose 0.x
``TopDownAffine``, ``TopDownGenerateTarget``): box padding 1.25, train-time flip, half-body,
scale and rotation augmentation, ImageNet normalisation, Gaussian heatmaps and down targets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch

from wildpose.errors import InputError
from wildpose.pose.crop import affine_matrix, box_to_center_scale
from wildpose.train import transforms as T
from wildpose.train.samples import KeypointDataset, KeypointSample
from wildpose.train.targets import down_targets, gaussian_targets

BOX_PADDING = 1.25  # top-down crop padding around the box


class TopDownItem(NamedTuple):
    """One training example (or a batch, with a leading B axis, after :func:`collate`).

    Field order (also the tuple order):
    ``image`` (3, H, W) float32, ImageNet-normalised RGB crop;
    ``target`` (K, h, w) float32 heatmaps; ``target_weight`` (K, 1) float32;
    ``target_down`` (K, d, d) float32 down target; ``target_down_weight`` (K, 1) float32;
    ``center`` (2,) px and ``scale`` (2,) 200-px units of the crop actually used (augmented in
    training), ``rotation`` () degrees; ``bbox`` (4,) float32 xywh image px (sanitised);
    ``joints`` (K, 2) float32 image px (unaugmented); ``visible`` (K,) float32 (1 labelled);
    ``area`` () float32 px^2; ``image_id``, ``category_id``, ``index`` () int64.
    """

    image: torch.Tensor
    target: torch.Tensor
    target_weight: torch.Tensor
    target_down: torch.Tensor
    target_down_weight: torch.Tensor
    center: torch.Tensor
    scale: torch.Tensor
    rotation: torch.Tensor
    bbox: torch.Tensor
    joints: torch.Tensor
    visible: torch.Tensor
    area: torch.Tensor
    image_id: torch.Tensor
    category_id: torch.Tensor
    index: torch.Tensor


def collate(items: Sequence[TopDownItem]) -> TopDownItem:
    """Stack items into a batch (torch's default collate does the same for this NamedTuple)."""
    return TopDownItem(*(torch.stack(list(field_)) for field_ in zip(*items, strict=True)))


@dataclass(frozen=True, eq=False)
class Augmentation:
    """The crop of one training draw: centre (2,) px, scale (2,), rotation degrees, whether the
    image was mirrored, and the joints (K, 2) px / visibility (K,) in the (mirrored) image."""

    center: np.ndarray
    scale: np.ndarray
    rotation: float
    flipped: bool
    joints: np.ndarray
    visible: np.ndarray


class TopDownDataset(torch.utils.data.Dataset):
    """Top-down crops and targets for CLAMP training / validation.

    ``input_size`` and ``heatmap_size`` are (width, height); ``down_size`` is the backbone's
    token grid (8 for RN50, 16 for ViT). Items are :class:`TopDownItem`.

    ``train=True`` applies the official pipeline: the fixed 30 % centre jitter drawn once here
    from ``seed``, then per item flip (p 0.5), half-body (p 0.3, more than 8 visible joints;
    upper set ``meta.upper_body_ids``, so sets with K <= 8 never use it), scale, rotation, affine
    warp, ImageNet normalisation, targets. Draws come from a generator seeded by
    ``(seed, epoch, index)``: an item is reproducible, and :meth:`set_epoch` (call it before
    each epoch's DataLoader iterator is created) gives each epoch fresh draws.
    """

    def __init__(
        self,
        samples: Sequence[KeypointSample],
        meta: KeypointDataset,
        input_size: tuple[int, int] = (256, 256),
        heatmap_size: tuple[int, int] = (64, 64),
        down_size: int = 8,
        train: bool = False,
        seed: int = 0,
    ) -> None:
        k = meta.num_keypoints
        bad = [s.image_path for s in samples if s.keypoints.shape != (k, 3)]
        if bad:
            raise InputError(f"sample keypoints are not ({k}, 3) as the metadata says", path=bad[0])
        self.samples = list(samples)
        self.meta = meta
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        self.down_size = int(down_size)
        self.train = bool(train)
        self.seed = int(seed)
        self.epoch = 0
        self._upper = np.isin(np.arange(k), meta.upper_body_ids)
        bbox = np.stack([s.bbox for s in self.samples]) if self.samples else np.zeros((0, 4))
        xyxy = np.concatenate([bbox[:, :2], bbox[:, :2] + bbox[:, 2:]], axis=1)
        aspect = self.input_size[0] / self.input_size[1]
        center, scale = box_to_center_scale(xyxy, aspect, BOX_PADDING)
        if self.train:
            center = center + T.center_jitter(bbox, np.random.default_rng(self.seed))
        # Crop before augmentation, per sample: centres (N, 2) px (with the fixed train jitter)
        # and scales (N, 2) in 200-px units (box padded by 1.25, aspect-fixed).
        self.centers = center.astype(np.float32)
        self.scales = scale.astype(np.float32)

    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose random draws :meth:`__getitem__` uses."""
        self.epoch = int(epoch)

    def augmentation(self, index: int, image_width: int) -> Augmentation:
        """The crop for item ``index`` (deterministic given seed, epoch and index)."""
        sample = self.samples[index]
        joints = sample.keypoints[:, :2].copy()
        visible = (sample.keypoints[:, 2] > 0).astype(np.float32)
        center, scale = self.centers[index].copy(), self.scales[index].copy()
        if not self.train:
            return Augmentation(center, scale, 0.0, False, joints, visible)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        flipped = bool(rng.random() <= T.FLIP_PROB)
        if flipped:
            joints, visible = T.flip_joints(joints, visible, image_width, self.meta.flip_pairs)
            center = T.flip_center(center, image_width)
        if visible.sum() > T.HALF_BODY_MIN_VISIBLE and rng.random() < T.HALF_BODY_PROB:
            aspect = self.input_size[0] / self.input_size[1]
            half = T.half_body_box(
                joints, visible, self._upper, bool(rng.standard_normal() < 0.5), aspect
            )
            if half is not None:
                center, scale = half
        scale = (scale * T.draw_scale(rng)).astype(np.float32)
        rotation = T.draw_rotation(rng)
        return Augmentation(center, scale, rotation, flipped, joints, visible)

    def _read_image(self, path: Path) -> np.ndarray:
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise InputError("cannot read image (missing or corrupt)", path=path)
        return image

    def __getitem__(self, index: int) -> TopDownItem:
        sample = self.samples[index]
        image = self._read_image(sample.image_path)  # (H, W, 3) uint8 BGR
        aug = self.augmentation(index, image.shape[1])
        matrix = affine_matrix(aug.center, aug.scale, aug.rotation, self.input_size)[0]
        image_matrix = T.flip_affine(matrix, image.shape[1]) if aug.flipped else matrix
        crop = T.warp_image(image, image_matrix, self.input_size)[..., ::-1]  # BGR -> RGB
        joints_crop = T.warp_joints(aug.joints, aug.visible, matrix)
        target, weight = gaussian_targets(
            joints_crop, aug.visible, self.input_size, self.heatmap_size
        )
        target_down, weight_down = down_targets(
            joints_crop, aug.visible, self.input_size, self.down_size
        )
        f32 = torch.float32
        return TopDownItem(
            image=torch.from_numpy(T.normalize_image(crop)),
            target=torch.from_numpy(target),
            target_weight=torch.from_numpy(weight[:, None]),
            target_down=torch.from_numpy(target_down),
            target_down_weight=torch.from_numpy(weight_down[:, None]),
            center=torch.as_tensor(aug.center, dtype=f32),
            scale=torch.as_tensor(aug.scale, dtype=f32),
            rotation=torch.tensor(aug.rotation, dtype=f32),
            bbox=torch.as_tensor(sample.bbox, dtype=f32),
            joints=torch.as_tensor(sample.keypoints[:, :2], dtype=f32),
            visible=torch.as_tensor(sample.keypoints[:, 2] > 0, dtype=f32),
            area=torch.tensor(sample.area, dtype=f32),
            image_id=torch.tensor(sample.image_id, dtype=torch.int64),
            category_id=torch.tensor(sample.category_id, dtype=torch.int64),
            index=torch.tensor(index, dtype=torch.int64),
        )
