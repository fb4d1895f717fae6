"""Labelled keypoint data in memory: one sample per animal instance; keypoint-set metadata.

The loaders (:mod:`wildpose.train.coco`, :mod:`wildpose.train.dlc`) return
``(KeypointDataset, list[KeypointSample])``. Sigmas and the half-body split of the published
sets come from :mod:`wildpose.keypoints`; other sets get 0.05 per keypoint and a split derived
from their names. A bad ``flip_pairs``, ``skeleton`` or ``n_val`` raises
:class:`~wildpose.errors.ConfigError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from wildpose import keypoints
from wildpose.errors import ConfigError, InputError
from wildpose.train.names import infer_flip_pairs, readable_name

DEFAULT_SIGMA = 0.05  # OKS sigma for keypoint sets without published ones

# Half-body split for keypoint sets other than the published ones, from the readable names.
_FORE_WORDS = frozenset("front fore".split())
_HIND_WORDS = frozenset("back hind rear tail".split())
_UPPER_WORDS = frozenset(
    """eye ear nose snout head neck throat chin jaw mouth lip cheek forehead muzzle beak bill
    crown nape withers shoulder elbow wrist hand arm chest brow eyebrow tongue whisker antenna
    horn antler trunk""".split()
)


@dataclass(frozen=True, eq=False)
class KeypointSample:
    """One labelled animal instance.

    ``bbox`` (4,) float32 xywh image px, sanitised as mmpose does; ``keypoints`` (K, 3) float32:
    x, y image px and visibility (0 unlabelled, 1 labelled but occluded, 2 visible; unlabelled
    joints have x = y = 0); ``area`` in px^2 (the annotation's, for OKS); ``image_size`` is
    (width, height) px, (0, 0) when unknown.
    """

    image_path: Path
    image_id: int
    category_id: int
    bbox: np.ndarray
    keypoints: np.ndarray
    area: float
    image_size: tuple[int, int] = (0, 0)


@dataclass(frozen=True, eq=False)
class KeypointDataset:
    """Metadata of a keypoint set (K keypoints).

    ``readable_names`` are the language prompts; ``skeleton`` and ``flip_pairs`` hold 0-based
    index pairs; ``sigmas`` (K,) float32 are OKS sigmas (AP-10K's and Animal-Pose's published
    ones, else 0.05 each); ``categories`` maps category id -> name; ``upper_body_ids`` are the
    half-body "upper" joints (all others are "lower").
    """

    keypoint_names: tuple[str, ...]
    readable_names: tuple[str, ...]
    skeleton: tuple[tuple[int, int], ...]
    flip_pairs: tuple[tuple[int, int], ...]
    sigmas: np.ndarray
    categories: dict[int, str] = field(default_factory=dict)
    upper_body_ids: tuple[int, ...] = ()

    @property
    def num_keypoints(self) -> int:
        return len(self.keypoint_names)


def upper_body_ids(readable: Sequence[str]) -> tuple[int, ...]:
    """Half-body "upper" joints: a published set's (mmpose's) split, else derived from the names.

    A name is upper if it has a fore-limb word (front, fore); else lower if it has a hind word
    (back, hind, rear, tail); else upper if it names a head, neck or fore-limb part. For
    Animal-Pose this reproduces mmpose's split.
    """
    known = keypoints.match(tuple(readable))
    if known is not None:
        return known.upper_body_ids
    ids = []
    for i, name in enumerate(readable):
        words = set(name.split())
        if words & _FORE_WORDS or (not words & _HIND_WORDS and words & _UPPER_WORDS):
            ids.append(i)
    return tuple(ids)


def _check_pairs(pairs: Sequence[Sequence[int]], k: int, what: str) -> tuple[tuple[int, int], ...]:
    out = tuple((int(a), int(b)) for a, b in pairs)
    flat = [i for pair in out for i in pair]
    if any(not 0 <= i < k for i in flat):
        raise ConfigError(f"{what} {list(out)} has an index outside 0..{k - 1}")
    if what == "flip_pairs" and len(set(flat)) != len(flat):
        raise ConfigError(f"flip_pairs {list(out)} uses a keypoint twice")
    return out


def make_metadata(
    names: Sequence[str],
    skeleton: Sequence[Sequence[int]] = (),
    categories: dict[int, str] | None = None,
    flip_pairs: Sequence[Sequence[int]] | None = None,
) -> KeypointDataset:
    """Metadata for raw keypoint ``names``: readable prompts, flip pairs (given or inferred from
    left/right names), sigmas, half-body split. ``skeleton`` is 0-based."""
    names = tuple(str(n) for n in names)
    readable = tuple(readable_name(n) for n in names)
    k = len(names)
    pairs = infer_flip_pairs(names) if flip_pairs is None else flip_pairs
    known = keypoints.match(readable)
    sigmas = known.sigmas if known is not None else (DEFAULT_SIGMA,) * k
    return KeypointDataset(
        keypoint_names=names,
        readable_names=readable,
        skeleton=_check_pairs(skeleton, k, "skeleton"),
        flip_pairs=_check_pairs(pairs, k, "flip_pairs"),
        sigmas=np.asarray(sigmas, dtype=np.float32),
        categories=dict(categories or {}),
        upper_body_ids=upper_body_ids(readable),
    )


def sanitize_box(bbox: Sequence[float], width: int, height: int) -> np.ndarray | None:
    """mmpose's box cleaning: xywh -> clipped xywh (4,) float32, or None when degenerate.

    ``x1 = max(0, x)``, ``x2 = min(W - 1, x1 + max(0, w - 1))`` (same for y); kept only when
    ``x2 > x1`` and ``y2 > y1``.
    """
    x, y, w, h = (float(v) for v in bbox[:4])
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1.0, x1 + max(0.0, w - 1.0))
    y2 = min(height - 1.0, y1 + max(0.0, h - 1.0))
    if x2 <= x1 or y2 <= y1:
        return None
    return np.array([x1, y1, x2 - x1, y2 - y1], dtype=np.float32)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) px from the image header (Pillow reads no pixels)."""
    try:
        with Image.open(path) as im:
            return int(im.size[0]), int(im.size[1])
    except FileNotFoundError:
        raise InputError("image file not found", path=path) from None
    except OSError as exc:
        raise InputError(f"cannot read image: {exc}", path=path) from None


def split_samples(
    samples: Sequence[KeypointSample], n_val: int, seed: int
) -> tuple[list[KeypointSample], list[KeypointSample]]:
    """Deterministic train/val split by image: ``n_val`` images (with all their instances) go
    to validation. Both lists keep the input order."""
    images = list(dict.fromkeys(s.image_path for s in samples))
    if not 0 <= n_val < len(images):
        raise ConfigError(f"n_val={n_val} must be in [0, {len(images)}) (number of images)")
    order = np.random.default_rng(seed).permutation(len(images))
    val_images = {images[i] for i in order[:n_val]}
    train = [s for s in samples if s.image_path not in val_images]
    val = [s for s in samples if s.image_path in val_images]
    return train, val
