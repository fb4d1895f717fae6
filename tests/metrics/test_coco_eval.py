"""wildpose.metrics.coco: COCO keypoint AP/AR and OKS against pycocotools."""

from __future__ import annotations

import contextlib
import copy
import io
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO  # the reference: a dev dependency
from pycocotools.cocoeval import COCOeval

from wildpose.errors import InputError
from wildpose.keypoints import AP10K as AP10K_SET
from wildpose.metrics.coco import coco_keypoint_eval, oks
from wildpose.metrics.pose import to_coco_results

AP10K = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "ap10k-sample"
KEYS = ("AP", "AP50", "AP75", "AP_M", "AP_L", "AR", "AR50", "AR75", "AR_M", "AR_L")
K = 17
AP10K_SIGMAS = AP10K_SET.sigma_array()


class PooledCOCOeval(COCOeval):
    """COCOeval whose computeOks pools an image's categories when useCats=0, as computeIoU does.

    Upstream computeOks looks the ground truths up under category -1 with useCats=0, finds none
    and scores every keypoint result as a false positive.
    """

    def computeOks(self, imgId, catId):  # noqa: N802 (pycocotools' name)
        if not self.params.useCats:
            cats = self.params.catIds
            self._gts[imgId, catId] = [g for c in cats for g in self._gts[imgId, c]]
            self._dts[imgId, catId] = [d for c in cats for d in self._dts[imgId, c]]
        return super().computeOks(imgId, catId)


def reference(gt: dict, results: list[dict], sigmas: np.ndarray, use_cats: bool) -> COCOeval:
    """pycocotools' evaluation, silenced, on deep copies (pycocotools mutates its inputs)."""
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO()
        coco_gt.dataset = copy.deepcopy(gt)
        coco_gt.createIndex()
        coco_dt = coco_gt.loadRes(copy.deepcopy(results))
        ev = PooledCOCOeval(coco_gt, coco_dt, "keypoints")
        ev.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        ev.params.useCats = int(use_cats)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev


def assert_parity(gt: dict, results: list[dict], sigmas: np.ndarray, use_cats: bool) -> dict:
    gt_before, res_before = copy.deepcopy(gt), copy.deepcopy(results)
    ours = coco_keypoint_eval(gt, results, sigmas, use_cats=use_cats)
    assert gt == gt_before and results == res_before, "inputs were mutated"
    ref = reference(gt, results, sigmas, use_cats)
    assert list(ours) == list(KEYS)
    np.testing.assert_allclose([ours[k] for k in KEYS], ref.stats, rtol=0, atol=1e-9)
    return ours


