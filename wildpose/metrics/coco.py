"""COCO keypoint AP/AR with OKS, equal to pycocotools' ``COCOeval(iouType='keypoints')``.

Coordinates are image px (origin at the top-left corner of the top-left pixel). ``K`` is the
number of keypoints; ``sigmas`` (K,) are the per-keypoint OKS constants of the dataset
(:meth:`wildpose.keypoints.AP10K.sigma_array` for AP-10K).

:func:`coco_keypoint_eval` is a vectorised re-implementation of pycocotools' ``COCOeval`` with
``iouType='keypoints'`` (maxDets 20, area ranges all/medium/large, OKS thresholds .50:.05:.95,
101 recall points; cocodataset.org/#keypoints-eval) and gives the same numbers, including its
tie-breaking and quirks: ground truths with ``num_keypoints == 0`` or ``iscrowd`` are ignored, a
ground truth without labelled keypoints is scored by the distance of the prediction to its
doubled box, a match to a ground truth whose id is 0 counts as no match, and the area of a
result is the extent of its keypoints (or of its ``bbox`` where the first result has one).
pycocotools stays the reference in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from wildpose.errors import InputError

# The parameters of pycocotools' Params.setKpParams, computed the same way (bit-equal).
_OKS_THRS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
_REC_THRS = np.linspace(0.0, 1.00, int(np.round((1.00 - 0.0) / 0.01)) + 1, endpoint=True)
_AREA_RNG = np.array([[0**2, 1e5**2], [32**2, 96**2], [96**2, 1e5**2]], dtype=np.float64)
_MAX_DETS = 20
_CHUNK = 1 << 21  # elements per matching chunk (bounds memory for crowded images)


def _oks_core(pred, gt, vis, area, bbox, sigmas) -> np.ndarray:
    """OKS of broadcastable pairs: pred/gt (..., K, 2), vis (..., K), area (...), bbox (..., 4)."""
    labelled = vis > 0
    has = labelled.any(-1)
    dx = pred[..., 0] - gt[..., 0]
    dy = pred[..., 1] - gt[..., 1]
    if not has.all():  # no labelled keypoint: distance to the GT box doubled on every side
        if bbox is None:
            raise ValueError("gt_bbox is needed for a ground truth without labelled keypoints")
        bx, by, bw, bh = (bbox[..., i : i + 1] for i in range(4))
        px, py = pred[..., 0], pred[..., 1]
        bdx = np.maximum(0.0, (bx - bw) - px) + np.maximum(0.0, px - (bx + bw * 2))
        bdy = np.maximum(0.0, (by - bh) - py) + np.maximum(0.0, py - (by + bh * 2))
        dx = np.where(has[..., None], dx, bdx)
        dy = np.where(has[..., None], dy, bdy)
    variances = (sigmas * 2) ** 2
    e = (dx**2 + dy**2) / variances / (area[..., None] + np.spacing(1)) / 2
    used = labelled | ~has[..., None]
    return np.where(used, np.exp(-e), 0.0).sum(-1) / used.sum(-1)


def oks(
    pred_xy: np.ndarray,
    gt_xy: np.ndarray,
    gt_vis: np.ndarray,
    gt_area: np.ndarray,
    sigmas: np.ndarray,
    gt_bbox: np.ndarray | None = None,
) -> np.ndarray:
    """Object keypoint similarity (P, G) float64 of every prediction with every ground truth.

    ``pred_xy`` (P, K, 2) and ``gt_xy`` (G, K, 2) px, ``gt_vis`` (G, K) visibility flags (> 0 is
    labelled), ``gt_area`` (G,) px^2, ``sigmas`` (K,), ``gt_bbox`` (G, 4) xywh px (needed only for
    ground truths without labelled keypoints). As pycocotools' ``computeOks``: the mean over
    labelled keypoints of exp(-d^2 / (2 (area + eps) (2 sigma)^2)); for a ground truth with no
    labelled keypoint, d is the distance of each predicted keypoint outside the GT box grown by
    its width/height on every side, averaged over all K keypoints.
    """
    pred = np.asarray(pred_xy, dtype=np.float64)[:, None]
    gt = np.asarray(gt_xy, dtype=np.float64)[None]
    vis = np.asarray(gt_vis)[None]
    area = np.asarray(gt_area, dtype=np.float64)[None]
    bbox = None if gt_bbox is None else np.asarray(gt_bbox, dtype=np.float64)[None]
    return _oks_core(pred, gt, vis, area, bbox, np.asarray(sigmas, dtype=np.float64))


@dataclass(frozen=True)
class _Instances:
    """Ground truths or results as parallel arrays (N along the first axis).

    ``img``/``cat``: ranks of the image/category ids in the sorted ids; ``xy`` (N, K, 2) px;
    ``vis`` (N, K) flags; ``area`` (N,) px^2; ``score`` (N,) (results); ``ignore`` (N,) bool,
    ``crowd`` (N,) bool, ``id_nonzero`` (N,) bool, ``bbox`` (N, 4) xywh (ground truths).
    """

    img: np.ndarray
    cat: np.ndarray
    xy: np.ndarray
    vis: np.ndarray
    area: np.ndarray
    score: np.ndarray | None = None
    ignore: np.ndarray | None = None
    crowd: np.ndarray | None = None
    id_nonzero: np.ndarray | None = None
    bbox: np.ndarray | None = None


def _keypoint_array(rows: list[Any], k: int, what: str) -> np.ndarray:
    """[x, y, v]*K lists -> (N, K, 3) float64."""
    if not rows:
        return np.zeros((0, k, 3))
    try:
        arr = np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what}: malformed 'keypoints' ({exc})") from None
    if arr.shape[1] != 3 * k:
        raise InputError(f"{what}: {arr.shape[1] // 3} keypoints per instance, sigmas have {k}")
    return arr.reshape(len(rows), k, 3)


def _parse_gt(gt: dict, k: int) -> tuple[_Instances, dict, dict]:
    """COCO keypoints dict -> ground truths on listed images and categories, id -> rank maps."""
    try:
        img_rank = {i: r for r, i in enumerate(sorted({im["id"] for im in gt["images"]}))}
        cat_rank = {c: r for r, c in enumerate(sorted({c["id"] for c in gt["categories"]}))}
        all_ids = [a["id"] for a in gt["annotations"]]
        anns = [
            a
            for a in gt["annotations"]
            if a["image_id"] in img_rank and a["category_id"] in cat_rank
        ]
        kp = _keypoint_array([a["keypoints"] for a in anns], k, "annotations")
        area = np.array([a["area"] for a in anns], dtype=np.float64)
        bbox = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(len(anns), 4)
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"annotations: not a COCO keypoints dataset ({exc!r})") from None
    if len(set(all_ids)) != len(all_ids):
        raise InputError("annotations: duplicate annotation ids")
    labelled = np.count_nonzero(kp[..., 2] > 0, axis=1)
    n_kpt = np.array([a.get("num_keypoints", n) for a, n in zip(anns, labelled, strict=True)])
    crowd = np.array([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool)
    inst = _Instances(
        img=np.array([img_rank[a["image_id"]] for a in anns], dtype=np.int64),
        cat=np.array([cat_rank[a["category_id"]] for a in anns], dtype=np.int64),
        xy=kp[..., :2],
        vis=kp[..., 2],
        area=area,
        ignore=crowd | (n_kpt == 0),
        crowd=crowd,
        id_nonzero=np.array([a["id"] != 0 for a in anns], dtype=bool),
        bbox=bbox,
    )
    return inst, img_rank, cat_rank


def _parse_results(results: list[dict], img_rank: dict, cat_rank: dict, k: int) -> _Instances:
    """COCO results list -> results on known categories (area as pycocotools' ``loadRes``)."""
    try:
        unknown = {r["image_id"] for r in results} - img_rank.keys()
        if unknown:
            raise InputError(f"results: image ids not in the annotations: {sorted(unknown)[:5]}")
        res = [r for r in results if r["category_id"] in cat_rank]
        kp = _keypoint_array([r["keypoints"] for r in res], k, "results")
        score = np.array([r["score"] for r in res], dtype=np.float64)
        if results and "bbox" in results[0] and results[0]["bbox"] != []:
            area = np.array([r["bbox"][2] * r["bbox"][3] for r in res], dtype=np.float64)
        else:
            ext = kp[..., :2].max(axis=1) - kp[..., :2].min(axis=1)
            area = ext[:, 0] * ext[:, 1]
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"results: not a COCO keypoint results list ({exc!r})") from None
    if not (np.isfinite(kp).all() and np.isfinite(score).all()):
        raise InputError("results: non-finite keypoint coordinates or scores")
    return _Instances(
        img=np.array([img_rank[r["image_id"]] for r in res], dtype=np.int64),
        cat=np.array([cat_rank[r["category_id"]] for r in res], dtype=np.int64),
        xy=kp[..., :2],
        vis=kp[..., 2],
        area=area,
        score=score,
    )


