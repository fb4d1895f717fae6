"""Where a training process stands: its place under torchrun, seeds, RNG and resume states.

``last.pt`` holds, beyond the weights, the optimizer and grad-scaler states, the epoch,
iteration and best metric (:class:`Progress`) and every process's generator states, so a
resumed run draws the same shuffles and augmentations as an uninterrupted one. Process groups
follow ``torch.distributed`` under ``torchrun`` (pytorch.org/docs/stable/elastic/run.html).
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as tdist

from ..errors import ConfigError
from ..pose.checkpoint import load_state_strict, read_checkpoint
from ..pose.predictor import resolve_device


@dataclass(frozen=True)
class Dist:
    """This process's place in the run: ``rank`` of ``world`` processes, and its device."""

    rank: int
    world: int
    device: torch.device

    @property
    def main(self) -> bool:
        return self.rank == 0


@dataclass(frozen=True)
class Progress:
    """Where training stands: epochs done, iterations done, best metric so far and its epoch."""

    epoch: int = 0
    iteration: int = 0
    best: float = -math.inf
    best_epoch: int = 0


def setup_distributed(device: str) -> Dist:
    """Join the torchrun process group when ``WORLD_SIZE`` > 1 (gloo on CPU, NCCL on CUDA).

    Under torchrun each process uses ``cuda:LOCAL_RANK`` (when CUDA is used at all).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    dev = resolve_device(device)
    if dev.type == "cuda":
        if world > 1:
            dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        elif dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(dev)
    if world > 1 and not tdist.is_initialized():
        tdist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return Dist(rank, world, dev)


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def seed_worker(worker_id: int) -> None:
    """DataLoader worker init: numpy and Python generators from the worker's torch seed."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def rng_state() -> dict[str, Any]:
    """This process's generator states as plain data and tensors (``weights_only``-loadable)."""
    np_state = np.random.get_state(legacy=False)
    state = {
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    random.setstate(_as_tuple(state["python"]))
    n = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
            "has_gauss": n["has_gauss"],
            "gauss": n["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_tuple(value: Any) -> Any:
    return tuple(_as_tuple(v) for v in value) if isinstance(value, (list, tuple)) else value


def gather_rng_states(dist: Dist) -> list[dict[str, Any]]:
    """Every process's RNG state, in rank order (collective under torchrun)."""
    state = rng_state()
    if dist.world == 1:
        return [state]
    states: list[Any] = [None] * dist.world
    tdist.all_gather_object(states, state)
    return states


def resume_state(optimizer, scaler, progress: Progress, rng: list) -> dict[str, Any]:  # noqa: ANN001
    """The ``last.pt`` entries beyond the weights."""
    return {
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "epoch": progress.epoch,
        "iteration": progress.iteration,
        "best": progress.best,
        "best_epoch": progress.best_epoch,
        "rng": rng,
    }


def load_resume_state(path, model, optimizer, scaler, dist: Dist) -> Progress:  # noqa: ANN001
    """Restore a ``last.pt`` into the run's objects; returns where training stands."""
    obj = read_checkpoint(path)
    if "optimizer" not in obj or "rng" not in obj:
        raise ConfigError("not a resumable checkpoint (no optimizer state); use last.pt", path=path)
    load_state_strict(model, obj["state_dict"], path)
    try:
        optimizer.load_state_dict(obj["optimizer"])
    except ValueError as exc:
        raise ConfigError(f"optimizer state does not fit this config: {exc}", path=path) from None
    if scaler.is_enabled() and obj.get("scaler"):
        scaler.load_state_dict(obj["scaler"])
    states = obj["rng"]
    if len(states) == dist.world:
        set_rng_state(states[dist.rank])
    else:  # another process count: fresh, distinct seeds
        seed_everything(int(obj["iteration"]) * 1000 + dist.rank)
    return Progress(
        int(obj["epoch"]), int(obj["iteration"]), float(obj["best"]), int(obj.get("best_epoch", 0))
    )
