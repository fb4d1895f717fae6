"""The demo clip: a generated video of the synthetic animals and the box file of their truth.

``wildpose track demo.mp4 --pose clamp-demo --detector boxes:demo.boxes.csv`` then needs no
downloaded detector: the boxes are the generator's (tight around the drawn animals), in the CSV
format of ``--detector boxes:FILE`` (``frame,x1,y1,x2,y2,score,class_name``; 0-based frames,
image px).
"""

from __future__ import annotations

from pathlib import Path

from wildpose.atomic import write_text
from wildpose.synthetic import SyntheticTruth, write_synthetic_video


def box_file_path(video: str | Path) -> Path:
    """``demo.mp4`` -> ``demo.boxes.csv`` beside it."""
    video = Path(video)
    return video.with_name(video.stem + ".boxes.csv")


def write_box_file(path: str | Path, truth: SyntheticTruth) -> Path:
    """The truth's boxes as a ``boxes:FILE`` CSV, one row per animal and frame."""
    lines = ["frame,x1,y1,x2,y2,score,class_name"]
    for t in range(truth.n_frames):
        for x1, y1, x2, y2 in truth.boxes[t].tolist():
            lines.append(f"{t},{x1:.2f},{y1:.2f},{x2:.2f},{y2:.2f},1.0,animal")
    return write_text(path, "\n".join(lines) + "\n")


def write_demo_clip(
    path: str | Path,
    *,
    n_frames: int = 150,
    size: tuple[int, int] = (320, 240),
    n_animals: int = 2,
    fps: float = 30.0,
    seed: int = 0,
) -> SyntheticTruth:
    """Write the video (:func:`wildpose.synthetic.write_synthetic_video`) and its box file
    (:func:`box_file_path`); returns the ground truth."""
    truth = write_synthetic_video(
        path, n_frames=n_frames, size=size, fps=fps, n_animals=n_animals, seed=seed
    )
    write_box_file(box_file_path(path), truth)
    return truth
