r"""Throughput and peak memory of ``wildpose track`` against its two limits, decode and pose.

    python benchmarks/track_throughput.py --out benchmarks/results/track_throughput_cpu.json
    python benchmarks/track_throughput.py --device cuda --pose clamp-vitb16-ap10k \
        --out benchmarks/results/track_throughput_cuda.json

Workloads (``--frames N`` frames each, default 300):

- ``dlc-openfield``: the real DeepLabCut open-field video (640x480, 30 fps, H.264 yuv444p, one
  mouse), first N frames, detector ``full-frame`` (one box per frame). Skipped with a note when
  ``<repo>/../shared/data`` is absent or with ``--skip-real``.
- ``synthetic-multi``: a generated 640x480 30 fps H.264 video with 4 animals, detector
  ``boxes:FILE``: a CSV written from the generator's ground-truth boxes.

Box files and full-frame boxes keep the benchmark about our pipeline (decode, crops, CLAMP, flip
test, tracker, smoother, Parquet writer) rather than about a randomly initialised YOLO, whose
cost is a separate, well-known quantity.

Per workload (pose model warmed up first):

- decode-only frames/s: iterating ``open_video`` (configured backend, ``auto`` by default) over
  the same frames, best of ``max(3, --repeats)`` (it is cheap); plus the CPU cores a paused
  reader keeps busy (the decoder's state while the prefetch queue is full and the pose model
  runs).
- pose-only crops/s: ``PosePredictor.prepare_frames`` + ``predict`` on pre-decoded frames, with
  the pipeline's chunking (``detector.frames_per_batch`` frames share ``pose.batch_size`` crop
  batches) and the detector's boxes; converted to frames/s with the crops per frame.
- end-to-end frames/s: ``track_video`` writing Parquet to a temporary folder.

Pose-only and end-to-end run in ``--repeats`` rounds, back to back, so both see the same machine
load; the best of each counts and every round's ratio is recorded too.
``ratio = e2e / min(decode, pose)``; target >= 0.8. The smoother's own time (``push`` + final
``flush``) is measured by substituting a timing subclass of ``TrackSmoother`` in
``wildpose.pipeline`` (benchmark only); ``smooth_write`` (smoother + Parquet writer, without the
final flush) comes from the run's ``timings_s``. Target: smoothing < 2% of the end-to-end time.

Peak RSS: ``track_video`` in a fresh subprocess (this script with ``--child``) on a generated
320x240, 2-animal video of ``--rss-frames`` N frames (default 150) and one of 10 N frames (same
scene, same box-file detector); each child reports its peak RSS (``VmHWM``), its RSS after loading
the model and after every chunk. Growth = peak(10 N) / peak(N) - 1; target <= 10%.

The JSON holds ``header`` (date, CPU, cores, torch, threads, device, load average at start and
end), ``workloads`` (per workload: decode, pose, e2e records and the ratio), ``rss`` and
``targets`` (each figure against its target).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import torch

import wildpose.pipeline.stages as pipeline_stages
from wildpose import atomic
from wildpose.config import RunConfig, resolve_run_config
from wildpose.errors import ModelError
from wildpose.pipeline import Stages, track_video
from wildpose.pose.checkpoint import load_model
from wildpose.smooth import TrackSmoother
from wildpose.synthetic import write_synthetic_video
from wildpose.types import Frame
from wildpose.video import open_video

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info  # noqa: E402  (the benchmarks' shared header)

REPO = Path(__file__).resolve().parents[1]
REAL_VIDEO = REPO / ".." / "shared" / "data" / "dlc-openfield" / "videos" / "m3v1mp4.mp4"
MULTI_SIZE, MULTI_ANIMALS = (640, 480), 4
RSS_SIZE, RSS_ANIMALS, RSS_FACTOR = (320, 240), 2, 10
TARGET_RATIO, TARGET_RSS_GROWTH_PCT, TARGET_SMOOTH_SHARE_PCT = 0.8, 10.0, 2.0


@dataclass(frozen=True)
class Workload:
    """One input: ``end_s`` limits the frames read (None: the whole file)."""

    name: str
    path: Path
    detector: str  # --detector spec
    detector_note: str
    n_frames: int
    end_s: float | None = None


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Command line and machine


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, help="JSON file to write (required unless --child)")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--pose", default="clamp-tiny", help="pose model (manifest name or path)")
    p.add_argument(
        "--random-weights",
        action="store_true",
        help="build the pose model with random weights (paper sizes without their weights); "
        "also used automatically when the weights are missing",
    )
    p.add_argument("--precision", choices=("fp32", "fp16", "bf16"), default="fp16")
    p.add_argument("--frames", type=int, default=300, help="frames per throughput workload")
    p.add_argument("--rss-frames", type=int, default=150, help="N of the N / 10 N RSS runs")
    p.add_argument("--repeats", type=int, default=2, help="timed rounds per measure (best counts)")
    p.add_argument("--skip-real", action="store_true", help="skip the DLC open-field video")
    p.add_argument("--skip-rss", action="store_true", help="skip the peak-RSS subprocesses")
    p.add_argument("--rss-only", action="store_true", help="only the peak-RSS subprocesses")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="K=V")
    p.add_argument(
        "--child", nargs=3, metavar=("VIDEO", "BOXES", "OUT_DIR"), help=argparse.SUPPRESS
    )
    args = p.parse_args(argv)
    if args.child is None and args.out is None:
        p.error("--out is required")
    if min(args.frames, args.rss_frames, args.repeats, args.threads) < 1:
        p.error("--frames, --rss-frames, --repeats and --threads must be positive")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: no CUDA device is available")
    return args


def run_header(args: argparse.Namespace) -> dict[str, Any]:
    """The benchmarks' shared machine header plus this run's settings."""
    info = machine_info(torch.device(args.device if args.device != "cuda" else "cuda:0"))
    info["settings"] = {
        k: getattr(args, k)
        for k in ("pose", "random_weights", "precision", "frames", "rss_frames", "repeats")
    } | {"overrides": args.overrides}
    return info


def write_json(obj: dict[str, Any], path: Path) -> None:
    """Write the results atomically (wildpose's one writer)."""
    atomic.write_json(path, obj)


# --------------------------------------------------------------------------------------------
# Pipeline set-up


def run_config(args: argparse.Namespace, w: Workload) -> RunConfig:
    """The run config of ``wildpose track --pose P --detector D --device X`` on ``w``."""
    flags: dict[str, Any] = {
        "device": args.device,
        "precision": args.precision,
        "pose": {"model": args.pose},
        "detector": {"model": w.detector},
        "output": {"format": "parquet"},
    }
    if w.end_s is not None:
        flags["video"] = {"end": w.end_s}
    return resolve_run_config(None, flags, args.overrides)


def build_stages(cfg: RunConfig, random_weights: bool) -> tuple[Stages, str]:
    """``Stages.build``, or the same around a random-weights model; returns (stages, weights)."""
    if not random_weights:
        try:
            return Stages.build(cfg), "as loaded"
        except ModelError as e:
            log(f"{e}; using random weights")
    loaded = load_model(cfg.pose.model, random_weights=True)
    return Stages.around(cfg, loaded), "random"


def synthetic_workload(
    folder: Path, name: str, n_frames: int, size: tuple[int, int], n_animals: int
) -> Workload:
    """Generate a video and a ``boxes:`` CSV (frame,x1,y1,x2,y2,score,class_name) of its truth."""
    video = folder / f"{name}.mp4"
    truth = write_synthetic_video(video, n_frames=n_frames, size=size, n_animals=n_animals)
    t, n = truth.boxes.shape[:2]
    frame = np.repeat(np.arange(t), n)
    xyxy = truth.boxes.reshape(-1, 4)
    boxes = folder / f"{name}.boxes.csv"
    lines = ["frame,x1,y1,x2,y2,score,class_name"]
    lines += [
        f"{f},{a:.2f},{b:.2f},{c:.2f},{d:.2f},1.0,animal"
        for f, (a, b, c, d) in zip(frame, xyxy, strict=True)
    ]
    boxes.write_text("\n".join(lines) + "\n")
    note = f"boxes:FILE from the generator's ground truth ({n_animals} animals per frame)"
    return Workload(name, video, f"boxes:{boxes}", note, t)


def real_workload(n_frames: int) -> Workload:
    fps = 30.0
    return Workload(
        "dlc-openfield",
        REAL_VIDEO,
        "full-frame",
        "full-frame: one box per frame (single mouse in an arena)",
        n_frames,
        end_s=(n_frames - 0.5) / fps,
    )


# --------------------------------------------------------------------------------------------
# Measures


def best_of(repeats: int, fn: Callable[[], dict[str, Any]], key: str) -> dict[str, Any]:
    """Run ``fn`` ``repeats`` times; the record with the highest ``key``, plus all its values."""
    runs = [fn() for _ in range(repeats)]
    best = max(runs, key=lambda r: r[key])
    return best | {f"{key}_runs": [round(r[key], 3) for r in runs]}


def bench_decode(w: Workload, backend: str) -> dict[str, Any]:
    """Frames/s of ``open_video`` over the workload's frames, probe included (wall and CPU)."""
    t0, c0 = time.perf_counter(), time.process_time()
    with open_video(w.path, end=w.end_s, backend=backend) as reader:  # type: ignore[arg-type]
        n = sum(1 for _ in reader)
        chosen = reader.info.backend
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    rec = {"frames": n, "seconds": seconds, "frames_per_s": n / seconds, "backend": chosen}
    return rec | {"cpu_s": cpu, "frames_per_cpu_s": n / cpu}


def decoder_idle_cores(w: Workload, backend: str, frames: int = 32, wait_s: float = 1.0) -> float:
    """CPU cores this process burns while an open reader sits idle after ``frames`` frames.

    This is the state of the pipeline's decoder while the prefetch queue is full and the pose
    model runs: any CPU used here is taken from the pose model on a CPU-only machine.
    """
    with open_video(w.path, end=w.end_s, backend=backend) as reader:  # type: ignore[arg-type]
        it = iter(reader)
        for _ in range(frames):
            if next(it, None) is None:
                break
        c0 = time.process_time()
        time.sleep(wait_s)
        return (time.process_time() - c0) / wait_s


def decode_all(w: Workload, backend: str) -> list[Frame]:
    with open_video(w.path, end=w.end_s, backend=backend) as reader:  # type: ignore[arg-type]
        return list(reader)


def pose_inputs(
    frames: list[Frame], stages: Stages, source: str
) -> list[tuple[list[np.ndarray], np.ndarray, np.ndarray]]:
    """Per pipeline chunk: the images that have boxes, boxes (N, 4) px, local frame index (N,)."""
    detector = stages.detector_for(source)
    fpb = max(1, stages.config.detector.frames_per_batch)
    out = []
    for i in range(0, len(frames), fpb):
        chunk = frames[i : i + fpb]
        dets = detector.detect(chunk)
        counts = np.array([len(d) for d in dets])
        boxes = np.concatenate([d.xyxy for d in dets]).astype(np.float32)
        frame_of = np.repeat(np.arange(len(chunk)), counts)
        used = np.unique(frame_of)
        out.append(([chunk[j].image for j in used], boxes, np.searchsorted(used, frame_of)))
    return out


def bench_pose(inputs: list[tuple[list[np.ndarray], np.ndarray, np.ndarray]], stages: Stages):
    """Crops/s of ``prepare_frames`` + batched ``predict``, as ``pipeline.poses`` does."""
    pred, bs = stages.predictor, max(1, stages.config.pose.batch_size)
    sync = torch.cuda.synchronize if pred.device.type == "cuda" else (lambda: None)
    crops = sum(len(b) for _, b, _ in inputs)
    t0, c0 = time.perf_counter(), time.process_time()
    for images, boxes, local in inputs:
        frames_t = pred.prepare_frames(images)
        for i in range(0, len(boxes), bs):
            pred.predict(frames_t, boxes[i : i + bs], local[i : i + bs])
    sync()
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"crops": crops, "seconds": seconds, "crops_per_s": crops / seconds, "cpu_s": cpu}


