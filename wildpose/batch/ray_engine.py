"""``wildpose batch --engine ray``: the inputs tracked by Ray actors, recorded by the driver.

The driver (this process) discovers, decides what to resume (:func:`~wildpose.batch.run.
plan_inputs`, as the local engine), holds the output folder's lock, writes the run log and shows
the progress bar. Each worker is a Ray actor (:class:`~wildpose.batch.ray_tasks.TrackWorker`)
that builds the stages once, one per GPU (``num_gpus=1``) where the cluster has GPUs, else
``workers`` CPU actors, and tracks one input per call into the output folder, which must be a
file system every node shares (outputs get their final names only when whole). An input whose
worker dies (a crash, a preempted node) is retried on a fresh actor, at most ``max_attempts``
times in all, then recorded failed. Ray docs: https://docs.ray.io/en/latest/ray-core/actors.html
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wildpose.errors import ConfigError

from .discover import BatchInput
from .lock import lock_output
from .partials import remove_stale_partials
from .run import BatchSummary, failed_record, run_ids, run_logged
from .shards import Shard

if TYPE_CHECKING:
    from wildpose.config import RunConfig
    from wildpose.pipeline import Stages

__all__ = ["RayOptions", "run_batch_ray"]


@dataclass(frozen=True)
class RayOptions:
    """Where and how to run: ``address`` (None: a local Ray on this machine; ``auto``: the
    cluster this node belongs to; ``HOST:PORT``: its head), ``workers`` (None: one per GPU, else
    2), ``worker_cpus`` (CPUs each actor reserves, and its torch threads), ``max_attempts`` (per
    input, counting the first; attempts end only when a worker dies)."""

    address: str | None = None
    workers: int | None = None
    worker_cpus: float = 1.0
    max_attempts: int = 2


def run_batch_ray(
    inputs: Sequence[BatchInput],
    out: str | Path,
    stages: Stages,
    config: RunConfig,
    options: RayOptions = RayOptions(),
    *,
    resume: bool = True,
    shard: Shard | None = None,
    progress: bool = True,
    debug: bool = False,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> BatchSummary:
    """Track ``inputs`` into ``out`` on Ray; the same outputs and records as ``run_batch``.

    ``stages`` (built on the driver, any device) give the model sha256 and config hash of the
    records; ``config`` is what the workers build their stages from. A ConfigError raised by a
    worker stops the run; Ctrl-C kills the actors (no record for the inputs in flight).
    """
    import ray

    args = (Path(out), stages, config, options, resume, shard, progress, debug, on_record)
    with lock_output(out, shard):  # a folder in use exits 2 before Ray starts
        started = not ray.is_initialized()
        if started:  # a caller (tests, a notebook) that connected already keeps its connection
            _connect(options.address, debug)
        try:
            return _run_locked(inputs, *args)
        finally:
            if started:
                ray.shutdown()


def _connect(address: str | None, debug: bool) -> None:
    """Join the cluster at ``address`` (None: start Ray here); ConfigError when it cannot."""
    import ray

    try:
        ray.init(
            address=address,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=debug,
        )
    except (ConnectionError, RuntimeError, ValueError) as e:  # no cluster, refused, bad token
        where = f"at {address}" if address else "on this machine"
        raise ConfigError(f"cannot reach Ray {where}: {_first_line(e)}") from None


def _run_locked(
    inputs: Sequence[BatchInput],
    out: Path,
    stages: Stages,
    config: RunConfig,
    options: RayOptions,
    resume: bool,
    shard: Shard | None,
    progress: bool,
    debug: bool,
    on_record: Callable[[dict[str, Any]], None] | None,
) -> BatchSummary:
    ids = run_ids(stages)

    def track_all(todo: list[BatchInput], record: Callable[[dict], None], bar: Any) -> None:
        _Scheduler(out, config, options, ids, shard, debug).run(todo, record)

    return run_logged(inputs, out, ids, shard, resume, progress, on_record, track_all)


class _Scheduler:
    """Keeps every actor busy with one input; replaces an actor that died."""

    def __init__(
        self,
        out: Path,
        config: RunConfig,
        options: RayOptions,
        ids: tuple[str, str],
        shard: Shard | None,
        debug: bool,
    ) -> None:
        import ray

        from .ray_tasks import TrackWorker

        gpus = int(ray.cluster_resources().get("GPU", 0))
        n = options.workers or (gpus or 2)
        self.actor_class = ray.remote(TrackWorker).options(
            num_cpus=options.worker_cpus,
            num_gpus=1 if gpus else 0,
            max_restarts=0,  # a dead actor is replaced by the scheduler, its input retried
            max_task_retries=0,
        )
        self.config, self.threads = config, max(1, int(options.worker_cpus))
        self.out, self.ids, self.shard, self.debug = out, ids, shard, debug
        self.max_attempts = max(1, options.max_attempts)
        self.actors = [self._new_actor() for _ in range(n)]
        self.start_deaths = 0

    def _new_actor(self) -> Any:
        return self.actor_class.remote(self.config, self.threads)

    def run(self, todo: list[BatchInput], record: Callable[[dict[str, Any]], None]) -> None:
        """Track ``todo``, calling ``record`` with each input's record as it finishes."""
        import ray

        try:
            self._loop(deque(todo), record)
        finally:  # Ctrl-C, a ConfigError, or the end: no actor outlives the run
            for actor in self.actors:
                ray.kill(actor)

    def _loop(self, pending: deque[BatchInput], record: Callable[[dict[str, Any]], None]) -> None:
        """Give each actor an input once it has built its stages, and the next when it is done.

        ``running`` maps each call in flight to its actor and input (None: the actor's
        ``ready`` call), so an actor the cluster cannot place yet holds no input, and the run
        ends when the inputs are done, whatever actors are still waiting for a node.
        """
        import ray
        from ray.exceptions import RayActorError, RayTaskError, WorkerCrashedError

        attempts: dict[str, int] = {}
        running = {a.ready.remote(): (a, None, 0.0) for a in self.actors}
        idle: list[Any] = []
        while pending or any(item for _, item, _ in running.values()):
            while idle and pending:
                actor, item = idle.pop(), pending.popleft()
                attempts[item.key] = attempts.get(item.key, 0) + 1
                ref = actor.track.remote(item, self.out, self.ids, self.shard, self.debug)
                running[ref] = (actor, item, time.perf_counter())
            [ref], _ = ray.wait(list(running), num_returns=1)
            actor, item, t0 = running.pop(ref)
            try:
                rec = ray.get(ref)
            except RayTaskError as e:  # construction or track_input: only ConfigError gets out
                raise _cause(e) from None
            except (RayActorError, WorkerCrashedError) as e:
                if item is None and (e.actor_init_failed or self.start_deaths >= 3):
                    raise ConfigError(f"a Ray worker could not start: {_init_error(e)}") from None
                self.start_deaths += item is None  # died while starting (its node lost...)
                fresh = self._replace(actor)
                running[fresh.ready.remote()] = (fresh, None, 0.0)
                if attempts[item.key] < self.max_attempts:
                    remove_stale_partials([item], self.out)  # its dead worker's temporaries
                    pending.appendleft(item)
                    continue
                rec = self._died(item, attempts[item.key], e, time.perf_counter() - t0)
            else:
                idle.append(actor)
                if item is None:
                    continue
            record(rec)

    def _died(self, item: BatchInput, n: int, e: Exception, seconds: float) -> dict[str, Any]:
        """The failed record of an input whose worker died on each of its ``n`` attempts."""
        why = f"{item.key}: its worker died, {n} attempt{'s' * (n > 1)} ({_first_line(e)})"
        return failed_record(item, why, self.ids, self.shard, seconds)

    def _replace(self, dead: Any) -> Any:
        fresh = self._new_actor()
        self.actors = [fresh if a is dead else a for a in self.actors]
        return fresh


def _cause(e: Exception) -> BaseException:
    """The exception a Ray task raised (ConfigError...), else a ConfigError with its first line."""
    cause = getattr(e, "cause", None)
    return cause if isinstance(cause, Exception) else ConfigError(_first_line(e))


def _init_error(e: Exception) -> str:
    """What an actor's constructor raised: the last line of Ray's traceback text, or its first."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    if not getattr(e, "actor_init_failed", False) or not lines:
        return _first_line(e)
    kind, sep, text = lines[-1].partition(": ")
    return text if sep and kind.startswith("wildpose.") else lines[-1]


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return type(e).__name__ if not text else f"{type(e).__name__}: {text.splitlines()[0][:200]}"
