"""``boxes:FILE`` detectors: boxes someone already computed, looked up by frame.

Two file kinds:

- a CSV with columns ``frame,x1,y1,x2,y2`` and optional ``score`` (default 1) and
  ``class_name`` (default ``animal``), image px, one file per video; every value is checked
  (a blank, fractional or negative frame, a NaN or infinite coordinate or score is an
  InputError naming the row);
- a MegaDetector batch output JSON (:mod:`wildpose.detect.megadetector`).

Frames without an entry have no boxes. ``conf`` and the class filter apply to both; a
MegaDetector file keeps only ``animal`` unless other classes are asked for
(:func:`~wildpose.detect.common.default_classes`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import numpy as np

from wildpose.detect.common import default_classes, make_detections
from wildpose.detect.megadetector import read_megadetector
from wildpose.errors import InputError
from wildpose.messages import display_path, display_text
from wildpose.types import Detections, Frame

if TYPE_CHECKING:
    import pandas as pd


class BoxFileDetector:
    """Boxes read from a file, looked up by frame index.

    ``frame``: (M,) int64 sorted; ``xyxy``: (M, 4) float32, image px, or normalised to [0, 1]
    when ``normalised`` (scaled by each frame's size on lookup); ``score``: (M,) float32;
    ``class_name``: (M,) object.
    """

    def __init__(
        self,
        frame: np.ndarray,
        xyxy: np.ndarray,
        score: np.ndarray,
        class_name: np.ndarray,
        *,
        normalised: bool = False,
    ) -> None:
        order = np.argsort(frame, kind="stable")
        self.frame = np.asarray(frame, dtype=np.int64)[order]
        self.xyxy = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)[order]
        self.score = np.asarray(score, dtype=np.float32)[order]
        self.class_name = np.asarray(class_name, dtype=object)[order]
        self.normalised = normalised

    def detect(self, frames: Sequence[Frame]) -> list[Detections]:
        index = np.array([f.index for f in frames], dtype=np.int64)
        starts = np.searchsorted(self.frame, index, side="left")
        stops = np.searchsorted(self.frame, index, side="right")
        out = []
        for frame, start, stop in zip(frames, starts, stops, strict=True):
            xyxy = self.xyxy[start:stop]
            if self.normalised:
                h, w = frame.image.shape[:2]
                xyxy = xyxy * np.array([w, h, w, h], dtype=np.float32)
            out.append(make_detections(xyxy, self.score[start:stop], self.class_name[start:stop]))
        return out


def load_box_file(
    path: Path,
    *,
    classes: Sequence[str] | None = None,
    conf: float = 0.0,
    source: str | None = None,
    image_names: Sequence[str] | None = None,
) -> BoxFileDetector:
    """Read a CSV or MegaDetector JSON box file (see the module docstring); InputError (one
    line naming the file and the entry) for a malformed file or an input it does not cover."""
    if not path.is_file():
        raise InputError("box file not found", path=display_path(path))
    if path.suffix.lower() == ".json":
        frame, xyxy, score, class_name, categories = read_megadetector(path, source, image_names)
        normalised = True
        if classes is None:
            classes = default_classes(categories)
    else:
        frame, xyxy, score, class_name = _read_box_csv(path)
        normalised = False
    keep = score >= conf
    if classes is not None:
        keep &= np.isin(class_name, np.array(list(classes), dtype=object))
    return BoxFileDetector(
        frame[keep], xyxy[keep], score[keep], class_name[keep], normalised=normalised
    )


def _read_box_csv(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """frame (M,) int64, xyxy (M, 4) float32 px, score (M,) float32, class (M,) of a box CSV;
    InputError naming the row and column of the first value that is not a whole frame number
    or a finite number."""
    import pandas as pd

    where = display_path(path)
    try:  # as text: a blank, "nan" or "1.5" frame is reported, not read as NaN or truncated
        table = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except Exception as e:  # pandas raises parser, decoding and OS errors
        raise InputError(f"cannot read box CSV: {e}", path=where) from e
    missing = [c for c in ("frame", "x1", "y1", "x2", "y2") if c not in table.columns]
    if missing:
        raise InputError(f"box CSV lacks column(s) {', '.join(missing)}", path=where)
    wanted = "a whole frame number >= 0"
    frame = _numbers(table, "frame", where, wanted)
    bad = ~(frame == np.round(frame)) | (frame < 0)
    if bad.any():
        _bad_value(table, "frame", int(np.argmax(bad)), where, wanted)
    xyxy = np.stack([_numbers(table, c, where) for c in ("x1", "y1", "x2", "y2")], axis=1)
    score = _numbers(table, "score", where) if "score" in table else np.ones(len(table))
    if "class_name" in table:
        class_name = table["class_name"].astype(str).to_numpy(dtype=object)
    else:
        class_name = np.full(len(table), "animal", dtype=object)
    return (
        frame.astype(np.int64),
        xyxy.astype(np.float32),
        score.astype(np.float32),
        class_name,
    )


def _numbers(
    table: pd.DataFrame, column: str, where: str, wanted: str = "a finite number"
) -> np.ndarray:
    """(M,) float64 values of ``column``; InputError at the first that is not a finite number."""
    import pandas as pd

    values = pd.to_numeric(table[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        _bad_value(table, column, int(np.argmax(bad)), where, wanted)
    return values


def _bad_value(table: pd.DataFrame, column: str, row: int, where: str, wanted: str) -> NoReturn:
    text = display_text(repr(str(table[column].iloc[row])))
    raise InputError(
        f"row {row + 1} (line {row + 2}): {column} must be {wanted}, got {text}", path=where
    )
