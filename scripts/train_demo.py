"""Train clamp-demo, the tiny CLAMP shipped in wildpose/demo/, from nothing but this repository.

    python scripts/train_demo.py [--work-dir work/demo] [--out wildpose/demo/clamp-demo.pt]

Writes the generated training and validation data (COCO keypoints, :mod:`wildpose.demo.dataset`;
seeds 10000.. for training, 20000.. for validation, so tests may use any seed below 10000 as
unseen), runs the recipe ``configs/demo-synthetic-tiny.yaml`` on it with the code of
``wildpose train`` (:func:`wildpose.train.loop.train`, in this process), prints the training wall
time, and packs ``best.pt`` into the shipped file (:mod:`wildpose.demo.pack`). Every step
is seeded: the same command gives the same data and the same loss curve.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from wildpose.config.train import load_config
from wildpose.demo.dataset import write_coco_dataset
from wildpose.demo.pack import pack_checkpoint
from wildpose.train.loop import train

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "configs" / "demo-synthetic-tiny.yaml"
TRAIN_SEEDS, VAL_SEEDS = 10_000, 20_000
DESCRIPTION = "tiny CLAMP for wildpose.synthetic's demo animals (trained by scripts/train_demo.py)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, default=ROOT / "work" / "demo")
    parser.add_argument("--out", type=Path, default=ROOT / "wildpose" / "demo" / "clamp-demo.pt")
    parser.add_argument("--train-scenes", type=int, default=120)
    parser.add_argument("--val-scenes", type=int, default=12)
    parser.add_argument("--frames-per-scene", type=int, default=3)
    parser.add_argument("--set", action="append", default=[], help="more recipe overrides")
    args = parser.parse_args()
    work = args.work_dir.resolve()
    tic = time.perf_counter()
    splits = {"train": range(TRAIN_SEEDS, TRAIN_SEEDS + args.train_scenes)}
    splits["val"] = range(VAL_SEEDS, VAL_SEEDS + args.val_scenes)
    sets = []
    for split, seeds in splits.items():
        ann = write_coco_dataset(work / split, seeds, frames_per_scene=args.frames_per_scene)
        sets += [f"data.{split}_annotations={ann}", f"data.{split}_images={ann.parent / 'images'}"]
    print(f"data written in {time.perf_counter() - tic:.0f} s", flush=True)
    config = load_config(RECIPE, sets + args.set)
    tic = time.perf_counter()
    best = train(config, work / "run")
    minutes = (time.perf_counter() - tic) / 60
    print(f"training took {minutes:.1f} min wall", flush=True)
    out = pack_checkpoint(best, args.out, name="clamp-demo", description=DESCRIPTION)
    print(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
