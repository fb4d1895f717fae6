"""``wildpose export``: written track tables to DeepLabCut, SLEAP, NWB or netCDF files."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import ConfigError, WildposeError
from .options import set_option


@click.command("export")
@click.argument("tracks", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--to",
    "formats",
    required=True,
    multiple=True,
    help="dlc, sleap, nwb or netcdf; repeat it or give a comma list (dlc,nwb).",
)
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder. [default: each table's folder]",
)
@click.option(
    "--metadata",
    "metadata_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="YAML file of export settings (nwb: session_description, subject: ...).",
)
@set_option("nwb.subject.species='Canis lupus' or smoothed=true")
def export_cmd(
    tracks: tuple[Path, ...],
    formats: tuple[str, ...],
    out_dir: Path | None,
    metadata_file: Path | None,
    overrides: tuple[str, ...],
) -> None:
    """Export track tables (foo.tracks.parquet or .csv) for DeepLabCut (foo.dlc.h5), SLEAP
    (foo.predictions.slp), NWB (foo.nwb) or movement/xarray (foo.tracks.nc).

    One failing table is reported and the others go on; the exit code is then 1.
    """
    from ..config.export import export_settings
    from ..interop.export import export_tracks

    names = [f.strip() for item in formats for f in item.split(",") if f.strip()]
    settings = export_settings(metadata_file, overrides)
    failed = 0
    for table in tracks:
        try:
            written = [export_tracks(table, fmt, out_dir, settings) for fmt in names]
        except ConfigError:
            raise  # usage: every table would fail the same way
        except WildposeError as e:
            click.echo(f"wildpose: error: {e}", err=True)
            failed += 1
            continue
        click.echo(f"{table} -> {', '.join(p.name for p in written)}")
    if failed:
        raise SystemExit(1)
