"""Top-down training augmentations as pure functions on numpy arrays (mmpose 0.x semantics).

Coordinates are image px (x right, y down, origin at the top-left pixel's corner as in
mmpose), centres in px, scales in 200-px units (see :mod:`wildpose.pose.crop`). Random draws
take a ``numpy.random.Generator`` and use the distributions of the official CLAMP
configs (github.com/xuzhang1199/CLAMP):

- fixed centre jitter at dataset build: p 0.3, shift U(-0.2, 0.2) * (w, h);
- flip p 0.5; half-body p 0.3 when more than 8 joints are visible (upper set chosen when
  ``randn() < 0.5``, an mmpose quirk kept on purpose), box padding 1.5;
- scale ``clip(N(0,1) * 0.5 + 1, 0.5, 1.5)``; rotation ``clip(N(0,1) * 40, -80, 80)`` degrees with
  p 0.6, else 0.

The flip is folded into the crop affine (:func:`flip_affine`) instead of mirroring the whole
image: warping the original image with ``M o mirror`` samples the same pixels as warping the
mirrored image with ``M``, without copying the image.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from wildpose.pose.crop import apply_affine, box_to_center_scale

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

JITTER_PROB = 0.3
JITTER_FRACTION = 0.2
FLIP_PROB = 0.5
HALF_BODY_PROB = 0.3
HALF_BODY_MIN_VISIBLE = 8  # half-body needs strictly more visible joints than this
HALF_BODY_PADDING = 1.5
SCALE_FACTOR = 0.5
ROTATION_FACTOR = 40.0
ROTATION_PROB = 0.6


def center_jitter(
    bbox_xywh: np.ndarray,
    rng: np.random.Generator,
    prob: float = JITTER_PROB,
    fraction: float = JITTER_FRACTION,
) -> np.ndarray:
    """Fixed train-time centre shifts (N, 2) px for boxes (N, 4) xywh px.

    Each box is shifted with probability ``prob`` by ``U(-fraction, fraction) * (w, h)``; the
    others by 0. Drawn once when the dataset is built, as mmpose 0.x does.
    """
    bbox = np.asarray(bbox_xywh, dtype=np.float64).reshape(-1, 4)
    n = bbox.shape[0]
    apply = rng.random(n) < prob
    u = rng.random((n, 2))
    shift = 2.0 * fraction * (u - 0.5) * bbox[:, 2:4]
    return np.where(apply[:, None], shift, 0.0).astype(np.float32)


def flip_permutation(num_keypoints: int, flip_pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """Index (K,) int64 that swaps each flip pair: ``flipped = x[perm]``."""
    perm = np.arange(num_keypoints, dtype=np.int64)
    if len(flip_pairs):
        pairs = np.asarray(flip_pairs, dtype=np.int64).reshape(-1, 2)
        perm[pairs[:, 0]] = pairs[:, 1]
        perm[pairs[:, 1]] = pairs[:, 0]
    return perm


def flip_joints(
    joints: np.ndarray,
    visible: np.ndarray,
    image_width: int,
    flip_pairs: Sequence[tuple[int, int]],
) -> tuple[np.ndarray, np.ndarray]:
    """Mirror joints (K, 2) px horizontally in an image ``image_width`` px wide.

    Swaps the flip pairs (joints and visibility), maps ``x -> image_width - 1 - x`` and zeroes
    the coordinates of invisible joints (mmpose's ``fliplr_joints``). Returns new arrays.
    """
    joints = np.asarray(joints, dtype=np.float32)
    visible = np.asarray(visible, dtype=np.float32)
    perm = flip_permutation(joints.shape[0], flip_pairs)
    out = joints[perm].copy()
    vis = visible[perm].copy()
    out[:, 0] = image_width - 1 - out[:, 0]
    out *= (vis > 0)[:, None]
    return out, vis


def flip_center(center: np.ndarray, image_width: int) -> np.ndarray:
    """Mirror a centre (2,) px: ``x -> image_width - 1 - x``."""
    out = np.asarray(center, dtype=np.float32).copy()
    out[0] = image_width - 1 - out[0]
    return out


def flip_affine(matrix: np.ndarray, image_width: int) -> np.ndarray:
    """``matrix`` (2, 3) composed after the horizontal mirror ``x -> image_width - 1 - x``.

    ``matrix`` maps mirrored-image px to crop px; the result maps original-image px to the same
    crop px, so the original image can be warped directly.
    """
    m = np.asarray(matrix, dtype=np.float64)
    out = m.copy()
    out[:, 0] = -m[:, 0]
    out[:, 2] = m[:, 2] + m[:, 0] * (image_width - 1)
    return out


def half_body_box(
    joints: np.ndarray,
    visible: np.ndarray,
    upper: np.ndarray,
    prefer_upper: bool,
    aspect_ratio: float = 1.0,
    padding: float = HALF_BODY_PADDING,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Half-body crop: centre (2,) px and scale (2,) (200-px units), or None.

    ``upper`` (K,) bool marks the upper-body joints; every other joint is lower body. The upper
    set is used when ``prefer_upper`` (the caller draws ``randn() < 0.5``) and it has more than 2
    visible joints, else the lower set if it has more than 2, else the upper set; fewer than 2
    joints gives None. The centre is the joints' mean; the box is their extent, enlarged to
    ``aspect_ratio`` and multiplied by ``padding``.
    """
    vis = np.asarray(visible).reshape(-1) > 0
    upper = np.asarray(upper, dtype=bool).reshape(-1)
    up, low = vis & upper, vis & ~upper
    if prefer_upper and up.sum() > 2:
        selected = up
    elif low.sum() > 2:
        selected = low
    else:
        selected = up
    if selected.sum() < 2:
        return None
    pts = np.asarray(joints, dtype=np.float32)[selected]
    center = pts.mean(axis=0)
    xyxy = np.concatenate([pts.min(axis=0), pts.max(axis=0)])
    _, scale = box_to_center_scale(xyxy, aspect_ratio, padding)
    return center.astype(np.float32), scale


def draw_scale(rng: np.random.Generator, factor: float = SCALE_FACTOR) -> float:
    """Scale multiplier ``clip(N(0,1) * factor + 1, 1 - factor, 1 + factor)``."""
    return float(np.clip(rng.standard_normal() * factor + 1.0, 1.0 - factor, 1.0 + factor))


def draw_rotation(
    rng: np.random.Generator, factor: float = ROTATION_FACTOR, prob: float = ROTATION_PROB
) -> float:
    """Rotation, degrees: ``clip(N(0,1) * factor, -2 factor, 2 factor)`` with p ``prob``, else 0."""
    if rng.random() <= prob:
        return float(np.clip(rng.standard_normal() * factor, -2.0 * factor, 2.0 * factor))
    return 0.0


def warp_image(image: np.ndarray, matrix: np.ndarray, output_size: tuple[int, int]) -> np.ndarray:
    """Warp an (H, W, C) image with a (2, 3) affine to ``output_size`` (width, height).

    cv2.warpAffine, bilinear, constant zero border (mmpose's ``TopDownAffine``). Same dtype.
    """
    size = (int(output_size[0]), int(output_size[1]))
    return cv2.warpAffine(
        image,
        np.asarray(matrix, dtype=np.float64),
        size,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )


def warp_joints(joints: np.ndarray, visible: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine to the visible joints (K, 2); invisible ones are left as they are."""
    joints = np.asarray(joints, dtype=np.float64).reshape(-1, 2)
    moved = apply_affine(np.asarray(matrix, dtype=np.float64)[None], joints[None])[0]
    vis = np.asarray(visible).reshape(-1, 1) > 0
    return np.where(vis, moved, joints).astype(np.float32)


def normalize_image(crop: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (3, H, W) float32: to [0, 1], then ImageNet mean/std."""
    x = crop.astype(np.float32) / np.float32(255.0)
    x = (x - IMAGENET_MEAN) / IMAGENET_STD
    return np.ascontiguousarray(x.transpose(2, 0, 1))
