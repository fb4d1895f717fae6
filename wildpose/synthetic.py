"""Generated videos and image bursts with known animal positions, for tests and benchmarks.

Each animal is an ellipse body with a head, ears, legs and a wagging tail, moving smoothly on a
textured or plain background. Positions are functions of time, so variable-frame-rate videos
sample the same continuous motion. Ground truth is in image px of the *displayed* frame (after
rotation metadata is applied), origin at the top-left corner of the top-left pixel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import cv2
import numpy as np
from PIL import ExifTags, Image

KEYPOINT_NAMES: tuple[str, ...] = ("nose", "left ear", "right ear", "tail base", "tail end")
SKELETON: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (3, 4))

_BODY_RGB = np.array([(150, 105, 60), (85, 85, 100), (205, 175, 120), (60, 50, 40)], np.uint8)
_EAR_RGB, _NOSE_RGB = (235, 150, 165), (20, 20, 20)
_TAIL_RGB, _LEG_RGB = (115, 90, 80), (70, 55, 40)
_SHIFT = 4  # cv2 fixed-point bits: sub-pixel drawing positions
_TICKS = 90000  # time base of variable-frame-rate output, as in MPEG


@dataclass(frozen=True, eq=False)
class SyntheticTruth:
    """Ground truth of a generated video or image sequence.

    ``times_s``: (T,) float64 presentation times as written; ``boxes``: (T, N, 4) float32 x1, y1,
    x2, y2 tight around each drawn animal (clipped to the frame); ``keypoints``: (T, N, K, 2)
    float32 x, y in the order of ``keypoint_names``; ``visible`` (T, N, K) bool: the keypoint is
    inside the frame and not covered by another animal drawn over it (each animal's own head
    covers its ear points: that does not count). ``size`` is (width, height) of displayed
    frames; ``rotation`` the clockwise display rotation written into the container.
    """

    path: str
    times_s: np.ndarray
    boxes: np.ndarray
    keypoints: np.ndarray
    keypoint_names: tuple[str, ...]
    fps: float
    size: tuple[int, int]
    rotation: int = 0
    pix_fmt: str = ""
    visible: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        return int(self.times_s.shape[0])

    @property
    def n_animals(self) -> int:
        return int(self.boxes.shape[1])


@dataclass(frozen=True)
class _Scene:
    """Random but reproducible animals: (N,) lengths and (N, 2) Lissajous motion parameters."""

    size: tuple[int, int]
    length: np.ndarray  # (N,) body length incl. head, px
    mid: np.ndarray  # (N, 2) centre of motion
    amp: np.ndarray  # (N, 2) px
    omega: np.ndarray  # (N, 2) rad/s
    phase: np.ndarray  # (N, 2) rad
    wag: np.ndarray  # (N,) tail phase
    background: np.ndarray  # (H, W, 3) uint8

    @classmethod
    def random(cls, seed: int, n: int, size: tuple[int, int], background: str) -> _Scene:
        rng = np.random.default_rng(seed)
        w, h = size
        length = 0.2 * min(w, h) * rng.uniform(0.85, 1.15, n)
        room = np.maximum(np.array([w, h]) / 2 - length[:, None], 0.0)
        return cls(
            size=size,
            length=length,
            mid=np.array([w, h]) / 2 + rng.uniform(-0.1, 0.1, (n, 2)) * room,
            amp=room * rng.uniform(0.55, 0.85, (n, 2)),
            omega=2 * np.pi * rng.uniform(0.12, 0.3, (n, 2)),
            phase=rng.uniform(0, 2 * np.pi, (n, 2)),
            wag=rng.uniform(0, 2 * np.pi, n),
            background=_background(rng, size, background),
        )

    def parts(self, t: np.ndarray) -> dict[str, np.ndarray]:
        """Geometry at times t (T,): centres (T, N, 2), headings (T, N), points and radii."""
        arg = self.omega * t[:, None, None] + self.phase  # (T, N, 2)
        centre = self.mid + self.amp * np.sin(arg)
        velocity = self.amp * self.omega * np.cos(arg)
        theta = np.arctan2(velocity[..., 1], velocity[..., 0])
        a, b = 0.5 * self.length, 0.22 * self.length
        r = 0.16 * self.length
        wag = 0.3 * a * np.sin(2 * np.pi * 1.3 * t[:, None] + self.wag)  # (T, N)
        zeros = np.zeros_like(wag)
        # Body-frame (u forward, v to the animal's left) points:
        # head, nose, left ear, right ear, tail base, tail end, four leg tips, four leg roots.
        u = [a + 0.5 * r, a + 1.5 * r, a + 0.15 * r, a + 0.15 * r, -a, -1.9 * a]
        v = [0 * a, 0 * a, 0.85 * r, -0.85 * r, 0 * a, 0 * a]
        u += [0.55 * a, 0.55 * a, -0.55 * a, -0.55 * a, 0.4 * a, 0.4 * a, -0.4 * a, -0.4 * a]
        v += [1.75 * b, -1.75 * b, 1.75 * b, -1.75 * b, 0.9 * b, -0.9 * b, 0.9 * b, -0.9 * b]
        u = np.broadcast_to(np.stack(u, -1), wag.shape + (len(u),))
        v = np.stack(v, -1) + np.stack([zeros] * 5 + [wag] + [zeros] * 8, -1)
        heading = np.stack([np.cos(theta), np.sin(theta)], -1)[..., None, :]  # (T, N, 1, 2)
        left = np.stack([np.sin(theta), -np.cos(theta)], -1)[..., None, :]  # y points down
        points = centre[..., None, :] + u[..., None] * heading + v[..., None] * left
        return {"centre": centre, "theta": theta, "a": a, "b": b, "r": r, "points": points}

    def truth(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(T, N, 4) boxes and (T, N, K, 2) keypoints, float32 image px."""
        g = self.parts(t)
        p, a, b, r, theta = g["points"], g["a"], g["b"], g["r"], g["theta"]
        keypoints = p[..., 1:6, :]
        half = np.stack(
            [
                np.hypot(a * np.cos(theta), b * np.sin(theta)),
                np.hypot(a * np.sin(theta), b * np.cos(theta)),
            ],
            -1,
        )  # (T, N, 2): half-extent of the rotated body ellipse
        leg = _line_width(a, r) / 2
        # Radii of head, nose, ears (circles) and half-widths of tail and leg strokes.
        radius = np.stack([r, 0.3 * r, 0.45 * r, 0.45 * r] + [leg + 0.5] * 2 + [leg] * 4, -1)
        ends = p[..., :10, :]  # (T, N, 10, 2)
        low = np.minimum(g["centre"] - half, (ends - radius[..., None]).min(-2))
        high = np.maximum(g["centre"] + half, (ends + radius[..., None]).max(-2))
        limit = np.array(self.size, dtype=np.float64)
        boxes = np.concatenate([np.clip(low, 0, limit), np.clip(high, 0, limit)], -1)
        return boxes.astype(np.float32), keypoints.astype(np.float32)

    def render(self, t: float) -> np.ndarray:
        """(H, W, 3) uint8 RGB frame at time t seconds."""
        image = self.background.copy()
        g = self.parts(np.array([t], dtype=np.float64))
        for n in range(self.length.shape[0]):
            self._draw(image, g, n, tuple(int(c) for c in _BODY_RGB[n % len(_BODY_RGB)]))
        return image

    def _draw(
        self, image: np.ndarray, g: dict[str, np.ndarray], n: int, body: tuple[int, ...]
    ) -> None:
        shape = (float(g["a"][n]), float(g["b"][n]), float(g["r"][n]))
        _draw_animal(
            image, g["centre"][0, n], float(g["theta"][0, n]), g["points"][0, n], shape, body
        )

    def visible(self, t: np.ndarray, keypoints: np.ndarray) -> np.ndarray:
        """(T, N, K) bool: inside the frame and not under an animal drawn later (on top)."""
        w, h = self.size
        x, y = keypoints[..., 0], keypoints[..., 1]
        visible = (x >= 0) & (x < w) & (y >= 0) & (y < h)
        n_animals = self.length.shape[0]
        if n_animals < 2:
            return visible
        col = np.clip(x.astype(np.int64), 0, w - 1)
        row = np.clip(y.astype(np.int64), 0, h - 1)
        for i, ti in enumerate(t):
            g = self.parts(np.array([ti], dtype=np.float64))
            for m in range(1, n_animals):  # animal m covers the animals drawn before it
                mask = np.zeros((h, w, 3), np.uint8)
                self._draw(mask, g, m, (255, 255, 255))
                covered = mask.any(-1)[row[i, :m], col[i, :m]]  # (m, K)
                visible[i, :m] &= ~covered
        return visible


