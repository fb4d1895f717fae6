"""Image sequences as frame sources: folders, globs and lists of stills, timed by EXIF.

Images are read with Pillow (EXIF orientation applied, 16-bit IR stills reduced to their top
byte) and timed from their EXIF capture times (DateTimeOriginal + SubsecTimeOriginal, see the
Exif 2.3 standard, CIPA DC-008) when every image has one, else ``index / fps``.
"""

from __future__ import annotations

import glob
import logging
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import ExifTags, Image, ImageOps

from wildpose.adapters.ultralytics import pil_image_open
from wildpose.errors import ConfigError, InputError
from wildpose.messages import display_path
from wildpose.types import Frame, VideoInfo

from .base import TIME_EPS_S, Tally, cause

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})

# ImportError: how ultralytics' replacement of PIL.Image.open fails on a file PIL cannot
# identify, should the adapter ever fail to reach PIL's own.
UNREADABLE = (OSError, ValueError, ImportError, Image.DecompressionBombError)


def open_image(path: str | Path) -> Image.Image:
    """Pillow's own ``PIL.Image.open(path)``, also after ultralytics replaced it (lazy: pixels
    are read on first use); an unreadable file raises PIL's "cannot identify image file"."""
    return pil_image_open(path)


def natural_key(text: str) -> list[Any]:
    """Sort key ordering digit runs by value: img2 before img10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def source_label(source: str | Path | Sequence[str | Path]) -> str:
    """How an input is named in messages: the path, or ``FOLDER/FIRST..LAST`` for a list."""
    if isinstance(source, str | Path):
        return str(source)
    paths = [Path(p) for p in source]
    if not paths:
        return "(no images)"
    return str(paths[0].parent / f"{paths[0].name}..{paths[-1].name}")


def image_paths(source: str | Path | Sequence[str | Path]) -> list[Path] | None:
    """The images of an explicit list (kept in order), or the naturally sorted images of a
    folder or glob pattern; None for anything else (a video file)."""
    if not isinstance(source, str | Path):
        found = [Path(p) for p in source]
        if not found:
            raise InputError("empty list of images", path=source_label(source))
        return found
    path = Path(source)
    if path.is_dir():
        found = [p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
        if not found:
            raise InputError(
                "folder holds no images (jpg, png, bmp, tif, webp)", path=display_path(path)
            )
    elif not path.exists() and any(c in str(source) for c in "*?["):
        found = [Path(p) for p in glob.glob(str(source))]
        found = [p for p in found if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
        if not found:
            raise InputError("no images match this pattern", path=display_path(str(source)))
    else:
        return None
    return sorted(found, key=lambda p: natural_key(str(p)))


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB with EXIF orientation applied; 16-bit (IR) images keep the top byte."""
    with open_image(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            grey = (np.asarray(im).astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8)
            return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
        return np.ascontiguousarray(np.asarray(im.convert("RGB")))


def exif_seconds(path: Path) -> float | None:
    """Capture time (DateTimeOriginal + SubsecTimeOriginal, else DateTime) in seconds, or None.

    Seconds since 1970-01-01 of the camera's local clock (EXIF carries no time zone); only
    differences between images are used.
    """
    try:
        with open_image(path) as im:
            exif = im.getexif()
    except UNREADABLE:
        return None
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    stamp, subsec = (
        sub.get(ExifTags.Base.DateTimeOriginal),
        sub.get(ExifTags.Base.SubsecTimeOriginal),
    )
    if not stamp:
        stamp, subsec = exif.get(ExifTags.Base.DateTime), sub.get(ExifTags.Base.SubsecTime)
    try:
        when = datetime.strptime(str(stamp).strip(), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    digits = "".join(c for c in str(subsec or "") if c.isdigit())
    return (when - datetime(1970, 1, 1)).total_seconds() + (float(f"0.{digits}") if digits else 0)


def _cause(exc: BaseException, path: Path) -> str:
    """The cause of an unreadable image without the path Pillow repeats in its message."""
    return cause(exc).replace(f" {str(path)!r}", "").replace(str(path), path.name)


class ImageBackend:
    """Images read one by one with Pillow; an unreadable image is skipped and reported.

    ``times``: (N,) float64 seconds from the first image; ``fps``: images per second, from the
    capture times when they increase, else the ``fps`` given.
    """

    name = "images"

    def __init__(self, paths: list[Path], start: float | None, end: float | None, fps: float):
        if fps <= 0:
            raise ConfigError(f"image_fps must be > 0, got {fps:g}")
        self.paths, self.start, self.end = paths, start, end
        stamps = [exif_seconds(p) for p in paths]
        times = np.array(stamps, dtype=np.float64) if None not in stamps else None
        if times is not None and len(times) > 1 and np.all(np.diff(times) > 0):
            self.times, self.fps = times - times[0], (len(times) - 1) / (times[-1] - times[0])
        else:
            if times is not None and len(times) > 1:
                log.warning("%s: EXIF capture times not increasing; using index / fps", paths[0])
            self.times, self.fps = np.arange(len(paths)) / fps, fps

    def info(self, source: str) -> VideoInfo:
        """Facts of the sequence; the size is that of its first readable image (images of other
        sizes are read at their own size: each :class:`Frame` carries its image)."""
        first_error = None
        for path in self.paths:
            try:
                height, width = read_image(path).shape[:2]
                break
            except UNREADABLE as exc:
                first_error = first_error or f"{display_path(path.name)}: {_cause(exc, path)}"
        else:
            raise InputError(
                f"none of its images can be read (first: {first_error})",
                path=display_path(source),
            )
        return VideoInfo(
            path=source,
            fps=float(self.fps),
            frame_count=len(self.paths),
            width=width,
            height=height,
            duration_s=float(self.times[-1] + 1.0 / self.fps),
            codec="image",
            pix_fmt="rgb24",
            backend=self.name,
        )

    def frames(self, tally: Tally) -> Iterator[Frame]:
        end = np.inf if self.end is None else self.end
        chosen = np.flatnonzero(
            (self.times >= (self.start or 0) - TIME_EPS_S) & (self.times < end - TIME_EPS_S)
        )
        if chosen.size == 0:
            return
        tally.next_index = int(chosen[0])
        for i in chosen:
            try:
                image = read_image(self.paths[i])
            except UNREADABLE as exc:
                why = _cause(exc, self.paths[i])
                tally.note(f"{display_path(self.paths[i])}: cannot read image ({why})")
                continue
            yield Frame(int(i), float(self.times[i]), image)
        tally.tail(int(chosen[-1]) + 1)

    def close(self) -> None:
        pass
