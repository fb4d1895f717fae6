"""The ``wildpose`` command line (click). Contract: ``../shared/design/architecture.md`` section 3.

Exit codes: 0 success; 1 some inputs failed; 2 usage or configuration error. Errors are one line
naming the file and the cause; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import traceback
from pathlib import Path

import click

from . import __version__
from .about import versions
from .config import RunConfig, resolve_run_config
from .errors import ConfigError, WildposeError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="wildpose")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """wildpose: tracked animal poses from wildlife footage (detection, CLAMP pose, identities,
    Kalman smoothing) written to Parquet/CSV."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


@cli.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def models_cmd(as_json: bool) -> None:
    """List known models and whether their weights are present locally."""
    from .pose.manifest import find_weights, load_manifest, manifest_names, weights_dirs

    rows = []
    for name in manifest_names():
        m = load_manifest(name)
        if m.weights.get("random_init_seed") is not None and not m.weights.get("file"):
            status, where = "random init (built in)", ""
        else:
            found = find_weights(m)
            status = "present" if found else "missing"
            where = str(found) if found else str(m.weights.get("file", ""))
        rows.append(
            {
                "name": name,
                "arch": m.arch,
                "keypoints": len(m.keypoints),
                "input": f"{m.input_size[0]}x{m.input_size[1]}",
                "weights": status,
                "file": where,
                "description": m.description,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'name':<22} {'arch':<8} {'K':>3} {'input':<8} weights")
    for r in rows:
        extra = f"  {r['file']}" if r["file"] else ""
        click.echo(
            f"{r['name']:<22} {r['arch']:<8} {r['keypoints']:>3} {r['input']:<8} "
            f"{r['weights']}{extra}"
        )
    click.echo(f"\nweights are looked up in: {', '.join(str(d) for d in weights_dirs())}")


@cli.command("info")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def info_cmd(as_json: bool) -> None:
    """Versions, compute devices and available video decoders."""
    import torch

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
        except Exception:
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


@cli.command("convert")
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
    from .pose.convert import convert_official

    sha = convert_official(official, arch, output)
    click.echo(f"wrote {output} (sha256 {sha})")


def run_options(f):
    """Options shared by ``track`` and ``batch`` (model, detector, device, output)."""
    opts = [
        click.option(
            "--pose",
            help="Pose model: manifest name (see `wildpose models`), "
            "checkpoint path, or hf://ORG/REPO/FILE. [default: clamp-vitb16-ap10k]",
        ),
        click.option(
            "--detector",
            help="Ultralytics weights or model YAML (e.g. "
            "MegaDetector MDV6 .pt), 'full-frame', or 'boxes:FILE' (CSV or MegaDetector "
            "JSON). [default: yolo11n.pt]",
        ),
        click.option(
            "--pipeline",
            "preset",
            help="Preset from pipelines/ (field-video, camera-trap, lab-arena) or a YAML path.",
        ),
        click.option("--device", help="auto, cpu, cuda or cuda:N. [default: auto]"),
        click.option("--batch-size", type=click.IntRange(min=1), help="Crops per pose batch."),
        click.option(
            "--precision",
            type=click.Choice(["fp32", "fp16", "bf16"]),
            help="Autocast precision on CUDA (the CPU always runs fp32).",
        ),
        click.option(
            "--flip-test/--no-flip-test",
            default=None,
            help="Average with the horizontally flipped crop. [default: on]",
        ),
        click.option(
            "--smooth",
            type=click.Choice(["rts", "kalman", "none"]),
            help="Kalman smoothing of every keypoint. [default: rts]",
        ),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["parquet", "csv", "both"]),
            help="Track table format. [default: parquet]",
        ),
        click.option(
            "--render",
            is_flag=True,
            default=None,
            help="Also write STEM.annotated.mp4 with boxes, ids and smoothed skeletons.",
        ),
        click.option("--start", type=float, help="Start time, s."),
        click.option("--end", type=float, help="End time, s."),
        click.option(
            "--set",
            "overrides",
            multiple=True,
            metavar="KEY=VALUE",
            help="Override any config key, e.g. detector.conf=0.4 (repeatable).",
        ),
        click.option("-q", "--quiet", is_flag=True, help="No progress bar."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def run_config_from_options(kw: dict) -> RunConfig:
    """Turn the shared options into a validated RunConfig (flags override the preset)."""
    flags: dict = {}

    def put(path: str, value) -> None:
        if value is None:
            return
        node = flags
        *parents, last = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value

    put("pose.model", kw.get("pose"))
    put("detector.model", kw.get("detector"))
    put("device", kw.get("device"))
    put("pose.batch_size", kw.get("batch_size"))
    put("precision", kw.get("precision"))
    put("pose.flip_test", kw.get("flip_test"))
    put("smooth.mode", kw.get("smooth"))
    put("output.format", kw.get("fmt"))
    put("output.render", kw.get("render"))
    put("video.start", kw.get("start"))
    put("video.end", kw.get("end"))
    return resolve_run_config(kw.get("preset"), flags, kw.get("overrides") or ())


@cli.command("track")
@click.argument("videos", nargs=-1, required=True)
@click.option(
    "-o",
    "--out",
    "out_dir",
    type=click.Path(path_type=Path),
    help="Output folder. [default: each input's folder]",
)
@run_options
def track_cmd(videos: tuple[str, ...], out_dir: Path | None, quiet: bool, **kw) -> None:
    """Track animals and their poses in videos (or image folders / globs).

    For each input foo.mp4 writes foo.tracks.parquet (and/or .csv), foo.run.json and, with
    --render, foo.annotated.mp4. One failing input is reported and the others go on; the exit
    code is then 1.
    """
    from .pipeline import Stages, output_stem, track_video

    cfg = run_config_from_options(kw)
    stages = Stages.load(cfg)
    failed = 0
    for video in videos:
        out = (
            out_dir
            if out_dir is not None
            else (Path(video).parent if Path(video).exists() else Path("."))
        )
        bar = _progress(quiet, output_stem(video))
        try:
            res = track_video(
                video,
                out,
                stages,
                progress=bar.update,
                on_start=lambda n, b=bar: setattr(b, "total", n or None),
            )
        except WildposeError as e:
            bar.close()
            if isinstance(e, ConfigError):
                raise  # usage/configuration: exit 2, no point going on
            click.echo(f"wildpose: error: {e}", err=True)
            failed += 1
            continue
        bar.close()
        if not quiet:
            click.echo(
                f"{video}: {res.frames_read} frames, {res.tracks} tracks, {res.rows} rows "
                f"in {res.seconds:.1f} s -> {', '.join(Path(o).name for o in res.outputs)}"
                + (
                    f" ({res.frames_skipped} frames could not be decoded)"
                    if res.frames_skipped
                    else ""
                )
            )
    if failed:
        raise SystemExit(1)


def _progress(quiet: bool, label: str):
    from tqdm import tqdm

    return tqdm(desc=label, unit="frame", disable=quiet, dynamic_ncols=True, leave=False)


from .train.commands import eval_cmd, train_cmd  # noqa: E402

cli.add_command(train_cmd)
cli.add_command(eval_cmd)

from .batch_cli import batch_cmd  # noqa: E402

cli.add_command(batch_cmd)

from .train.detector_cli import train_detector_cmd  # noqa: E402

cli.add_command(train_detector_cmd)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the click group, turning WildposeErrors into one line."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        cli.main(args=args, prog_name="wildpose", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("wildpose: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(2 if e.exit_code == 1 or isinstance(e, click.UsageError) else e.exit_code)
    except WildposeError as e:
        if debug:
            traceback.print_exc()
        click.echo(f"wildpose: error: {e}", err=True)
        sys.exit(e.exit_code)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        click.echo("wildpose: interrupted", err=True)
        sys.exit(130)
    sys.exit(0)


if __name__ == "__main__":  # pragma: no cover
    main()
