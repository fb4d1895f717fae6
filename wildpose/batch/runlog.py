"""The run log: one JSON line per input and attempt, appended and synced, and the resume rule.

A batch run appends to ``OUT/runlog.jsonl`` (``OUT/runlog.shard-I-of-N.jsonl`` with a shard).
Readers also consult the ``manifest.jsonl`` / ``manifest.shard-I-of-N.jsonl`` files that
wildpose 0.1 wrote under that name, so archives it processed resume; on a tie of ``finished``
times a ``runlog`` record beats a legacy one.

A record whose fields have the wrong type (a hand-edited or foreign line: ``"frames": "abc"``)
is read as failed, with a one-line warning, so its input is redone. A done record lists its
``outputs`` and their ``checksums`` (size in bytes and sha256): resume skips an input only when
every output is still the file it wrote (records without checksums: the outputs exist).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from wildpose.atomic import atomic_open
from wildpose.config import RunConfig, to_dict
from wildpose.messages import display_path, display_text
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
    "offline",
)
# Keys added after wildpose 0.1 and the value that behaves as 0.1 did: left out of the hash
# while they hold that value, so that a configuration 0.1 could express hashes as 0.1 recorded
# it and its run logs resume. (0.2's defaults precision=auto and pose.refine=dark change the
# outputs, so runs with them redo 0.1's inputs.)
ADDED_AFTER_0_1: dict[str, Any] = {
    "output.render_points": "smoothed",
    "output.report": False,
    "export": "default",
    "pose.refine": "quarter",
    "pose.backend": "torch",
}
DONE, FAILED, SKIPPED = "done", "failed", "skipped"
# Record fields and their types; the others are kept as they are.
_INTEGER_FIELDS = ("size", "mtime_ns", "rows", "tracks", "frames", "frames_skipped", "files")
_NUMBER_FIELDS = ("finished", "seconds")
_TEXT_FIELDS = ("model_sha256", "config_hash", "error", "kind", "shard")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20  # bytes read at a time when hashing an output

log = logging.getLogger(__name__)


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
    """The records of one run log file in order; torn or foreign lines are skipped, records
    with a field of the wrong type are read as failed (see :func:`usable`) with a warning."""
    records = []
    finished: dict[str, float] = {}  # latest time per input, to place a record without one
    with open(path, "rb") as f:
        for number, line in enumerate(f, 1):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not (isinstance(record, dict) and isinstance(record.get("input"), str)):
                continue
            why = usable(record)
            if why is not None:
                record = _unusable(record, why, finished.get(record["input"], 0.0))
                log.warning(
                    "%s: line %d (input %s): %s; the record is ignored and the input redone",
                    display_path(path),
                    number,
                    display_text(repr(record["input"])),
                    why,
                )
            finished[record["input"]] = record.get("finished") or 0.0
            records.append(record)
    return records


def usable(record: dict[str, Any]) -> str | None:
    """Why ``record`` cannot be trusted (a field of the wrong type), or None when it can."""
    if record.get("status") not in (DONE, FAILED, SKIPPED):
        return f"'status' is {_value(record.get('status'))}, not done, failed or skipped"
    for key in _INTEGER_FIELDS + _NUMBER_FIELDS:
        value = record.get(key)
        if value is None:
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or (key in _INTEGER_FIELDS and value % 1):
            kind = "a whole number" if key in _INTEGER_FIELDS else "a number"
            return f"{key!r} is not {kind} ({_value(value)})"
    for key in _TEXT_FIELDS:
        if record.get(key) is not None and not isinstance(record[key], str):
            return f"{key!r} is not text ({_value(record[key])})"
    outputs = record.get("outputs")
    if outputs is not None and not (
        isinstance(outputs, list) and all(isinstance(o, str) for o in outputs)
    ):
        return f"'outputs' is not a list of file names ({_value(outputs)})"
    sums = record.get("checksums")
    if sums is not None and not (
        isinstance(sums, dict) and all(_is_checksum(v) for v in sums.values())
    ):
        return f"'checksums' is not a map of file names to size and sha256 ({_value(sums)})"
    return None


def _is_checksum(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("size"), int)
        and not isinstance(value.get("size"), bool)
        and isinstance(value.get("sha256"), str)
        and _HEX64.fullmatch(value["sha256"]) is not None
    )


def _unusable(record: dict[str, Any], why: str, finished: float) -> dict[str, Any]:
    """A failed record standing in for ``record`` (kept in order: its ``finished`` is the
    previous record's of the input when its own is not a number)."""
    when = record.get("finished")
    ok = isinstance(when, int | float) and not isinstance(when, bool) and math.isfinite(when)
    return {
        "input": record["input"],
        "status": FAILED,
        "error": f"run log record unusable: {why}",
        "finished": when if ok else finished,
        "original_status": record.get("status") if isinstance(record.get("status"), str) else None,
    }


def _value(value: Any) -> str:
    text = display_text(json.dumps(value) if not isinstance(value, float) else repr(value))
    return text if len(text) <= 40 else text[:37] + "..."


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
            if old is None or (rec.get("finished") or 0) >= (old.get("finished") or 0):
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
    """sha256 of the canonical JSON of ``config`` without :data:`OUTPUT_NEUTRAL_KEYS` (and the
    :data:`ADDED_AFTER_0_1` keys at their defaults)."""
    data = to_dict(config)
    default = to_dict(type(config)())
    for key in (*OUTPUT_NEUTRAL_KEYS, *ADDED_AFTER_0_1):
        *parents, last = key.split(".")
        node, ref = data, default
        for p in parents:
            node, ref = node.get(p, {}), ref.get(p, {})
        as_0_1 = ADDED_AFTER_0_1.get(key)
        if as_0_1 == "default":
            as_0_1 = ref.get(last)
        if key in OUTPUT_NEUTRAL_KEYS or node.get(last) == as_0_1:
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
    """The resume rule: done with this model and config, input unchanged, outputs intact.

    ``size`` (bytes) and ``mtime_ns`` are the input's now (:meth:`BatchInput.stat`); the
    record's ``outputs`` are relative to ``out`` (see :func:`outputs_intact`).
    """
    return bool(
        record
        and record.get("status") in (DONE, SKIPPED)
        and record.get("model_sha256") == model_sha256
        and record.get("config_hash") == config_sha256
        and record.get("size") == size
        and record.get("mtime_ns") == mtime_ns
        and record.get("outputs")
        and outputs_intact(record, out)
    )


def outputs_intact(record: dict[str, Any], out: Path) -> bool:
    """Whether every output of ``record`` is the file it recorded: same size and sha256 where
    its ``checksums`` has them, else (records of older versions) present."""
    sums = record.get("checksums") or {}
    for rel in record["outputs"]:
        path = Path(out, rel)
        want = sums.get(rel)
        try:
            if not path.is_file() or (want and path.stat().st_size != want["size"]):
                return False
            if want and file_sha256(path) != want["sha256"]:
                return False
        except OSError:
            return False
    return True


def checksums(paths: Iterable[str | Path], out: Path) -> dict[str, dict[str, Any]]:
    """``{path relative to out (POSIX): {"size": bytes, "sha256": hex}}`` of output files."""
    sums = {}
    for path in paths:
        path = Path(path)
        sums[path.relative_to(out).as_posix()] = {
            "size": path.stat().st_size,
            "sha256": file_sha256(path),
        }
    return sums


def file_sha256(path: str | Path) -> str:
    """sha256 (hex) of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
