"""COCO-keypoints export of generated frames: the training and validation data of clamp-demo.

One scene per seed (:func:`wildpose.synthetic.generate_frames`): its frame size, animal count,
background and frame times are drawn from the seed, so a list of seeds fixes the data set
bit for bit. The layout is the COCO keypoints format (cocodataset.org/#format-data):
``annotations.json`` beside an ``images/`` folder of JPEG frames.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from wildpose.atomic import write_bytes, write_json
from wildpose.synthetic import KEYPOINT_NAMES, SKELETON, SyntheticTruth, generate_frames

SIZES: tuple[tuple[int, int], ...] = ((320, 240), (256, 256), (384, 288), (240, 320))
CATEGORY = "animal"
JPEG_QUALITY = 90  # about the losses of the H.264 clips the model then sees


def coco_annotations(
    truth: SyntheticTruth, frame: int, image_id: int, first_id: int, *, full_frame: bool = False
) -> list[dict[str, Any]]:
    """COCO annotations of the animals in one frame of ``truth``.

    Keypoints outside the frame or under another animal are unlabelled (v = 0), the others
    visible (v = 2). Coordinates are moved to COCO's pixel convention (pixel centres at
    integers; the generator's origin is the corner of the first pixel). ``full_frame`` adds,
    for a single-animal frame, a second instance of the animal boxed by the whole frame: the
    crop ``--detector full-frame`` gives.
    """
    out = []
    w, h = truth.size
    vis = truth.visible if truth.visible is not None else np.ones(truth.keypoints.shape[:3], bool)
    for n in range(truth.n_animals):
        x1, y1, x2, y2 = (float(v) - 0.5 for v in truth.boxes[frame, n])
        xy = truth.keypoints[frame, n] - 0.5
        v = np.where(vis[frame, n], 2, 0)
        kps = np.concatenate([np.where(v[:, None] > 0, xy, 0.0), v[:, None]], axis=1)
        boxes = [[x1, y1, x2 - x1, y2 - y1]]
        if full_frame and truth.n_animals == 1:
            boxes.append([-0.5, -0.5, float(w), float(h)])
        for box in boxes:
            out.append(
                {
                    "id": first_id + len(out),
                    "image_id": image_id,
                    "category_id": 1,
                    "bbox": [round(c, 2) for c in box],
                    "area": round(box[2] * box[3], 2),
                    "iscrowd": 0,
                    "num_keypoints": int((v > 0).sum()),
                    "keypoints": [round(float(c), 2) for c in kps.reshape(-1)],
                }
            )
    return out


def write_coco_dataset(
    folder: str | Path,
    seeds: Sequence[int],
    *,
    frames_per_scene: int = 4,
    max_animals: int = 3,
    sizes: Sequence[tuple[int, int]] = SIZES,
    duration_s: float = 30.0,
    full_frame_share: float = 0.5,
) -> Path:
    """Write generated frames and their COCO keypoints file; returns ``folder/annotations.json``.

    Per seed: 1..``max_animals`` animals in a scene of one of ``sizes`` (width, height px), a
    textured (4 in 5) or plain background, ``frames_per_scene`` frames at uniform random times
    in [0, ``duration_s``) s. A share ``full_frame_share`` of single-animal scenes also get the
    whole-frame box (:func:`coco_annotations`).
    """
    folder = Path(folder)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for seed in seeds:
        rng = np.random.default_rng([int(seed), 7])
        size = tuple(sizes[int(rng.integers(len(sizes)))])
        n_animals = int(rng.integers(1, max_animals + 1))
        background = "plain" if rng.random() < 0.2 else "texture"
        full_frame = bool(rng.random() < full_frame_share)
        times = np.sort(rng.uniform(0.0, duration_s, frames_per_scene))
        frames, truth = generate_frames(
            times, size=size, n_animals=n_animals, seed=int(seed), background=background
        )
        for t, image in enumerate(frames):
            name = f"s{int(seed):06d}_{t:02d}.jpg"
            ok, jpeg = cv2.imencode(
                ".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
            )
            assert ok, "cv2 failed to encode a JPEG"
            write_bytes(folder / "images" / name, jpeg.tobytes())
            image_id = len(images) + 1
            images.append({"id": image_id, "file_name": name, "width": size[0], "height": size[1]})
            annotations += coco_annotations(
                truth, t, image_id, len(annotations) + 1, full_frame=full_frame
            )
    category = {
        "id": 1,
        "name": CATEGORY,
        "supercategory": CATEGORY,
        "keypoints": list(KEYPOINT_NAMES),
        "skeleton": [[a + 1, b + 1] for a, b in SKELETON],  # COCO skeletons are 1-based
    }
    coco = {"images": images, "annotations": annotations, "categories": [category]}
    return write_json(folder / "annotations.json", coco, indent=None)
