"""The COCO export of generated frames reads back through the training loader, on the animals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from wildpose.demo.dataset import write_coco_dataset
from wildpose.synthetic import KEYPOINT_NAMES
from wildpose.train.coco import load_coco_keypoints


def test_export_loads_with_the_training_loader(tmp_path: Path) -> None:
    path = write_coco_dataset(tmp_path / "d", range(5), frames_per_scene=2, full_frame_share=1.0)
    meta, samples = load_coco_keypoints(path, path.parent / "images")
    assert meta.readable_names == KEYPOINT_NAMES and meta.flip_pairs == ((1, 2),)
    coco = json.loads(path.read_text())
    assert len(coco["images"]) == 10 and len(samples) == len(coco["annotations"])
    assert all(s.keypoints[:, 2].max() == 2 for s in samples)
    # Single-animal frames carry the animal twice: its own box and the whole frame.
    for image in coco["images"]:
        anns = [a for a in coco["annotations"] if a["image_id"] == image["id"]]
        whole = [a for a in anns if a["bbox"][2] >= image["width"]]
        assert len(whole) == (
            1 if len(anns) == 2 and anns[0]["keypoints"] == anns[1]["keypoints"] else 0
        )


def test_labelled_keypoints_lie_on_the_animal(tmp_path: Path) -> None:
    path = write_coco_dataset(tmp_path / "d", [3], frames_per_scene=3, max_animals=1)
    coco = json.loads(path.read_text())
    for ann in coco["annotations"]:
        image = next(i for i in coco["images"] if i["id"] == ann["image_id"])
        pixels = np.asarray(Image.open(path.parent / "images" / image["file_name"]), int)
        x1, y1, w, h = ann["bbox"]
        inside = pixels[int(y1) + 1 : int(y1 + h), int(x1) + 1 : int(x1 + w)]
        assert inside.size and w < image["width"]
        for x, y, v in np.reshape(ann["keypoints"], (-1, 3)):
            assert v == 2 and x1 <= x <= x1 + w and y1 <= y <= y1 + h


def test_same_seeds_same_data(tmp_path: Path) -> None:
    a = write_coco_dataset(tmp_path / "a", [1, 2], frames_per_scene=2)
    b = write_coco_dataset(tmp_path / "b", [1, 2], frames_per_scene=2)
    assert a.read_text() == b.read_text()
    name = json.loads(a.read_text())["images"][0]["file_name"]
    assert (a.parent / "images" / name).read_bytes() == (b.parent / "images" / name).read_bytes()
