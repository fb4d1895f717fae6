"""Where ``track`` writes: the output folder checked up front, and one output stem per input.

Both run before any input is read or the model loaded, so that a usage mistake (``-o`` naming
a file, a folder nothing can be written in, two inputs that would overwrite each other) is one
line and exit code 2, not a failure of every input.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..atomic import temp_path
from ..errors import ConfigError, describe

__all__ = ["Planned", "check_output_folder", "plan_outputs", "utf8_name"]


@dataclass(frozen=True)
class Planned:
    """One input of ``track``: outputs go to ``folder/stem.tracks.parquet`` etc."""

    video: str
    folder: Path
    stem: str


def check_output_folder(out: Path) -> None:
    """Raise ConfigError unless ``out`` is a folder files can be created in, or can become one.

    The folder (or, when it is still to be made, its nearest existing parent) is tried by
    creating and removing an empty temporary file: what a read-only mount, an immutable
    folder (``chattr +i``) or missing permissions refuse, whoever runs (root included).
    Nothing is created: a folder still to be made is made by the first output.
    """
    if out.exists() and not out.is_dir():
        raise ConfigError("output must be a folder, not a file", path=out)
    parent = next((p for p in [out, *out.parents] if p.exists()), Path("."))
    if not parent.is_dir():
        raise ConfigError(f"cannot create the output folder: {parent} is a file", path=out)
    probe = temp_path(parent / "wildpose-write-test")
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        os.unlink(probe)
    except OSError as e:
        what = "write in" if parent == out else "create"
        cause = e.strerror or describe(e)
        raise ConfigError(f"cannot {what} the output folder ({cause})", path=out) from None


def plan_outputs(videos: tuple[str, ...], out_dir: Path | None) -> list[Planned]:
    """One output folder and stem per input, or ConfigError when two would share a name.

    The stem is :func:`~wildpose.pipeline.output_stem` (``c.mp4`` -> ``c``); where several
    inputs would write the same ``FOLDER/STEM`` (``c.mp4`` and ``c.avi`` into one ``-o``), each
    such video is named by its whole file name instead (``c.mp4``, ``c.avi``), as ``batch``
    names them. Stems are compared case-insensitively (macOS and Windows file systems). Inputs
    that would still collide (``a/c.mp4`` and ``b/c.mp4`` into one ``-o``, or one input given
    twice) are refused.
    """
    from ..pipeline import output_stem  # imports torch: only once a command runs

    first = [Planned(v, _out_folder(v, out_dir), output_stem(v)) for v in videos]
    taken = Counter(_key(p) for p in first)
    plan = [
        Planned(p.video, p.folder, Path(p.video).name)
        if taken[_key(p)] > 1 and Path(p.video).is_file()
        else p
        for p in first
    ]
    owner: dict[tuple[str, str], str] = {}
    for p in plan:
        other = owner.get(_key(p))
        if other is None:
            owner[_key(p)] = p.video
            continue
        if os.path.realpath(other) == os.path.realpath(p.video):
            raise ConfigError("given twice as an input", path=p.video)
        target = p.folder / f"{p.stem}.*"
        raise ConfigError(
            f"{other} and {p.video} would both write {target}: track them with separate -o "
            "folders (or rename one)"
        )
    return plan


def utf8_name(name: str) -> str:
    """``name`` as a UTF-8 string for the track table's ``video`` column: undecodable bytes of
    a file name (``os.fsdecode``'s surrogates) written as ``\\xNN``."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        try:
            raw = name.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
            return name.encode("utf-8", "backslashreplace").decode("utf-8")
        return raw.decode("utf-8", "backslashreplace")
    return name


def _out_folder(video: str, out_dir: Path | None) -> Path:
    """``-o`` if given, else the input's own folder (the working folder for a glob)."""
    if out_dir is not None:
        return out_dir
    return Path(video).parent if Path(video).exists() else Path(".")


def _key(p: Planned) -> tuple[str, str]:
    return os.path.normcase(os.path.abspath(p.folder)), p.stem.casefold()
