"""``wildpose models pull NAME...``: fetch, verify and install known models."""

from __future__ import annotations

import click

from ..errors import WildposeError


@click.command("pull")
@click.argument("names", nargs=-1, required=True)
@click.option(
    "--offline",
    is_flag=True,
    help="Download nothing: only check that the models are installed "
    "(also WILDPOSE_OFFLINE=1 or HF_HUB_OFFLINE=1).",
)
@click.option("--force", is_flag=True, help="Download and install again even if present.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
def pull_cmd(names: tuple[str, ...], offline: bool, force: bool, quiet: bool) -> None:
    """Download, verify (sha256) and install models by name (see `wildpose models`).

    The official CLAMP release is converted on install (as `wildpose convert` does).
    WILDPOSE_MIRROR=URL fetches every file from URL/FILE instead of its source. One failing
    model is reported and the others go on; the exit code is then 1.
    """
    from ..hub.pull import pull
    from ..pose.manifest import load_any_manifest

    for name in names:  # unknown names are a usage error: exit 2 before any download
        load_any_manifest(name)
    failed = 0
    for name in names:
        try:
            path = pull(name, offline=offline, progress=not quiet, force=force)
        except WildposeError as e:  # offline, a failed or unverified download: this model only
            click.echo(f"wildpose: error: {e}", err=True)
            failed += 1
            continue
        click.echo(f"{name}: {path if path else 'built in, nothing to download'}")
    if failed:
        raise SystemExit(1)
