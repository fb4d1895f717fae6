"""``wildpose export-model``: a pose model to an ONNX file (normalised crops in, heatmaps out)."""

from __future__ import annotations

from pathlib import Path

import click

from ..export import OPSET

HELP = f"""Export MODEL (a name, checkpoint or hf:// path) as ONNX (default opset {OPSET}).

The graph takes `images` (N, 3, S, S) float32 crops normalised by the model's mean/std (dynamic
batch N) and returns `heatmaps` (N, K, S/4, S/4); the keypoint prompts are folded in as
constants, the flip test and decoding are left to the caller. The file's metadata names the
opset, keypoints, flip pairs, input size, mean and std.
"""


@click.command("export-model", help=HELP)
@click.argument("model")
@click.option(
    "--to",
    "fmt",
    type=click.Choice(["onnx"]),
    default="onnx",
    show_default=True,
    help="Output format.",
)
@click.option(
    "-o",
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Output file (OUT.onnx).",
)
@click.option(
    "--opset", type=int, default=OPSET, show_default=True, help="ONNX opset of the graph."
)
@click.option(
    "--random-weights",
    is_flag=True,
    help="Export the manifest's architecture with random weights (speed measurements).",
)
def export_model_cmd(model: str, fmt: str, out: Path, opset: int, random_weights: bool) -> None:
    """See :data:`HELP`."""
    from ..export.onnx import export_onnx
    from ..pose.checkpoint import load_model

    loaded = load_model(model, random_weights=random_weights)
    path = export_onnx(loaded, out, opset=opset)
    click.echo(f"wrote {path} ({fmt}, opset {opset}, {path.stat().st_size / 1e6:.1f} MB)")
