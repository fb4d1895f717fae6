r"""End-to-end ``track_video`` frames/s per pose runtime: torch fp32, torch auto, onnxruntime.

    python benchmarks/track_backends.py --out benchmarks/results/track_backends_cpu.json

The DeepLabCut open-field video (first ``--frames`` frames, detector ``full-frame``) or, with
``--synthetic``, a generated 640x480 video with 4 animals and a truth box file; pose model
``--pose`` (default ``clamp-tiny``, random weights where none are installed). Variants, in
interleaved rounds (``--repeats``, best counts): ``torch-fp32`` (the former CPU path),
``torch-auto`` (``--precision auto``: bf16 on CPUs with native bf16) and ``onnxruntime``
(``PosePredictor(backend="onnxruntime")``; its one-off export is timed apart). Reuses
``track_throughput.py``'s workload helpers.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from wildpose.atomic import write_json
from wildpose.pipeline import Stages
from wildpose.pose.predictor import PosePredictor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info  # noqa: E402
from track_throughput import (  # noqa: E402
    REAL_VIDEO,
    bench_decode,
    bench_e2e,
    build_stages,
    real_workload,
    run_config,
    synthetic_workload,
)

VARIANTS = {"torch-fp32": ("torch", "fp32"), "torch-auto": ("torch", "auto")}
VARIANTS["onnxruntime"] = ("onnxruntime", "fp32")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--pose", default="clamp-tiny")
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--synthetic", action="store_true", help="generated video, 4 animals")
    args = p.parse_args(argv)
    args.device, args.precision, args.overrides = "cpu", "fp32", []
    return args


def stages_for(base: Stages, backend: str, precision: str) -> Stages:
    loaded, cfg = base.loaded, base.config
    m = loaded.manifest
    pred = PosePredictor(loaded.model, mean=m.mean, std=m.std, flip_pairs=m.flip_pairs,
                         flip_test=cfg.pose.flip_test, device="cpu", padding=cfg.pose.padding,
                         precision=precision, backend=backend)  # type: ignore[arg-type]  # fmt: skip
    return Stages(cfg.replace(precision=precision), loaded, pred)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    header = machine_info(torch.device("cpu")) | {
        "settings": {k: str(v) for k, v in vars(args).items()}
    }
    with tempfile.TemporaryDirectory(prefix="wp-backends-") as tmp:
        if args.synthetic or not REAL_VIDEO.exists():
            w = synthetic_workload(Path(tmp), "synthetic-multi", args.frames, (640, 480), 4)
        else:
            w = real_workload(args.frames)
        cfg = run_config(args, w)
        base, weights = build_stages(cfg, random_weights=False)
        decode = bench_decode(w, cfg.video.backend)
        stages, setup_s = {}, {}
        for name, (backend, precision) in VARIANTS.items():
            t0 = time.perf_counter()
            stages[name] = stages_for(base, backend, precision)
            setup_s[name] = time.perf_counter() - t0
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in VARIANTS}
        for _ in range(args.repeats):
            for name, st in stages.items():
                runs[name].append(bench_e2e(w, st))
                print(f"{name:<12} {runs[name][-1]['frames_per_s']:.2f} frames/s", file=sys.stderr)
    out = []
    for name, rs in runs.items():
        best = max(rs, key=lambda r: r["frames_per_s"])
        out.append({"variant": name, "precision": stages[name].predictor.precision_used,
                    "setup_s": setup_s[name], "frames_per_s": best["frames_per_s"],
                    "frames_per_s_runs": [r["frames_per_s"] for r in rs],
                    "cpu_cores_used": best["cpu_cores_used"]})  # fmt: skip
    ref = out[0]["frames_per_s"]
    for r in out:
        r["ratio_vs_fp32"] = r["frames_per_s"] / ref
        print(f"{r['variant']:<12} {r['frames_per_s']:.2f} frames/s  x{r['ratio_vs_fp32']:.2f}")
    header["loadavg_end"] = list(os.getloadavg())
    result = {"header": header, "workload": w.name, "pose": args.pose, "weights": weights}
    write_json(args.out, result | {"decode": decode, "variants": out})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
