r"""Sub-pixel decoding: quarter offset (mmpose default) against DARK, on labelled frames.

    python benchmarks/decode_refine.py --out benchmarks/results/decode_refine.json

Two measures, both refinements run on the same heatmaps:

- ``synthetic_heatmaps``: sigma-2 Gaussians at random sub-pixel centres on a 64 x 64 grid, clean
  and with N(0, s) noise: mean error in heatmap px;
- ``model``: a trained model (default the shipped ``clamp-demo``, ``--model`` for another) on
  generated clips whose truth is known (``wildpose.synthetic.generate_frames``, 30 fps,
  truth boxes, flip test): RMSE and PCK@0.1 (of the box's longer side) in image px over the
  visible keypoints, and jitter: the median absolute second difference of each keypoint's
  trajectory minus the truth's (px), the frame-to-frame noise a smoother has to remove.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wildpose.atomic import write_json
from wildpose.pose.checkpoint import load_checkpoint, load_model
from wildpose.pose.codec import decode_heatmaps, gaussian_heatmaps, heatmap_to_crop
from wildpose.pose.crop import CropTransform, crop_images
from wildpose.pose.predictor import PosePredictor
from wildpose.synthetic import generate_frames

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info  # noqa: E402

DEMO = Path(__file__).resolve().parents[1] / "wildpose" / "demo" / "clamp-demo.pt"
REFINES = ("quarter", "dark")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--model", default=str(DEMO), help="checkpoint or model name")
    p.add_argument("--seeds", default="11,12,13,14", help="one generated clip per seed")
    p.add_argument("--frames", type=int, default=24, help="frames per clip (30 fps)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    return args


def synthetic_heatmaps() -> list[dict[str, Any]]:
    gen = torch.Generator().manual_seed(0)
    centers = torch.rand(64, 17, 2, generator=gen) * 44 + 10
    clean = gaussian_heatmaps(centers, (64, 64), sigma=2.0)
    out = []
    for noise in (0.0, 0.02, 0.05, 0.1):
        hm = clean + noise * torch.randn(clean.shape, generator=gen)
        rec: dict[str, Any] = {"noise_std": noise}
        for r in REFINES:
            xy, _ = decode_heatmaps(hm, refine=r)  # type: ignore[arg-type]
            rec[f"{r}_mean_err_hm_px"] = float((xy - centers).norm(dim=-1).mean())
        out.append(rec)
    return out


def model_errors(args: argparse.Namespace) -> dict[str, Any]:
    spec = args.model
    loaded = load_checkpoint(spec) if Path(spec).exists() else load_model(spec)
    m = loaded.manifest
    pred = PosePredictor(loaded.model, mean=m.mean, std=m.std, flip_pairs=m.flip_pairs,
                         device="cpu", precision="fp32")  # fmt: skip
    size = pred.input_size
    per: dict[str, list[np.ndarray]] = {f"{r}_{q}": [] for r in REFINES for q in ("err", "jit")}
    sides, pck_ok = [], {r: [] for r in REFINES}
    for seed in args.seeds:
        frames, truth = generate_frames(np.arange(args.frames) / 30.0, n_animals=2, seed=seed)
        t, n = truth.boxes.shape[:2]
        boxes = truth.boxes.reshape(-1, 4)
        tf = CropTransform.from_boxes(boxes - 0.5, size, pred.padding)
        crops = crop_images(pred.prepare_frames(frames), torch.arange(t).repeat_interleave(n), tf)
        hm = pred.heatmaps((crops - pred.mean) / pred.std)  # one network pass for both
        vis = truth.visible.reshape(t * n, -1)
        side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
        sides.append(np.broadcast_to(side[:, None], vis.shape)[vis])
        for r in REFINES:
            xy_hm, _ = decode_heatmaps(hm, refine=r)  # type: ignore[arg-type]
            xy_crop = heatmap_to_crop(xy_hm, pred.heatmap_size, size).numpy()
            xy = tf.to_image(xy_crop) + 0.5
            diff = xy - truth.keypoints.reshape(xy.shape)
            err = np.linalg.norm(diff, axis=-1)
            per[f"{r}_err"].append(err[vis])
            pck_ok[r].append(err[vis] <= 0.1 * sides[-1])
            d = diff.reshape(t, n, -1, 2)
            both = vis.reshape(t, n, -1)
            ok = both[2:] & both[1:-1] & both[:-2]
            second = np.linalg.norm(d[2:] - 2 * d[1:-1] + d[:-2], axis=-1)
            per[f"{r}_jit"].append(second[ok])
    out: dict[str, Any] = {"model": loaded.source, "clips": len(args.seeds)}
    out["frames_per_clip"] = args.frames
    for r in REFINES:
        e = np.concatenate(per[f"{r}_err"])
        out[r] = {
            "rmse_px": float(np.sqrt(np.mean(e**2))),
            "median_err_px": float(np.median(e)),
            "pck_0.1": float(np.concatenate(pck_ok[r]).mean()),
            "jitter_median_px": float(np.median(np.concatenate(per[f"{r}_jit"]))),
            "keypoints": int(e.size),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    header = machine_info(torch.device("cpu"))
    result = {"header": header, "synthetic_heatmaps": synthetic_heatmaps()}
    result["model"] = model_errors(args)
    result["header"]["loadavg_end"] = list(os.getloadavg())
    write_json(args.out, result)
    for r in REFINES:
        print(r, result["model"][r])
    for rec in result["synthetic_heatmaps"]:
        print(rec)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
