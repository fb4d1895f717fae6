r"""CLAMP pose inference crops/s: the fp32 path against the fast path, in one interleaved run.

    python benchmarks/pose_throughput.py --quick --threads 1 \
        --out benchmarks/results/pose_throughput_cpu.json
    python benchmarks/pose_throughput.py --device cuda --precision bf16 --batches 64,256 \
        --variants fp32,fast,compile --out benchmarks/results/pose_throughput_cuda.json

Models (random weights: speed does not depend on them): ``clamp-tiny``, the paper's
``clamp-rn50-ap10k`` and ``clamp-vitb16-ap10k``. Variants of :class:`PosePredictor`, all with the
text cache and the flip test on (one batch of 2N crops, the pipeline's setting):

- ``fp32``: fp32, contiguous (NCHW) memory: the network as the official code runs it;
- ``fast``: ``--precision`` (default ``auto``: bf16 on CPUs with AMX/AVX512-BF16, on CUDA),
  channels-last memory for ResNet backbones and BatchNorm folded into the convolutions (the
  pipeline's path);
- ``compile``: ``fast`` plus ``torch.compile`` (the compile time is recorded separately).

Each (model, batch) times :meth:`PosePredictor.predict_crops` (network + decode) on pre-made
normalised crops; the variants alternate iteration by iteration (``--repeats`` rounds after one
warm-up each), so a change in machine load hits them alike. ``--frames`` adds the end-to-end
:meth:`PosePredictor.predict` over 1280x720 uint8 frames (4 boxes per frame) at batch 8: the
``fp32`` variant is fed float frames (the whole-frame conversion the predictor used to do), the
fast one uint8 frames.

Writes JSON ``{"header": machine, load averages, settings, "records": [...], "summary": [...]}``.
A record holds model, batch, mode (``crops`` / ``frames``), variant, precision (what ran),
channels_last, crops_per_s (from the median iteration), median/min/mean ms per batch, the
iterations' wall and CPU ms, cpu_util (CPU s per wall s; below the thread count when other
processes took the cores), on CUDA gpu_peak_mib (peak allocated memory of the warm-up call) and
for ``compile`` first_call_s (compilation included). The summary gives, per model and batch,
the speed-up of each variant over ``fp32`` as ``ratio`` (median wall clock) and ``ratio_cpu``
(CPU time: the steadier on a shared machine run with ``--threads 1``).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wildpose.atomic import write_json
from wildpose.pose.checkpoint import LoadedModel, load_model
from wildpose.pose.predictor import PosePredictor

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info  # noqa: E402  (the benchmarks' shared header)

MODELS = {"tiny": "clamp-tiny", "rn50": "clamp-rn50-ap10k", "vitb16": "clamp-vitb16-ap10k"}
VARIANTS = ("fp32", "fast", "compile")
FRAME_W, FRAME_H, BOXES_PER_FRAME = 1280, 720, 4


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="JSON file to write")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--models", default="rn50,vitb16", help=f"subset of {','.join(MODELS)}")
    p.add_argument("--batches", default="1,8,32", help="comma-separated batch sizes (crops)")
    p.add_argument("--variants", default="fp32,fast", help=f"subset of {','.join(VARIANTS)}")
    p.add_argument("--precision", choices=("auto", "fp16", "bf16"), default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: as is)")
    p.add_argument("--repeats", type=int, default=3, help="timed rounds per (model, batch)")
    p.add_argument("--quick", action="store_true", help="2 rounds; 1 for batches >= 32")
    p.add_argument("--frames", action="store_true", help="add the end-to-end predict runs")
    args = p.parse_args(argv)
    args.models = _pick(p, args.models, MODELS, "model")
    args.variants = _pick(p, args.variants, VARIANTS, "variant")
    try:
        args.batches = [int(b) for b in args.batches.split(",") if b.strip()]
    except ValueError:
        p.error(f"--batches must be comma-separated integers, got {args.batches!r}")
    if not args.batches or min(args.batches) < 1:
        p.error("--batches needs at least one positive batch size")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available")
    return args


def _pick(p: argparse.ArgumentParser, text: str, known, what: str) -> list[str]:
    names = [m.strip() for m in text.split(",") if m.strip()]
    if bad := [m for m in names if m not in known]:
        p.error(f"unknown {what}(s) {bad}; choose from {', '.join(known)}")
    return names


def make_predictor(loaded: LoadedModel, variant: str, device: torch.device, precision: str):
    m = loaded.manifest
    fast = variant != "fp32"
    return PosePredictor(
        loaded.model,
        mean=m.mean,
        std=m.std,
        flip_pairs=m.flip_pairs,
        device=device,
        precision=precision if fast else "fp32",  # type: ignore[arg-type]
        channels_last=None if fast else False,
        fold_batchnorm=fast,  # as the pipeline runs it
        compile=variant == "compile",
    )


def timed(fn: Callable[[], object], sync: Callable[[], None]) -> tuple[float, float]:
    """(wall s, CPU s) of one call."""
    sync()
    c0, t0 = time.process_time(), time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - t0, time.process_time() - c0


def record(base: dict[str, Any], batch: int, walls: list[float], cpus: list[float]) -> dict:
    med = statistics.median(walls)
    return base | {
        "batch": batch,
        "crops_per_s": batch / med,
        "median_ms": 1e3 * med,
        "min_ms": 1e3 * min(walls),
        "mean_ms": 1e3 * statistics.fmean(walls),
        "wall_ms": [round(1e3 * w, 1) for w in walls],
        "cpu_ms": [round(1e3 * c, 1) for c in cpus],
        "cpu_ms_per_batch": 1e3 * statistics.median(cpus),
        "cpu_util": sum(cpus) / sum(walls),
        "iterations": len(walls),
    }


def bench_model(key: str, args: argparse.Namespace, device: torch.device, log) -> list[dict]:
    """Interleaved variants for every batch of one model (+ the frames run with ``--frames``)."""
    # One model per variant (same seeded random weights): memory formats and compiled graphs
    # stay with their variant.
    loaded = {v: load_model(MODELS[key], random_weights=True) for v in args.variants}
    size = loaded[args.variants[0]].model.arch.image_size
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    preds = {v: make_predictor(loaded[v], v, device, args.precision) for v in args.variants}
    gen = torch.Generator(device=device).manual_seed(0)
    records, compile_s = [], {}
    for batch in args.batches:
        crops = torch.randn(batch, 3, size, size, device=device, generator=gen)
        peak: dict[str, float] = {}
        for v, pred in preds.items():
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            wall, _ = timed(lambda p=pred, x=crops: p.predict_crops(x), sync)  # warm-up / compile
            if device.type == "cuda":
                peak[v] = torch.cuda.max_memory_allocated(device) / 2**20
            if v == "compile":
                compile_s[batch] = wall
        rounds = args.repeats if not args.quick else (1 if batch >= 32 else 2)
        times: dict[str, tuple[list[float], list[float]]] = {v: ([], []) for v in preds}
        for _ in range(rounds):
            for v, pred in preds.items():
                w, c = timed(lambda p=pred, x=crops: p.predict_crops(x), sync)
                times[v][0].append(w)
                times[v][1].append(c)
        for v, pred in preds.items():
            base = {"model": key, "mode": "crops", "variant": v, "precision": pred.precision}
            base |= {"channels_last": pred.memory_format == torch.channels_last}
            rec = record(base, batch, *times[v])
            if v == "compile":
                rec["first_call_s"] = compile_s[batch]
            if v in peak:
                rec["gpu_peak_mib"] = peak[v]
            records.append(rec)
            log(format_row(rec))
    if args.frames:
        records += bench_frames(key, preds, sync, log)
    return records


def bench_frames(key: str, preds: dict[str, PosePredictor], sync, log) -> list[dict]:
    """End-to-end ``prepare_frames`` + ``predict`` at batch 8 over 1280x720 frames."""
    batch, rng = 8, np.random.default_rng(0)
    n_frames = math.ceil(batch / BOXES_PER_FRAME)
    frames = rng.integers(0, 256, (n_frames, FRAME_H, FRAME_W, 3), dtype=np.uint8)
    wh = rng.uniform(80, 400, (batch, 2))
    x1y1 = rng.uniform(0, 1, (batch, 2)) * (np.array([FRAME_W, FRAME_H]) - wh)
    boxes = np.concatenate([x1y1, x1y1 + wh], axis=1).astype(np.float32)
    index = np.arange(batch) // BOXES_PER_FRAME

    def run(pred: PosePredictor, v: str) -> None:
        t = pred.prepare_frames(frames)
        if v == "fp32":  # the former whole-frame float conversion
            t = t.permute(0, 3, 1, 2).float().div_(255.0)
        pred.predict(t, boxes, index)

    times: dict[str, tuple[list[float], list[float]]] = {v: ([], []) for v in preds}
    for _ in range(2):
        for v, pred in preds.items():
            w, c = timed(lambda p=pred, v=v: run(p, v), sync)
            times[v][0].append(w)
            times[v][1].append(c)
    out = []
    for v, pred in preds.items():
        base = {"model": key, "mode": "frames", "variant": v, "precision": pred.precision}
        base |= {"frame_size": [FRAME_W, FRAME_H], "frames_per_batch": n_frames}
        out.append(record(base, batch, *times[v]))
        log(format_row(out[-1]))
    return out


def summary(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Speed-up of each variant over fp32 per (model, mode, batch)."""
    ref = {(r["model"], r["mode"], r["batch"]): r for r in records if r["variant"] == "fp32"}
    out = []
    for r in records:
        base = ref.get((r["model"], r["mode"], r["batch"]))
        if base is None or r is base:
            continue
        out.append(
            {k: r[k] for k in ("model", "mode", "batch", "variant", "precision")}
            | {"ratio": r["crops_per_s"] / base["crops_per_s"]}
            | {"ratio_cpu": base["cpu_ms_per_batch"] / r["cpu_ms_per_batch"]}
        )
    return out


