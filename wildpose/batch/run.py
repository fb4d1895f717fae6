"""The batch run loop: track each input with one set of loaded stages, one run log record each.

While one input is tracked, the next is stat'ed and probed in a thread (and the OS asked to
read its files ahead), so a bad next input fails without waiting. The run holds the output
folder (:func:`~wildpose.batch.lock.lock_output`): a second run on it stops with exit code 2,
and the temporaries a killed run left for the inputs to do are removed.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wildpose import __version__
from wildpose.atomic import fsync_dir, fsync_file
from wildpose.errors import ConfigError, WildposeError
from wildpose.messages import display_path, display_text
from wildpose.video import Prefetcher, probe, source_label

from .discover import BatchInput
from .lock import lock_output
from .partials import remove_stale_partials
from .runlog import (
    DONE,
    FAILED,
    SKIPPED,
    RunLog,
    checksums,
    config_hash,
    is_current,
    latest_records,
    run_log_path,
)
from .shards import Shard

if TYPE_CHECKING:  # the pipeline imports torch: discovery and run logs do without it
    from wildpose.pipeline import Stages


@dataclass
class BatchSummary:
    """Counts of one run; ``failures`` are (input key, one-line error); ``seconds`` wall time."""

    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    rows: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)
    run_log: Path | None = None

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
            + (f"; run log {display_path(self.run_log)}" if self.run_log else "")
        )


@dataclass(frozen=True)
class Prepared:
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
    """Track ``inputs`` into ``out`` (mirroring their folders), one run log record each.

    Inputs that :func:`~wildpose.batch.runlog.is_current` says are done are recorded as
    skipped (with ``resume``). A failing input is recorded with its one-line error and the run
    goes on; a :class:`~wildpose.errors.ConfigError` (bad configuration) stops the run and
    propagates, as do Ctrl-C and SIGKILL, leaving no record for the input in flight. Holds
    ``out`` for the run: :class:`~wildpose.batch.lock.OutputInUse` (a ConfigError) when another
    process does.
    """
    with lock_output(out, shard):
        return _run_locked(inputs, Path(out), stages, resume, shard, progress, debug, on_record)


def _run_locked(
    inputs: Sequence[BatchInput],
    out: Path,
    stages: Stages,
    resume: bool,
    shard: Shard | None,
    progress: bool,
    debug: bool,
    on_record: Callable[[dict[str, Any]], None] | None,
) -> BatchSummary:
    ids = run_ids(stages)
    image_fps = stages.config.video.image_fps

    def track_all(todo: list[BatchInput], record: Record, bar: Any) -> None:
        with Prefetcher((prepare_input(item, image_fps) for item in todo), 1) as ready:
            for prep in ready:
                bar.set_postfix_str(prep.item.key[-50:], refresh=True)
                record(track_input(prep, out, stages, ids, shard, debug))

    return run_logged(inputs, out, ids, shard, resume, progress, on_record, track_all)


Record = Callable[[dict[str, Any]], None]


def run_logged(
    inputs: Sequence[BatchInput],
    out: Path,
    ids: tuple[str, str],
    shard: Shard | None,
    resume: bool,
    progress: bool,
    on_record: Record | None,
    track_all: Callable[[list[BatchInput], Record, Any], None],
) -> BatchSummary:
    """The part of a run both engines share: the run log (written here only), the resume
    decision, the progress bar (inputs, failures, frames/s) and the summary.

    ``track_all(todo, record, bar)`` tracks the inputs to do and calls ``record`` with each
    input's record as it finishes (in any order).
    """
    from tqdm import tqdm

    t0 = time.perf_counter()
    summary = BatchSummary(total=len(inputs), run_log=run_log_path(out, shard))
    bar = tqdm(total=len(inputs), unit="input", disable=not progress, dynamic_ncols=True)
    frames = 0

    def record(rec: dict[str, Any], sync: bool = True) -> None:
        nonlocal frames
        log.append(rec, sync=sync)
        summary.add(rec)
        frames += int(rec.get("frames") or 0) if rec["status"] == DONE else 0
        rate = frames / max(time.perf_counter() - t0, 1e-9)
        bar.set_postfix_str(f"{summary.failed} failed, {rate:.1f} frames/s", refresh=False)
        bar.update(1)
        if rec["status"] == FAILED:
            tqdm.write(f"wildpose: error: {rec['error']}", file=sys.stderr)
        if on_record:
            on_record(rec)

    with RunLog(summary.run_log) as log, bar:
        skipped, todo = plan_inputs(inputs, out, ids, shard, resume)
        for rec in skipped:
            record(rec, sync=False)
        log.sync()
        remove_stale_partials(todo, out)  # of a killed run: the folder is ours now
        if todo:
            track_all(todo, record, bar)
    summary.seconds = time.perf_counter() - t0
    return summary


def run_ids(stages: Stages) -> tuple[str, str]:
    """(model sha256, config hash): what a done record must match to be skipped on resume."""
    return stages.loaded.sha256, config_hash(stages.config)


def plan_inputs(
    inputs: Sequence[BatchInput],
    out: Path,
    ids: tuple[str, str],
    shard: Shard | None,
    resume: bool,
) -> tuple[list[dict[str, Any]], list[BatchInput]]:
    """The skipped records (inputs done and unchanged, with ``resume``) and the inputs to track.

    Both engines decide with this, so a resumed run skips the same inputs whichever ran before.
    """
    previous = latest_records(out) if resume else {}
    skipped: list[dict[str, Any]] = []
    todo: list[BatchInput] = []
    for item in inputs:
        old = previous.get(item.key)
        if old and _unchanged_done(item, old, ids, out):
            skipped.append({**old, "status": SKIPPED, "seconds": 0.0, **_stamp(shard)})
        else:
            todo.append(item)
    return skipped, todo


def failed_record(
    item: BatchInput, error: str, ids: tuple[str, str], shard: Shard | None, seconds: float
) -> dict[str, Any]:
    """The run log record of an input that failed outside :func:`track_input` (a dead worker)."""
    try:
        size, mtime_ns = item.stat()
    except OSError:
        size, mtime_ns = 0, 0
    rec: dict[str, Any] = {"input": item.key, "status": FAILED, "error": display_text(error)}
    rec.update(kind=item.kind, files=len(item.paths), size=size, mtime_ns=mtime_ns)
    rec.update(seconds=round(seconds, 3), model_sha256=ids[0], config_hash=ids[1])
    return {**rec, **_stamp(shard)}


def _unchanged_done(item: BatchInput, old: dict[str, Any], ids: tuple[str, str], out: Path) -> bool:
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


def prepare_input(item: BatchInput, image_fps: float) -> Prepared:
    """Stat and probe one input (in the lookahead thread) and start reading it ahead."""
    try:
        size, mtime_ns = item.stat()
    except OSError as exc:
        cause = "broken link" if item.paths[0].is_symlink() else (exc.strerror or str(exc))
        return Prepared(item, "", error=display_text(f"{item.key}: cannot read ({cause})"))
    source: str | list[Path] = str(item.paths[0]) if item.kind == "video" else list(item.paths)
    try:
        probe(source, image_fps=image_fps)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - recorded as this input's failure
        return Prepared(item, source, size, mtime_ns, _one_line(exc, source, item))
    for path in item.paths:
        _read_ahead(path)
    return Prepared(item, source, size, mtime_ns, None)


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
    text = " ".join(text.split())
    label = source_label(source) if source else ""
    # error messages name the input raw, escaped (display_path) or whitespace-collapsed
    for form in dict.fromkeys([label, display_path(label), " ".join(label.split())]):
        text = text.replace(form, item.key) if form else text
    text = text if text.startswith(item.key) else f"{item.key}: {text}"
    return display_text(text)


def track_input(
    prep: Prepared,
    out: Path,
    stages: Stages,
    ids: tuple[str, str],
    shard: Shard | None,
    debug: bool,
) -> dict[str, Any]:
    """Track one prepared input; returns its run log record (done or failed)."""
    from wildpose.pipeline import track_video

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
            rec["checksums"] = checksums(res.outputs, out)
    rec["seconds"] = round(time.perf_counter() - t0, 3)
    rec.update(model_sha256=ids[0], config_hash=ids[1], **_stamp(shard))
    return rec


def _sync_files(paths: Iterable[str]) -> None:
    """fsync outputs and their folders, so a ``done`` record never outlives its files."""
    paths = list(paths)
    for path in paths:
        fsync_file(path)
    for folder in sorted({os.path.dirname(p) or "." for p in paths}):
        fsync_dir(folder)  # a no-op where folders cannot be opened (Windows)


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
