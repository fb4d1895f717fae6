from __future__ import annotations

import pytest

from wildpose.keypoints import AP10K
from wildpose.train.names import infer_flip_pairs, readable_name

# AP-10K as named in its JSON files and in mmpose's dataset info.
AP10K_JSON = [
    "left_eye", "right_eye", "nose", "neck", "root_of_tail", "left_shoulder", "left_elbow",
    "left_front_paw", "right_shoulder", "right_elbow", "right_front_paw", "left_hip", "left_knee",
    "left_back_paw", "right_hip", "right_knee", "right_back_paw",
]  # fmt: skip
AP10K_MMPOSE = [
    "L_Eye", "R_Eye", "Nose", "Neck", "Root of tail", "L_Shoulder", "L_Elbow", "L_F_Paw",
    "R_Shoulder", "R_Elbow", "R_F_Paw", "L_Hip", "L_Knee", "L_B_Paw", "R_Hip", "R_Knee", "R_B_Paw",
]  # fmt: skip
# clamp-spec section 2 (prompts) and section 7 (flip pairs).
SPEC_PROMPTS = [
    "left eye", "right eye", "nose", "neck", "tail root", "left shoulder", "left elbow",
    "left front paw", "right shoulder", "right elbow", "right front paw", "left hip", "left knee",
    "left back paw", "right hip", "right knee", "right back paw",
]  # fmt: skip
SPEC_FLIP_PAIRS = [(0, 1), (5, 8), (6, 9), (7, 10), (11, 14), (12, 15), (13, 16)]

ANIMALPOSE = [
    "L_Eye", "R_Eye", "L_EarBase", "R_EarBase", "Nose", "Throat", "TailBase", "Withers",
    "L_F_Elbow", "R_F_Elbow", "L_B_Elbow", "R_B_Elbow", "L_F_Knee", "R_F_Knee", "L_B_Knee",
    "R_B_Knee", "L_F_Paw", "R_F_Paw", "L_B_Paw", "R_B_Paw",
]  # fmt: skip
ANIMALPOSE_READABLE = [
    "left eye", "right eye", "left ear base", "right ear base", "nose", "throat", "tail base",
    "withers", "left front elbow", "right front elbow", "left back elbow", "right back elbow",
    "left front knee", "right front knee", "left back knee", "right back knee", "left front paw",
    "right front paw", "left back paw", "right back paw",
]  # fmt: skip


@pytest.mark.parametrize("names", [AP10K_JSON, AP10K_MMPOSE])
def test_ap10k_names_give_the_official_prompts(names: list[str]) -> None:
    assert [readable_name(n) for n in names] == SPEC_PROMPTS
    assert list(AP10K.keypoints) == SPEC_PROMPTS


def test_animalpose_names() -> None:
    assert [readable_name(n) for n in ANIMALPOSE] == ANIMALPOSE_READABLE


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("snout", "snout"),
        ("leftear", "left ear"),
        ("rightear", "right ear"),
        ("tailbase", "tail base"),
        ("L_F_Paw", "left front paw"),
        ("R_B_Paw", "right back paw"),
        ("Root of tail", "tail root"),
        ("leftHindPaw", "left hind paw"),
        ("left_front_paw", "left front paw"),
        ("RightEar", "right ear"),
        ("spine2", "spine 2"),
        ("LF_paw", "left front paw"),
        ("head-top", "head top"),
        ("NOSE", "nose"),
        ("  Withers ", "withers"),
        ("xyzzy", "xyzzy"),  # unknown words are kept
        ("f", "f"),  # a lone abbreviation that needs a following word is kept
    ],
)
def test_readable_name(raw: str, expected: str) -> None:
    assert readable_name(raw) == expected


@pytest.mark.parametrize("names", [AP10K_JSON, AP10K_MMPOSE, SPEC_PROMPTS])
def test_ap10k_flip_pairs_equal_the_spec(names: list[str]) -> None:
    assert infer_flip_pairs(names) == SPEC_FLIP_PAIRS


def test_flip_pairs_other_sets() -> None:
    assert infer_flip_pairs(ANIMALPOSE) == [(0, 1), (2, 3)] + [(i, i + 1) for i in range(8, 20, 2)]
    assert infer_flip_pairs(["snout", "leftear", "rightear", "tailbase"]) == [(1, 2)]
    assert infer_flip_pairs(["r_ear", "nose", "l_ear"]) == [(0, 2)]
    assert infer_flip_pairs(["front_left_paw", "front_right_paw"]) == [(0, 1)]
    assert infer_flip_pairs(["nose", "tail", "left_ear"]) == []
