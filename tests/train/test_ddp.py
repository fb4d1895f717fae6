"""Two-process data-parallel training on CPU (gloo), launched as the docs say: torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import synth

from wildpose.pose.checkpoint import load_model, read_checkpoint

REPO = Path(__file__).resolve().parents[2]


def test_torchrun_two_processes(tmp_path: Path) -> None:
    ann, images = synth.write_coco(tmp_path, n_images=10, seed=7)
    data = {"train_annotations": str(ann), "train_images": str(images), "n_val": 2}
    recipe = synth.write_recipe(tmp_path / "ddp.yaml", data, train={"batch_size": 2})
    work = tmp_path / "work"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "wildpose",
            "train",
            str(recipe),
            "--work-dir",
            str(work),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]
    starts = [r for r in log if r["event"] == "start"]
    assert len(starts) == 1 and starts[0]["world_size"] == 2  # rank 0 alone logs
    # 8 training images, 2 per process and step: 2 steps per epoch, 2 epochs
    assert [r["iteration"] for r in log if r["event"] == "train"] == [1, 2, 3, 4]
    assert sum(r["event"] == "val" for r in log) == 2 and log[-1]["event"] == "end"
    assert sorted(p.name for p in work.iterdir()) == [
        "best.pt",
        "config.yaml",
        "last.pt",
        "log.jsonl",
    ]
    assert len(read_checkpoint(work / "last.pt")["rng"]) == 2  # one RNG state per process
    assert load_model(work / "best.pt").manifest.keypoints == synth.NAMES