def random_case(seed: int, crowd: bool = False, bbox_results: bool = False):
    """A random COCO keypoints dataset and results, with the awkward cases pycocotools handles."""
    rng = np.random.default_rng(seed)
    cats = [3, 7, 11, 20]  # 20 has no annotations
    img_ids = (rng.permutation(90)[:10] + 1).tolist()
    anns, results, next_id = [], [], 1
    sides = [(10, 20), (30, 30), (32, 32), (50, 80), (96, 96), (100, 120), (300, 200)]
    for img in img_ids:
        for _ in range(int(rng.integers(0, 5))):
            w, h = sides[int(rng.integers(len(sides)))]
            x0, y0 = rng.uniform(0, 500, 2)
            xy = np.stack([x0 + rng.uniform(0, w, K), y0 + rng.uniform(0, h, K)], -1)
            v = rng.choice([0, 1, 2], K, p=[0.3, 0.2, 0.5])
            if rng.random() < 0.1:
                v[:] = 0
            xy[v == 0] = 0
            n_kpt = int((v > 0).sum()) if rng.random() > 0.1 else int(rng.integers(0, 3))
            area = float(w * h) if rng.random() > 0.2 else float(rng.uniform(100, 20000))
            cat = cats[int(rng.integers(3))]
            ann = {
                "id": next_id, "image_id": img, "category_id": cat,
                "keypoints": np.c_[np.round(xy), v].ravel().astype(int).tolist(),
                "num_keypoints": n_kpt, "area": area, "bbox": [float(x0), float(y0), w, h],
                "iscrowd": int(crowd and rng.random() < 0.15),
            }  # fmt: skip
            anns.append(ann)
            next_id += 1
            if rng.random() < 0.4:  # a twin (id 0 the first time: a quirk): OKS ties or near-ties
                twin = ann | {"id": 0 if all(a["id"] for a in anns) else next_id}
                twin["category_id"] = cats[int(rng.integers(3))]
                if rng.random() < 0.5:  # a near twin, ignored or in another area range
                    shifted = np.c_[np.round(xy + rng.normal(0, 2, xy.shape)), v] * (v > 0)[:, None]
                    twin["keypoints"] = shifted.ravel().astype(int).tolist()
                    twin |= {"num_keypoints": 0} if rng.random() < 0.5 else {"area": area * 30}
                anns.append(twin)
                next_id += 1
            for _ in range(int(rng.integers(0, 4))):
                noise = rng.normal(0, rng.choice([0.5, 3, 10, 40]), (K, 2))
                wrong = rng.random() < 0.1
                results.append(
                    {
                        "image_id": img,
                        "category_id": cats[int(rng.integers(4))] if wrong else cat,
                        "keypoints": np.c_[xy + noise, rng.random(K)].ravel().tolist(),
                        "score": round(float(rng.random()), 1),  # many ties
                    }
                )
                if rng.random() < 0.2:
                    results.append(copy.deepcopy(results[-1]))  # an exact duplicate
        for _ in range(int(rng.integers(0, 3))):  # junk
            results.append(
                {
                    "image_id": img,
                    "category_id": cats[int(rng.integers(4))],
                    "keypoints": np.c_[rng.uniform(0, 600, (K, 2)), rng.random(K)].ravel().tolist(),
                    "score": round(float(rng.random()), 1),
                }
            )
    crowded = img_ids[0]  # more results than maxDets (20) on one image and category
    for _ in range(30):
        base = next((a for a in anns if a["image_id"] == crowded), anns[0])
        xy = np.asarray(base["keypoints"], float).reshape(K, 3)[:, :2]
        results.append(
            {
                "image_id": crowded,
                "category_id": base["category_id"],
                "keypoints": np.c_[xy + rng.normal(0, 5, (K, 2)), np.ones(K)].ravel().tolist(),
                "score": round(float(rng.random()), 1),
            }
        )
    results.append(results[-1] | {"category_id": 99})  # unknown category: dropped
    anns.append(anns[-1] | {"id": next_id, "category_id": 98})  # unknown category: dropped
    if bbox_results:
        for r in results:
            r["bbox"] = rng.uniform(5, 150, 4).round(1).tolist()
    categories = [{"id": c, "name": f"c{c}"} for c in cats]
    gt = {"images": [{"id": i} for i in img_ids], "annotations": anns, "categories": categories}
    return gt, results


@pytest.mark.parametrize("use_cats", [True, False])
@pytest.mark.parametrize("seed", range(12))
def test_random_parity_with_pycocotools(seed: int, use_cats: bool) -> None:
    gt, results = random_case(seed, crowd=seed % 3 == 0, bbox_results=seed % 4 == 1)
    sigmas = AP10K_SIGMAS if seed % 2 else np.random.default_rng(seed).uniform(0.02, 0.1, K)
    ours = assert_parity(gt, results, sigmas, use_cats)
    assert 0 < ours["AP"] < 1  # the case is neither trivial nor empty


def test_precision_and_recall_arrays_match() -> None:
    from wildpose.metrics.coco import _accumulate, _parse_gt, _parse_results

    gt, results = random_case(100, crowd=True)
    for use_cats in (True, False):
        g, img_rank, cat_rank = _parse_gt(gt, K)
        d = _parse_results(results, img_rank, cat_rank, K)
        precision, recall = _accumulate(g, d, AP10K_SIGMAS, use_cats, len(cat_rank))
        ref = reference(gt, results, AP10K_SIGMAS, use_cats)
        np.testing.assert_allclose(precision, ref.eval["precision"][..., 0], rtol=0, atol=1e-12)
        np.testing.assert_allclose(recall, ref.eval["recall"][..., 0], rtol=0, atol=1e-12)


def test_oks_matches_computeoks() -> None:
    gt, results = random_case(7)
    ref = reference(gt, results, AP10K_SIGMAS, True)
    checked = 0
    for (img, cat), ious in ref.ious.items():
        if len(ious) == 0:
            continue
        gts = ref._gts[img, cat]
        dts = sorted(ref._dts[img, cat], key=lambda d: -d["score"])[:20]  # stable, as mergesort
        g = np.array([a["keypoints"] for a in gts], float).reshape(len(gts), K, 3)
        p = np.array([d["keypoints"] for d in dts], float).reshape(len(dts), K, 3)
        area = np.array([a["area"] for a in gts])
        bbox = np.array([a["bbox"] for a in gts])
        ours = oks(p[..., :2], g[..., :2], g[..., 2], area, AP10K_SIGMAS, bbox)
        np.testing.assert_allclose(ours, ious, rtol=0, atol=1e-12)
        checked += 1
    assert checked > 3


