"""Throughput of the vectorised Kalman/RTS smoother against a per-keypoint filterpy loop.

    python benchmarks/smooth_throughput.py --out results.json

Synthetic data: ``--frames`` frames of ``--animals`` x ``--keypoints`` series (default 600 x 10 x
17 = 170 series) with noise, 10 % dropouts and 2 % outliers. Times (best of ``--repeats``):
``kalman_smooth`` (RTS, with and without gating), filterpy's ``KalmanFilter.batch_filter`` +
``rts_smoother`` run series by series (no gating, filterpy has none; run once, it is slow), and
``TrackSmoother`` streaming the same data frame by frame (RTS, default lag). Writes JSON with the
seconds, the speed-up over filterpy, the largest difference from filterpy (px) and machine info.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from filterpy.common import Q_continuous_white_noise
from filterpy.kalman import KalmanFilter

from wildpose.smooth import KalmanParams, TrackSmoother, kalman_smooth
from wildpose.types import Detections, Poses, TrackedPoses


def synthetic(rng: np.random.Generator, frames: int, animals: int, keypoints: int, fps: float):
    """(T, N, K, 2) noisy px with NaN dropouts and outliers, and (T, N, K) scores."""
    t = np.arange(frames)[:, None, None, None] / fps
    base = rng.uniform(200, 1700, (1, animals, 1, 2)) + rng.uniform(-60, 60, (1, animals, 1, 2)) * t
    offset = rng.uniform(-80, 80, (1, animals, keypoints, 2))
    phase = rng.uniform(0, 6, (1, animals, keypoints, 2))
    truth = base + offset + 20 * np.sin(2 * np.pi * 1.5 * t + phase)
    score = rng.uniform(0.2, 1.0, (frames, animals, keypoints))
    xy = truth + rng.normal(0, 1, truth.shape) * (3.0 / score)[..., None]
    xy[rng.random(score.shape) < 0.10] = np.nan
    jump = rng.random(score.shape) < 0.02
    xy[jump] += rng.uniform(60, 150, (int(jump.sum()), 2))
    return xy, score


def filterpy_series(xy: np.ndarray, score: np.ndarray, fps: float, model: KalmanParams):
    """One series (T, 2), (T,) with filterpy: KalmanFilter.batch_filter + rts_smoother."""
    num_t, dt = xy.shape[0], 1.0 / fps
    valid = np.isfinite(xy).all(axis=-1) & (score >= model.min_score)
    out = np.full((num_t, 2), np.nan)
    if not valid.any():
        return out
    t0 = int(np.argmax(valid))
    r = (model.meas_std / np.minimum(score, 1.0)) ** 2
    kf = KalmanFilter(dim_x=4, dim_z=2)
    kf.F = np.kron(np.eye(2), np.array([[1.0, dt], [0.0, 1.0]]))
    kf.Q = np.kron(np.eye(2), Q_continuous_white_noise(2, dt, model.process_noise))
    kf.H = np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    kf.x = np.array([xy[t0, 0], 0.0, xy[t0, 1], 0.0])
    kf.P = np.diag([r[t0], model.init_vel_std**2] * 2)
    xs, ps = kf.x[None].copy(), kf.P[None].copy()
    if t0 + 1 < num_t:
        zs = [xy[t] if valid[t] else None for t in range(t0 + 1, num_t)]
        rs = [np.eye(2) * (r[t] if valid[t] else 1.0) for t in range(t0 + 1, num_t)]
        means, covs, _, _ = kf.batch_filter(zs, Rs=rs)
        xs, ps = np.concatenate([xs, means]), np.concatenate([ps, covs])
    xs, _, _, _ = kf.rts_smoother(xs, ps)
    out[t0:] = xs[:, [0, 2]]
    return out


def filterpy_loop(xy: np.ndarray, score: np.ndarray, fps: float) -> np.ndarray:
    """All series of (T, N, K, 2) one by one."""
    model = KalmanParams(gate=None)
    flat, sflat = xy.reshape(xy.shape[0], -1, 2), score.reshape(score.shape[0], -1)
    out = [filterpy_series(flat[:, i], sflat[:, i], fps, model) for i in range(flat.shape[1])]
    return np.stack(out, axis=1).reshape(xy.shape)


def stream(frames: list[TrackedPoses], keypoints: int, fps: float) -> int:
    smoother = TrackSmoother(keypoints)
    emitted = sum(len(smoother.push(f)) for f in frames)
    return emitted + len(smoother.flush())


def tracked_frames(xy: np.ndarray, score: np.ndarray, fps: float) -> list[TrackedPoses]:
    n = xy.shape[1]
    ids = np.arange(1, n + 1, dtype=np.int64)
    det = Detections(np.zeros((n, 4), np.float32), np.ones(n, np.float32), np.full(n, "animal"))
    return [
        TrackedPoses(
            f, f / fps, det, Poses(xy[f].astype(np.float32), score[f].astype(np.float32)), ids
        )
        for f in range(xy.shape[0])
    ]


def best_of(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON file to write")
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--animals", type=int, default=10)
    parser.add_argument("--keypoints", type=int, default=17)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    xy, score = synthetic(rng, args.frames, args.animals, args.keypoints, args.fps)
    fps, reps = args.fps, args.repeats
    times = np.arange(len(xy)) / fps
    t_rts, _ = best_of(lambda: kalman_smooth(xy, score, times), reps)
    no_gate = KalmanParams(gate=None)
    t_nogate, (ours, _) = best_of(lambda: kalman_smooth(xy, score, times, params=no_gate), reps)
    t_filterpy, ref = best_of(lambda: filterpy_loop(xy, score, fps), 1)
    frames = tracked_frames(xy, score, fps)
    t_stream, emitted = best_of(lambda: stream(frames, args.keypoints, fps), reps)
    assert emitted == args.frames

    result = {
        "frames": args.frames,
        "series": args.animals * args.keypoints,
        "animals": args.animals,
        "keypoints": args.keypoints,
        "fps": fps,
        "seconds": {
            "kalman_smooth_rts": t_rts,
            "kalman_smooth_rts_no_gate": t_nogate,
            "filterpy_loop_rts": t_filterpy,
            "track_smoother_rts_stream": t_stream,
        },
        "speedup_vs_filterpy": t_filterpy / t_rts,
        "speedup_vs_filterpy_no_gate": t_filterpy / t_nogate,
        "stream_frames_per_s": args.frames / t_stream,
        "max_abs_diff_vs_filterpy_px": float(np.nanmax(np.abs(ours - ref))),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "python": sys.version.split()[0],
            "numpy": np.__version__,
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(args.out)
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
