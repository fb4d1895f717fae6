r"""Throughput of CLAMP pose inference (``PosePredictor``) in crops per second.

    python benchmarks/pose_throughput.py --out benchmarks/results/pose_throughput_cpu.json
    python benchmarks/pose_throughput.py --device cuda \
        --out benchmarks/results/pose_throughput_cuda.json

Models: ``clamp-tiny`` and the paper sizes ``clamp-rn50-ap10k`` and ``clamp-vitb16-ap10k`` with
random weights (speed does not depend on the weights). For every model, batch and the four
combinations of text cache (prompt embeddings computed once, or text + prompt encoder on every
batch) and flip test, it times :meth:`PosePredictor.predict_crops` on pre-made normalised crops
(network + heatmap decode). Once per model (batch 8, or the first batch given; text cache and
flip test on, the pipeline's setting) it also times the end-to-end :meth:`PosePredictor.predict`
over uint8 frames and boxes (frames to the device, crop cutting, network, decode, back to image
px), with 4 boxes per 1280x720 frame.

Method: warm-up iterations, then timed iterations until at least ``--min-time`` seconds have
elapsed and at least ``--min-iters`` iterations ran; on CUDA the device is synchronised before
every clock read. ``--quick`` (for slow CPU runs) lowers ``--min-iters`` to 1, so an iteration
slower than ``--min-time`` is timed once, and skips the warm-up of a configuration whose network
input shape this model has already run (the text-cache pair of a batch shares it). Records
marked ``quick`` have ``std_ms`` null when only one iteration ran.

Writes JSON ``{"header": machine info and settings, "records": [...], "summary": ...}``; each
record holds model, batch, mode (``crops`` or ``frames``), text_cache, flip_test, device,
precision, crops_per_s, ms_per_batch (mean), std_ms, median_ms, min_ms, iterations,
warmup_iterations, quick, cpu_util (CPU seconds per wall second: near the thread count when the
cores were free, lower when other processes competed for them) and cpu_ms_per_batch. The summary
gives the text-cache speed-up (cached / uncached crops/s) and the flip-test cost (no flip / flip
crops/s) per model and batch, as ``ratio`` (wall clock) and ``ratio_cpu`` (CPU time per batch;
the steadier one on a shared machine run with ``--threads 1``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wildpose import __version__
from wildpose.pose.checkpoint import LoadedModel, load_model
from wildpose.pose.predictor import PosePredictor

MODELS = {"tiny": "clamp-tiny", "rn50": "clamp-rn50-ap10k", "vitb16": "clamp-vitb16-ap10k"}
# Uncached first: it warms the whole network, text encoder included, for the cached run after it.
COMBOS = ((False, False), (True, False), (False, True), (True, True))  # (text_cache, flip_test)
FRAME_W, FRAME_H, BOXES_PER_FRAME = 1280, 720, 4


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True, help="JSON file to write")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--models", default="tiny,rn50,vitb16", help=f"subset of {','.join(MODELS)}")
    p.add_argument("--batches", default="1,8,32", help="comma-separated batch sizes (crops)")
    p.add_argument(
        "--precision",
        choices=("fp32", "fp16", "bf16"),
        default="fp16",
        help="autocast dtype on CUDA (the CPU always runs fp32)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="torch.set_num_threads (default: all cores)",
    )
    p.add_argument("--min-time", type=float, default=1.0, help="timed seconds per config")
    p.add_argument("--min-iters", type=int, default=2, help="timed iterations per config")
    p.add_argument("--max-iters", type=int, default=10_000)
    p.add_argument("--warmup", type=int, default=1, help="warm-up iterations per config")
    p.add_argument("--quick", action="store_true", help="see the module docstring")
    p.add_argument("--no-frames", action="store_true", help="skip the end-to-end predict runs")
    args = p.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        p.error(f"unknown model(s) {unknown}; choose from {', '.join(MODELS)}")
    try:
        args.batches = [int(b) for b in args.batches.split(",") if b.strip()]
    except ValueError:
        p.error(f"--batches must be comma-separated integers, got {args.batches!r}")
    if not args.batches or min(args.batches) < 1:
        p.error("--batches needs at least one positive batch size")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available")
    return args


def cpu_model() -> str:
    """The CPU's 'model name' from /proc/cpuinfo (platform.processor() where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info(device: torch.device, args: argparse.Namespace) -> dict[str, Any]:
    info: dict[str, Any] = {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "wildpose_version": __version__,
        "torch_version": torch.__version__,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": str(device),
        "device_name": cpu_model(),
        "loadavg_start": list(os.getloadavg()),
        "settings": {k: getattr(args, k) for k in ("models", "batches", "precision", "min_time")}
        | {"min_iters": 1 if args.quick else args.min_iters, "max_iters": args.max_iters}
        | {"threads": args.threads, "warmup": args.warmup, "quick": args.quick},
    }
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
        info["cuda_version"] = torch.version.cuda
        info["cudnn_version"] = torch.backends.cudnn.version()
    return info