class TimedSmoother(TrackSmoother):
    """``TrackSmoother`` that adds the seconds spent in ``push``/``flush`` to ``seconds``."""

    seconds = 0.0

    def push(self, frame):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        try:
            return super().push(frame)
        finally:
            TimedSmoother.seconds += time.perf_counter() - t0

    def flush(self):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        try:
            return super().flush()
        finally:
            TimedSmoother.seconds += time.perf_counter() - t0


@contextmanager
def timed_smoother():
    TimedSmoother.seconds = 0.0
    with mock.patch.object(pipeline_stages, "TrackSmoother", TimedSmoother):
        yield


def bench_e2e(w: Workload, stages: Stages, progress=None) -> dict[str, Any]:
    """``track_video`` into a temporary folder; frames/s, timings and the smoother's share."""
    c0 = time.process_time()
    with tempfile.TemporaryDirectory(prefix="wp-bench-") as out, timed_smoother():
        res = track_video(w.path, out, stages, progress=progress)
        parquet = sum(Path(o).stat().st_size for o in res.outputs if o.endswith(".parquet"))
    timings = res.info["timings_s"]
    return {
        "frames": res.frames_read,
        "seconds": res.seconds,
        "frames_per_s": res.frames_read / res.seconds,
        "rows": res.rows,
        "tracks": res.tracks,
        "parquet_bytes": parquet,
        "backend": res.info["video_info"]["backend"],
        "cpu_cores_used": (time.process_time() - c0) / res.seconds,
        "timings_s": timings,
        "smoother_s": round(TimedSmoother.seconds, 4),
        "smoother_share_pct": 100 * TimedSmoother.seconds / res.seconds,
        "smoother_ms_per_frame": 1e3 * TimedSmoother.seconds / max(res.frames_read, 1),
        "smooth_write_share_pct": 100 * timings.get("smooth_write", 0.0) / res.seconds,
        "untimed_s": round(res.seconds - sum(timings.values()), 3),
    }