HEADER = f"{'model':<7}{'mode':<7}{'batch':>5} {'variant':<8}{'prec':<5}{'crops/s':>9}{'ms':>9}"
HEADER += f"{'cpu ms':>9}{'util':>5}"


def format_row(r: dict[str, Any]) -> str:
    return (
        f"{r['model']:<7}{r['mode']:<7}{r['batch']:>5} {r['variant']:<8}{r['precision']:<5}"
        f"{r['crops_per_s']:>9.2f}{r['median_ms']:>9.0f}{r['cpu_ms_per_batch']:>9.0f}"
        f"{r['cpu_util']:>5.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    header = machine_info(device) | {"settings": {k: str(v) for k, v in vars(args).items()}}

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    log(f"{header['device_name']}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    log(HEADER)
    t0 = time.perf_counter()
    records: list[dict[str, Any]] = []
    for key in args.models:
        records += bench_model(key, args, device, log)
    header["total_s"] = time.perf_counter() - t0
    header["loadavg_end"] = list(os.getloadavg())
    ratios = summary(records)
    write_json(args.out, {"header": header, "records": records, "summary": ratios})
    for s in ratios:
        print(
            f"{s['model']:<7}{s['mode']:<7} batch {s['batch']:>3} {s['variant']:<8}"
            f"x{s['ratio']:.2f} wall  x{s['ratio_cpu']:.2f} cpu"
        )
    print(f"wrote {args.out} ({header['total_s']:.0f} s); load {header['loadavg_end']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
