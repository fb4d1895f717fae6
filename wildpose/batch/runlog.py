"""The run log: one JSON line per input and attempt, appended and synced, and the resume rule.

A batch run appends to ``OUT/runlog.jsonl`` (``OUT/runlog.shard-I-of-N.jsonl`` with a shard).
Readers also consult the ``manifest.jsonl`` / ``manifest.shard-I-of-N.jsonl`` files that
wildpose 0.1 wrote under that name, so archives it processed resume; on a tie of ``finished``
times a ``runlog`` record beats a legacy one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from wildpose.atomic import atomic_open
from wildpose.config import RunConfig, to_dict
from wildpose.video import natural_key

from .shards import Shard

RUN_LOG_NAME = "runlog.jsonl"
# File names of run logs, current and legacy ("manifest"), merged or of one shard.
_RUN_LOG_FILE = re.compile(r"(runlog|manifest)(\.shard-\d+-of-\d+)?\.jsonl")
# RunConfig keys that change speed, not outputs: left out of the config hash.
OUTPUT_NEUTRAL_KEYS = (
    "device",
    "video.prefetch",
    "pose.batch_size",
    "detector.frames_per_batch",
    "output.row_group_frames",
)
DONE, FAILED, SKIPPED = "done", "failed", "skipped"


def run_log_path(out: str | Path, shard: Shard | None = None) -> Path:
    """``OUT/runlog.jsonl``, or ``OUT/runlog.shard-I-of-N.jsonl`` for a shard."""
    if shard is None:
        return Path(out) / RUN_LOG_NAME
    return Path(out) / f"runlog.shard-{shard.index}-of-{shard.count}.jsonl"


class RunLog:
    """Append-only JSON-lines file: one record per line, one ``write`` each, then ``fsync``.

    Records are appended in place (``O_APPEND``), never rewritten, so a kill loses at most the
    line being written. A line torn by a killed writer is closed with a newline on opening, so
    later records start on their own line; readers skip the torn line (:func:`read_run_log`).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
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
        """Append ``record`` as one ASCII JSON line; ``sync``: fsync before returning."""
        self._write((json.dumps(record, separators=(",", ":")) + "\n").encode("ascii"))
        if sync:
            self.sync()

    def sync(self) -> None:
        os.fsync(self._fd)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_run_log(path: str | Path) -> list[dict[str, Any]]:
    """The records of one run log file in order; torn or foreign lines are skipped."""
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


def run_log_files(out: str | Path) -> list[Path]:
    """Every run log in ``out`` (merged, per shard, and legacy ``manifest*`` ones), by name."""
    out = Path(out)
    if not out.is_dir():
        return []
    return sorted(p for p in out.iterdir() if _RUN_LOG_FILE.fullmatch(p.name) and p.is_file())


def latest_records(out: str | Path) -> dict[str, dict[str, Any]]:
    """The latest record per input over all run logs in ``out`` (by ``finished`` time; on a
    tie, the later file and line)."""
    latest: dict[str, dict[str, Any]] = {}
    for path in run_log_files(out):
        for rec in read_run_log(path):
            old = latest.get(rec["input"])
            if old is None or rec.get("finished", 0) >= old.get("finished", 0):
                latest[rec["input"]] = rec
    return latest


def merge_run_logs(
    out: str | Path, order: Sequence[str] = ()
) -> tuple[Path, dict[str, dict[str, Any]]]:
    """Combine every run log in ``out`` into ``OUT/runlog.jsonl``, atomically replaced.

    Keeps the latest record per input (see :func:`latest_records`), in ``order`` (input keys,
    e.g. discovery order) and then the others in natural order. Shard and legacy files are left
    in place, so merging again gives the same file. Run it when no batch writes to ``out``.
    """
    latest = latest_records(out)
    keys = [k for k in order if k in latest]
    keys += sorted(set(latest) - set(keys), key=natural_key)
    path = run_log_path(out)
    with atomic_open(path, "w", encoding="ascii") as f:
        for k in keys:
            f.write(json.dumps(latest[k], separators=(",", ":")) + "\n")
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
    """The resume rule: done with this model and config, input unchanged, outputs present.

    ``size`` (bytes) and ``mtime_ns`` are the input's now (:meth:`BatchInput.stat`); the
    record's ``outputs`` are relative to ``out``.
    """
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