def bench_workload(w: Workload, args: argparse.Namespace) -> dict[str, Any]:
    cfg = run_config(args, w)
    stages, weights = build_stages(cfg, args.random_weights)
    rec: dict[str, Any] = {"name": w.name, "video": str(w.path), "detector": w.detector_note}
    rec |= {"pose_model": cfg.pose.model, "weights": weights, "flip_test": cfg.pose.flip_test}
    rec |= {"pose_batch_size": cfg.pose.batch_size}
    rec |= {"frames_per_batch": cfg.detector.frames_per_batch, "loadavg_start": os.getloadavg()}
    backend = cfg.video.backend
    decode = best_of(max(3, args.repeats), lambda: bench_decode(w, backend), "frames_per_s")
    decode["idle_cpu_cores_when_paused"] = decoder_idle_cores(w, backend)
    log(
        f"{w.name}: decode {decode['frames_per_s']:.1f} frames/s ({decode['backend']}; "
        f"a paused reader uses {decode['idle_cpu_cores_when_paused']:.2f} cores)"
    )
    frames = decode_all(w, backend)
    inputs = pose_inputs(frames, stages, str(w.path))
    n_frames = len(frames)
    del frames  # the pose inputs hold the images that have boxes
    pred = stages.predictor
    pred.predict(pred.prepare_frames(inputs[0][0]), inputs[0][1][:1], inputs[0][2][:1])  # warm
    # Rounds of pose-only then end-to-end, back to back, so that both see the same machine load.
    poses, e2es = [], []
    for i in range(args.repeats):
        poses.append(bench_pose(inputs, stages))
        poses[-1]["frames_per_s"] = poses[-1]["crops_per_s"] * n_frames / poses[-1]["crops"]
        e2es.append(bench_e2e(w, stages))
        log(
            f"{w.name} round {i + 1}: pose {poses[-1]['crops_per_s']:.2f} crops/s = "
            f"{poses[-1]['frames_per_s']:.2f} frames/s; e2e {e2es[-1]['frames_per_s']:.2f} "
            f"frames/s; smoother {e2es[-1]['smoother_share_pct']:.2f}% of e2e"
        )
    inputs.clear()
    pose = max(poses, key=lambda r: r["crops_per_s"])
    pose |= {"crops_per_frame": pose["crops"] / n_frames}
    pose["crops_per_s_runs"] = [round(r["crops_per_s"], 3) for r in poses]
    e2e = max(e2es, key=lambda r: r["frames_per_s"])
    e2e["frames_per_s_runs"] = [round(r["frames_per_s"], 3) for r in e2es]
    e2e["pose_crops_per_s_inside"] = pose["crops"] / max(e2e["timings_s"].get("pose", 0.0), 1e-9)
    rec |= {"decode": decode, "pose": pose, "e2e": e2e}
    bound = min(decode["frames_per_s"], pose["frames_per_s"])
    rec["bound"] = "decode" if bound == decode["frames_per_s"] else "pose"
    rec["ratio"] = e2e["frames_per_s"] / bound
    rec["ratio_per_round"] = [
        e["frames_per_s"] / min(decode["frames_per_s"], p["frames_per_s"])
        for p, e in zip(poses, e2es, strict=True)
    ]
    # Where decode and pose share the same cores (CPU), nothing beats running them one after
    # the other at full speed: 1 / (1/decode + 1/pose).
    serial = 1 / (1 / decode["frames_per_s"] + 1 / pose["frames_per_s"])
    rec["serial_bound_frames_per_s"] = serial
    rec["ratio_to_serial_bound"] = e2e["frames_per_s"] / serial
    rec["loadavg_end"] = os.getloadavg()
    log(f"{w.name}: ratio {rec['ratio']:.2f} (per round {rec['ratio_per_round']})")
    return rec