def _fixed(xy: np.ndarray) -> tuple[int, int]:
    """Image px (corner origin) to cv2 fixed point (cv2 puts pixel centres at integers)."""
    return tuple(int(round((c - 0.5) * (1 << _SHIFT))) for c in xy)  # type: ignore[return-value]


def _draw_animal(
    image: np.ndarray,
    centre: np.ndarray,
    theta: float,
    p: np.ndarray,
    shape: tuple[float, float, float],
    body: tuple[int, int, int],
) -> None:
    """Draw one animal in place: ``p`` (14, 2) body points from :meth:`_Scene.parts`."""
    (a, b, r), s, aa = shape, 1 << _SHIFT, cv2.LINE_AA
    width = int(_line_width(a, r))
    for tip, root in zip(p[6:10], p[10:14], strict=True):
        cv2.line(image, _fixed(root), _fixed(tip), _LEG_RGB, width, aa, _SHIFT)
    cv2.line(image, _fixed(p[4]), _fixed(p[5]), _TAIL_RGB, width + 1, aa, _SHIFT)
    axes = (int(round(a * s)), int(round(b * s)))
    cv2.ellipse(image, _fixed(centre), axes, float(np.degrees(theta)), 0, 360, body, -1, aa, _SHIFT)
    for i in (2, 3):
        cv2.circle(image, _fixed(p[i]), max(s // 2, int(0.45 * r * s)), _EAR_RGB, -1, aa, _SHIFT)
    head = tuple(int(c * 0.8) for c in body)
    cv2.circle(image, _fixed(p[0]), int(r * s), head, -1, aa, _SHIFT)
    cv2.circle(image, _fixed(p[1]), max(s // 2, int(0.3 * r * s)), _NOSE_RGB, -1, aa, _SHIFT)


def _line_width(a: np.ndarray | float, r: np.ndarray | float) -> np.ndarray:
    """Stroke width of legs in px (the tail is one px wider)."""
    return np.maximum(1.0, np.round(0.05 * (np.asarray(a) + r)))


def _background(rng: np.random.Generator, size: tuple[int, int], kind: str) -> np.ndarray:
    w, h = size
    if kind == "plain":
        return np.full((h, w, 3), (200, 200, 195), np.uint8)
    if kind != "texture":
        raise ValueError(f"background must be 'texture' or 'plain', got {kind!r}")
    # Ground-like: mostly brightness variation, a little colour, at a few scales.
    coarse = rng.normal(0, 1, (h // 24 + 2, w // 24 + 2, 3)).astype(np.float32)
    coarse[..., 1:] = 0.25 * coarse[..., 1:] + coarse[..., :1]
    fine = rng.normal(0, 0.35, (h // 4 + 2, w // 4 + 2, 1)).astype(np.float32)
    noise = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    noise += cv2.resize(fine, (w, h), interpolation=cv2.INTER_LINEAR)[..., None]
    return np.clip(np.array([125, 135, 105]) + 18 * noise, 0, 255).astype(np.uint8)


def write_synthetic_video(
    path: str | Path,
    *,
    n_frames: int = 60,
    size: tuple[int, int] = (320, 240),
    fps: float = 30.0,
    n_animals: int = 2,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    gray: bool = False,
    rotation: int = 0,
    seed: int = 0,
    times_s: np.ndarray | list[float] | None = None,
    background: Literal["texture", "plain"] = "texture",
) -> SyntheticTruth:
    """Write a video of moving animals with PyAV and return its ground truth.

    ``size`` is (width, height) of the displayed frame; with ``rotation`` (clockwise degrees,
    0/90/180/270) frames are stored rotated back and the container's display matrix says how to
    show them. ``times_s`` (T,) gives explicit presentation times (variable frame rate; then
    ``n_frames`` is ignored and ``fps`` is only the nominal rate). ``gray`` draws a grey scene
    (encode it as ``pix_fmt="gray"`` with e.g. ``codec="ffv1"`` for a true one-channel video).
    MP4/MOV files are written with the index at the front (``movflags=faststart``).
    """
    if rotation not in (0, 90, 180, 270):
        raise ValueError(f"rotation must be 0, 90, 180 or 270, got {rotation}")
    rate = Fraction(fps).limit_denominator(100000)
    if times_s is None:
        time_base, pts = 1 / rate, np.arange(n_frames)
    else:
        time_base = Fraction(1, _TICKS)
        pts = np.round(np.asarray(times_s, dtype=np.float64) * _TICKS).astype(np.int64)
    times = pts * float(time_base)
    scene = _Scene.random(seed, n_animals, size, background)
    fast = {"movflags": "faststart"} if Path(path).suffix.lower() in (".mp4", ".mov") else {}
    with av.open(str(path), "w", options=fast) as container:
        stream = container.add_stream(codec, rate=rate)
        stream.width, stream.height = size[::-1] if rotation in (90, 270) else size
        stream.pix_fmt = pix_fmt
        stream.codec_context.time_base = time_base
        if codec == "libx264":
            stream.options = {"preset": "veryfast"}  # keeps B-frames: reordering is exercised
        if rotation:
            stream.set_display_rotation(-rotation)  # FFmpeg's angle is counterclockwise
        for k, t in zip(pts, times, strict=True):
            frame = _video_frame(np.rot90(scene.render(float(t)), k=rotation // 90), gray)
            frame.pts, frame.time_base = int(k), time_base
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        stored = stream.time_base  # the muxer's (e.g. 1/1000 s in Matroska) rounds our times
    boxes, keypoints = scene.truth(times)
    ticks = [int(Fraction(int(k)) * time_base / stored + Fraction(1, 2)) for k in pts]
    return SyntheticTruth(
        str(path),
        np.array(ticks, dtype=np.int64) * float(stored),
        boxes,
        keypoints,
        KEYPOINT_NAMES,
        float(fps),
        size,
        rotation,
        pix_fmt,
        scene.visible(times, keypoints),
    )


def generate_frames(
    times_s: Sequence[float] | np.ndarray,
    *,
    size: tuple[int, int] = (320, 240),
    n_animals: int = 2,
    seed: int = 0,
    background: Literal["texture", "plain"] = "texture",
) -> tuple[np.ndarray, SyntheticTruth]:
    """Frames of one scene at ``times_s`` (T,) seconds, in memory: (T, H, W, 3) uint8 RGB and
    their truth (``path`` empty). The same ``seed`` and ``size`` give the same scene as
    :func:`write_synthetic_video`, without the video codec's losses."""
    times = np.asarray(times_s, dtype=np.float64).reshape(-1)
    scene = _Scene.random(seed, n_animals, size, background)
    frames = np.stack([scene.render(float(t)) for t in times]) if len(times) else None
    boxes, keypoints = scene.truth(times)
    visible = scene.visible(times, keypoints)
    if frames is None:
        frames = np.zeros((0, size[1], size[0], 3), np.uint8)
    truth = SyntheticTruth(
        "", times, boxes, keypoints, KEYPOINT_NAMES, 0.0, size, 0, "rgb24", visible
    )
    return frames, truth


def _video_frame(rgb: np.ndarray, gray: bool) -> av.VideoFrame:
    if gray:
        grey = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)
        return av.VideoFrame.from_ndarray(grey, format="gray")
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")


def write_image_sequence(
    folder: str | Path,
    n: int = 8,
    size: tuple[int, int] = (320, 240),
    *,
    n_animals: int = 1,
    interval_s: float = 0.5,
    exif: bool = True,
    start_time: datetime = datetime(2024, 5, 1, 6, 30, 0),
    name: str = "img{i}.jpg",
    gray: bool = False,
    seed: int = 0,
) -> SyntheticTruth:
    """Write a burst of ``n`` images (``name`` formatted with i = 0..n-1, unpadded) and its truth.

    With ``exif`` each image carries DateTimeOriginal and SubsecTimeOriginal (ms) for
    ``start_time + i * interval_s``. JPEG (quality 92) or any suffix Pillow writes.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    scene = _Scene.random(seed, n_animals, size, "texture")
    times = np.arange(n) * float(interval_s)
    for i, t in enumerate(times):
        image = Image.fromarray(scene.render(float(t)))
        image = image.convert("L") if gray else image
        options = {"quality": 92} if name.lower().endswith((".jpg", ".jpeg")) else {}
        if exif:
            options["exif"] = _exif_time(start_time + timedelta(seconds=float(t)))
        image.save(folder / name.format(i=i), **options)
    boxes, keypoints = scene.truth(times)
    visible = scene.visible(times, keypoints)
    return SyntheticTruth(
        str(folder),
        times,
        boxes,
        keypoints,
        KEYPOINT_NAMES,
        1 / interval_s,
        size,
        0,
        "rgb24",
        visible,
    )


def _exif_time(when: datetime) -> Image.Exif:
    exif = Image.Exif()
    ifd = exif.get_ifd(ExifTags.IFD.Exif)
    ifd[ExifTags.Base.DateTimeOriginal] = when.strftime("%Y:%m:%d %H:%M:%S")
    ifd[ExifTags.Base.SubsecTimeOriginal] = f"{when.microsecond // 1000:03d}"
    return exif


def write_audio_file(path: str | Path, seconds: float = 0.5, rate: int = 16000) -> None:
    """Write an audio-only AAC file (``.m4a`` or ``.mp4``): video readers must refuse it."""
    samples = int(seconds * rate)
    tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(samples) / rate)).astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate)
        for start in range(0, samples, 1024):
            chunk = tone[None, start : start + 1024]
            frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
