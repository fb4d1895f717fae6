"""The ``wildpose`` click group and the console entry point :func:`main`.

Contract (README, docs/architecture.md): exit 0 on success, 1 when some inputs failed (the
others are done), 2 for a usage or configuration error; errors are one line naming the file
and the cause, and ``--debug`` shows the traceback. The commands live in their own modules,
which never import this one: they are added to the group here.
"""

from __future__ import annotations

import logging
import sys
import traceback

import click

from .. import __version__
from ..errors import WildposeError, describe, one_line
from .batch import batch_cmd
from .detector import train_detector_cmd
from .export import export_cmd
from .export_model import export_model_cmd
from .models import convert_cmd, info_cmd, models_cmd
from .pull import pull_cmd
from .report import report_cmd
from .track import track_cmd
from .train import eval_cmd, train_cmd


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="wildpose")
@click.option("--debug", is_flag=True, help="Show tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """wildpose: tracked animal poses from wildlife footage (detection, CLAMP pose, identities,
    Kalman smoothing) written to Parquet/CSV."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


for _command in (
    models_cmd,
    info_cmd,
    convert_cmd,
    track_cmd,
    batch_cmd,
    train_cmd,
    eval_cmd,
    train_detector_cmd,
    export_cmd,
    export_model_cmd,
    report_cmd,
):
    cli.add_command(_command)

# Subcommands of `wildpose models` live in their own modules and are added here.
models_cmd.add_command(pull_cmd)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: run the group on ``argv`` (default ``sys.argv[1:]``) and exit with
    the contract's code. A WildposeError becomes one line on stderr and its exit code; any
    other exception (a full disk, a read-only folder, a bug) one line and exit code 1; with
    ``--debug`` the traceback comes first. Ctrl-C exits 130."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    _log_warnings_to_stderr()
    try:
        cli.main(args=args, prog_name="wildpose", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("wildpose: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        click.echo(f"wildpose: error: {_click_message(e)}", err=True)
        sys.exit(2 if e.exit_code == 1 or isinstance(e, click.UsageError) else e.exit_code)
    except KeyboardInterrupt:
        click.echo("wildpose: interrupted", err=True)
        sys.exit(130)
    except Exception as e:  # every error is one line; the traceback only with --debug
        if debug:
            traceback.print_exc()
        click.echo(f"wildpose: error: {describe(e)}", err=True)
        sys.exit(e.exit_code if isinstance(e, WildposeError) else 1)
    sys.exit(0)


class _Stderr(logging.StreamHandler):
    """A handler writing to whatever ``sys.stderr`` is at the time of each record."""

    @property  # type: ignore[override]
    def stream(self):  # noqa: ANN201
        return sys.stderr

    @stream.setter
    def stream(self, value: object) -> None:
        pass


class _LowerLevel(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return one_line(super().format(record)).replace(
            f"wildpose: {record.levelname}:", f"wildpose: {record.levelname.lower()}:", 1
        )


def _log_warnings_to_stderr() -> None:
    """Library notes and warnings (``logging`` under ``wildpose``, INFO and above) as
    ``wildpose: info: ...`` / ``wildpose: warning: ...`` lines."""
    logger = logging.getLogger("wildpose")
    if not any(getattr(h, "_wildpose", False) for h in logger.handlers):
        handler = _Stderr()
        handler.setFormatter(_LowerLevel("wildpose: %(levelname)s: %(message)s"))
        handler._wildpose = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def _click_message(e: click.ClickException) -> str:
    """click's usage error in one line, pointing at the command's ``--help``."""
    text = one_line(e.format_message())
    ctx = getattr(e, "ctx", None)
    if isinstance(e, click.UsageError) and ctx is not None:
        text += f" (see '{ctx.command_path} --help')"
    return text
