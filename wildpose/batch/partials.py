"""Temporary files a killed run left behind, removed by the run that holds the folder next.

:mod:`wildpose.atomic` writes each output under a temporary name unique per process
(``DIR/.NAME.<pid>-<hex>.partial``) and renames it when whole, so a run killed mid-input
(SIGKILL, power loss) leaves its temporaries, which no later run would overwrite. A batch run
holds the output folder (:mod:`wildpose.batch.lock`) and its shard's inputs belong to no other
process, so the temporaries of the outputs of the inputs it is about to track are stale.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from pathlib import Path

from wildpose.messages import display_path

from .discover import BatchInput

log = logging.getLogger(__name__)

# What track_video writes per input, after its stem (tables, run record, rendering).
OUTPUT_SUFFIXES = (".tracks.parquet", ".tracks.csv", ".run.json", ".annotated.mp4")
_TEMP_NAME = re.compile(r"\.(?P<final>.+)\.\d+-[0-9a-f]+\.partial(\.[^.]+)?")


def remove_stale_partials(items: Iterable[BatchInput], out: Path) -> int:
    """Delete the temporaries of the outputs of ``items`` under ``out``; returns how many.

    Lists each output folder once. Only names of :data:`OUTPUT_SUFFIXES` after an input's stem
    are touched, so another shard's temporaries (other inputs) are left alone.
    """
    wanted: dict[Path, set[str]] = {}
    for item in items:
        wanted.setdefault(item.out_dir(out), set()).update(
            item.stem + suffix for suffix in OUTPUT_SUFFIXES
        )
    removed = 0
    for folder, finals in wanted.items():
        try:
            names = os.listdir(folder)
        except OSError:  # not created yet, or unreadable: nothing to clean
            continue
        for name in names:
            m = _TEMP_NAME.fullmatch(name)
            if m and m["final"] in finals:
                try:
                    os.unlink(folder / name)
                    removed += 1
                except OSError as e:
                    log.warning("%s: cannot remove (%s)", display_path(folder / name), e.strerror)
    return removed
