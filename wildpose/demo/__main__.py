"""``python -m wildpose.demo OUT.mp4``: write a demo clip and its box file beside it."""

from __future__ import annotations

import argparse

from wildpose.demo.clip import box_file_path, write_demo_clip


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m wildpose.demo", description=__doc__)
    parser.add_argument("out", help="video to write, e.g. demo.mp4")
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--animals", type=int, default=2)
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT px")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    write_demo_clip(
        args.out, n_frames=args.frames, size=(w, h), n_animals=args.animals, seed=args.seed
    )
    print(f"wrote {args.out} and {box_file_path(args.out)}")
    print(
        f"try: wildpose track {args.out} --pose clamp-demo "
        f"--detector boxes:{box_file_path(args.out)} --render"
    )


if __name__ == "__main__":
    main()