# --------------------------------------------------------------------------------------------
# Peak RSS (subprocesses)


def rss_kib() -> int:
    """Current resident set size of this process, KiB."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def peak_rss_kib() -> int:
    """Peak RSS of this process image, KiB (``VmHWM``).

    Not ``ru_maxrss``: Linux carries the parent's high-water mark across fork + exec into it, so
    a child of a large benchmark process would report the parent's size.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_main(args: argparse.Namespace) -> int:
    """Track one video (``--child VIDEO BOXES OUT_DIR``); print one JSON line of memory facts."""
    video, boxes, out_dir = args.child
    w = Workload("rss", Path(video), f"boxes:{boxes}", "", 0)
    stages, _ = build_stages(run_config(args, w), args.random_weights)
    after_load, peak_load = rss_kib(), peak_rss_kib()
    samples: list[tuple[int, int]] = []
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        samples.append((done, rss_kib()))

    res = bench_e2e(w, stages, progress)
    keep = samples[:: max(1, len(samples) // 50)] + samples[-1:]
    facts = {"after_load_kib": after_load, "peak_load_kib": peak_load}
    facts |= {"peak_kib": peak_rss_kib(), "end_kib": rss_kib(), "samples": keep} | res
    print(json.dumps(facts))
    return 0


def run_child(args: argparse.Namespace, w: Workload, out_dir: Path) -> dict[str, Any]:
    boxes = w.detector.removeprefix("boxes:")
    cmd = [sys.executable, __file__, "--child", str(w.path), boxes, str(out_dir)]
    cmd += ["--device", args.device, "--pose", args.pose, "--precision", args.precision]
    cmd += ["--threads", str(args.threads)] + [f"--set={o}" for o in args.overrides]
    cmd += ["--random-weights"] if args.random_weights else []
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode:
        raise RuntimeError(f"RSS child failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_rss(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    n = args.rss_frames
    runs = {}
    for label, frames in (("N", n), ("10N", RSS_FACTOR * n)):
        w = synthetic_workload(folder, f"rss-{frames}", frames, RSS_SIZE, RSS_ANIMALS)
        runs[label] = run_child(args, w, folder)
        log(f"rss {label} ({frames} frames): peak {runs[label]['peak_kib'] / 1024:.0f} MiB")
    small, large = runs["N"], runs["10N"]
    work_small = small["peak_kib"] - small["after_load_kib"]
    return {
        "video": f"generated {RSS_SIZE[0]}x{RSS_SIZE[1]}, {RSS_ANIMALS} animals, box-file detector",
        "frames": [n, RSS_FACTOR * n],
        "runs": runs,
        "growth_pct": 100 * (large["peak_kib"] / small["peak_kib"] - 1),
        "growth_above_load_pct": 100 * (large["peak_kib"] - small["peak_kib"]) / max(work_small, 1),
    }


# --------------------------------------------------------------------------------------------
# Report


def targets(workloads: list[dict[str, Any]], rss: dict[str, Any] | None) -> list[dict[str, Any]]:
    out = []
    for r in workloads:
        out.append(
            {"what": f"{r['name']} e2e / min(decode, pose)", "value": r["ratio"]}
            | {"target": f">= {TARGET_RATIO}", "met": r["ratio"] >= TARGET_RATIO}
        )
        share = r["e2e"]["smoother_share_pct"]
        out.append(
            {"what": f"{r['name']} smoother share of e2e (%)", "value": share}
            | {"target": f"< {TARGET_SMOOTH_SHARE_PCT}", "met": share < TARGET_SMOOTH_SHARE_PCT}
        )
    if rss is not None:
        g = rss["growth_pct"]
        out.append(
            {"what": "peak RSS growth 10N vs N (%)", "value": g}
            | {"target": f"<= {TARGET_RSS_GROWTH_PCT}", "met": g <= TARGET_RSS_GROWTH_PCT}
        )
    return out


def print_summary(result: dict[str, Any]) -> None:
    h = result["header"]
    print(
        f"{h['cpu_model']}, {h['torch_threads']} threads, torch {h['torch_version']}, {h['device']}"
    )
    print(f"load average at start {h['loadavg_start']}, end {h['loadavg_end']}")
    print(
        f"{'workload':<17}{'decode f/s':>11}{'pose crops/s':>13}{'pose f/s':>9}{'e2e f/s':>9}"
        f"{'ratio':>7}{'smooth%':>8}{'s+write%':>9}"
    )
    for r in result["workloads"]:
        e = r["e2e"]
        print(
            f"{r['name']:<17}{r['decode']['frames_per_s']:>11.1f}{r['pose']['crops_per_s']:>13.1f}"
            f"{r['pose']['frames_per_s']:>9.2f}{e['frames_per_s']:>9.2f}{r['ratio']:>7.2f}"
            f"{e['smoother_share_pct']:>8.2f}{e['smooth_write_share_pct']:>9.2f}"
        )
    for s in result["skipped"]:
        print(f"skipped: {s}")
    rss = result["rss"]
    if rss:
        a, b = rss["runs"]["N"], rss["runs"]["10N"]
        print(
            f"peak RSS {rss['frames'][0]} frames {a['peak_kib'] / 1024:.0f} MiB, "
            f"{rss['frames'][1]} frames {b['peak_kib'] / 1024:.0f} MiB: "
            f"growth {rss['growth_pct']:+.1f}% "
            f"(after model load {a['after_load_kib'] / 1024:.0f} MiB)"
        )
    for t in result["targets"]:
        print(
            f"{'ok  ' if t['met'] else 'MISS'} {t['what']}: {t['value']:.3g} (target {t['target']})"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.child:
        return child_main(args)
    header = run_header(args)
    log(
        f"{header['device_name']}, {torch.get_num_threads()} threads, "
        f"load {header['loadavg_start']}"
    )
    t0 = time.perf_counter()
    workloads, skipped, rss = [], [], None
    with tempfile.TemporaryDirectory(prefix="wp-track-bench-") as tmp:
        folder = Path(tmp)
        if args.rss_only:
            skipped.append("throughput workloads: --rss-only")
        elif args.skip_real:
            skipped.append("dlc-openfield: --skip-real")
        elif not REAL_VIDEO.is_file():
            skipped.append(f"dlc-openfield: {REAL_VIDEO} not found (../shared/data absent)")
        else:
            workloads.append(bench_workload(real_workload(args.frames), args))
        if not args.rss_only:
            multi = synthetic_workload(
                folder, "synthetic-multi", args.frames, MULTI_SIZE, MULTI_ANIMALS
            )
            workloads.append(bench_workload(multi, args))
        if not args.skip_rss:
            rss = bench_rss(args, folder)
    header["total_s"] = round(time.perf_counter() - t0, 1)
    header["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    result = {"header": header, "workloads": workloads, "skipped": skipped, "rss": rss}
    result["targets"] = targets(workloads, rss)
    write_json(result, args.out)
    print_summary(result)
    print(f"wrote {args.out} ({header['total_s']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
