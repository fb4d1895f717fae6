"""The training loop, read top to bottom (the CLAMP recipe: Zhang et al., CVPR 2023).

:func:`train` builds the run from a :class:`~wildpose.config.train.TrainConfig`, trains epoch
by epoch, validates every ``eval.every`` epochs (and after the last), and writes into the work
folder: ``config.yaml`` (the resolved config), ``log.jsonl`` (one JSON object per line: loss
terms, lr, throughput, validation metrics), ``best.pt`` (best validation ``eval.metric``; the
final weights when there is no validation data) and ``last.pt`` (adds optimizer, grad scaler,
epoch, iteration and RNG states, for ``--resume``). Checkpoints are self-describing
(:mod:`wildpose.pose.checkpoint`): ``wildpose track --pose WORK/best.pt`` works directly.

Reproducibility: everything is seeded from ``train.seed``; the shuffle of epoch e depends only on
(seed, e) and each augmentation draw only on (seed, e, sample), so a resumed run continues the
same curve as an uninterrupted one. Under ``torchrun`` (``WORLD_SIZE`` > 1) each process trains
on its DistributedSampler share with gloo (CPU) or NCCL (CUDA); rank 0 alone logs, validates
and saves.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as tdist
from torch import nn
from tqdm import tqdm

from ..config.train import TrainConfig, config_to_dict, save_config
from ..pose.checkpoint import save_checkpoint
from ..pose.losses import clamp_losses
from ..pose.manifest import Manifest
from ..pose.model import ClampPose
from .dataset import TopDownDataset, collate
from .evaluation import baseline_metrics, make_predictor, predict_samples, score_predictions
from .jsonlog import JsonLog
from .recipe import RunData, build_manifest, build_model, build_optimizer, load_run_data, lr_factor
from .state import (
    Dist,
    Progress,
    gather_rng_states,
    load_resume_state,
    resume_state,
    seed_everything,
    seed_worker,
    setup_distributed,
)
from .targets import peak_mask

_AMP_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}
_LOSS_KEYS = ("loss", "mse_loss", "spatial_loss", "feature_loss")


class TrainStep(nn.Module):
    """The training forward (what DDP wraps): a batch in, the loss terms out."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, images, target, target_weight, target_down, down_weight):  # noqa: ANN001
        """Tensors as :class:`~wildpose.train.dataset.TopDownItem` batches -> dict of losses."""
        mask = peak_mask(target_down)
        return clamp_losses(self.model, images, target, target_weight, mask, down_weight)


@dataclass(frozen=True, eq=False)
class Run:
    """Everything one training process holds (built once by :func:`train`)."""

    cfg: TrainConfig
    work: Path
    dist: Dist
    data: RunData
    manifest: Manifest
    model: ClampPose
    step: nn.Module  # TrainStep, DDP-wrapped under torchrun
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    train_set: TopDownDataset
    sampler: torch.utils.data.DistributedSampler
    log: JsonLog

    def autocast(self):
        """CUDA autocast in ``train.precision``; nothing on the CPU (always fp32)."""
        precision = self.cfg.train.precision
        if self.dist.device.type != "cuda" or precision == "fp32":
            return nullcontext()
        return torch.autocast("cuda", dtype=_AMP_DTYPES[precision])

    def save(self, name: str, extra: dict[str, Any]) -> None:
        """A self-describing checkpoint with the resolved config (rank 0 calls this)."""
        cfg = config_to_dict(self.cfg)
        save_checkpoint(self.work / name, self.model, self.manifest, cfg, extra)


def train(config: TrainConfig, work_dir: str | Path, resume: str | Path | None = None) -> Path:
    """Train as ``config`` says into ``work_dir``; returns the path of ``best.pt``.

    ``resume`` is a ``last.pt`` of an earlier run: model, optimizer, grad scaler, epoch,
    iteration, best metric and RNG states continue from it (the schedule is a function of the
    iteration and epoch). Raises ConfigError / InputError / ModelError for user errors.
    """
    dist = setup_distributed(config.train.device)
    try:
        run, progress = build_run(config, Path(work_dir), resume, dist)
        try:
            return train_epochs(run, progress)
        finally:
            run.log.close()
    finally:
        if dist.world > 1 and tdist.is_initialized():
            tdist.destroy_process_group()