def _out_of_range(area: np.ndarray) -> np.ndarray:
    """(A, N) bool: area outside each of the area ranges (bounds inclusive)."""
    return (area[None] < _AREA_RNG[:, :1]) | (area[None] > _AREA_RNG[:, 1:])


def _bucket_order(key: np.ndarray, *tie_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices sorted by (key, *tie_keys, input order) and each one's rank inside its key."""
    order = np.lexsort((np.arange(key.size), *reversed(tie_keys), key))
    sorted_key = key[order]
    rank = np.arange(key.size) - np.searchsorted(sorted_key, sorted_key, side="left")
    return order, rank


def _greedy_match(ious, dt_valid, gt_ignore, gt_crowd, gt_id_nonzero):
    """pycocotools' evaluateImg matching, vectorised over buckets, area ranges and thresholds.

    ``ious`` (B, D, G) of score-sorted results and ground truths; ``dt_valid`` (B, D);
    ``gt_ignore`` (A, B, G); ``gt_crowd``/``gt_id_nonzero`` (B, G). Each result, in score
    order, takes the free (or crowd) ground truth of highest OKS >= the threshold, preferring
    non-ignored ones; ties go to the later ground truth. Returns (A, T, B, D) bool arrays:
    matched to a ground truth with non-zero id, and matched to an ignored ground truth.
    """
    n_a, (n_b, n_d, n_g), n_t = gt_ignore.shape[0], ious.shape, _OKS_THRS.size
    thr = np.minimum(_OKS_THRS, 1 - 1e-10)[None, :, None, None]
    ignore = np.broadcast_to(gt_ignore[:, None], (n_a, n_t, n_b, n_g))
    id_nz = np.broadcast_to(gt_id_nonzero, (n_a, n_t, n_b, n_g))
    taken = np.zeros((n_a, n_t, n_b, n_g), dtype=bool)
    hit = np.zeros((n_a, n_t, n_b, n_d), dtype=bool)
    hit_ignored = np.zeros_like(hit)
    cols = np.arange(n_g)
    for j in range(n_d):
        o = ious[None, None, :, j, :]
        ok = (~taken | gt_crowd) & (o >= thr)
        regular = ok & ~ignore
        cand = np.where(regular.any(-1, keepdims=True), regular, ok)
        val = np.where(cand, o, -np.inf)
        best = cand & (val == val.max(-1, keepdims=True))
        m = (n_g - 1 - np.argmax(best[..., ::-1], axis=-1))[..., None]
        matched = cand.any(-1) & dt_valid[:, j]
        taken |= matched[..., None] & (cols == m)
        hit[..., j] = matched & np.take_along_axis(id_nz, m, -1)[..., 0]
        hit_ignored[..., j] = matched & np.take_along_axis(ignore, m, -1)[..., 0]
    return hit, hit_ignored


def _match_chunk(g, d, gidx, didx, dvalid, g_out, sigmas):
    """OKS and greedy matching of buckets of equal GT count: ``gidx`` (B, G) GT indices,
    ``didx`` (B, D) result indices (score order), ``dvalid`` (B, D) bool. See _greedy_match."""
    ious = _oks_core(
        d.xy[didx][:, :, None], g.xy[gidx][:, None], g.vis[gidx][:, None],
        g.area[gidx][:, None], g.bbox[gidx][:, None], sigmas,
    )  # fmt: skip
    gt_ignore = g.ignore[gidx][None] | g_out[:, gidx]
    return _greedy_match(ious, dvalid, gt_ignore, g.crowd[gidx], g.id_nonzero[gidx])


def _match(g: _Instances, d: _Instances, sigmas: np.ndarray, use_cats: bool, n_cat: int):
    """Per-image (per-category with ``use_cats``) evaluation of all results.

    Returns ``kept`` (M,) indices of the results inside maxDets of their bucket, their rank in
    the bucket (M,), and ``tp``/``fp`` (A, T, M) bool (ignored results are neither).
    """
    gkey = g.img * n_cat + g.cat if use_cats else g.img
    dkey = d.img * n_cat + d.cat if use_cats else d.img
    gorder, _ = _bucket_order(gkey, g.cat)  # pooled categories: in category order, as pycocotools
    dorder, drank = _bucket_order(dkey, -d.score, d.cat)
    kept, drank = dorder[drank < _MAX_DETS], drank[drank < _MAX_DETS]
    hit = np.zeros((_AREA_RNG.shape[0], _OKS_THRS.size, kept.size), dtype=bool)
    hit_ig = np.zeros_like(hit)
    g_out = _out_of_range(g.area)
    gk, gstart, gcount = np.unique(gkey[gorder], return_index=True, return_counts=True)
    dk, dstart, dcount = np.unique(dkey[kept], return_index=True, return_counts=True)
    _, gi, di = np.intersect1d(gk, dk, assume_unique=True, return_indices=True)
    for n_g in np.unique(gcount[gi]):  # buckets with both; equal GT counts need no padding
        sel = gcount[gi] == n_g
        gs, ds, dc = gstart[gi][sel], dstart[di][sel], dcount[di][sel]
        n_d = int(dc.max())
        step = max(1, _CHUNK // (n_d * n_g * max(sigmas.size, _OKS_THRS.size * 3)))
        for c in range(0, gs.size, step):
            gidx = gorder[gs[c : c + step, None] + np.arange(n_g)]
            dvalid = np.arange(n_d) < dc[c : c + step, None]
            dpos = np.where(dvalid, ds[c : c + step, None] + np.arange(n_d), ds[c : c + step, None])
            h, hi = _match_chunk(g, d, gidx, kept[dpos], dvalid, g_out, sigmas)
            hit[:, :, dpos[dvalid]] = h[:, :, dvalid]
            hit_ig[:, :, dpos[dvalid]] = hi[:, :, dvalid]
    ignored = hit_ig | (~hit & _out_of_range(d.area[kept])[:, None])
    return kept, drank, hit & ~ignored, ~hit & ~ignored


def _accumulate(g: _Instances, d: _Instances, sigmas: np.ndarray, use_cats: bool, n_cat: int):
    """pycocotools' ``accumulate``: precision (T, R, C, A) and recall (T, C, A), -1 where no GT.

    C is ``n_cat`` with ``use_cats``, else 1.
    """
    n_c = n_cat if use_cats else 1
    kept, drank, tp, fp = _match(g, d, sigmas, use_cats, n_cat)
    gcat = g.cat if use_cats else np.zeros_like(g.cat)
    dcat = d.cat[kept] if use_cats else np.zeros(kept.size, dtype=np.int64)
    counted = ~(g.ignore[None] | _out_of_range(g.area))  # (A, G)
    npig = np.stack([np.bincount(gcat, weights=c, minlength=n_c) for c in counted], axis=1)
    order = np.lexsort((drank, d.img[kept], -d.score[kept], dcat))
    bounds = np.searchsorted(dcat[order], np.arange(n_c + 1))
    n_t, n_r, n_a = _OKS_THRS.size, _REC_THRS.size, _AREA_RNG.shape[0]
    precision = -np.ones((n_t, n_r, n_c, n_a))
    recall = -np.ones((n_t, n_c, n_a))
    for c in range(n_c):
        seg = order[bounds[c] : bounds[c + 1]]
        tps = np.cumsum(tp[:, :, seg], axis=-1).astype(float)
        fps = np.cumsum(fp[:, :, seg], axis=-1).astype(float)
        for a in np.flatnonzero(npig[c] > 0):
            rc = tps[a] / npig[c, a]
            pr = tps[a] / (fps[a] + tps[a] + np.spacing(1))
            pr = np.maximum.accumulate(pr[:, ::-1], axis=1)[:, ::-1]
            recall[:, c, a] = rc[:, -1] if seg.size else 0
            for t in range(n_t):
                idx = np.searchsorted(rc[t], _REC_THRS, side="left")
                inside = idx < seg.size
                precision[t, inside, c, a] = pr[t, idx[inside]]
                precision[t, ~inside, c, a] = 0.0
    return precision, recall


def _mean_valid(s: np.ndarray) -> float:
    return float(np.mean(s[s > -1])) if np.any(s > -1) else -1.0


def coco_keypoint_eval(
    gt: dict, results: list[dict], sigmas: np.ndarray, use_cats: bool = True
) -> dict[str, float]:
    """COCO keypoint AP/AR of ``results`` on ``gt``, equal to pycocotools' COCOeval.

    ``gt``: a COCO keypoints dataset dict (``images``, ``categories``, ``annotations`` with
    ``keypoints`` [x, y, v]*K px, ``area`` px^2, ``bbox`` xywh px, ``num_keypoints``, ``iscrowd``;
    missing ``num_keypoints``/``iscrowd`` default to the count of v > 0 and 0). ``results``: COCO
    results (``image_id``, ``category_id``, ``keypoints`` [x, y, s]*K px, ``score``). ``sigmas``
    (K,). With ``use_cats`` AP/AR are averaged over categories; without, all categories of an
    image are pooled (upstream pycocotools finds no OKS at all with useCats=0 for keypoints, so
    the reference is COCOeval with its computeOks pooling as its computeIoU does).

    Returns AP, AP50, AP75, AP_M, AP_L, AR, AR50, AR75, AR_M, AR_L in [0, 1], -1 where no
    ground truth is counted (as pycocotools). An empty ``results`` list scores 0.
    """
    sigmas = np.asarray(sigmas, dtype=np.float64)
    g, img_rank, cat_rank = _parse_gt(gt, sigmas.size)
    d = _parse_results(list(results), img_rank, cat_rank, sigmas.size)
    precision, recall = _accumulate(g, d, sigmas, use_cats, len(cat_rank))
    t50, t75 = np.where(_OKS_THRS == 0.5)[0], np.where(_OKS_THRS == 0.75)[0]
    out = {}
    for name, arr in (("AP", precision), ("AR", recall)):  # area range is the last axis
        out[name] = _mean_valid(arr[..., 0])
        out[f"{name}50"] = _mean_valid(arr[t50][..., 0])
        out[f"{name}75"] = _mean_valid(arr[t75][..., 0])
        out[f"{name}_M"] = _mean_valid(arr[..., 1])
        out[f"{name}_L"] = _mean_valid(arr[..., 2])
    return out
