"""Every module of wildpose imports on its own in a fresh interpreter (no import cycles).

Importing ``wildpose.X`` first is what a user's ``python -c "import wildpose.X"`` does, and the
only way a cycle shows: ``a`` importing ``b`` importing ``a`` works when ``a`` comes first and
fails when ``b`` does. A new interpreter per module costs seconds (torch, open_clip), so one
fresh checker process imports the third-party packages that wildpose imports, then forks one
child per module; a child starts with no wildpose module loaded and imports only its own.

Run as a script (``python tests/test_imports.py ROOT PACKAGE``) this file is that checker: it
prints a JSON object ``{module: traceback}`` of the modules that failed.
"""

from __future__ import annotations

import ast
import importlib
import json
import os
import pkgutil
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "wildpose"


def module_names(root: Path, package: str) -> list[str]:
    """Every module and package under ``root/package``, found without importing any of them."""
    names = [package]

    def walk(folder: Path, prefix: str) -> None:
        for info in pkgutil.iter_modules([str(folder)]):
            names.append(prefix + info.name)
            if info.ispkg:
                walk(folder / info.name, f"{prefix}{info.name}.")

    walk(root / package, f"{package}.")
    return sorted(names)


def third_party_imports(folder: Path, package: str) -> list[str]:
    """Top-level names of the non-stdlib packages imported anywhere under ``folder``."""
    found: set[str] = set()
    for path in folder.rglob("*.py"):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue  # the child importing it reports the error
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return sorted(found - set(sys.stdlib_module_names) - {package, "__future__"})


def _import_in_child(name: str, err_dir: Path) -> int:
    """Fork a child that imports ``name`` and exits 0, or writes its traceback and exits 1."""
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        importlib.import_module(name)
    except BaseException:  # noqa: B036 - SystemExit at import time is a failure too
        (err_dir / name).write_text(traceback.format_exc())
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def check(root: Path, package: str, jobs: int) -> dict[str, str]:
    """Import each module of ``root/package`` in its own forked child, ``jobs`` at a time;
    ``{module: traceback}`` of the failures."""
    sys.path.insert(0, str(root))
    for name in third_party_imports(root / package, package):
        try:  # preloading only saves time: a package that fails here fails in the child
            importlib.import_module(name)
        except Exception:
            pass
    assert not [m for m in sys.modules if m == package or m.startswith(package + ".")]
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        err_dir = Path(tmp)
        todo, running = module_names(root, package), {}
        while todo or running:
            while todo and len(running) < jobs:
                name = todo.pop()
                running[_import_in_child(name, err_dir)] = name
            pid, status = os.wait()
            name = running.pop(pid, None)
            if name is None:
                continue  # a process a preloaded library started
            if os.waitstatus_to_exitcode(status) != 0:
                err = err_dir / name
                failed[name] = err.read_text() if err.exists() else f"exit status {status}"
    return failed


def run_checker(root: Path, package: str) -> dict[str, str]:
    """Run :func:`check` in a new interpreter (the test process has wildpose loaded)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "YOLO_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, __file__, str(root), package],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=root,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="the checker forks (POSIX)")


@needs_fork
def test_every_module_imports_on_its_own() -> None:
    names = module_names(REPO, "wildpose")
    assert {"wildpose.cli.batch", "wildpose.cli.main", "wildpose.pose"} <= set(names)
    failed = run_checker(REPO, "wildpose")
    assert not failed, "\n\n".join(f"{name}:\n{tb}" for name, tb in sorted(failed.items()))


@needs_fork
def test_the_checker_finds_an_import_cycle(tmp_path: Path) -> None:
    pkg = tmp_path / "cyclic"
    pkg.mkdir()
    (pkg / "__init__.py").write_text('"""A package with a cycle: a -> b -> a."""\n')
    # a defines A, then imports b, which takes A from a: fine when a comes first; b first
    # makes a ask the half-initialised b for B (the shape cli.py and batch_cli.py once had)
    (pkg / "a.py").write_text("A = 1\nfrom .b import B  # noqa: E402\n")
    (pkg / "b.py").write_text("from .a import A\n\nB = 2\n")
    (pkg / "ok.py").write_text("import json\n")
    failed = run_checker(tmp_path, "cyclic")
    assert set(failed) == {"cyclic.b"}
    assert "partially initialized module" in failed["cyclic.b"]


def test_every_folder_is_a_package_with_a_one_line_docstring() -> None:
    for folder in sorted({p.parent for p in PACKAGE.rglob("*.py")}):
        init = folder / "__init__.py"
        rel = init.relative_to(REPO)
        assert init.is_file(), f"{rel} is missing (a folder of modules is a package)"
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        assert doc and doc.splitlines()[0].strip(), f"{rel}: no opening docstring"


if __name__ == "__main__":
    sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]
    result = check(Path(sys.argv[1]), sys.argv[2], jobs=max(2, os.cpu_count() or 2))
    print(json.dumps(result))
