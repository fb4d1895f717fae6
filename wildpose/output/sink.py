"""The protocol every streaming writer of a run follows: ``close`` commits, ``abort`` discards."""

from __future__ import annotations

from types import TracebackType
from typing import Any


class Sink:
    """A writer used as a context manager: an exception inside the block aborts it (no final
    file), a normal exit closes it if it is still open. Subclasses set ``_open`` and define
    ``close`` and ``abort``."""

    _open: bool = False

    def close(self) -> Any:  # pragma: no cover - defined by each writer
        raise NotImplementedError

    def abort(self) -> None:  # pragma: no cover - defined by each writer
        raise NotImplementedError

    def __enter__(self):  # noqa: ANN204 - the subclass itself
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        elif self._open:
            self.close()
