"""Generated COCO-keypoint datasets for the training tests: coloured dots with known positions.

Each animal is a grey ellipse with K coloured dots along its body axis (nose, head, back, tail:
the colour identifies the keypoint, and no name has a left/right partner, so flip augmentation
keeps colours and labels consistent). Keypoints are exact image px (pixel centres at integers,
as COCO annotations).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import yaml

NAMES = ("nose", "head", "back", "tail")
_COLOURS = ((255, 40, 40), (40, 220, 40), (40, 80, 255), (250, 230, 30))  # RGB per keypoint
_OFFSETS = np.array([1.0, 0.55, -0.25, -1.0])  # positions along the body axis (x half-length)
CATEGORIES = (
    {"id": 1, "name": "vole", "supercategory": "Cricetidae"},
    {"id": 2, "name": "zebra", "supercategory": "Equidae"},
)


def _animal(rng: np.random.Generator, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Keypoints (K, 2) px and half-length of one animal placed inside a ``size`` image."""
    w, h = size
    half = rng.uniform(0.14, 0.22) * min(w, h) * 1.4
    centre = rng.uniform([half + 4, half + 4], [w - half - 4, h - half - 4])
    angle = rng.uniform(0, 2 * np.pi)
    axis = np.array([np.cos(angle), np.sin(angle)])
    xy = centre + _OFFSETS[:, None] * half * axis
    return np.round(xy), half


def draw_image(rng: np.random.Generator, animals: list[np.ndarray], size: tuple[int, int]):
    """(H, W, 3) uint8 RGB image with the animals (keypoints (K, 2) px each)."""
    w, h = size
    image = np.clip(rng.normal(90, 12, (h, w, 3)), 0, 255).astype(np.uint8)
    for xy in animals:
        centre = xy[[0, -1]].mean(0)
        length = np.linalg.norm(xy[0] - xy[-1]) / 2
        angle = float(np.degrees(np.arctan2(*(xy[0] - xy[-1])[::-1])))
        axes = (int(length), int(max(length * 0.35, 3)))
        cv2.ellipse(image, tuple(int(v) for v in centre), axes, angle, 0, 360, (150, 150, 150), -1)
        for (x, y), colour in zip(xy, _COLOURS, strict=False):
            cv2.circle(image, (int(x), int(y)), 3, colour, -1, lineType=cv2.LINE_AA)
    return image


def write_coco(
    root: Path,
    n_images: int = 8,
    size: tuple[int, int] = (160, 120),
    seed: int = 0,
    animals_per_image: int = 1,
    name: str = "train",
) -> tuple[Path, Path]:
    """Write ``root/name.json`` and ``root/images/*.png``; returns (json path, image folder).

    Categories alternate between the two of :data:`CATEGORIES` (species vole / zebra, families
    Cricetidae / Equidae). With several animals per image they may overlap.
    """
    rng = np.random.default_rng(seed)
    images_dir = root / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(n_images):
        animals = [_animal(rng, size)[0] for _ in range(animals_per_image)]
        file_name = f"{name}_{i:04d}.png"
        rgb = draw_image(rng, animals, size)
        cv2.imwrite(str(images_dir / file_name), rgb[..., ::-1])
        image_id = 1000 * (seed + 1) + i
        images.append({"id": image_id, "file_name": file_name, "width": size[0], "height": size[1]})
        for xy in animals:
            lo, hi = xy.min(0) - 8, xy.max(0) + 8
            lo, hi = np.maximum(lo, 0), np.minimum(hi, [size[0] - 1, size[1] - 1])
            bbox = [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]
            kp = np.concatenate([xy, np.full((len(xy), 1), 2.0)], 1)
            anns.append(
                {
                    "id": len(anns) + 1 + 100_000 * seed,
                    "image_id": image_id,
                    "category_id": CATEGORIES[i % 2]["id"],
                    "bbox": bbox,
                    "area": bbox[2] * bbox[3],
                    "iscrowd": 0,
                    "num_keypoints": len(xy),
                    "keypoints": kp.reshape(-1).tolist(),
                }
            )
    categories = [
        dict(c, keypoints=list(NAMES), skeleton=[[1, 2], [2, 3], [3, 4]]) for c in CATEGORIES
    ]
    path = root / f"{name}.json"
    path.write_text(json.dumps({"images": images, "annotations": anns, "categories": categories}))
    return path, images_dir


def write_recipe(path: Path, data: dict, **sections: dict) -> Path:
    """A small CPU recipe (tiny-vit, random init, fp32) for ``data``, sections overridable."""
    recipe = {
        "data": data,
        "model": {"arch": "tiny-vit", "clip_weights": "none"},
        "optim": {"lr": 2e-3},
        "schedule": {"epochs": 2, "warmup_iters": 5, "milestones": []},
        "train": {"batch_size": 4, "workers": 0, "seed": 0, "log_every": 1, "threads": 1},
        "eval": {"every": 1, "metric": "PCK@0.1", "batch_size": 8},
    }
    for key, value in sections.items():
        recipe[key] = {**recipe.get(key, {}), **value}
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path