def train_epochs(run: Run, progress: Progress) -> Path:
    """Epochs from ``progress.epoch`` on, with explicit validation and checkpoints."""
    cfg, dist = run.cfg, run.dist
    for epoch in range(progress.epoch, cfg.schedule.epochs):
        progress = train_one_epoch(run, epoch, progress)
        last_epoch = epoch + 1 == cfg.schedule.epochs
        if run.data.val and dist.main and ((epoch + 1) % cfg.eval.every == 0 or last_epoch):
            metrics = validate(run)
            run.log.write("val", epoch=epoch + 1, iteration=progress.iteration, **metrics)
            score = metrics[cfg.eval.metric]
            tqdm.write(f"epoch {epoch + 1}: {cfg.eval.metric} {score:.4f}")
            if score > progress.best:
                progress = replace(progress, best=score, best_epoch=epoch + 1)
                run.save("best.pt", {"epoch": epoch + 1, "metrics": metrics})
        if (epoch + 1) % cfg.train.checkpoint_every == 0 or last_epoch:
            rng = gather_rng_states(dist)  # collective: every process takes part
            if dist.main:
                run.save("last.pt", resume_state(run.optimizer, run.scaler, progress, rng))
        if dist.world > 1:
            tdist.barrier()
    if dist.main and not run.data.val:
        run.save("best.pt", {"epoch": progress.epoch, "metrics": None})
    best = progress.best if run.data.val else None
    run.log.write(
        "end",
        epoch=progress.epoch,
        iteration=progress.iteration,
        best=best,
        best_epoch=progress.best_epoch,
    )
    if dist.world > 1:
        tdist.barrier()
    return run.work / "best.pt"


def train_one_epoch(run: Run, epoch: int, progress: Progress) -> Progress:
    """One pass over this process's share of the training data; logs every ``log_every``
    iterations (mean losses since the last record, lr, images/s) and at the end."""
    cfg, dist = run.cfg, run.dist
    run.sampler.set_epoch(epoch)
    run.train_set.set_epoch(epoch)
    run.step.train()
    sums = torch.zeros(len(_LOSS_KEYS) + 1, dtype=torch.float64, device=dist.device)
    window = torch.zeros_like(sums)  # loss sums x batch size, then the image count
    tic = time.perf_counter()
    bar = tqdm(
        make_loader(run, epoch),
        desc=f"epoch {epoch + 1}/{cfg.schedule.epochs}",
        leave=False,
        disable=not dist.main or None,
        dynamic_ncols=True,
    )
    for batch in bar:
        factor = lr_factor(progress.iteration, epoch, cfg.schedule)
        for group in run.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor
        inputs = [t.to(dist.device, non_blocking=True) for t in batch[:5]]  # image .. down weight
        with run.autocast():
            losses = run.step(*inputs)
        run.optimizer.zero_grad(set_to_none=True)
        run.scaler.scale(losses["loss"]).backward()
        if cfg.optim.clip_grad_norm is not None:
            run.scaler.unscale_(run.optimizer)
            nn.utils.clip_grad_norm_(run.model.parameters(), cfg.optim.clip_grad_norm)
        run.scaler.step(run.optimizer)
        run.scaler.update()
        progress = replace(progress, iteration=progress.iteration + 1)
        n = inputs[0].shape[0]
        window += torch.stack(
            [*(losses[k].detach().double() * n for k in _LOSS_KEYS), window.new_tensor(n)]
        )
        if progress.iteration % cfg.train.log_every == 0:
            tic = _log_window(run, bar, window, tic, epoch, progress)
            sums += window
            window.zero_()
    sums += window
    if dist.world > 1:
        tdist.all_reduce(sums)
    means = _means(sums)
    run.log.write("epoch", epoch=epoch + 1, iteration=progress.iteration, **means)
    if dist.main:
        tqdm.write(f"epoch {epoch + 1}: loss {means['loss']:.6f}")
    return replace(progress, epoch=epoch + 1)


