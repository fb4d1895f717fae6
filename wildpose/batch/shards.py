"""Shards: a partition of an archive's inputs by key hash (SLURM arrays, one process per GPU)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from wildpose.errors import ConfigError

from .discover import BatchInput


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count`` (0-based): the inputs whose key hashes to ``index``.

    The partition depends only on each input's key (sha256 of its UTF-8 bytes, first 8 bytes
    big-endian, modulo ``count``), so it stays the same when other files are added, and every
    process of a SLURM array or one-per-GPU launch computes it alone.
    """

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``"I/N"`` with 0 <= I < N; raises ConfigError naming ``--shard`` otherwise."""
        m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
        if not m or not 0 <= int(m[1]) < int(m[2]):
            raise ConfigError(f"--shard must be I/N with 0 <= I < N (e.g. 0/4), got {text!r}")
        return cls(int(m[1]), int(m[2]))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def contains(self, key: str) -> bool:
        digest = hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index

    def select(self, inputs: Iterable[BatchInput]) -> list[BatchInput]:
        return [i for i in inputs if self.contains(i.key)]
