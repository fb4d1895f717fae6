r"""onnxruntime against PyTorch (fp32 and the fast path) on the CPU, heatmap network only.

    python benchmarks/onnx_throughput.py --models tiny,vitb16 --batch 16 --threads 1 \
        --out benchmarks/results/onnx_throughput_cpu.json

For each model (random weights): the export time (``wildpose.export.onnx.export_onnx``), the
ONNX file size, the largest relative heatmap difference onnxruntime vs PyTorch fp32, then
``--repeats`` interleaved rounds of one forward of ``--batch`` normalised crops (16 = batch 8
with the flip test) in four runtimes: ``torch-fp32`` (the network as trained),
``torch-fp32-folded`` and ``torch-{fast}-folded`` (BatchNorm folded, as the pipeline runs torch;
fast = ``--precision auto``: bf16 autocast on CPUs with native bf16) and ``onnxruntime``
(CPUExecutionProvider, all graph optimisations, ``--threads`` intra-op threads). Records:
crops/s from the median wall time, CPU ms per batch, cpu_util. JSON ``{"header", "models":
[{"model", "export_s", ..., "runs"}]}``.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wildpose.atomic import write_json
from wildpose.export.onnx import HeatmapNetwork, export_onnx
from wildpose.pose.checkpoint import load_model
from wildpose.pose.fold import fold_batchnorm
from wildpose.pose.precision import autocast, resolve_precision

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info  # noqa: E402

MODELS = {"tiny": "clamp-tiny", "rn50": "clamp-rn50-ap10k", "vitb16": "clamp-vitb16-ap10k"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--models", default="tiny,vitb16")
    p.add_argument("--batch", type=int, default=16, help="crops per forward (flip test: 2N)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    if bad := [m for m in args.models if m not in MODELS]:
        p.error(f"unknown model(s) {bad}; choose from {', '.join(MODELS)}")
    return args


def bench_model(key: str, args: argparse.Namespace, tmp: Path, log) -> dict[str, Any]:
    import onnxruntime as ort

    loaded = load_model(MODELS[key], random_weights=True)
    size = loaded.model.arch.image_size
    t0 = time.perf_counter()
    path = export_onnx(loaded, tmp / f"{key}.onnx")
    export_s = time.perf_counter() - t0
    log(f"{key}: exported in {export_s:.0f} s ({path.stat().st_size / 1e6:.0f} MB)")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    net = HeatmapNetwork(loaded.model).eval()
    folded_model = copy.deepcopy(loaded.model).eval()
    fold_batchnorm(folded_model)  # as the pipeline runs torch
    folded = HeatmapNetwork(folded_model).eval()
    fast = resolve_precision("auto", torch.device("cpu"))
    x = torch.randn(args.batch, 3, size, size, generator=torch.Generator().manual_seed(0))
    xn = x.numpy()

    def torch_run(precision: str, network: torch.nn.Module = net):
        def run() -> np.ndarray:
            with torch.no_grad(), autocast(torch.device("cpu"), precision):  # type: ignore[arg-type]
                return network(x).float().numpy()

        return run

    runs = {
        "torch-fp32": torch_run("fp32"),
        "torch-fp32-folded": torch_run("fp32", folded),
        f"torch-{fast}-folded": torch_run(fast, folded),
        "onnxruntime": lambda: sess.run(["heatmaps"], {"images": xn})[0],
    }
    ref = runs["torch-fp32"]()
    rel = float(np.abs(runs["onnxruntime"]() - ref).max() / np.abs(ref).max())
    for fn in runs.values():  # warm-up
        fn()
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in runs}
    for _ in range(args.repeats):
        for name, fn in runs.items():
            c0, w0 = time.process_time(), time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - w0, time.process_time() - c0))
    out = []
    for name, tc in times.items():
        wall = statistics.median(t for t, _ in tc)
        cpu = statistics.median(c for _, c in tc)
        rec = {"runtime": name, "crops_per_s": args.batch / wall, "median_ms": 1e3 * wall}
        rec |= {
            "cpu_ms_per_batch": 1e3 * cpu,
            "cpu_util": sum(c for _, c in tc) / sum(t for t, _ in tc),
        }
        out.append(rec)
        log(f"  {name:<12} {rec['crops_per_s']:8.2f} crops/s  cpu {1e3 * cpu:8.0f} ms")
    return {"model": key, "export_s": export_s, "onnx_mb": path.stat().st_size / 1e6,
            "onnx_vs_torch_rel": rel, "batch": args.batch, "runs": out}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    header = machine_info(torch.device("cpu")) | {
        "settings": {k: str(v) for k, v in vars(args).items()}
    }

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        models = [bench_model(k, args, Path(tmp), log) for k in args.models]
    header["loadavg_end"] = list(os.getloadavg())
    write_json(args.out, {"header": header, "models": models})
    print(f"wrote {args.out}; load {header['loadavg_end']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
