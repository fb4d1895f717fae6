"""Evaluation: parity with pycocotools, PCK/RMSE, crop geometry, detector boxes, errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import synth
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from wildpose.config.train import load_config
from wildpose.errors import ConfigError
from wildpose.metrics.pose import mean_pose_baseline, pck
from wildpose.pose.checkpoint import load_model
from wildpose.pose.crop import CropTransform, crop_images
from wildpose.train.coco import load_coco_keypoints
from wildpose.train.dataset import TopDownDataset
from wildpose.train.evaluation import (
    Predictions,
    baseline_metrics,
    evaluate_model,
    make_predictor,
    match_predictions,
    pose_errors,
    predict_samples,
    score_predictions,
)
from wildpose.train.loop import train
from wildpose.train.samples import KeypointSample
from wildpose.train.transforms import IMAGENET_MEAN, IMAGENET_STD

STATS = ("AP", "AP50", "AP75", "AP_M", "AP_L", "AR", "AR50", "AR75", "AR_M", "AR_L")


def pycocotools_stats(gt_path: Path, results: list[dict], sigmas: np.ndarray) -> dict:
    gt = COCO(str(gt_path))
    ev = COCOeval(gt, gt.loadRes(results), "keypoints")
    ev.params.kpt_oks_sigmas = np.asarray(sigmas)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return dict(zip(STATS, ev.stats, strict=True))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny model overfitted on generated images, and those images' annotations."""
    root = tmp_path_factory.mktemp("eval")
    ann, images = synth.write_coco(root, n_images=6, seed=4)
    data = {"train_annotations": str(ann), "train_images": str(images), "augment": False}
    recipe = synth.write_recipe(
        root / "r.yaml",
        data,
        optim={"lr": 2e-2},
        train={"batch_size": 6},
        schedule={"epochs": 40, "warmup_iters": 5, "milestones": []},
    )
    best = train(load_config(recipe), root / "work")
    return {"model": load_model(best), "ann": ann, "images": images, "root": root}


def test_evaluate_model_equals_pycocotools(trained: dict, tmp_path: Path) -> None:
    preds, report = tmp_path / "out" / "preds.json", tmp_path / "out" / "metrics.json"
    metrics = evaluate_model(
        trained["model"],
        trained["ann"],
        trained["images"],
        device="cpu",
        workers=0,
        predictions_path=preds,
        json_path=report,
    )
    results = json.loads(preds.read_text())
    assert len(results) == 6 and all(len(r["keypoints"]) == 12 for r in results)
    sigmas = np.asarray(json.loads(report.read_text())["sigmas"])
    assert np.allclose(sigmas, 0.05)  # generated names: no published sigmas, model has 0.05
    ref = pycocotools_stats(trained["ann"], results, sigmas)
    for key in STATS:
        assert metrics[key] == pytest.approx(ref[key], abs=1e-12), key
    assert metrics["AP50"] > 0.2  # an overfitted model: the comparison is not all zeros
    saved = json.loads(report.read_text())
    assert saved["metrics"] == pytest.approx(metrics) and saved["boxes"] == "gt"
    assert not list(preds.parent.glob(".*"))


def test_pck_and_rmse_by_hand(trained: dict, tmp_path: Path) -> None:
    preds = tmp_path / "preds.json"
    metrics = evaluate_model(
        trained["model"],
        trained["ann"],
        trained["images"],
        device="cpu",
        workers=0,
        flip_test=False,
        predictions_path=preds,
    )
    gt = json.loads(trained["ann"].read_text())
    by_image = {a["image_id"]: a for a in gt["annotations"]}
    d, norm = [], []
    for r in json.loads(preds.read_text()):
        a = by_image[r["image_id"]]
        kp_pred = np.reshape(r["keypoints"], (-1, 3))[:, :2]
        kp_gt = np.reshape(a["keypoints"], (-1, 3))[:, :2]
        d.append(np.linalg.norm(kp_pred - kp_gt, axis=1))
        norm.append(max(a["bbox"][2], a["bbox"][3]) - 1)  # mmpose's sanitised box: w - 1
    d, norm = np.array(d), np.array(norm)[:, None]
    for thr in (0.05, 0.1, 0.2):
        assert metrics[f"PCK@{thr:g}"] == pytest.approx(np.mean(d / norm < thr))
    assert metrics["RMSE"] == pytest.approx(np.sqrt(np.mean(d**2)))


