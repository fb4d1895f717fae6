"""User-facing errors, and the one-line description of any exception.

Every error a user can cause (a missing file, a corrupt checkpoint, a bad config value) is raised as
a :class:`WildposeError` whose message is one line naming the file and the cause. The CLI prints it
without a traceback (unless ``--debug``) and exits with :attr:`WildposeError.exit_code`. Errors
that are not wildpose's own (a full disk, a read-only folder, a bug) are described in one line by
:func:`describe`, so that one failing input never prints a traceback or stops the others.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from .messages import display_path, display_text

__all__ = ["ConfigError", "InputError", "ModelError", "WildposeError", "describe", "one_line"]

# wildpose.atomic's temporary names: DIR/.NAME.<pid>-<hex>.partial
_PARTIAL = re.compile(r"(^|/)\.([^/'\"]+?)\.\d+-[0-9a-f]+\.partial")


def one_line(text: object) -> str:
    """``text`` with every run of whitespace (newlines, tabs) collapsed to one space."""
    return " ".join(str(text).split())


class WildposeError(Exception):
    """A one-line, user-facing error. ``exit_code`` follows the CLI contract (1 input, 2 usage)."""

    exit_code: int = 1

    def __init__(self, message: str, *, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        text = one_line(message)
        if self.path is not None and not _names(text, one_line(self.path)):
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


def _names(text: str, path: str) -> bool:
    """Whether ``text`` starts by naming ``path`` (``out: ...``, ``out is ...``, not
    ``output ...``)."""
    return text == path or text.startswith((f"{path}:", f"{path} "))


def _final_names(text: str) -> str:
    """Temporary names of :mod:`wildpose.atomic` replaced by the final names they stand for."""
    return _PARTIAL.sub(r"\1\2", text)


def describe(exc: BaseException) -> str:
    """What went wrong, in one printable line without the traceback.

    A :class:`WildposeError` is its message. An ``OSError`` names the file (the final name of
    an output still under its temporary name) and the system's words, e.g. ``out/c.run.json: No
    space left on device``; one raised by a library without a file name (pyarrow) keeps its own
    text. Anything else is ``TypeName: message``. Undecodable bytes and control characters are
    escaped (:func:`wildpose.messages.display_text`).
    """
    if isinstance(exc, WildposeError):
        text, where = str(exc), one_line(exc.path or "")
        if where and _names(text, where):  # the path escaped, not whitespace-collapsed
            return display_path(exc.path or "") + display_text(text[len(where) :])
        return display_text(text)
    if isinstance(exc, OSError) and isinstance(exc.filename, str | bytes) and exc.strerror:
        where = display_path(_final_names(os.fsdecode(exc.filename)))
        if isinstance(exc.filename2, str | bytes):
            where += f" -> {display_path(_final_names(os.fsdecode(exc.filename2)))}"
        return f"{where}: {exc.strerror}"
    if isinstance(exc, OSError):
        text = exc.strerror if exc.strerror and str(exc).startswith("[Errno") else str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}"
    return display_text(_final_names(one_line(text)))
