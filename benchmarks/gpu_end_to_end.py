r"""End-to-end ``track_video`` frames/s on 1080p video with several animals vs decode-only.

    python benchmarks/gpu_end_to_end.py --out benchmarks/results/gpu_end_to_end.json
    python benchmarks/gpu_end_to_end.py --dry-run --out /tmp/e2e.json   # CPU, tiny, seconds

A generated H.264 video (``--size``, default 1920x1080, ``--animals`` per frame, ``--frames``)
with a ``boxes:`` detector file of the generator's truth (the pipeline without a YOLO, whose cost
is its own), the pose model built with random weights (default ViT-B/16, speed does not depend
on the weights), ``--precision`` (default auto: bf16 on CUDA where supported). Decode-only
frames/s (``open_video`` over the same frames, best of ``--repeats``), then end-to-end
``track_video`` frames/s (after one warm-up run, best of ``--repeats``), their ratio (target
>= 0.8) and the peak GPU memory. ``--dry-run``: CPU, ``clamp-tiny``, 320x240, 6 frames, 2
animals: checks the script, not the speed. Reuses ``track_throughput.py``'s workload helpers.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

from wildpose.atomic import write_json

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info  # noqa: E402
from track_throughput import (  # noqa: E402
    bench_decode,
    bench_e2e,
    best_of,
    build_stages,
    run_config,
    synthetic_workload,
)

TARGET_RATIO = 0.8


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    p.add_argument("--pose", default="clamp-vitb16-ap10k")
    p.add_argument("--precision", choices=("auto", "fp32", "fp16", "bf16"), default="auto")
    p.add_argument("--size", default="1920x1080", help="WIDTHxHEIGHT of the generated video")
    p.add_argument("--animals", type=int, default=4)
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V")
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny model, 6 small frames")
    args = p.parse_args(argv)
    if args.dry_run:
        args.device, args.pose, args.size, args.frames, args.animals = (
            "cpu", "clamp-tiny", "320x240", 6, 2
        )  # fmt: skip
        args.repeats = 1
    w, h = (int(v) for v in args.size.lower().split("x"))
    args.size_wh = (w, h)
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available (use --dry-run on a CPU)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    header = machine_info(device) | {"settings": {k: str(v) for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory(prefix="wp-gpu-e2e-") as tmp:
        w = synthetic_workload(Path(tmp), "synthetic", args.frames, args.size_wh, args.animals)
        cfg = run_config(args, w)
        stages, weights = build_stages(cfg, random_weights=True)
        decode = best_of(args.repeats, lambda: bench_decode(w, cfg.video.backend), "frames_per_s")
        bench_e2e(w, stages)  # warm-up: kernels, cudnn autotuning, allocator
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        e2e = best_of(args.repeats, lambda: bench_e2e(w, stages), "frames_per_s")
    rec: dict[str, Any] = {
        "video": f"{args.size} H.264, {args.frames} frames, {args.animals} animals (boxes file)",
        "pose_model": args.pose,
        "weights": weights,
        "precision": stages.predictor.precision_used,
        "pose_batch_size": cfg.pose.batch_size,
        "decode": decode,
        "e2e": e2e,
        "ratio": e2e["frames_per_s"] / decode["frames_per_s"],
        "target_ratio": TARGET_RATIO,
    }
    if device.type == "cuda":
        rec["gpu_peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    header["loadavg_end"] = list(os.getloadavg())
    write_json(args.out, {"header": header, "result": rec})
    print(
        f"decode {decode['frames_per_s']:.1f} frames/s, end-to-end {e2e['frames_per_s']:.1f} "
        f"frames/s: ratio {rec['ratio']:.2f} (target >= {TARGET_RATIO}); wrote {args.out}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
