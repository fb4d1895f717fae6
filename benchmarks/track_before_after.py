r"""End-to-end ``wildpose track`` frames/s of this tree against an earlier commit, through the CLI.

    python benchmarks/track_before_after.py --baseline 5e28934 \
        --out benchmarks/results/track_before_after_cpu.json

The command a user types, ``wildpose track VIDEO --pose clamp-tiny --detector full-frame``
(random seeded tiny model, flip test on, every other option at each version's default), runs
in a fresh process for each tree: this working tree and ``--baseline`` (checked out once with
``git worktree`` into a temporary folder, imported through ``PYTHONPATH`` with this venv's
packages; its ``models/`` and ``pipelines/`` linked as the packages an install maps them to).
The trees alternate for ``--repeats`` rounds so both see the same machine load; frames/s is
each run's own ``run.json`` figure (decode to written table, without interpreter start or
model load), the best round counts, and each round's ratio is kept. The video is the
DeepLabCut open-field video (first ``--seconds`` s) or any ``--video``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_info  # noqa: E402

from wildpose.atomic import write_json  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REAL_VIDEO = ROOT.parent / "shared/data/dlc-openfield/videos/m3v1mp4.mp4"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline", required=True, help="git commit of the 'before' tree")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--video", type=Path, default=REAL_VIDEO)
    p.add_argument("--seconds", type=float, default=20.0, help="--end of each run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--pose", default="clamp-tiny")
    return p.parse_args(argv)


def run_track(tree: Path, video: Path, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One ``wildpose track`` of ``tree`` in a fresh interpreter -> its run.json record."""
    env = dict(os.environ, PYTHONPATH=str(tree), HF_HUB_OFFLINE="1", YOLO_OFFLINE="1")
    cmd = [sys.executable, "-c", "from wildpose.cli import main; main()", "track", str(video),
           "--pose", args.pose, "--detector", "full-frame", "--device", "cpu",
           "--end", str(args.seconds), "--out", str(out), "-q"]  # fmt: skip
    proc = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = proc.stderr[-2000:]
        raise SystemExit(f"{tree}: wildpose track failed ({proc.returncode}): {tail}")
    (record,) = out.glob("*.run.json")
    data = json.loads(record.read_text())
    record.unlink()
    return data


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.video.exists():
        raise SystemExit(f"{args.video}: no such video (give --video)")
    header = machine_info(torch.device("cpu")) | {
        "settings": {k: str(v) for k, v in vars(args).items()}
    }
    with tempfile.TemporaryDirectory(prefix="wp-before-after-") as tmp:
        before = Path(tmp) / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(before),
                        args.baseline], check=True)  # fmt: skip
        for package, folder in (("manifests", "models"), ("presets", "pipelines")):
            link = before / "wildpose" / package  # as pyproject's package-dir maps them
            if not link.exists() and (before / folder).is_dir():
                link.symlink_to(before / folder, target_is_directory=True)
        commit = subprocess.run(["git", "-C", str(before), "rev-parse", "HEAD"], check=True,
                                capture_output=True, text=True).stdout.strip()  # fmt: skip
        trees = {"before": before, "after": ROOT}
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in trees}
        try:
            for _ in range(args.repeats):
                for name, tree in trees.items():
                    out = Path(tmp) / f"out-{name}"
                    rec = run_track(tree, args.video, out, args)
                    runs[name].append({
                        "frames_per_s": rec["frames_per_s"],
                        "frames": rec.get("frames_read", rec.get("frames")),
                        "precision": rec.get("precision"),
                        "timings_s": rec.get("timings_s"),
                    })  # fmt: skip
                    print(name, rec["frames_per_s"], "frames/s", flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(before)], check=False)  # fmt: skip
    best = {name: max(r["frames_per_s"] for r in rs) for name, rs in runs.items()}
    result = {
        "header": header,
        "baseline_commit": commit,
        "command": f"wildpose track VIDEO --pose {args.pose} --detector full-frame --device cpu "
        f"--end {args.seconds}",
        "video": str(args.video.name),
        "runs": runs,
        "best_frames_per_s": best,
        "ratio_after_vs_before": best["after"] / best["before"],
        "ratio_per_round": [
            a["frames_per_s"] / b["frames_per_s"]
            for a, b in zip(runs["after"], runs["before"], strict=True)
        ],
    }
    write_json(args.out, result)
    print(json.dumps({k: result[k] for k in ("best_frames_per_s", "ratio_after_vs_before")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
