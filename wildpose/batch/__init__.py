"""Archives for ``wildpose batch``: discovery, shards, the run log and resume rule, the run loop.

:func:`discover` walks ROOT in a deterministic (natural) order and returns
:class:`BatchInput` values (videos and image bursts); :class:`Shard` selects a hash partition
of them; :func:`run_batch` tracks them with one set of loaded stages and appends one JSON line
per input to the run log (``OUT/runlog.jsonl``, or ``OUT/runlog.shard-I-of-N.jsonl``) after
the input's outputs have their final names. A rerun skips an input whose latest record is done
with the same model sha256 and config hash, for an unchanged input whose outputs exist
(:func:`is_current`: sizes and sha256 of the outputs checked). A run holds the output folder
(:func:`lock_output`). See ``docs/batch.md``.
"""

from __future__ import annotations

from .discover import DEFAULT_BURST_GAP_S, BatchInput, Discovery, discover, group_images
from .lock import OutputInUse, lock_output
from .run import BatchSummary, run_batch
from .runlog import (
    DONE,
    FAILED,
    SKIPPED,
    RunLog,
    config_hash,
    is_current,
    latest_records,
    merge_run_logs,
    read_run_log,
    run_log_files,
    run_log_path,
)
from .shards import Shard

__all__ = [
    "DEFAULT_BURST_GAP_S",
    "DONE",
    "FAILED",
    "SKIPPED",
    "BatchInput",
    "BatchSummary",
    "Discovery",
    "OutputInUse",
    "RunLog",
    "Shard",
    "config_hash",
    "discover",
    "group_images",
    "is_current",
    "latest_records",
    "lock_output",
    "merge_run_logs",
    "read_run_log",
    "run_batch",
    "run_log_files",
    "run_log_path",
]
