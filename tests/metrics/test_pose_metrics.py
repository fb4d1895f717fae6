"""wildpose.metrics.pose: PCK, RMSE, rescoring and OKS-NMS, COCO results, mean-pose baseline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from wildpose.errors import WildposeError
from wildpose.keypoints import AP10K
from wildpose.metrics.pose import (
    mean_pose_baseline,
    pck,
    rescore_and_nms,
    rmse,
    to_coco_results,
    write_coco_results,
)

K = 17
AP10K_SIGMAS = AP10K.sigma_array()


def test_pck_and_rmse_by_hand() -> None:
    gt = np.zeros((2, 3, 2))
    pred = np.zeros((2, 3, 2))
    pred[0, 0] = [3.0, 4.0]  # 5 px: 0.05 of norm 100
    pred[0, 1] = [12.0, 0.0]  # 12 px: 0.12
    pred[0, 2] = [100.0, 0.0]  # invisible: ignored
    pred[1, 0] = [0.0, 6.0]  # 6 px of norm 200: 0.03
    pred[1, 1] = [0.0, 30.0]  # 0.15
    pred[1, 2] = [8.0, 6.0]  # 10 px: 0.05
    visible = np.array([[True, True, False], [True, True, True]])
    out = pck(pred, gt, visible, np.array([100.0, 200.0]))
    # keypoint 0: 0.05 and 0.03; keypoint 1: 0.12 and 0.15; keypoint 2: 0.05 (one instance)
    # PCK@0.05 (strict <): k0 1/2, k1 0/2, k2 0/1 -> mean 1/6
    # PCK@0.1: k0 2/2, k1 0/2, k2 1/1 -> 2/3; PCK@0.2: all -> 1
    assert out == pytest.approx({"PCK@0.05": 1 / 6, "PCK@0.1": 2 / 3, "PCK@0.2": 1.0})
    per_axis = pck(pred, gt, visible, np.array([[100.0, 100.0], [200.0, 10.0]]), (0.1,))
    # instance 1 per axis: k0 0.6, k1 3.0, k2 hypot(0.04, 0.6) -> k0 1/2, k1 0/2, k2 0/1
    assert per_axis == pytest.approx({"PCK@0.1": 1 / 6})
    assert pck(pred, gt, np.zeros_like(visible), np.ones(2)) == {
        "PCK@0.05": 0.0,
        "PCK@0.1": 0.0,
        "PCK@0.2": 0.0,
    }
    # squared errors of the visible keypoints: 25, 144, 36, 900, 100
    assert rmse(pred, gt, visible) == pytest.approx(np.sqrt((25 + 144 + 36 + 900 + 100) / 5))
    assert np.isnan(rmse(pred, gt, np.zeros_like(visible)))


def test_rescore_and_nms_keeps_the_best_of_near_duplicates() -> None:
    rng = np.random.default_rng(0)
    pose = rng.uniform(100, 300, (K, 2))
    other = rng.uniform(400, 600, (K, 2))
    xy = np.stack([pose + 0.5, pose, other, pose, pose + 0.2])
    image_ids = np.array([1, 1, 1, 2, 1])
    score = np.full((5, K), 0.9)
    score[0] = 0.5  # the first near-duplicate scores lower
    score[1, :5] = 0.1  # below 0.2: left out of the mean
    score[4] = 0.9  # ties with pose 1 (after rescoring): the earlier one wins
    box_area = np.full(5, 200.0 * 200.0)
    keep, inst = rescore_and_nms(image_ids, xy, score, box_area, AP10K_SIGMAS)
    np.testing.assert_allclose(inst, [0.5, 0.9, 0.9, 0.9, 0.9])
    assert keep.tolist() == [1, 2, 3]  # 0 and 4 duplicate 1; image 2 is not compared with 1
    box_score = np.array([1.0, 0.5, 1.0, 1.0, 1.0])
    keep, inst = rescore_and_nms(image_ids, xy, score, box_area, AP10K_SIGMAS, box_score)
    assert keep.tolist() == [2, 3, 4] and inst[1] == pytest.approx(0.45)
    none_above = np.full((1, K), 0.2)
    _, inst = rescore_and_nms([1], xy[:1], none_above, box_area[:1], AP10K_SIGMAS)
    assert inst.tolist() == [0.0]
    keep, _ = rescore_and_nms(image_ids, xy, score, box_area, AP10K_SIGMAS, nms_thr=None)
    assert keep.tolist() == [0, 1, 2, 3, 4]


def test_write_coco_results_round_trip_and_atomicity(tmp_path: Path) -> None:
    xy = np.arange(2 * K * 2, dtype=np.float32).reshape(2, K, 2) / 3
    res = to_coco_results(np.array([4, 5]), np.array([1, 2]), xy, np.full((2, K), 0.5), [0.7, 0.1])
    assert res[0]["image_id"] == 4 and res[1]["category_id"] == 2 and res[0]["score"] == 0.7
    assert res[1]["keypoints"][:3] == [float(xy[1, 0, 0]), float(xy[1, 0, 1]), 0.5]
    path = tmp_path / "out" / "results.json"
    write_coco_results(path, res)
    assert json.loads(path.read_text()) == res
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]
    bad = tmp_path / "bad.json"
    with pytest.raises(WildposeError, match="bad.json"):
        write_coco_results(bad, [{"x": object()}])
    assert list(tmp_path.iterdir()) == [tmp_path / "out"]


def test_mean_pose_baseline() -> None:
    rng = np.random.default_rng(0)
    uv = rng.uniform(0, 1, (K, 2))
    boxes = np.array([[10.0, 20.0, 100.0, 50.0], [300.0, 0.0, 40.0, 80.0], [0, 0, 7.0, 9.0]])
    train_xy = boxes[:, None, :2] + uv[None] * boxes[:, None, 2:]
    visible = np.ones((3, K), dtype=bool)
    visible[2, :3] = False
    train_xy[2, :3] = -1000.0  # invisible: must not enter the mean
    visible[:, 4] = False  # never visible: the box centre
    test_box = np.array([[5.0, 5.0, 60.0, 30.0]])
    pred = mean_pose_baseline(train_xy, visible, boxes, test_box)
    expected = test_box[:, None, :2] + uv[None] * test_box[:, None, 2:]
    expected[0, 4] = [35.0, 20.0]
    np.testing.assert_allclose(pred, expected, rtol=0, atol=1e-9)
