"""Reproduce the open-field tutorial's figures (docs/tutorial-openfield.md) into JSON.

Runs, as a user would, through the CLI: ``wildpose train-detector`` and ``wildpose train`` on
the labelled DeepLabCut frames (16 held out), then ``wildpose track`` on the video of another
session with both models, and measures:

- held-out PCK@0.1 and RMSE (px) of the pose model beside the mean-pose baseline;
- held-out detection recall of the detector;
- the fraction of video frames in which the mouse is detected;
- the number of distinct track ids (one mouse: ideally 1);
- jitter: the median frame-to-frame displacement of the snout, raw vs smoothed.

It also writes a frame of the annotated video and a plot of the snout trajectory (PNG).

    python benchmarks/openfield_tutorial.py --out benchmarks/results/openfield_tutorial.json \
        --work work/openfield [--quick]

``--quick`` shortens every step (few epochs, the first seconds of the video) for tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "dlc-openfield"
CONFIG = REPO / "configs" / "dlc-openfield-tiny-cpu.yaml"


def run(args: list[str], log: Path) -> float:
    """Run ``wildpose ARGS`` (as ``python -m wildpose``); returns seconds; raises on failure."""
    t0 = time.perf_counter()
    with open(log, "w") as f:
        proc = subprocess.run(
            [sys.executable, "-m", "wildpose", *args],
            stdout=f,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    if proc.returncode != 0:
        tail = log.read_text()[-2000:]
        raise SystemExit(f"wildpose {' '.join(args[:2])} failed (exit {proc.returncode}):\n{tail}")
    return time.perf_counter() - t0


def pose_figures(work: Path) -> dict:
    """Validation metrics, loss curve ends and the mean-pose baseline from the training log."""
    baseline, vals, epochs = None, [], []
    for line in (work / "log.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec["event"] == "baseline":
            baseline = rec
        elif rec["event"] == "val":
            vals.append(rec)
        elif rec["event"] == "epoch":
            epochs.append(rec)
    best = max(vals, key=lambda r: r.get("PCK@0.1", -1)) if vals else None
    return {
        "val_best": best,
        "val_last": vals[-1] if vals else None,
        "baseline": baseline,
        "loss_first_epoch": epochs[0].get("loss") if epochs else None,
        "loss_last_epoch": epochs[-1].get("loss") if epochs else None,
    }


def track_figures(table: Path, n_frames: int) -> dict:
    import pandas as pd

    df = pd.read_parquet(table)
    frames_detected = df.frame.nunique()
    snout = df[df.keypoint == "snout"].sort_values("frame")
    out = {
        "rows": len(df),
        "frames_in_video": n_frames,
        "frames_with_detection": frames_detected,
        "fraction_frames_detected": frames_detected / n_frames,
        "distinct_track_ids": int(df.track_id.nunique()),
    }
    for kind, cols in (("raw", ["x", "y"]), ("smoothed", ["x_smooth", "y_smooth"])):
        steps = []
        for _, tr in snout.groupby("track_id"):
            xy = tr[cols].to_numpy(np.float64)
            consecutive = np.diff(tr.frame.to_numpy()) == 1
            d = np.linalg.norm(np.diff(xy, axis=0), axis=1)[consecutive]
            steps.append(d[np.isfinite(d)])
        d = np.concatenate(steps) if steps else np.zeros(0)
        out[f"snout_jitter_median_px_{kind}"] = float(np.median(d)) if len(d) else None
    return out


def pictures(track_dir: Path, stem: str, out_dir: Path) -> dict:
    """A frame of the annotated video and the snout trajectory plot, as PNG files."""
    import av
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    files = {}
    video = track_dir / f"{stem}.annotated.mp4"
    if video.exists():
        with av.open(str(video)) as c:
            frames = [f for _, f in zip(range(60), c.decode(video=0), strict=False)]
        png = out_dir / "openfield-annotated-frame.png"
        frames[-1].to_image().save(png)
        files["annotated_frame"] = str(png)
    df = pd.read_parquet(track_dir / f"{stem}.tracks.parquet")
    snout = df[df.keypoint == "snout"].sort_values("frame")
    seg = snout[snout.frame < snout.frame.min() + 300]
    run = json.loads((track_dir / f"{stem}.run.json").read_text())["video_info"]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1.1, 1]})
    axes[0].plot(seg.x, seg.y, ".", ms=2, color="0.6", label="raw")
    axes[0].plot(seg.x_smooth, seg.y_smooth, "-", lw=1, color="C3", label="smoothed (RTS)")
    axes[0].set(
        xlim=(0, run["width"]),
        ylim=(run["height"], 0),
        aspect="equal",
        xlabel="x (px)",
        ylabel="y (px)",
        title="snout in the arena, first 10 s",
    )
    axes[0].legend(loc="lower right")
    axes[1].plot(seg.time_s, seg.x, ".", ms=2, color="0.6", label="raw x")
    axes[1].plot(seg.time_s, seg.x_smooth, "-", lw=1, color="C3", label="smoothed x")
    axes[1].set(xlabel="time (s)", ylabel="x (px)")
    axes[1].legend()
    fig.tight_layout()
    png = out_dir / "openfield-snout-trajectory.png"
    fig.savefig(png, dpi=110)
    files["trajectory_plot"] = str(png)
    return files


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/openfield_tutorial.json")
    ap.add_argument("--work", type=Path, default=REPO / "work/openfield")
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--quick", action="store_true", help="shortened run for tests")
    args = ap.parse_args()
    if not (args.data / "config.yaml").exists():
        raise SystemExit(f"{args.data}: the DeepLabCut open-field project is not there")
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    video = args.data / "videos" / "m3v1mp4.mp4"
    times = {}
    det_args = [
        "train-detector",
        str(args.data),
        "-o",
        str(work / "detector"),
        "--val",
        "16",
        "--seed",
        "0",
    ]
    pose_args = [
        "train",
        str(CONFIG),
        "--work-dir",
        str(work / "pose"),
        "--set",
        f"data.dlc_project={args.data.resolve()}",
    ]
    track_args = [
        "track",
        str(video),
        "-o",
        str(work / "track"),
        "--detector",
        str(work / "detector" / "best.pt"),
        "--pose",
        str(work / "pose" / "best.pt"),
        "--pipeline",
        "lab-arena",
        "--device",
        "cpu",
        "--render",
        "-q",
    ]
    if args.quick:
        det_args += ["--epochs", "2"]
        pose_args += ["--set", "schedule.epochs=2", "--set", "eval.every=1"]
        track_args += ["--end", "3"]
    times["train_detector_s"] = run(det_args, work / "train-detector.log")
    times["train_pose_s"] = run(pose_args, work / "train.log")
    times["track_s"] = run(track_args, work / "track.log")
    run_json = json.loads((work / "track" / "m3v1mp4.run.json").read_text())
    result = {
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "quick": args.quick,
        "seconds": times,
        "detector": json.loads((work / "detector" / "train-detector.json").read_text()),
        "pose": pose_figures(work / "pose"),
        "track": track_figures(work / "track" / "m3v1mp4.tracks.parquet", run_json["frames_read"]),
        "track_run": {k: run_json[k] for k in ("frames_read", "frames_per_s", "timings_s")},
        "pictures": pictures(work / "track", "m3v1mp4", work),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.partial")
    tmp.write_text(json.dumps(result, indent=2, default=str))
    tmp.replace(args.out)
    print(json.dumps({k: result[k] for k in ("seconds", "track")}, indent=2, default=str))


if __name__ == "__main__":
    main()
