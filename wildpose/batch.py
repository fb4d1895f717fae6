"""Archives for ``wildpose batch``: discovery, the manifest, resume, shards and the run loop.

:func:`discover` walks ROOT in a deterministic (natural) order and returns :class:`BatchInput`
values: video files (known extensions, or any other file FFmpeg opens as a video) and bursts of
still images (same folder; consecutive EXIF capture times at most ``burst_gap_s`` apart, or
consecutive file numbers where EXIF times are missing), each tracked as one short clip. Hidden
and system files and folders are ignored.

:func:`run_batch` tracks the inputs with one loaded :class:`~wildpose.pipeline.Stages` and
appends one JSON line per input to the manifest (``OUT/manifest.jsonl``, or
``OUT/manifest.shard-I-of-N.jsonl``), after the input's outputs have their final names. While
one input runs, the next is probed in a thread. A rerun skips an input whose latest record is
done with the same model sha256 and config hash, for an unchanged input whose outputs exist.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from . import __version__
from .config import RunConfig, to_dict
from .errors import ConfigError, WildposeError
from .output import partial_path
from .video import IMAGE_SUFFIXES, Prefetcher, exif_seconds, natural_key, probe, source_label

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
if TYPE_CHECKING:  # the pipeline imports torch: discovery and manifests do without it
    from .pipeline import Stages

DEFAULT_BURST_GAP_S = 3.0
MANIFEST_NAME = "manifest.jsonl"
# RunConfig keys that change speed, not outputs: left out of the config hash.
OUTPUT_NEUTRAL_KEYS = (
    "device",
    "video.prefetch",
    "pose.batch_size",
    "detector.frames_per_batch",
    "output.row_group_frames",
)
DONE, FAILED, SKIPPED = "done", "failed", "skipped"


# --------------------------------------------------------------------------------------------
# Discovery


@dataclass(frozen=True)
class BatchInput:
    """One unit of work: a video file, or a burst of still images tracked as one clip.

    ``key``: the input's path relative to ROOT (POSIX separators), the ``video`` column of its
    table and its identity in the manifest; a burst is ``DIR/FIRST..LAST`` (first and last image
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
        raise ConfigError("not a folder" if Path(root).exists() else "no such folder", path=root)
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
    from PIL import Image

    try:
        if not path.is_file() or path.stat().st_size == 0:
            return None
    except OSError:
        return None
    try:
        with Image.open(path):
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


_NUMBERED = re.compile(r"^(.*?)(\d+)(\D*)$")


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


# --------------------------------------------------------------------------------------------
# Shards


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based): the inputs whose key hashes to ``index``.

    The partition depends only on each input's key, so it stays the same when other files are
    added, and every process of a SLURM array or one-per-GPU launch computes it alone.
    """

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not m or not 0 <= int(m[1]) < int(m[2]):
            raise ConfigError(f"--shard must be I/N with 0 <= I < N (e.g. 0/4), got {text!r}")
        return cls(int(m[1]), int(m[2]))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def contains(self, key: str) -> bool:
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index

    def select(self, inputs: Iterable[BatchInput]) -> list[BatchInput]:
        return [i for i in inputs if self.contains(i.key)]


# --------------------------------------------------------------------------------------------
# The manifest


def manifest_path(out: str | Path, shard: Shard | None = None) -> Path:
    """``OUT/manifest.jsonl``, or ``OUT/manifest.shard-I-of-N.jsonl`` for a shard."""
    name = (
        MANIFEST_NAME if shard is None else f"manifest.shard-{shard.index}-of-{shard.count}.jsonl"
    )
    return Path(out) / name


class ManifestLog:
    """Append-only JSON-lines file: one record per line, one ``write`` each, then ``fsync``.

    A line torn by a killed writer is closed with a newline on opening, so later records start
    on their own line; readers skip the torn line (:func:`read_manifest`).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        size = os.fstat(self._fd).st_size
        if size:
            with open(self.path, "rb") as f:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    self._write(b"\n")

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def append(self, record: dict[str, Any], *, sync: bool = True) -> None:
        self._write((json.dumps(record, separators=(",", ":")) + "\n").encode("ascii"))
        if sync:
            self.sync()

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> ManifestLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_manifest(path: str | Path) -> list[dict[str, Any]]:
    """The records of one manifest file in order; torn or foreign lines are skipped."""
    records = []
    with open(path, "rb") as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("input"), str):
                records.append(record)
    return records


def manifest_files(out: str | Path) -> list[Path]:
    """``manifest.jsonl`` and every shard's manifest in ``out``, sorted by name."""
    out = Path(out)
    return sorted(p for p in out.glob("manifest*.jsonl") if p.is_file()) if out.is_dir() else []


