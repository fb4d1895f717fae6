"""The ``wildpose`` group (wildpose/cli/main.py): its commands, the exit-code contract, the
``models`` group, and the layering rule that command modules never import the group."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from wildpose import __version__
from wildpose.cli import cli, main

CLI_DIR = Path(__file__).resolve().parents[2] / "wildpose" / "cli"
COMMANDS = {
    "batch", "convert", "eval", "export", "info", "models", "report", "track", "train",
    "train-detector",
}  # fmt: skip


def _run(args: list[str], capsys: pytest.CaptureFixture) -> tuple[int, str, str]:
    """``main(args)``: (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exc:
        main(args)
    out = capsys.readouterr()
    return int(exc.value.code or 0), out.out, out.err


def test_every_command_is_on_the_group() -> None:
    assert COMMANDS <= set(cli.commands)
    assert "pull" in cli.commands["models"].commands  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", sorted(CLI_DIR.glob("*.py")), ids=lambda p: p.name)
def test_command_modules_never_import_the_group(path: Path) -> None:
    if path.name in ("main.py", "__init__.py"):
        return
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            target = "." * node.level + (node.module or "")
            names = {a.name for a in node.names}
            assert target not in (".main", "wildpose.cli.main", "..cli", "wildpose.cli"), target
            assert not (target == "." and names & {"main", "cli"}), names
        elif isinstance(node, ast.Import):
            assert not {a.name for a in node.names} & {"wildpose.cli", "wildpose.cli.main"}


def test_importing_the_cli_loads_no_heavy_library() -> None:
    """``wildpose --help`` stays fast: torch and the models load inside the commands."""
    code = (
        "import sys, wildpose.cli; "
        "print([m for m in ('torch', 'ultralytics', 'open_clip', 'pandas', 'pyarrow') "
        "if m in sys.modules])"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_exit_codes_and_one_line_errors(tmp_path: Path, capsys) -> None:
    assert _run(["--version"], capsys)[:2] == (0, f"wildpose, version {__version__}\n")
    code, out, _ = _run(["--help"], capsys)
    assert code == 0 and all(name in out for name in COMMANDS)
    code, _, err = _run(["--no-such-option"], capsys)
    assert code == 2 and "--no-such-option" in err
    assert _run(["track"], capsys)[0] == 2  # missing argument
    assert _run(["batch", str(tmp_path), "--burst-gap", "-1"], capsys)[0] == 2  # out of range
    # a configuration error: one line, exit 2; --debug adds the traceback
    code, _, err = _run(["batch", str(tmp_path), "--shard", "2/2"], capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("wildpose: error:")
    assert "--shard" in err
    code, _, err = _run(["--debug", "batch", str(tmp_path), "--shard", "2/2"], capsys)
    assert code == 2 and "Traceback" in err and "ConfigError" in err


def test_models_lists_without_a_subcommand() -> None:
    res = CliRunner().invoke(cli, ["models"])
    assert res.exit_code == 0, res.output
    header, *rows = res.output.splitlines()
    assert header.split() == ["name", "kind", "weights", "size", "licence", "source"]
    tiny = next(r for r in rows if r.startswith("clamp-tiny "))
    assert tiny.split()[1] == "pose" and "random init" in tiny
    yolo = next(r for r in rows if r.startswith("yolo11m "))
    assert yolo.split()[1] == "detector" and "AGPL-3.0" in yolo and "ultralytics" in yolo
    assert rows[-1].startswith("weights are looked up in: ")
    res = CliRunner().invoke(cli, ["models", "--json"])
    assert res.exit_code == 0, res.output
    by_name = {r["name"]: r for r in json.loads(res.output)}
    assert by_name["clamp-tiny"]["weights"] == "random init (built in)"
    assert by_name["clamp-vitb16-ap10k"]["licence"] and by_name["clamp-vitb16-ap10k"]["source"]
    statuses = {r["weights"] for r in by_name.values()}
    assert statuses <= {"random init (built in)", "present", "missing", "shipped"}