def test_oks_without_labelled_keypoints_uses_the_doubled_box() -> None:
    gt_xy = np.zeros((1, K, 2))
    vis = np.zeros((1, K))
    bbox = np.array([[100.0, 50.0, 20.0, 10.0]])  # doubled box: x in [80, 140], y in [40, 70]
    inside = np.full((1, K, 2), [90.0, 60.0])
    outside = inside.copy()
    outside[0, 0] = [150.0, 30.0]  # 10 px right of and 10 px above the doubled box
    area = np.array([200.0])
    assert oks(inside, gt_xy, vis, area, AP10K_SIGMAS, bbox)[0, 0] == 1.0
    e = 200.0 / (2 * AP10K_SIGMAS[0]) ** 2 / (200.0 + np.spacing(1)) / 2
    expected = (np.exp(-e) + K - 1) / K
    np.testing.assert_allclose(oks(outside, gt_xy, vis, area, AP10K_SIGMAS, bbox), expected)


def test_results_referring_to_unknown_images_are_an_input_error() -> None:
    gt, results = random_case(1)
    with pytest.raises(InputError, match="image ids"):
        coco_keypoint_eval(gt, results + [results[0] | {"image_id": 10_000}], AP10K_SIGMAS)
    with pytest.raises(InputError, match="keypoints per instance"):
        coco_keypoint_eval(gt, results, AP10K_SIGMAS[:5])
    no_area = copy.deepcopy(gt)
    del no_area["annotations"][0]["area"]
    with pytest.raises(InputError, match="area"):
        coco_keypoint_eval(no_area, results, AP10K_SIGMAS)
    twice = gt | {"annotations": gt["annotations"] + gt["annotations"][:1]}
    with pytest.raises(InputError, match="duplicate annotation ids"):
        coco_keypoint_eval(twice, results, AP10K_SIGMAS)


def test_no_results_scores_zero() -> None:
    gt, _ = random_case(2)
    out = coco_keypoint_eval(gt, [], AP10K_SIGMAS)
    assert out["AP"] == 0.0 and out["AR"] == 0.0


def load_ap10k() -> dict:
    path = AP10K / "test_ap10k.json"
    if not path.exists():
        pytest.skip(f"real AP-10K sample not found at {path} (needs ../shared/data)")
    return json.loads(path.read_text())


def gt_arrays(gt: dict) -> tuple[np.ndarray, ...]:
    anns = gt["annotations"]
    kp = np.array([a["keypoints"] for a in anns], float).reshape(len(anns), K, 3)
    img = np.array([a["image_id"] for a in anns])
    cat = np.array([a["category_id"] for a in anns])
    return img, cat, kp[..., :2], kp[..., 2] > 0, np.array([a["bbox"] for a in anns], float)


@pytest.mark.parametrize("use_cats", [True, False])
def test_ap10k_sample_perfect_and_perturbed(use_cats: bool) -> None:
    gt = load_ap10k()
    img, cat, xy, vis, bbox = gt_arrays(gt)
    perfect = to_coco_results(img, cat, xy, np.ones(vis.shape), np.ones(len(img)))
    out = assert_parity(gt, perfect, AP10K_SIGMAS, use_cats)
    for key in ("AP", "AP50", "AP75", "AP_L", "AR", "AR50", "AR75", "AR_L"):
        assert out[key] == pytest.approx(1.0, abs=1e-12)  # precision is tp / (tp + fp + eps)
    assert out["AP_M"] == -1.0  # both animals are large
    rng = np.random.default_rng(0)
    for scale in (2.0, 10.0, 30.0):
        noisy = xy + rng.normal(0, scale, xy.shape)
        res = to_coco_results(img, cat, noisy, rng.random(vis.shape), rng.random(len(img)))
        res += to_coco_results(img, cat, noisy + 1.0, np.ones(vis.shape), np.full(len(img), 0.5))
        assert_parity(gt, res, AP10K_SIGMAS, use_cats)


def test_parity_holds_when_matching_is_chunked(monkeypatch: pytest.MonkeyPatch) -> None:
    import wildpose.metrics.coco as coco

    monkeypatch.setattr(coco, "_CHUNK", 1)  # one bucket per chunk
    gt, results = random_case(3, crowd=True)
    assert_parity(gt, results, AP10K_SIGMAS, True)
    assert_parity(gt, results, AP10K_SIGMAS, False)
