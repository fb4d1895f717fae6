"""``wildpose report TRACKS...``: one self-contained HTML QC page for track tables or a batch."""

from __future__ import annotations

from pathlib import Path

import click


@click.command("report")
@click.argument("tracks", nargs=-1, required=True)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="HTML file to write. [default: STEM.report.html beside one table, report.html in a "
    "batch folder, else ./report.html]",
)
@click.option(
    "--low-score",
    type=click.FloatRange(0, 1),
    default=0.3,
    show_default=True,
    help="Frames whose worst animal's mean keypoint score is below this are listed.",
)
def report_cmd(tracks: tuple[str, ...], out: Path | None, low_score: float) -> None:
    """Write a QC report of track tables (*.tracks.parquet / .csv) or of a batch output folder.

    The page shows, per video, detections per frame, the identity timeline with fragments and
    suspected swaps, keypoint confidence over time, trajectories raw vs smoothed, the smoother's
    variance, low-confidence frames with thumbnails (when the video is still there) and the
    run's settings and timings; for a batch folder also each input's status and the failures.
    A folder without a run log stands for every track table under it.
    """
    from ..report import write_report
    from ..report.inputs import find_inputs

    tables, batch = find_inputs(tracks)
    if out is None:
        out = _default_out(tracks, tables, batch)
    path = write_report(tables, out, batch_dir=batch, low_score=low_score)
    click.echo(f"{path}: {len(tables)} tables" + (f", batch {batch}" if batch else ""))


def _default_out(tracks: tuple[str, ...], tables: list[Path], batch: Path | None) -> Path:
    from ..interop.tables import table_stem

    if len(tracks) == 1 and batch is not None:
        return batch / "report.html"
    if len(tracks) == 1 and len(tables) == 1 and Path(tracks[0]).is_file():
        return tables[0].with_name(f"{table_stem(tables[0])}.report.html")
    return Path("report.html")
