"""Frame sources: video files (PyAV, decord on request), image sequences, and prefetching.

:func:`open_video` returns a :class:`VideoReader` whose iteration yields
:class:`~wildpose.types.Frame` values: ``image`` (H, W, 3) uint8 RGB, C-contiguous, rotation
metadata applied, grayscale/IR replicated to three channels; ``index`` the 0-based position of
the frame in the whole input; ``time_s`` its presentation time in seconds relative to the stream
start (variable frame rate stays exact). Frames that fail to decode are skipped, counted in
``VideoReader.skipped`` and described in ``VideoReader.skipped_errors``. :func:`probe` describes
an input from its first frame; :class:`Prefetcher` runs any iterator ahead in a thread.

Modules: ``probe`` (container facts), ``pyav_reader`` and ``decord_reader`` (the two video
decoders), ``images`` (image folders, globs and lists, EXIF times), ``reader`` (the reader and
the choice of decoder), ``prefetch`` (the bounded background iterator), ``base`` (what the
frame sources share).
"""

from __future__ import annotations

from .images import IMAGE_SUFFIXES, exif_seconds, natural_key, open_image, source_label
from .prefetch import Prefetcher
from .probe import probe
from .reader import Backend, VideoReader, open_video

__all__ = [
    "IMAGE_SUFFIXES",
    "Backend",
    "Prefetcher",
    "VideoReader",
    "exif_seconds",
    "natural_key",
    "open_image",
    "open_video",
    "probe",
    "source_label",
]
