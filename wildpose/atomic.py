"""One way to write a file: a temporary name unique to this process, fsync, rename.

Every output of wildpose (track tables, run records, renders, checkpoints, reports, run logs'
merged copies) goes through this module, so that a file with its final name is always whole:

- the temporary name ``DIR/.NAME.<pid>-<random>.partial`` is unique per process and call, so
  two processes writing the same output never delete or overwrite each other's partial files;
- the data is fsynced before the rename and the folder after it, so a crash or power loss leaves
  either the old file or the new one, never a torn one;
- files are created with ``open`` (mode 0o666 less the user's umask), never ``mkstemp``'s 0o600.

:class:`AtomicGroup` commits several outputs of one input together (all temporaries written and
fsynced, then renamed in order, the last one last): on failure none of the new files has a final
name. POSIX ``rename`` semantics; see ``os.replace``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

PARTIAL_SUFFIX = ".partial"


def temp_path(path: str | Path, *, keep_suffix: bool = False) -> Path:
    """The temporary name ``path`` is written under: ``DIR/.NAME.<pid>-<hex>.partial``.

    ``keep_suffix``: end it with the final name's extension too (``....partial.nwb``), for
    writers that check the extension of the file they are given.
    """
    path = Path(path)
    ext = path.suffix if keep_suffix else ""
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    return path.with_name(f".{path.name}.{token}{PARTIAL_SUFFIX}{ext}")


def is_partial(path: str | Path) -> bool:
    """Whether ``path`` is a temporary file of this module (of any process)."""
    name = Path(path).name
    if not name.startswith("."):
        return False
    return name.endswith(PARTIAL_SUFFIX) or PARTIAL_SUFFIX + "." in name


def fsync_file(path: str | Path) -> None:
    """Flush a closed file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str | Path) -> None:
    """Flush a folder's entries (renames, new files) to disk; a no-op where it can't be opened."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _discard(tmp: Path) -> None:
    try:
        tmp.unlink(missing_ok=True)
    except OSError:
        pass


def commit(tmp: str | Path, path: str | Path) -> Path:
    """fsync ``tmp``, rename it to ``path`` and fsync the folder; returns ``path``."""
    tmp, path = Path(tmp), Path(path)
    fsync_file(tmp)
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return path


@contextmanager
def atomic_path(
    path: str | Path, *, mkdir: bool = True, keep_suffix: bool = False
) -> Iterator[Path]:
    """Yield a temporary path to write ``path`` under; committed when the block ends cleanly.

    ``keep_suffix``: the temporary name ends with ``path``'s extension (:func:`temp_path`).
    On any exception (Ctrl-C included) the temporary file is removed and the exception
    propagates; an existing file at ``path`` is left as it was.
    """
    path = Path(path)
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path, keep_suffix=keep_suffix)
    try:
        yield tmp
        commit(tmp, path)
    except BaseException:
        _discard(tmp)
        raise


@contextmanager
def atomic_open(
    path: str | Path, mode: str = "w", *, encoding: str | None = "utf-8"
) -> Iterator[IO[Any]]:
    """``open`` for writing under a temporary name; committed when the block ends cleanly."""
    if "b" in mode:
        encoding = None
    with atomic_path(path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_open(path, "wb") as f:
        f.write(data)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically; returns ``path``."""
    with atomic_open(path, "w") as f:
        f.write(text)
    return Path(path)


def json_default(value: Any) -> Any:
    """``json.dump`` fallback: numpy scalars/arrays and paths; anything else raises TypeError."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def write_json(path: str | Path, obj: Any, *, indent: int | None = 2) -> Path:
    """Write ``obj`` as UTF-8 JSON (numpy values and paths converted) atomically."""
    with atomic_open(path, "w") as f:
        json.dump(obj, f, indent=indent, default=json_default, allow_nan=True)
        f.write("\n")
    return Path(path)


def copy_file(src: str | Path, dst: str | Path) -> Path:
    """Copy ``src`` to ``dst`` atomically (contents only; mode from the umask)."""
    with atomic_open(dst, "wb") as out, open(src, "rb") as inp:
        shutil.copyfileobj(inp, out, 1 << 20)
    return Path(dst)


class AtomicGroup:
    """Several outputs committed together: all written and fsynced, then renamed in order.

    ``path(final)`` hands out a temporary name for each output; :meth:`commit` renames them in
    the order they were asked for (so the run record, asked for last, appears last);
    :meth:`abort` (or leaving a ``with`` block by an exception) removes every temporary. If a
    rename fails midway, the files renamed before stay (each is whole) and the rest are removed.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[Path, Path]] = []
        self.committed: list[Path] = []

    def path(self, final: str | Path, *, mkdir: bool = True) -> Path:
        final = Path(final)
        if mkdir:
            final.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_path(final)
        self._pending.append((tmp, final))
        return tmp

    def commit(self) -> list[Path]:
        try:
            for tmp, _ in self._pending:
                fsync_file(tmp)
            for tmp, final in self._pending:
                os.replace(tmp, final)
                self.committed.append(final)
            for folder in {final.parent for _, final in self._pending}:
                fsync_dir(folder)
        except BaseException:
            self.abort()
            raise
        self._pending = []
        return list(self.committed)

    def abort(self) -> None:
        for tmp, _ in self._pending:
            _discard(tmp)
        self._pending = []

    def __enter__(self) -> AtomicGroup:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            if self._pending:
                self.commit()
        else:
            self.abort()