def latest_records(out: str | Path) -> dict[str, dict[str, Any]]:
    """The latest record per input over all manifests in ``out`` (by ``finished`` time; on a
    tie, the later file and line)."""
    latest: dict[str, dict[str, Any]] = {}
    for path in manifest_files(out):
        for rec in read_manifest(path):
            old = latest.get(rec["input"])
            if old is None or rec.get("finished", 0) >= old.get("finished", 0):
                latest[rec["input"]] = rec
    return latest


def merge_manifests(
    out: str | Path, order: Sequence[str] = ()
) -> tuple[Path, dict[str, dict[str, Any]]]:
    """Combine every manifest in ``out`` into ``OUT/manifest.jsonl``, atomically replaced.

    Keeps the latest record per input (see :func:`latest_records`), in ``order`` (input keys,
    e.g. discovery order) and then the others in natural order. Shard files are left in place,
    so merging again gives the same file. Run it when no batch writes to ``out``.
    """
    latest = latest_records(out)
    keys = [k for k in order if k in latest]
    keys += sorted(set(latest) - set(keys), key=natural_key)
    path = manifest_path(out)
    tmp = partial_path(path)
    try:
        with open(tmp, "w", encoding="ascii") as f:
            for k in keys:
                f.write(json.dumps(latest[k], separators=(",", ":")) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path, {k: latest[k] for k in keys}


def config_hash(config: RunConfig) -> str:
    """sha256 of the canonical JSON of ``config`` without :data:`OUTPUT_NEUTRAL_KEYS`."""
    data = to_dict(config)
    for key in OUTPUT_NEUTRAL_KEYS:
        *parents, last = key.split(".")
        node = data
        for p in parents:
            node = node.get(p, {})
        node.pop(last, None)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_current(
    record: dict[str, Any] | None,
    size: int,
    mtime_ns: int,
    model_sha256: str,
    config_sha256: str,
    out: Path,
) -> bool:
    """The resume rule: done with this model and config, input unchanged, outputs present."""
    return bool(
        record
        and record.get("status") in (DONE, SKIPPED)
        and record.get("model_sha256") == model_sha256
        and record.get("config_hash") == config_sha256
        and record.get("size") == size
        and record.get("mtime_ns") == mtime_ns
        and record.get("outputs")
        and all(Path(out, o).is_file() for o in record["outputs"])
    )


# --------------------------------------------------------------------------------------------
# The run loop


@dataclass
class BatchSummary:
    """Counts of one run; ``failures`` are (input key, one-line error)."""

    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    rows: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)
    manifest: Path | None = None

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def add(self, record: dict[str, Any]) -> None:
        status = record["status"]
        setattr(self, status, getattr(self, status) + 1)
        if status == DONE:
            self.rows += int(record.get("rows") or 0)
        elif status == FAILED:
            self.failures.append((record["input"], record.get("error") or ""))

    def line(self) -> str:
        return (
            f"{self.total} inputs: {self.done} done, {self.skipped} already done, "
            f"{self.failed} failed; {self.rows} rows in {self.seconds:.1f} s"
            + (f"; manifest {self.manifest}" if self.manifest else "")
        )


@dataclass(frozen=True)
class _Prepared:
    """An input made ready in the lookahead thread: ``source`` for track_video, or ``error``."""

    item: BatchInput
    source: str | list[Path]
    size: int = 0
    mtime_ns: int = 0
    error: str | None = None