def build_run(
    cfg: TrainConfig, work: Path, resume: str | Path | None, dist: Dist
) -> tuple[Run, Progress]:
    """Data, model, optimizer, sampler and log of one process; restores ``resume``."""
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    seed_everything(cfg.train.seed + dist.rank)
    data = load_run_data(cfg.data)
    manifest = build_manifest(cfg, data.meta)
    model = build_model(cfg.model, manifest.keypoints).to(dist.device)
    arch = model.arch
    optimizer = build_optimizer(model, cfg.optim, arch)
    fp16 = dist.device.type == "cuda" and cfg.train.precision == "fp16"
    scaler = torch.amp.GradScaler("cuda", enabled=fp16)
    progress = Progress()
    if resume is not None:
        progress = load_resume_state(resume, model, optimizer, scaler, dist)
    step: nn.Module = TrainStep(model)
    if dist.world > 1:
        ids = [dist.device.index] if dist.device.type == "cuda" else None
        step = nn.parallel.DistributedDataParallel(step, device_ids=ids)
    size, hm = (arch.image_size,) * 2, (arch.heatmap_size,) * 2
    train_set = TopDownDataset(
        data.train, data.meta, size, hm, arch.grid_size, train=cfg.data.augment, seed=cfg.train.seed
    )
    sampler = torch.utils.data.DistributedSampler(
        train_set, num_replicas=dist.world, rank=dist.rank, shuffle=True, seed=cfg.train.seed
    )
    log = JsonLog(work / "log.jsonl" if dist.main else None)
    run = Run(
        cfg, work, dist, data, manifest, model, step, optimizer, scaler, train_set, sampler, log
    )
    if dist.main:
        save_config(cfg, work / "config.yaml")
        log.write("start", **_run_summary(run, progress, resume))
        if data.val and progress.epoch == 0:
            sigmas = np.asarray(manifest.sigmas, dtype=np.float64)
            log.write("baseline", **baseline_metrics(data.train, data.val, sigmas))
    return run, progress


def make_loader(run: Run, epoch: int) -> torch.utils.data.DataLoader:
    """The epoch's DataLoader; its own generator keeps the global RNG for dropout alone."""
    return torch.utils.data.DataLoader(
        run.train_set,
        batch_size=run.cfg.train.batch_size,
        sampler=run.sampler,
        num_workers=run.cfg.train.workers,
        collate_fn=collate,
        worker_init_fn=seed_worker,
        generator=torch.Generator().manual_seed(run.cfg.train.seed * 100_003 + epoch),
        pin_memory=run.dist.device.type == "cuda",
    )


def validate(run: Run) -> dict[str, float]:
    """Metrics of the model on the validation samples (GT boxes); leaves it in train mode."""
    cfg = run.cfg
    predictor = make_predictor(
        run.model,
        run.manifest,
        flip_test=cfg.eval.flip_test,
        device=run.dist.device,
        precision=cfg.train.precision,
    )
    sigmas = np.asarray(run.manifest.sigmas, dtype=np.float64)
    try:
        pred = predict_samples(
            predictor,
            run.data.val,
            run.data.meta,
            batch_size=cfg.eval.batch_size,
            workers=cfg.train.workers,
        )
        return score_predictions(run.data.val, run.data.val, pred, sigmas)[0]
    finally:
        run.model.train()


def _means(sums: torch.Tensor) -> dict[str, float]:
    values = sums.cpu().tolist()
    n = max(values[-1], 1.0)
    return {k: v / n for k, v in zip(_LOSS_KEYS, values[:-1], strict=True)}


def _log_window(
    run: Run, bar: tqdm, window: torch.Tensor, tic: float, epoch: int, progress: Progress
) -> float:
    """Log the mean losses of the iterations since the last record; returns the new tick."""
    now = time.perf_counter()
    means = _means(window)
    images = window[-1].item() * run.dist.world
    lr = max(g["lr"] for g in run.optimizer.param_groups)
    run.log.write(
        "train",
        epoch=epoch + 1,
        iteration=progress.iteration,
        lr=lr,
        images_per_s=images / max(now - tic, 1e-9),
        **means,
    )
    if run.dist.main:
        bar.set_postfix(loss=f"{means['loss']:.5f}", lr=f"{lr:.2e}")
    return now


def _run_summary(run: Run, progress: Progress, resume: str | Path | None) -> dict[str, Any]:
    groups = [
        {
            "rule": g["rule"],
            "lr": g["initial_lr"],
            "weight_decay": g["weight_decay"],
            "params": sum(p.numel() for p in g["params"]),
        }
        for g in run.optimizer.param_groups
    ]
    return {
        "model": run.cfg.model.name,
        "arch": run.cfg.model.arch,
        "world_size": run.dist.world,
        "device": str(run.dist.device),
        "train_instances": len(run.data.train),
        "val_instances": len(run.data.val),
        "keypoints": list(run.data.meta.readable_names),
        "parameters": sum(p.numel() for p in run.model.parameters()),
        "param_groups": groups,
        "resume": None if resume is None else str(resume),
        "start_epoch": progress.epoch,
        "torch_threads": torch.get_num_threads(),
    }
