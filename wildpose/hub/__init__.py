"""Model weights on first use: download, verify, convert and install (``wildpose models pull``)."""

from __future__ import annotations

from .catalog import ModelStatus, model_status
from .download import is_offline
from .pull import ensure_model, pull

__all__ = ["ModelStatus", "ensure_model", "is_offline", "model_status", "pull"]