def sync_fn(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def measure(
    fn: Callable[[], object],
    sync: Callable[[], None],
    batch: int,
    *,
    warmup: int,
    min_time: float,
    min_iters: int,
    max_iters: int,
) -> dict[str, Any]:
    """Time ``fn`` (one batch of ``batch`` crops) after ``warmup`` untimed calls.

    Iterates until ``min_time`` seconds of timed calls and ``min_iters`` iterations (capped by
    ``max_iters``). ``sync`` runs before every clock read (CUDA is asynchronous). Returns
    crops/s, per-batch statistics in ms, ``cpu_util``: this process's CPU seconds per wall
    second while timed (close to the thread count on an idle machine; far below it when other
    processes take the cores), and ``cpu_ms_per_batch``, this process's CPU time per batch
    (with one thread, a measure of the work that other processes barely disturb).
    """
    for _ in range(warmup):
        fn()
    sync()
    times: list[float] = []
    cpu0 = time.process_time()
    while len(times) < max_iters and (len(times) < min_iters or sum(times) < min_time):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    cpu = time.process_time() - cpu0
    return {
        "crops_per_s": batch * len(times) / sum(times),
        "ms_per_batch": 1e3 * statistics.fmean(times),
        "std_ms": 1e3 * statistics.stdev(times) if len(times) > 1 else None,
        "median_ms": 1e3 * statistics.median(times),
        "min_ms": 1e3 * min(times),
        "iterations": len(times),
        "warmup_iterations": warmup,
        "cpu_util": cpu / sum(times),
        "cpu_ms_per_batch": 1e3 * cpu / len(times),
    }


def make_predictor(
    loaded: LoadedModel, device: torch.device, precision: str, text_cache: bool, flip: bool
) -> PosePredictor:
    m = loaded.manifest
    return PosePredictor(
        loaded.model,
        mean=m.mean,
        std=m.std,
        flip_pairs=m.flip_pairs,
        flip_test=flip,
        device=device,
        precision=precision,  # type: ignore[arg-type]
        cache_prompts=text_cache,
    )


def synthetic_frames(
    batch: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """uint8 RGB frames (F, H, W, 3), boxes (batch, 4) x1y1x2y2 px inside them, frame index."""
    n_frames = math.ceil(batch / BOXES_PER_FRAME)
    frames = rng.integers(0, 256, (n_frames, FRAME_H, FRAME_W, 3), dtype=np.uint8)
    wh = rng.uniform(80, 400, (batch, 2))
    x1y1 = rng.uniform(0, 1, (batch, 2)) * (np.array([FRAME_W, FRAME_H]) - wh)
    boxes = np.concatenate([x1y1, x1y1 + wh], axis=1).astype(np.float32)
    return frames, boxes, np.arange(batch) // BOXES_PER_FRAME


def bench_model(
    key: str, args: argparse.Namespace, device: torch.device, log: Callable[[str], None]
) -> list[dict[str, Any]]:
    """All records of one model: the crops grid, then one end-to-end frames run."""
    t0 = time.perf_counter()
    loaded = load_model(MODELS[key], random_weights=True)
    load_s = time.perf_counter() - t0
    size = loaded.model.arch.image_size
    n_params = sum(p.numel() for p in loaded.model.parameters())
    base = {"model": key, "model_name": MODELS[key], "input_size": size, "params": n_params}
    log(f"{key}: {n_params / 1e6:.1f} M parameters, built in {load_s:.1f} s")
    log(HEADER)
    sync, warm_shapes, records = sync_fn(device), set(), []
    gen = torch.Generator(device=device).manual_seed(0)
    for batch in args.batches:
        crops = torch.randn(batch, 3, size, size, device=device, generator=gen)
        for text_cache, flip in COMBOS:
            pred = make_predictor(loaded, device, args.precision, text_cache, flip)
            if text_cache:
                pred.prompt_embeddings()  # computed once per model in real use
            shape = batch * (2 if flip else 1)
            warmup = 0 if args.quick and shape in warm_shapes else args.warmup
            warm_shapes.add(shape)
            timing = measure(
                lambda p=pred, x=crops: p.predict_crops(x),
                sync,
                batch,
                warmup=warmup,
                min_time=args.min_time,
                min_iters=1 if args.quick else args.min_iters,
                max_iters=args.max_iters,
            )
            rec = base | {"batch": batch, "mode": "crops", "text_cache": text_cache}
            rec |= {"flip_test": flip, "device": str(device), "precision": pred.precision}
            rec |= timing
            records.append(rec | {"quick": args.quick})
            log(format_row(rec))
    if not args.no_frames:
        records.append(bench_frames(loaded, base, args, device, log))
    return records


def bench_frames(
    loaded: LoadedModel,
    base: dict[str, Any],
    args: argparse.Namespace,
    device: torch.device,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """End-to-end ``prepare_frames`` + ``predict`` with text cache and flip test on."""
    batch = 8 if 8 in args.batches else args.batches[0]
    frames, boxes, frame_index = synthetic_frames(batch, np.random.default_rng(0))
    pred = make_predictor(loaded, device, args.precision, True, True)
    pred.prompt_embeddings()
    timing = measure(
        lambda: pred.predict(pred.prepare_frames(frames), boxes, frame_index),
        sync_fn(device),
        batch,
        warmup=0 if args.quick else args.warmup,  # the crops grid already ran this shape
        min_time=args.min_time,
        min_iters=1 if args.quick else args.min_iters,
        max_iters=args.max_iters,
    )
    rec = base | {"batch": batch, "mode": "frames", "text_cache": True, "flip_test": True}
    rec |= {"device": str(device), "precision": pred.precision, "frames_per_batch": len(frames)}
    rec |= {"frame_size": [FRAME_W, FRAME_H]} | timing | {"quick": args.quick}
    log(format_row(rec))
    return rec


def speedups(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Text-cache speed-up (cached / uncached) and flip cost (no flip / flip) in crops/s."""
    by_key = {
        (r["model"], r["batch"], r["text_cache"], r["flip_test"]): r
        for r in records
        if r["mode"] == "crops"
    }

    def ratios(fast: dict[str, Any], slow: dict[str, Any]) -> dict[str, float]:
        return {
            "ratio": fast["crops_per_s"] / slow["crops_per_s"],
            "ratio_cpu": slow["cpu_ms_per_batch"] / fast["cpu_ms_per_batch"],
        }

    cache, flip = [], []
    for (model, batch, tc, ft), rec in by_key.items():
        if tc and (other := by_key.get((model, batch, False, ft))):
            cache.append({"model": model, "batch": batch, "flip_test": ft} | ratios(rec, other))
        if not ft and (other := by_key.get((model, batch, tc, True))):
            flip.append({"model": model, "batch": batch, "text_cache": tc} | ratios(rec, other))
    return {"text_cache_speedup": cache, "flip_test_cost": flip}


HEADER = (
    f"{'model':<7}{'mode':<7}{'batch':>5} {'cache':<6}{'flip':<6}"
    f"{'crops/s':>9}{'ms/batch':>10}{'std':>8}{'iters':>6}{'cpu':>5}{'cpu ms':>10}"
)


def format_row(r: dict[str, Any]) -> str:
    std = "-" if r["std_ms"] is None else f"{r['std_ms']:.1f}"
    return (
        f"{r['model']:<7}{r['mode']:<7}{r['batch']:>5} {'on' if r['text_cache'] else 'off':<6}"
        f"{'on' if r['flip_test'] else 'off':<6}{r['crops_per_s']:>9.2f}"
        f"{r['ms_per_batch']:>10.1f}{std:>8}{r['iterations']:>6}{r['cpu_util']:>5.1f}"
        f"{r['cpu_ms_per_batch']:>10.1f}"
    )


def write_json(obj: dict[str, Any], path: Path) -> None:
    """Write to a temporary name in the same folder, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(obj, indent=2) + "\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    header = machine_info(device, args)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    log(f"{header['device_name']}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    t0 = time.perf_counter()
    records: list[dict[str, Any]] = []
    for key in args.models:
        records += bench_model(key, args, device, log)
    header["total_s"] = time.perf_counter() - t0
    header["loadavg_end"] = list(os.getloadavg())
    summary = speedups(records)
    write_json({"header": header, "records": records, "summary": summary}, args.out)
    print(HEADER)
    print("\n".join(format_row(r) for r in records))
    print("text-cache speed-up (cached/uncached crops/s; wall clock, CPU time):")
    for s in summary["text_cache_speedup"]:
        flip = "flip" if s["flip_test"] else "no flip"
        line = f"  {s['model']:<7} batch {s['batch']:>3} {flip:<8}"
        print(f"{line} x{s['ratio']:.2f}  x{s['ratio_cpu']:.2f}")
    print(f"wrote {args.out} ({header['total_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
