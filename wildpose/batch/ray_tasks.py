"""The Ray worker of ``wildpose batch --engine ray``: stages built once, one input per call.

The class is plain Python (Ray wraps it with ``ray.remote`` in :mod:`wildpose.batch.ray_engine`)
so it imports where Ray is absent. Each worker tracks an input exactly as the local engine does
(:func:`~wildpose.batch.run.track_input`: outputs committed atomically into the shared output
folder) and returns the run log record; only the driver writes the run log.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .discover import BatchInput
from .run import prepare_input, track_input
from .shards import Shard

if TYPE_CHECKING:
    from wildpose.config import RunConfig

# Test hook: where this names a folder holding a file "armed", the first worker to start an
# input takes the file and exits at once (as a crashed or preempted worker would).
CRASH_ENV = "WILDPOSE_RAY_CRASH_ONCE"


class TrackWorker:
    """Loads the pose model and detector once (:meth:`Stages.build`) and tracks inputs."""

    def __init__(self, config: RunConfig, threads: int = 1) -> None:
        import torch

        from wildpose.pipeline import Stages

        torch.set_num_threads(max(1, threads))
        self.stages = Stages.build(config)

    def ready(self) -> str:
        """The device the pose model runs on (called once: construction errors surface here)."""
        return str(self.stages.predictor.device)

    def track(
        self,
        item: BatchInput,
        out: Path,
        ids: tuple[str, str],
        shard: Shard | None,
        debug: bool,
    ) -> dict[str, Any]:
        """Probe and track ``item`` into ``out``; its run log record (done or failed).

        Raises ConfigError (a bad configuration stops the whole run, as in the local engine).
        """
        _maybe_crash()
        prep = prepare_input(item, self.stages.config.video.image_fps)
        return track_input(prep, out, self.stages, ids, shard, debug)


def _maybe_crash() -> None:
    folder = os.environ.get(CRASH_ENV)
    if not folder:
        return
    armed = Path(folder, "armed")
    try:
        armed.rename(Path(folder, f"fired.{os.getpid()}"))  # one worker wins the rename
    except OSError:
        return
    os._exit(3)