def test_scores_match_pycocotools_with_crowded_images(tmp_path: Path) -> None:
    ann, images = synth.write_coco(tmp_path, n_images=6, seed=5, animals_per_image=3)
    meta, samples = load_coco_keypoints(ann, images)
    rng = np.random.default_rng(0)
    gt_xy = np.stack([s.keypoints[:, :2] for s in samples])
    noise = rng.normal(0, 1, gt_xy.shape) * rng.uniform(0.5, 12, (len(samples), 1, 1))
    pred = Predictions(
        (gt_xy + noise).astype(np.float32),
        rng.uniform(0.1, 1.0, gt_xy.shape[:2]).astype(np.float32),
        np.array([s.bbox[2] * s.bbox[3] * 1.5 for s in samples]),
    )
    metrics, results = score_predictions(samples, samples, pred, meta.sigmas.astype(np.float64))
    ref = pycocotools_stats(ann, results, meta.sigmas)
    for key in STATS:
        assert metrics[key] == pytest.approx(ref[key], abs=1e-12), key
    assert 0 < metrics["AP"] < 1


def test_crop_points_back_to_image(trained: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    meta, samples = load_coco_keypoints(trained["ann"], trained["images"])
    predictor = make_predictor(trained["model"].model, trained["model"].manifest, device="cpu")
    size = predictor.input_size[0]
    points = torch.tensor([[size / 2, size / 2], [0.0, 0.0], [size, size], [5.0, 9.0]])

    def fake(crops: torch.Tensor):
        n = crops.shape[0]
        return points.expand(n, -1, -1), torch.ones(n, 4)

    monkeypatch.setattr(predictor, "predict_crops", fake)
    pred = predict_samples(predictor, samples, meta, batch_size=4)
    box = np.stack([s.bbox for s in samples]).astype(np.float64)
    centre = box[:, :2] + box[:, 2:] / 2
    side = box[:, 2:].max(1, keepdims=True) * 1.25  # square crops: longer side x 1.25 padding
    np.testing.assert_allclose(pred.xy[:, 0], centre, atol=1e-3)
    np.testing.assert_allclose(pred.xy[:, 1], centre - side / 2, atol=1e-3)
    np.testing.assert_allclose(pred.xy[:, 2], centre + side / 2, atol=1e-3)
    np.testing.assert_allclose(pred.box_area, side[:, 0] ** 2, rtol=1e-5)


def test_dataset_crops_equal_the_predictor_crops(trained: dict) -> None:
    """The evaluation crops (cv2) are the ones ``PosePredictor.predict(origin="center")`` cuts."""
    meta, samples = load_coco_keypoints(trained["ann"], trained["images"])
    size = trained["model"].model.arch.image_size
    dataset = TopDownDataset(samples, meta, (size, size), (32, 32), 8, train=False)
    for i in (0, 3):
        item = dataset[i]
        ours = item.image.numpy() * IMAGENET_STD[:, None, None] + IMAGENET_MEAN[:, None, None]
        rgb = cv2.imread(str(samples[i].image_path))[..., ::-1].copy()
        frames = torch.from_numpy(rgb).permute(2, 0, 1)[None].float() / 255
        x, y, w, h = samples[i].bbox
        tf = CropTransform.from_boxes(np.array([[x, y, x + w, y + h]]), (size, size))
        theirs = crop_images(frames, torch.zeros(1, dtype=torch.long), tf)[0].numpy()
        assert np.abs(ours - theirs).mean() < 2e-3
        assert np.abs(ours - theirs).max() < 0.05


def test_pose_errors_and_matching() -> None:
    kp = np.array([[10, 10, 2], [20, 10, 2], [0, 0, 0]], np.float32)
    samples = [
        KeypointSample(Path("a.png"), 1, 1, np.array([0, 0, 100, 50], np.float32), kp, 5000.0),
        KeypointSample(
            Path("a.png"), 1, 1, np.array([200, 0, 40, 80], np.float32), kp + [200, 0, 0], 3200.0
        ),
    ]
    xy = np.stack([s.keypoints[:, :2] for s in samples]).astype(np.float64)
    xy[0, 0] += [6, 8]  # 10 px off: PCK@0.1 of box 100 is 10 px -> miss (strict <)
    xy[1, 1] += [3, 0]  # 3 px off in a box of 80: hit at 0.05 (4 px)
    errors = pose_errors(samples, xy)
    assert errors["PCK@0.05"] == pytest.approx(0.75) and errors["PCK@0.1"] == 0.75
    assert errors["PCK@0.2"] == 1.0
    assert errors["RMSE"] == pytest.approx(np.sqrt((100 + 9) / 4))
    sigmas = np.full(3, 0.05)
    # predictions in the other order plus a far one: each ground truth gets its own
    pred = np.stack([xy[1], np.full((3, 2), 900.0), xy[0]])
    matched = match_predictions(samples, np.array([1, 1, 1]), pred, sigmas)
    np.testing.assert_allclose(matched, xy)
    assert np.isnan(match_predictions(samples, np.array([7, 7, 7]), pred, sigmas)).all()
    errors = pose_errors(samples, np.full_like(xy, np.nan))
    assert errors["PCK@0.2"] == 0.0 and np.isnan(errors["RMSE"])


def test_baseline_is_the_mean_pose(trained: dict) -> None:
    meta, samples = load_coco_keypoints(trained["ann"], trained["images"])
    train_s, val_s = samples[:4], samples[4:]
    got = baseline_metrics(train_s, val_s, meta.sigmas.astype(np.float64))
    kp = np.stack([s.keypoints for s in train_s])
    vkp = np.stack([s.keypoints for s in val_s])
    xy = mean_pose_baseline(
        kp[..., :2],
        kp[..., 2] > 0,
        np.stack([s.bbox for s in train_s]),
        np.stack([s.bbox for s in val_s]),
    )
    norm = np.stack([s.bbox for s in val_s])[:, 2:].max(1)
    assert got["PCK@0.1"] == pck(xy, vkp[..., :2], vkp[..., 2] > 0, norm)["PCK@0.1"]


def test_detector_boxes(trained: dict, tmp_path: Path) -> None:
    preds = tmp_path / "preds.json"
    metrics = evaluate_model(
        trained["model"],
        trained["ann"],
        trained["images"],
        device="cpu",
        workers=0,
        boxes="full-frame",
        predictions_path=preds,
    )
    results = json.loads(preds.read_text())
    assert len(results) == 6  # one whole-frame box per image
    assert all(np.isfinite(r["keypoints"]).all() for r in results)
    assert metrics["instances"] == 6
    # one animal and one prediction per image: each ground truth is scored by its image's
    gt = json.loads(trained["ann"].read_text())
    by_image = {a["image_id"]: a for a in gt["annotations"]}
    d, norm = [], []
    for r in results:
        a = by_image[r["image_id"]]
        kp_pred = np.reshape(r["keypoints"], (-1, 3))[:, :2]
        d.append(np.linalg.norm(kp_pred - np.reshape(a["keypoints"], (-1, 3))[:, :2], axis=1))
        norm.append(max(a["bbox"][2], a["bbox"][3]) - 1)  # mmpose's sanitised box: w - 1
    d, norm = np.array(d), np.array(norm)[:, None]
    for thr in (0.05, 0.1, 0.2):
        assert metrics[f"PCK@{thr:g}"] == pytest.approx(np.mean(d / norm < thr))
    assert metrics["RMSE"] == pytest.approx(np.sqrt(np.mean(d**2)))


def test_detector_boxes_equal_to_the_gt_boxes_give_the_gt_results(trained: dict, tmp_path: Path):
    """A box file holding the GT boxes (corner-origin px, frame = image order) reproduces the
    GT-box predictions exactly; AP pools the categories."""
    gt = json.loads(trained["ann"].read_text())
    order = {image["id"]: i for i, image in enumerate(gt["images"])}
    _, samples = load_coco_keypoints(trained["ann"], trained["images"])
    rows = ["frame,x1,y1,x2,y2,score"]
    for s in samples:
        x, y, w, h = (float(v) for v in s.bbox)
        rows.append(f"{order[s.image_id]},{x + 0.5},{y + 0.5},{x + w + 0.5},{y + h + 0.5},0.9")
    (tmp_path / "boxes.csv").write_text("\n".join(rows))
    kw = {"device": "cpu", "workers": 0, "flip_test": False}
    ref = evaluate_model(trained["model"], trained["ann"], trained["images"], **kw)
    got = evaluate_model(
        trained["model"],
        trained["ann"],
        trained["images"],
        boxes=f"boxes:{tmp_path / 'boxes.csv'}",
        predictions_path=tmp_path / "p.json",
        **kw,
    )
    for key in ("PCK@0.05", "PCK@0.1", "PCK@0.2", "RMSE"):
        assert got[key] == pytest.approx(ref[key], abs=1e-5), key
    assert got["AP50"] > 0
    categories = {c["id"] for c in gt["categories"]}
    assert {r["category_id"] for r in json.loads((tmp_path / "p.json").read_text())} <= categories


def test_keypoint_count_mismatch_is_one_line(trained: dict, tiny_model) -> None:
    with pytest.raises(ConfigError) as exc:
        evaluate_model(tiny_model, trained["ann"], trained["images"], device="cpu")
    text = str(exc.value)
    assert "\n" not in text and str(trained["ann"]) in text and "17" in text and "4" in text
