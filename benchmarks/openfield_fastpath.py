r"""The open-field model (tutorial recipe) under the fast path and DARK: accuracy and jitter.

    wildpose train configs/dlc-openfield-tiny-cpu.yaml --work-dir work/openfield/pose \
        --set data.dlc_project=PATH/TO/dlc-openfield
    python benchmarks/openfield_fastpath.py --work work/openfield/pose \
        --out benchmarks/results/openfield_fastpath.json

For fp32 and bf16 (the CPU fast path where the CPU has native bf16), each with the quarter
offset and DARK decoding (one network pass per precision, both decoders on its heatmaps):

- held-out PCK@0.1 and RMSE (px) on the recipe's validation images (GT boxes, flip test), as
  ``wildpose train`` validates;
- jitter on the first ``--frames`` frames of the session video: each frame's box is the fp32
  keypoints' box from a full-frame pass, padded; the median absolute second difference of
  every keypoint's trajectory (px), the frame-to-frame noise a smoother has to remove.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wildpose.atomic import write_json
from wildpose.config.train import load_config
from wildpose.pose.checkpoint import load_checkpoint
from wildpose.pose.codec import decode_heatmaps, heatmap_to_crop
from wildpose.pose.crop import CropTransform, crop_images
from wildpose.pose.predictor import PosePredictor
from wildpose.train.evaluation import Predictions, predict_samples, score_predictions
from wildpose.train.recipe import load_run_data
from wildpose.video import open_video

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info  # noqa: E402

VIDEO = Path(__file__).resolve().parents[2] / "shared/data/dlc-openfield/videos/m3v1mp4.mp4"
COMBOS = [(p, r) for p in ("fp32", "bf16") for r in ("quarter", "dark")]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, required=True, help="wildpose train --work-dir")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--video", type=Path, default=VIDEO)
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


def predictor(loaded, precision: str, refine: str) -> PosePredictor:
    """fp32: the network as trained; otherwise the pipeline's fast path (BatchNorm folded, on a
    copy so that the fp32 runs keep the unfolded model)."""
    m, fast = loaded.manifest, precision != "fp32"
    model = copy.deepcopy(loaded.model) if fast else loaded.model
    return PosePredictor(model, mean=m.mean, std=m.std, flip_pairs=m.flip_pairs, device="cpu",
                         precision=precision, refine=refine, fold_batchnorm=fast)  # type: ignore[arg-type]  # fmt: skip


def held_out(loaded, work: Path) -> list[dict[str, Any]]:
    cfg = load_config(work / "config.yaml")
    data = load_run_data(cfg.data)
    sigmas = np.asarray(loaded.manifest.sigmas, dtype=np.float64)
    out = []
    for precision, refine in COMBOS:
        pred: Predictions = predict_samples(
            predictor(loaded, precision, refine), data.val, data.meta
        )
        metrics = score_predictions(data.val, data.val, pred, sigmas)[0]
        rec = {"precision": precision, "refine": refine, "instances": len(data.val)}
        out.append(rec | {k: metrics[k] for k in metrics if k.startswith(("PCK", "RMSE"))})
    return out


def jitter(loaded, video: Path, n: int) -> list[dict[str, Any]]:
    with open_video(video) as reader:
        frames = [f.image for _, f in zip(range(n), reader, strict=False)]
    h, w = frames[0].shape[:2]
    base = predictor(loaded, "fp32", "quarter")
    t = base.prepare_frames(frames)
    index = np.arange(len(frames))
    full = np.tile(np.array([[0, 0, w, h]], np.float32), (len(frames), 1))
    xy, _ = base.predict(t, full, index)
    lo, hi = xy.min(axis=1), xy.max(axis=1)
    c, half = (lo + hi) / 2, np.maximum((hi - lo).max(axis=1), 60.0)[:, None]
    boxes = np.concatenate([c - half, c + half], axis=1).astype(np.float32)
    out = []
    for precision in ("fp32", "bf16"):
        pred = predictor(loaded, precision, "quarter")
        tf = CropTransform.from_boxes(boxes - 0.5, pred.input_size, pred.padding)
        crops = crop_images(t, torch.as_tensor(index), tf)
        hm = pred.heatmaps((crops - pred.mean) / pred.std)
        for refine in ("quarter", "dark"):
            xy_hm, _ = decode_heatmaps(hm, refine=refine)  # type: ignore[arg-type]
            xy_img = tf.to_image(heatmap_to_crop(xy_hm, pred.heatmap_size, pred.input_size).numpy())
            second = np.linalg.norm(xy_img[2:] - 2 * xy_img[1:-1] + xy_img[:-2], axis=-1)
            out.append({"precision": precision, "refine": refine, "frames": len(frames),
                        "jitter_median_px": float(np.median(second)),
                        "jitter_per_keypoint_px": np.median(second, axis=0).tolist()})  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    loaded = load_checkpoint(args.work / "best.pt")
    result: dict[str, Any] = {"header": machine_info(torch.device("cpu")), "model": loaded.source}
    result["held_out"] = held_out(loaded, args.work)
    for r in result["held_out"]:
        print(r)
    result["jitter"] = jitter(loaded, args.video, args.frames) if args.video.exists() else None
    for r in result["jitter"] or []:
        print({k: v for k, v in r.items() if k != "jitter_per_keypoint_px"})
    result["header"]["loadavg_end"] = list(os.getloadavg())
    write_json(args.out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
