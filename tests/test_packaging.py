"""pyproject.toml lists every package folder, so a wheel ships all of wildpose."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")


def test_every_package_is_listed():
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for p in (ROOT / "wildpose").rglob("__init__.py")
        if "__pycache__" not in p.parts
    }
    assert found - listed == set(), "packages missing from pyproject.toml"
    mapped = {"wildpose.manifests", "wildpose.presets"}
    assert listed - found - mapped == set(), "pyproject.toml lists packages that do not exist"
