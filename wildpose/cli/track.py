"""``wildpose track``: tracked poses for each video, image folder or glob given."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..errors import ConfigError, WildposeError
from .options import run_config_from_options, run_options


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
def track_cmd(videos: tuple[str, ...], out_dir: Path | None, quiet: bool, **kw: Any) -> None:
    """Track animals and their poses in videos (or image folders / globs).

    For each input foo.mp4 writes foo.tracks.parquet (and/or .csv), foo.run.json and, with
    --render, foo.annotated.mp4. One failing input is reported and the others go on; the exit
    code is then 1.
    """
    from ..pipeline import Stages, output_stem, track_video

    stages = Stages.build(run_config_from_options(kw))
    failed = 0
    for video in videos:
        bar = _progress(quiet, output_stem(video))
        try:
            res = track_video(
                video,
                _out_folder(video, out_dir),
                stages,
                progress=bar.update,
                on_start=lambda n, b=bar: setattr(b, "total", n or None),
            )
        except ConfigError:
            raise  # usage or configuration: exit 2, the other inputs would fail the same way
        except WildposeError as e:
            click.echo(f"wildpose: error: {e}", err=True)
            failed += 1
            continue
        finally:
            bar.close()
        if not quiet:
            skipped = res.frames_skipped
            click.echo(
                f"{video}: {res.frames_read} frames, {res.tracks} tracks, {res.rows} rows "
                f"in {res.seconds:.1f} s -> {', '.join(Path(o).name for o in res.outputs)}"
                + (f" ({skipped} frames could not be decoded)" if skipped else "")
            )
    if failed:
        raise SystemExit(1)


def _out_folder(video: str, out_dir: Path | None) -> Path:
    """``-o`` if given, else the input's own folder (the working folder for a glob)."""
    if out_dir is not None:
        return out_dir
    return Path(video).parent if Path(video).exists() else Path(".")


def _progress(quiet: bool, label: str) -> Any:
    """A tqdm frame counter (disabled with ``-q``); its total is set once the input is probed."""
    from tqdm import tqdm

    return tqdm(desc=label, unit="frame", disable=quiet, dynamic_ncols=True, leave=False)
