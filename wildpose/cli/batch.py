"""``wildpose batch``: track every video and image burst under a folder (see ``docs/batch.md``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..batch import (
    DEFAULT_BURST_GAP_S,
    DONE,
    FAILED,
    BatchInput,
    BatchSummary,
    Discovery,
    Shard,
    discover,
    lock_output,
    merge_run_logs,
    run_batch,
    run_log_files,
)
from ..errors import ConfigError, describe
from ..messages import display_path
from .options import run_config_from_options, run_options
from .outputs import check_output_folder

if TYPE_CHECKING:
    from ..config import RunConfig


@click.command("batch")
@click.argument("root", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    help="Output folder; ROOT's folder tree is mirrored in it. [default: ROOT]",
)
@click.option(
    "--resume/--no-resume",
    default=True,
    help="Skip inputs already done with the same model and config (input unchanged, outputs "
    "present). [default: resume]",
)
@click.option("--shard", metavar="I/N", help="Process only shard I of N (0-based).")
@click.option(
    "--burst-gap",
    type=click.FloatRange(min=0),
    default=DEFAULT_BURST_GAP_S,
    show_default=True,
    help="Images of one folder at most this many seconds apart (EXIF) form one burst.",
)
@click.option(
    "--merge-shards",
    is_flag=True,
    help="Combine the shards' run logs into OUT/runlog.jsonl, report, and run nothing.",
)
@click.option("--dry-run", is_flag=True, help="List the inputs (of this shard) and run nothing.")
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="local: this process; ray: Ray actors, one per GPU (see docs/scale.md).",
)
@click.option(
    "--address",
    metavar="auto|HOST:PORT",
    help="--engine ray: the Ray cluster to join. [default: start Ray on this machine]",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    help="--engine ray: actors to start. [default: one per GPU, else 2]",
)
@click.option(
    "--worker-cpus",
    type=click.FloatRange(min=0.01),
    default=1.0,
    show_default=True,
    help="--engine ray: CPUs each actor reserves (and its torch threads).",
)
@click.option(
    "--max-retries",
    type=click.IntRange(min=0),
    default=1,
    show_default=True,
    help="--engine ray: times an input is tried again when its worker dies; then it is "
    "recorded failed.",
)
@run_options
@click.pass_context
def batch_cmd(
    ctx: click.Context,
    root: Path,
    out_dir: Path | None,
    resume: bool,
    shard: str | None,
    burst_gap: float,
    merge_shards: bool,
    dry_run: bool,
    engine: str,
    address: str | None,
    workers: int | None,
    worker_cpus: float,
    max_retries: int,
    quiet: bool,
    **kw: Any,
) -> None:
    """Track every video and image burst under ROOT (recursively) into OUT.

    Outputs mirror ROOT's folders: ROOT/site/clip.mp4 -> OUT/site/clip.tracks.parquet and
    clip.run.json. Still images of one folder taken within --burst-gap seconds (EXIF), or with
    consecutive numbers, are tracked as one clip named FIRST..LAST. One JSON line per input goes
    to the run log OUT/runlog.jsonl (OUT/runlog.shard-I-of-N.jsonl with --shard). A failing
    input is recorded and the others go on; the exit code is then 1.
    """
    out = Path(out_dir) if out_dir is not None else Path(root)
    part = Shard.parse(shard) if shard else None
    if not dry_run:
        check_output_folder(out)
    cfg = None if merge_shards else run_config_from_options(kw)
    found = discover(root, burst_gap_s=burst_gap, out=out)
    for err in found.errors:
        click.echo(f"wildpose: warning: {err}", err=True)
    if merge_shards:
        with lock_output(out):  # the merge rewrites runlog.jsonl: no batch may be writing
            raise SystemExit(_merge(found, out))
    if not found.inputs:
        raise ConfigError("no videos or images found (searched recursively)", path=root)
    inputs = part.select(found.inputs) if part else list(found.inputs)
    if not quiet or dry_run:
        click.echo(_describe(found, inputs, part), err=not dry_run)
    if dry_run:
        for item in inputs:
            click.echo(f"{item.key}\t{item.kind}\t{len(item.paths)}\t{item.stem}")
        return
    if not inputs:
        return

    from ..pipeline import Stages

    debug = bool((ctx.find_root().obj or {}).get("debug"))
    run_kw: dict[str, Any] = dict(resume=resume, shard=part, progress=not quiet, debug=debug)
    try:
        if engine == "ray":
            summary = _run_ray(inputs, out, cfg, address, workers, worker_cpus, max_retries, run_kw)
        else:
            stages = Stages.build(cfg)  # model and configuration errors exit 2 before OUT is made
            summary = run_batch(inputs, out, stages, **run_kw)  # takes the output folder's lock
    except OSError as e:  # the run log or the lock cannot be written (full disk): stop here
        if debug:
            raise
        cause = describe(e) if e.filename else f"{display_path(out)}: {e.strerror or describe(e)}"
        click.echo(
            f"wildpose: error: {cause}; the batch stopped (inputs recorded as done stay done: "
            "run it again to resume)",
            err=True,
        )
        raise SystemExit(1) from None
    click.echo(summary.line())
    raise SystemExit(summary.exit_code)


def _run_ray(
    inputs: list[BatchInput],
    out: Path,
    cfg: RunConfig,
    address: str | None,
    workers: int | None,
    worker_cpus: float,
    max_retries: int,
    run_kw: dict[str, Any],
) -> BatchSummary:
    """The batch on Ray; the driver builds the stages on the CPU only to check the model and
    config (exit 2 before OUT is made) and to stamp the records; the workers build their own."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise ConfigError("--engine ray needs Ray: pip install 'wildpose[ray]'") from None
    from ..batch.ray_engine import RayOptions, run_batch_ray
    from ..pipeline import Stages

    stages = Stages.build(cfg.model_copy(update={"device": "cpu"}))
    opts = RayOptions(address, workers, worker_cpus, max_attempts=max_retries + 1)
    return run_batch_ray(inputs, out, stages, cfg, opts, **run_kw)


def _describe(found: Discovery, inputs: list[BatchInput], part: Shard | None) -> str:
    """One line: how many inputs were found, of which kind, and this shard's share."""
    videos = sum(i.kind == "video" for i in found.inputs)
    text = (
        f"found {len(found.inputs)} inputs ({videos} videos, {len(found.inputs) - videos} image "
        f"bursts); {found.ignored} other files ignored"
    )
    return text + (f"; shard {part}: {len(inputs)} inputs" if part else "")


def _merge(found: Discovery, out: Path) -> int:
    """Merge the run logs in ``out``; exit code 1 if an input failed or has no record."""
    files = run_log_files(out)
    if not files:
        raise ConfigError("no run log (runlog*.jsonl) to merge", path=out)
    path, latest = merge_run_logs(out, [i.key for i in found.inputs])
    missing = [i.key for i in found.inputs if i.key not in latest]
    statuses = [r.get("status") for r in latest.values()]
    done = sum(s != FAILED for s in statuses)
    failed = len(statuses) - done
    for key in missing[:20]:
        click.echo(f"wildpose: warning: {key}: no record in any run log", err=True)
    click.echo(
        f"merged {len(files)} run logs into {path}: {len(latest)} inputs, {done} {DONE}, "
        f"{failed} {FAILED}; {len(missing)} of {len(found.inputs)} inputs under ROOT have no record"
    )
    return 1 if failed or missing else 0
