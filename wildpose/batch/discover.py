"""Discovery: the videos and image bursts under an archive's root, in a deterministic order.

Video files are found by extension, or by probing a file with any other extension; still
images of one folder are split into bursts by EXIF capture time (or consecutive file numbers),
each tracked as one short clip. Hidden and system files and folders are ignored.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from wildpose.errors import ConfigError
from wildpose.messages import display_path
from wildpose.video import IMAGE_SUFFIXES, exif_seconds, natural_key, open_image

VIDEO_SUFFIXES = frozenset(
    ".mp4 .mov .avi .mkv .m4v .mts .m2ts .mpg .mpeg .wmv .webm .3gp .flv .ts .mxf .asf .ogv"
    " .dv .vob".split()
)
# Never probed: documents, tables, archives, audio, camera side files (.thm thumbnails, .lrv
# low-resolution proxies), raw stills, and wildpose's own outputs.
IGNORED_SUFFIXES = frozenset(
    ".txt .csv .tsv .json .jsonl .xml .yaml .yml .md .rst .html .htm .pdf .doc .docx .xls .xlsx"
    " .zip .gz .bz2 .xz .tar .7z .rar .parquet .db .sqlite .ini .cfg .log .py .sh .wav .mp3"
    " .flac .m4a .aac .ogg .opus .wma .thm .lrv .dng .cr2 .cr3 .nef .arw .orf .rw2 .raf .xmp"
    " .partial .pt .pth .onnx .exe .dll .lnk".split()
)
SYSTEM_NAMES = frozenset({"thumbs.db", "ehthumbs.db", "desktop.ini", "icon\r"})
SYSTEM_DIRS = frozenset(
    {"@eadir", "#recycle", "#snapshot", "$recycle.bin", "system volume information", "__macosx"}
)
_TEXT_DEMUXERS = frozenset({"tty", "bin", "xbin", "adf", "idf"})  # FFmpeg's text-art readers
DEFAULT_BURST_GAP_S = 3.0
_NUMBERED = re.compile(r"^(.*?)(\d+)(\D*)$")


@dataclass(frozen=True)
class BatchInput:
    """One unit of work: a video file, or a burst of still images tracked as one clip.

    ``key``: the input's path relative to ROOT (POSIX separators), the ``video`` column of its
    table and its identity in the run log; a burst is ``DIR/FIRST..LAST`` (first and last image
    names), a lone image ``DIR/NAME``. ``paths``: absolute files, one video or the images in
    order. ``stem``: outputs are ``OUT/DIR/STEM.tracks.parquet`` etc.; a video's file stem, or
    its whole name when another input in its folder has the same stem; a burst's last key part.
    """

    key: str
    kind: Literal["video", "images"]
    paths: tuple[Path, ...]
    stem: str

    @property
    def folder(self) -> str:
        """The folder relative to ROOT, POSIX, "" for ROOT itself."""
        return self.key.rpartition("/")[0]

    def out_dir(self, out: Path) -> Path:
        return Path(out, self.folder) if self.folder else Path(out)

    def stat(self) -> tuple[int, int]:
        """(total size in bytes, latest modification time in ns) of its files; raises OSError."""
        stats = [p.stat() for p in self.paths]
        return sum(s.st_size for s in stats), max(s.st_mtime_ns for s in stats)


@dataclass(frozen=True)
class Discovery:
    """What :func:`discover` found: ``inputs`` in order, ``ignored`` files (neither videos nor
    images, hidden or system files), ``errors`` (one line per folder that could not be listed)."""

    inputs: tuple[BatchInput, ...]
    ignored: int
    errors: tuple[str, ...] = ()


def discover(
    root: str | Path, *, burst_gap_s: float = DEFAULT_BURST_GAP_S, out: str | Path | None = None
) -> Discovery:
    """Find the inputs under ``root`` recursively, in a deterministic order.

    Folders are visited depth first in natural order (``cam2`` before ``cam10``), a folder's own
    inputs before its subfolders, ordered by their first file name. Symbolic links to files are
    followed, links to folders are not. ``out``: the output folder; when it lies inside
    ``root`` it is not searched (when it *is* ``root``, ``*.annotated.mp4`` files are skipped).
    """
    if not Path(root).is_dir():
        raise ConfigError(
            "not a folder" if Path(root).exists() else "no such folder", path=display_path(root)
        )
    root = Path(os.path.abspath(root))
    real_out = os.path.realpath(out) if out is not None else None
    out_is_root = real_out == os.path.realpath(root)
    inputs: list[BatchInput] = []
    errors: list[str] = []
    ignored = 0

    def onerror(exc: OSError) -> None:
        errors.append(f"{exc.filename}: cannot list folder ({exc.strerror or exc})")

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror):
        kept = [
            d
            for d in dirnames
            if not _is_hidden(d, folder=True)
            and (out_is_root or os.path.realpath(os.path.join(dirpath, d)) != real_out)
        ]
        dirnames[:] = sorted(kept, key=natural_key)
        rel = Path(dirpath).relative_to(root).as_posix()
        videos, images = [], []
        for name in filenames:
            own_output = out_is_root and name.endswith(".annotated.mp4")
            kind = None if own_output else _classify(Path(dirpath, name))
            if kind == "video":
                videos.append(name)
            elif kind == "image":
                images.append(name)
            else:
                ignored += 1
        inputs += _folder_inputs(
            Path(dirpath), "" if rel == "." else rel, videos, images, burst_gap_s
        )
    return Discovery(tuple(inputs), ignored, tuple(errors))


def _is_hidden(name: str, *, folder: bool = False) -> bool:
    low = name.lower()
    return name.startswith((".", "~$")) or low in SYSTEM_NAMES or (folder and low in SYSTEM_DIRS)


def _classify(path: Path) -> Literal["video", "image"] | None:
    """Classify by name (video, image, or None: ignored), else by probing the file's header."""
    if _is_hidden(path.name):
        return None
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in IGNORED_SUFFIXES:
        return None
    return _sniff(path)


