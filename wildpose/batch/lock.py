"""One batch run per output folder: an exclusive lock on ``OUT/.wildpose.lock``.

Two runs writing the same outputs would interleave their files and run log records. A run holds
``flock(LOCK_EX)`` on ``OUT/.wildpose.lock`` (``flock(2)``: released by the kernel when the
process ends, SIGKILL included, so a lock is never stale) and writes who holds it (pid, host,
start time) into the file. Shards of one archive run side by side: each holds the folder lock
shared and its own ``OUT/.wildpose.shard-I-of-N.lock`` exclusively, so two processes of the same
shard, or a whole-archive run and a shard, exclude each other. Where ``flock`` is unavailable
(Windows, some network file systems) the run goes on unlocked, with a warning.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from wildpose.errors import ConfigError
from wildpose.messages import display_path, display_text

from .shards import Shard

log = logging.getLogger(__name__)

LOCK_NAME = ".wildpose.lock"
# Folders this process holds, so a caller (the CLI) and run_batch may both take the lock.
_HELD: dict[tuple[str, str], int] = {}


class OutputInUse(ConfigError):
    """Another process holds the output folder: exit code 2."""


def lock_path(out: str | Path, shard: Shard | None = None) -> Path:
    """``OUT/.wildpose.lock``, or ``OUT/.wildpose.shard-I-of-N.lock`` for a shard."""
    if shard is None:
        return Path(out) / LOCK_NAME
    return Path(out) / f".wildpose.shard-{shard.index}-of-{shard.count}.lock"


@contextlib.contextmanager
def lock_output(out: str | Path, shard: Shard | None = None) -> Iterator[Path]:
    """Hold ``out`` for one batch run (of ``shard``) for the duration of the block.

    Creates ``out``. Raises :class:`OutputInUse` (one line: "OUT is in use by wildpose batch pid
    1234 on HOST since ...") when another process holds it, ConfigError when the folder cannot be
    created or written. Re-entrant within one process. Yields the lock file's path.
    """
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        why = f"cannot create the output folder ({e.strerror or e})"
        raise ConfigError(why, path=display_path(out)) from e
    key = (os.path.realpath(out), "" if shard is None else str(shard))
    if key in _HELD or sys.platform == "win32":
        yield lock_path(out, shard)
        return
    import fcntl

    fds: list[int] = []
    try:
        mode = fcntl.LOCK_EX if shard is None else fcntl.LOCK_SH
        fds.append(_lock(lock_path(out), mode, out, write_owner=shard is None))
        if shard is not None:
            fds.append(_lock(lock_path(out, shard), fcntl.LOCK_EX, out, write_owner=True))
        _HELD[key] = fds[-1]
        yield lock_path(out, shard)
    finally:
        _HELD.pop(key, None)
        for fd in reversed(fds):
            if fd >= 0:
                os.close(fd)  # releases the flock


def _lock(path: Path, mode: int, out: Path, *, write_owner: bool) -> int:
    """Open ``path`` and flock it (non-blocking); the fd, or -1 where locking is unsupported.

    The owner is written in place: the lock belongs to this inode, so the file is never
    replaced by a rename (the one file wildpose writes without :mod:`wildpose.atomic`).
    """
    import fcntl

    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        why = f"cannot write to the output folder ({e.strerror or e})"
        raise ConfigError(why, path=display_path(out)) from e
    try:
        fcntl.flock(fd, mode | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            os.close(fd)
            raise OutputInUse(_in_use(path, out), path=display_path(out)) from None
        os.close(fd)
        if e.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
            log.warning(
                "%s: cannot lock the output folder (%s); not guarding against a second run",
                display_path(out),
                e.strerror,
            )
            return -1
        raise
    if write_owner:
        owner = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
            "command": "wildpose batch",
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(owner) + "\n").encode("ascii"), 0)
    return fd


def _in_use(path: Path, out: Path) -> str:
    """ "OUT is in use by ...": the owner written in ``path``, or, for the folder lock held
    shared, the shard runs holding their own lock files."""
    if path.name == LOCK_NAME:
        shards = [_owner(p) for p in sorted(out.glob(".wildpose.shard-*.lock")) if _held(p)]
        owners = [o or "a wildpose batch shard run" for o in shards] or [_owner(path)]
    else:
        owners = [_owner(path)]
    described = [o for o in owners if o] or ["another wildpose batch run"]
    more = "; ..." if len(described) > 3 else ""
    return f"{display_path(out)} is in use by {'; '.join(described[:3])}{more}"


def _owner(path: Path) -> str | None:
    try:
        owner = json.loads(path.read_text(encoding="ascii"))
        what = f"{owner['command']} pid {int(owner['pid'])} on {owner['host']}"
        return display_text(f"{what} since {owner['started']}")
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _held(path: Path) -> bool:
    """Whether another process holds ``path`` (a shard's lock file) right now."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False
