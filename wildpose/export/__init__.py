"""Pose models exported for other runtimes (ONNX: :mod:`wildpose.export.onnx`).

Importing the package is light (no torch): the CLI reads :data:`OPSET` for its help.
"""

from __future__ import annotations

__all__ = ["OPSET"]

OPSET = 18  # ONNX opset of exported graphs (onnxruntime >= 1.14 runs it)
