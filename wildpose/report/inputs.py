"""Which track tables a report covers: files, plain folders, and batch output folders with
their run logs (``runlog*.jsonl``, or the legacy ``manifest*.jsonl``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wildpose.batch.runlog import latest_records, run_log_files
from wildpose.errors import InputError
from wildpose.interop.tables import table_stem

__all__ = ["BatchData", "find_inputs", "read_batch"]

_TABLE_SUFFIXES = (".tracks.parquet", ".tracks.csv")


@dataclass(frozen=True)
class BatchData:
    """A batch output folder: the latest run log record per input (``records``, in the log's
    order) and the track table each done input wrote (``tables``, by input key)."""

    folder: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    tables: dict[str, Path] = field(default_factory=dict)


def read_batch(folder: str | Path) -> BatchData:
    """The latest record per input of a batch output folder's run logs and the track tables
    (Parquet preferred to CSV) named by the done inputs' ``outputs``."""
    folder = Path(folder)
    if not run_log_files(folder):
        raise InputError("no run log (runlog.jsonl) in this folder", path=folder)
    records = list(latest_records(folder).values())
    tables = {}
    for rec in records:
        outputs = [Path(folder, o) for o in rec.get("outputs") or ()]
        found = [o for s in _TABLE_SUFFIXES for o in outputs if o.name.endswith(s) and o.is_file()]
        if found:
            tables[rec["input"]] = found[0]
    return BatchData(folder, records, tables)


def find_inputs(paths: Sequence[str | Path]) -> tuple[list[Path], Path | None]:
    """The track tables named by ``paths`` and the batch folder among them, if any.

    A file is a table; a folder with a run log is a batch (its done inputs' tables); any other
    folder gives every ``*.tracks.parquet`` under it (a ``.tracks.csv`` where no Parquet twin).
    """
    tables: list[Path] = []
    batch: Path | None = None
    for p in map(Path, paths):
        if p.is_file():
            tables.append(p)
        elif p.is_dir() and run_log_files(p):
            if batch is not None:
                raise InputError(f"one batch folder per report (also got {batch})", path=p)
            batch = p
            tables += read_batch(p).tables.values()
        elif p.is_dir():
            tables += _folder_tables(p)
        else:
            raise InputError("no such file or folder", path=p)
    return list(dict.fromkeys(tables)), batch


def _folder_tables(folder: Path) -> list[Path]:
    found = sorted(folder.rglob("*.tracks.parquet"))
    stems = {f.with_name(table_stem(f)) for f in found}
    found += [
        f for f in sorted(folder.rglob("*.tracks.csv")) if f.with_name(table_stem(f)) not in stems
    ]
    if not found:
        raise InputError("no track tables (*.tracks.parquet / .csv) in this folder", path=folder)
    return found
