"""User-facing errors.

Every error a user can cause (a missing file, a corrupt checkpoint, a bad config value) is raised as
a :class:`WildposeError` whose message is one line naming the file and the cause. The CLI prints it
without a traceback (unless ``--debug``) and exits with :attr:`WildposeError.exit_code`.
"""

from __future__ import annotations

from pathlib import Path


class WildposeError(Exception):
    """A one-line, user-facing error. ``exit_code`` follows the CLI contract (1 input, 2 usage)."""

    exit_code: int = 1

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        text = " ".join(str(message).split())  # always one line
        if self.path is not None and not text.startswith(self.path):
            text = f"{self.path}: {text}"
        super().__init__(text)


class InputError(WildposeError):
    """An input (video, image, annotation file) cannot be read: exit code 1."""

    exit_code = 1


class ConfigError(WildposeError):
    """Bad usage, configuration or model specification: exit code 2."""

    exit_code = 2


class ModelError(ConfigError):
    """A model or checkpoint cannot be built or loaded (missing, corrupt, wrong architecture)."""
