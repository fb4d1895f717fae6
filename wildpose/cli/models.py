"""``wildpose models`` (a group: listing, and the subcommands ``main`` adds), ``info`` and
``convert``."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import click


@click.group("models", invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_context
def models_cmd(ctx: click.Context, as_json: bool) -> None:
    """Known models: present or not, size, licence and source (`wildpose models pull NAME`
    installs one)."""
    if ctx.invoked_subcommand is not None:
        return
    rows = _model_rows()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from ..pose.manifest import weights_dirs

    click.echo(f"{'name':<24} {'kind':<8} {'weights':<22} {'size':>9}  {'licence':<16} source")
    for r in rows:
        click.echo(
            f"{r['name']:<24} {r['kind']:<8} {r['weights']:<22} {_size(r['size']):>9}  "
            f"{(r['licence'] or '-').split(' (')[0]:<16} {r['source']}"
        )
    click.echo(f"\nweights are looked up in: {', '.join(str(d) for d in weights_dirs())}")


def _size(size: int | None) -> str:
    if size is None:
        return "?"
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.0f} kB"


def _model_rows() -> list[dict[str, Any]]:
    """One row per known model (pose models, then detectors), as :func:`wildpose.hub.model_status`
    describes it, with ``weights``: present, missing, shipped, or random init (built in)."""
    from ..hub import model_status

    rows = []
    for st in model_status():
        if st.built_in and st.path is None:
            weights = "random init (built in)"
        elif st.built_in:
            weights = "shipped"
        else:
            weights = "present" if st.present else "missing"
        rows.append({**st.to_dict(), "weights": weights})
    return rows


@click.command("info")
@click.argument("tracks", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info_cmd(tracks: tuple[Path, ...], as_json: bool) -> None:
    """Versions, compute devices and available video decoders; with TRACKS (track tables,
    Parquet or CSV): their rows, videos, frames, tracks and metadata (keypoints, skeleton,
    model and its sha256, video fps/size, wildpose version)."""
    if tracks:
        _describe(tracks, as_json)
        return
    import torch

    from ..about import versions

    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += [
            f"cuda:{i} ({torch.cuda.get_device_name(i)})" for i in range(torch.cuda.device_count())
        ]
    decoders = []
    for mod in ("decord", "av"):
        try:
            __import__(mod)
            decoders.append("pyav" if mod == "av" else mod)
        except Exception:  # a broken install of an optional decoder is "not available"
            pass
    data = {
        "versions": versions(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "devices": devices,
        "decoders": decoders,
    }
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    for k, v in data["versions"].items():
        click.echo(f"{k:<16} {v}")
    click.echo(f"{'platform':<16} {data['platform']}")
    click.echo(f"{'cpus':<16} {data['cpu_count']} (torch threads {data['torch_threads']})")
    click.echo(f"{'devices':<16} {', '.join(devices)}")
    click.echo(f"{'decoders':<16} {', '.join(decoders) or 'none'}")


def _describe(tracks: tuple[Path, ...], as_json: bool) -> None:
    from ..interop.tables import describe_tracks

    found = [describe_tracks(p) for p in tracks]
    if as_json:
        click.echo(json.dumps(found if len(found) > 1 else found[0], indent=2, default=str))
        return
    for d in found:
        click.echo(d["path"])
        for key in ("format", "rows", "videos", "frames", "tracks"):
            click.echo(f"  {key:<18} {d[key]}")
        for key, value in d["metadata"].items():
            text = json.dumps(value, default=str)
            click.echo(f"  {key:<18} {text if len(text) <= 200 else text[:197] + '...'}")


@click.command("convert")
@click.argument("official", type=click.Path(path_type=Path))
@click.option(
    "--arch",
    required=True,
    type=click.Choice(["rn50", "vitb16", "vitl14"]),
    help="Backbone of the official checkpoint.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path),
    help="Where to write the wildpose checkpoint (.pt).",
)
def convert_cmd(official: Path, arch: str, output: Path) -> None:
    """Convert an official CLAMP checkpoint (AP-10K release) into a wildpose checkpoint.

    Unused official tensors are dropped; a missing or mis-shaped required tensor fails the
    conversion with all of their names. Put the result in a weights folder (see `wildpose
    models`) under the manifest's file name to use it as clamp-ARCH-ap10k.
    """
    from ..pose.convert import convert_official

    sha = convert_official(official, arch, output)
    click.echo(f"wrote {output} (sha256 {sha})")
