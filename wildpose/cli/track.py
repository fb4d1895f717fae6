"""``wildpose track``: tracked poses for each video, image folder or glob given."""

from __future__ import annotations

import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ..errors import ConfigError, describe
from ..messages import display_path
from .options import run_config_from_options, run_options
from .outputs import Planned, check_output_folder, plan_outputs, utf8_name

if TYPE_CHECKING:
    from ..pipeline import Stages, TrackResult


@click.command("track")
@click.argument("videos", nargs=-1, required=True)
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    help="Output folder. [default: each input's folder]",
)
@run_options
@click.pass_context
def track_cmd(
    ctx: click.Context, videos: tuple[str, ...], out_dir: Path | None, quiet: bool, **kw: Any
) -> None:
    """Track animals and their poses in videos (or image folders / globs).

    For each input foo.mp4 writes foo.tracks.parquet (and/or .csv), foo.run.json and, with
    --render, foo.annotated.mp4. Inputs that would write the same names in one folder (c.mp4
    and c.avi) are named by their whole file name instead (c.mp4.tracks.parquet,
    c.avi.tracks.parquet), as batch names them; inputs that would still collide are refused
    before any is read (exit code 2). One failing input is reported in one line and the others
    go on; the exit code is then 1. Each input done prints one summary line (also with -q).
    """
    cfg = run_config_from_options(kw)
    if out_dir is not None:
        check_output_folder(out_dir)
    plan = plan_outputs(videos, out_dir)

    from ..pipeline import Stages

    stages = Stages.build(cfg)
    debug = bool((ctx.find_root().obj or {}).get("debug"))
    failed = sum(not _track_one(item, stages, quiet, debug) for item in plan)
    if failed:
        raise SystemExit(1)


def _track_one(item: Planned, stages: Stages, quiet: bool, debug: bool) -> bool:
    """Track one input and print its summary line; False (after one line on stderr) if it
    failed. Ctrl-C and configuration errors (every input would fail alike) propagate."""
    from ..pipeline import track_video

    bar = _progress(quiet, display_path(item.stem))
    try:
        res = track_video(
            item.video,
            item.folder,
            stages,
            stem=item.stem,
            video_name=utf8_name(item.video),
            progress=bar.update,
            on_start=lambda n: setattr(bar, "total", n or None),
        )
    except ConfigError:
        raise
    except Exception as e:  # any failure of one input is that input's failure
        bar.close()
        if debug:
            traceback.print_exception(e)
        click.echo(f"wildpose: error: {_failure(item.video, e)}", err=True)
        return False
    bar.close()
    click.echo(_summary(item.video, res))
    for warning in res.info.get("warnings") or ():
        click.echo(f"wildpose: warning: {display_path(item.video)}: {warning}", err=True)
    return True


def _failure(video: str, exc: Exception) -> str:
    """One line naming the input and the cause (once: messages that start with the input's
    name already name it)."""
    cause, name = describe(exc), display_path(video)
    return cause if cause.startswith(name) else f"{name}: {cause}"


def _summary(video: str, res: TrackResult) -> str:
    skipped = res.frames_skipped
    outputs = ", ".join(display_path(Path(o).name) for o in res.outputs)
    return (
        f"{display_path(video)}: {res.frames_read} frames, {res.tracks} tracks, {res.rows} rows "
        f"in {res.seconds:.1f} s -> {outputs}"
        + (f" ({skipped} frames could not be decoded)" if skipped else "")
    )


def _progress(quiet: bool, label: str) -> Any:
    """A tqdm frame counter (disabled with ``-q``); its total is set once the input is probed."""
    from tqdm import tqdm

    return tqdm(desc=label, unit="frame", disable=quiet, dynamic_ncols=True, leave=False)
