"""The published keypoint sets against independent copies and the datasets' own files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from wildpose.keypoints import (
    ANIMALPOSE,
    AP10K,
    KEYPOINT_SETS,
    KeypointSet,
    match,
)
from wildpose.train.names import infer_flip_pairs, readable_name

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"

# mmpose's dataset info (configs/_base_/datasets/ap10k.py, animalpose.py), typed again here.
AP10K_SIGMAS = [0.025, 0.025, 0.026, 0.035, 0.035, 0.079, 0.072, 0.062, 0.079, 0.072, 0.062,
                0.107, 0.087, 0.089, 0.107, 0.087, 0.089]  # fmt: skip
ANIMALPOSE_SIGMAS = [0.025, 0.025, 0.026, 0.035, 0.035, 0.10, 0.10, 0.10, 0.107, 0.107, 0.107,
                     0.107, 0.087, 0.087, 0.087, 0.087, 0.089, 0.089, 0.089, 0.089]  # fmt: skip


@pytest.mark.parametrize(
    ("kset", "sigmas"), [(AP10K, AP10K_SIGMAS), (ANIMALPOSE, ANIMALPOSE_SIGMAS)]
)
def test_sets_are_consistent(kset: KeypointSet, sigmas: list[float]) -> None:
    assert KEYPOINT_SETS[kset.name] is kset
    assert kset.num_keypoints == len(sigmas) and list(kset.sigmas) == sigmas
    assert list(kset.flip_pairs) == infer_flip_pairs(kset.keypoints)
    assert [readable_name(n) for n in kset.keypoints] == list(kset.keypoints)
    assert match(list(kset.keypoints)) is kset
    arr = kset.sigma_array()
    assert arr.dtype == np.float64 and not arr.flags.writeable


@pytest.mark.parametrize(
    ("kset", "path"),
    [
        (AP10K, "ap10k-sample/test_ap10k.json"),
        (ANIMALPOSE, "animalpose-sample/test_animalpose.json"),
    ],
)
def test_sets_match_the_annotation_files(kset: KeypointSet, path: str) -> None:
    file = DATA / path
    if not file.is_file():
        pytest.skip(f"real test data not found at {file}")
    category = json.loads(file.read_text())["categories"][0]
    assert [readable_name(n) for n in category["keypoints"]] == list(kset.keypoints)
    assert [(a - 1, b - 1) for a, b in category["skeleton"]] == list(kset.skeleton)


def test_unknown_and_invalid_sets() -> None:
    assert match(["nose", "tail"]) is None
    with pytest.raises(ValueError, match="sigmas"):
        dataclasses.replace(AP10K, sigmas=(0.1,))
    with pytest.raises(ValueError, match="outside"):
        dataclasses.replace(AP10K, flip_pairs=((0, 17),))
    with pytest.raises(dataclasses.FrozenInstanceError):
        AP10K.name = "x"  # type: ignore[misc]