def run_batch(
    inputs: Sequence[BatchInput],
    out: str | Path,
    stages: Stages,
    *,
    resume: bool = True,
    shard: Shard | None = None,
    progress: bool = True,
    debug: bool = False,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> BatchSummary:
    """Track ``inputs`` into ``out`` (mirroring their folders), one manifest record each.

    Inputs that :func:`is_current` says are done are recorded as skipped (with ``resume``).
    A failing input is recorded with its one-line error and the run goes on; a
    :class:`~wildpose.errors.ConfigError` (bad configuration) stops the run and propagates,
    as do Ctrl-C and SIGKILL, leaving no record for the input in flight.
    """
    from tqdm import tqdm

    out = Path(out)
    t0 = time.perf_counter()
    ids = (stages.loaded.sha256, config_hash(stages.config))
    summary = BatchSummary(total=len(inputs), manifest=manifest_path(out, shard))
    previous = latest_records(out) if resume else {}
    bar = tqdm(total=len(inputs), unit="input", disable=not progress, dynamic_ncols=True)

    def record(rec: dict[str, Any], sync: bool = True) -> None:
        log.append(rec, sync=sync)
        summary.add(rec)
        bar.update(1)
        if rec["status"] == FAILED:
            tqdm.write(f"wildpose: error: {rec['error']}", file=sys.stderr)
        if on_record:
            on_record(rec)

    with ManifestLog(summary.manifest) as log, bar:
        todo = []
        for item in inputs:
            old = previous.get(item.key)
            if old and _unchanged_done(item, old, ids, out):
                record({**old, "status": SKIPPED, "seconds": 0.0, **_stamp(shard)}, sync=False)
            else:
                todo.append(item)
        log.sync()
        image_fps = stages.config.video.image_fps
        with Prefetcher((_prepare(item, image_fps) for item in todo), 1) as ready:
            for prep in ready:
                bar.set_postfix_str(prep.item.key[-50:], refresh=True)
                record(_run_one(prep, out, stages, ids, shard, debug))
    summary.seconds = time.perf_counter() - t0
    return summary


def _unchanged_done(item: BatchInput, old: dict[str, Any], ids: tuple[str, str], out: Path):
    try:
        size, mtime_ns = item.stat()
    except OSError:
        return False
    return is_current(old, size, mtime_ns, ids[0], ids[1], out)


def _stamp(shard: Shard | None) -> dict[str, Any]:
    return {
        "shard": None if shard is None else str(shard),
        "finished": time.time(),
        "wildpose_version": __version__,
    }


def _prepare(item: BatchInput, image_fps: float) -> _Prepared:
    """Stat and probe one input (in the lookahead thread) and start reading it ahead."""
    try:
        size, mtime_ns = item.stat()
    except OSError as exc:
        cause = "broken link" if item.paths[0].is_symlink() else (exc.strerror or str(exc))
        return _Prepared(item, "", error=f"{item.key}: cannot read ({cause})")
    source: str | list[Path] = str(item.paths[0]) if item.kind == "video" else list(item.paths)
    try:
        probe(source, image_fps=image_fps)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded as this input's failure
        return _Prepared(item, source, size, mtime_ns, _one_line(exc, source, item))
    for path in item.paths:
        _read_ahead(path)
    return _Prepared(item, source, size, mtime_ns, None)


def _read_ahead(path: Path) -> None:
    """Ask the OS to start reading ``path`` into its cache (a hint; network archives gain)."""
    if not hasattr(os, "posix_fadvise"):
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
    except OSError:
        pass
    finally:
        os.close(fd)


def _one_line(exc: BaseException, source: str | list[Path], item: BatchInput) -> str:
    """The error as one line naming the input by its key (relative to ROOT)."""
    text = str(exc) if isinstance(exc, WildposeError) else f"{type(exc).__name__}: {exc}"
    label = source_label(source) if source else ""
    text = " ".join(text.split()).replace(label, item.key) if label else " ".join(text.split())
    return text if text.startswith(item.key) else f"{item.key}: {text}"


def _run_one(
    prep: _Prepared,
    out: Path,
    stages: Stages,
    ids: tuple[str, str],
    shard: Shard | None,
    debug: bool,
) -> dict[str, Any]:
    """Track one prepared input; returns its manifest record (done or failed)."""
    from .pipeline import track_video

    item, t0 = prep.item, time.perf_counter()
    rec: dict[str, Any] = {"input": item.key, "status": FAILED, "error": prep.error}
    rec.update(kind=item.kind, files=len(item.paths), size=prep.size, mtime_ns=prep.mtime_ns)
    if prep.error is None:
        try:
            res = track_video(
                prep.source,
                item.out_dir(out),
                stages,
                stem=item.stem,
                video_name=item.key,
                extra_run_info=_run_info(item, ids[1], shard),
            )
        except ConfigError:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded as this input's failure
            if debug:
                traceback.print_exc()
            rec["error"] = _one_line(exc, prep.source, item)
        else:
            _sync_files(res.outputs)
            rec.update(status=DONE, rows=res.rows, tracks=res.tracks, frames=res.frames_read)
            rec.update(frames_skipped=res.frames_skipped)
            rec["outputs"] = [Path(o).relative_to(out).as_posix() for o in res.outputs]
    rec["seconds"] = round(time.perf_counter() - t0, 3)
    rec.update(model_sha256=ids[0], config_hash=ids[1], **_stamp(shard))
    return rec


def _sync_files(paths: Iterable[str]) -> None:
    """fsync outputs and their folders, so a ``done`` record never outlives its files."""
    paths = list(paths)
    folders = {os.path.dirname(p) or "." for p in paths} if os.name != "nt" else set()
    for path in [*paths, *sorted(folders)]:  # Windows cannot open folders for fsync
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _run_info(item: BatchInput, config_sha256: str, shard: Shard | None) -> dict[str, Any]:
    """Extra ``run.json`` keys: the input (video or burst folder) and the batch context."""
    first = item.paths[0]
    info: dict[str, Any] = {
        "input": str(first) if item.kind == "video" else str(first.parent),
        "batch": {"input": item.key, "config_hash": config_sha256, "shard": shard and str(shard)},
    }
    if item.kind == "images":
        info["images"] = [p.name for p in item.paths]
    return info