def _sniff(path: Path) -> Literal["video", "image"] | None:
    """Classify a file with an unknown extension: Pillow, then FFmpeg, read its header."""
    import av

    try:
        if not path.is_file() or path.stat().st_size == 0:
            return None
    except OSError:
        return None
    try:
        with open_image(path):
            return "image"
    except Exception:  # noqa: BLE001 - any failure means "not an image Pillow reads"
        pass
    try:
        with av.open(str(path)) as container:
            if container.format.name in _TEXT_DEMUXERS:
                return None
            return "video" if container.streams.video else None
    except Exception:  # noqa: BLE001 - not something FFmpeg opens
        return None


def _consecutive_names(a: str, b: str) -> bool:
    """``IMG_0009.JPG`` -> ``IMG_0010.JPG``: same prefix and suffix, last number + 1."""
    ma, mb = _NUMBERED.match(a), _NUMBERED.match(b)
    return bool(
        ma
        and mb
        and ma[1] == mb[1]
        and ma[3].lower() == mb[3].lower()
        and int(mb[2]) == int(ma[2]) + 1
    )


def group_images(paths: Sequence[Path], gap_s: float = DEFAULT_BURST_GAP_S) -> list[list[Path]]:
    """Split one folder's naturally sorted images into bursts.

    An image continues the previous image's burst when both carry EXIF capture times
    (DateTimeOriginal + SubsecTimeOriginal) and it was taken 0 to ``gap_s`` seconds later, or,
    when either lacks one, when its name is the next number (``IMG_0009`` -> ``IMG_0010``).
    """
    if not paths:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(paths))) as pool:
        times = list(pool.map(exif_seconds, paths))
    groups = [[paths[0]]]
    for prev, t_prev, path, t in zip(paths, times, paths[1:], times[1:], strict=False):
        if t is not None and t_prev is not None:
            joined = 0.0 <= t - t_prev <= gap_s
        else:
            joined = _consecutive_names(prev.name, path.name)
        if joined:
            groups[-1].append(path)
        else:
            groups.append([path])
    return groups


def _folder_inputs(
    folder: Path, rel: str, videos: list[str], images: list[str], gap_s: float
) -> list[BatchInput]:
    """One folder's inputs: its videos and its image bursts, ordered by first file name."""
    ordered = sorted(images, key=natural_key)
    bursts = group_images([folder / n for n in ordered], gap_s)
    names = [(g[0].name if len(g) == 1 else f"{g[0].name}..{g[-1].name}", g) for g in bursts]
    stems = [Path(v).stem.casefold() for v in videos] + [n.casefold() for n, _ in names]
    taken = {s: stems.count(s) for s in stems}
    prefix = f"{rel}/" if rel else ""
    items = []
    for v in videos:
        stem = Path(v).stem
        stem = stem if taken[stem.casefold()] == 1 else v
        items.append((v, BatchInput(prefix + v, "video", (folder / v,), stem)))
    for name, group in names:
        items.append((group[0].name, BatchInput(prefix + name, "images", tuple(group), name)))
    return [item for _, item in sorted(items, key=lambda it: natural_key(it[0]))]
