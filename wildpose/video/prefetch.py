"""Prefetching: run any iterator (frames, batch inputs) ahead in a thread with a bounded queue.

The producer thread stops promptly on close, error, Ctrl-C or garbage collection of the
:class:`Prefetcher`, and closes its source iterator in its own thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
_ITEM, _DONE, _ERROR = "item", "done", "error"
_POLL_S = 0.05


def _put(q: queue.Queue, stop: threading.Event, message: tuple[str, Any]) -> bool:
    """Put unless stopped (or the interpreter is shutting down); False when the put gave up."""
    main = threading.main_thread()
    while not stop.is_set():
        try:
            q.put(message, timeout=_POLL_S)
            return True
        except queue.Full:
            if not main.is_alive():
                return False
    return False


def _produce(iterator: Iterator[Any], q: queue.Queue, stop: threading.Event) -> None:
    """Thread body: holds no reference to the Prefetcher, so an abandoned one is collected."""
    try:
        for item in iterator:
            if not _put(q, stop, (_ITEM, item)) or stop.is_set():
                return
        _put(q, stop, (_DONE, None))
    except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
        _put(q, stop, (_ERROR, exc))
    finally:
        close: Callable[[], None] | None = getattr(iterator, "close", None)
        if close is not None:
            try:
                close()  # e.g. a generator's finally closes its container, in this thread
            except Exception:  # noqa: BLE001 - nobody to report to once stopped
                log.exception("closing the prefetched iterator failed")


def _shutdown(stop: threading.Event, q: queue.Queue, thread: threading.Thread) -> None:
    stop.set()
    _drain(q)
    if thread is not threading.current_thread():
        thread.join()
    _drain(q)


def _drain(q: queue.Queue) -> None:
    while True:
        try:
            q.get_nowait()
        except queue.Empty:
            return


class Prefetcher(Generic[T]):
    """Iterate ``iterable`` in a background (non-daemon) thread, up to ``maxsize`` items ahead.

    Items arrive in order; an exception raised by the producer is re-raised in the consumer
    after the items produced before it. ``close()`` (also ``__exit__`` and garbage collection)
    stops the producer within ~50 ms even while it waits on a full queue (or after its current
    item, if it is inside one), closes the source iterator in the producer thread and joins it.
    Use as ``with Prefetcher(reader, 16) as frames: for frame in frames: ...``.
    """

    def __init__(self, iterable: Iterable[T], maxsize: int = 8, *, name: str = "wildpose-prefetch"):
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self._queue: queue.Queue = queue.Queue(maxsize)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(
            target=_produce, args=(iter(iterable), self._queue, self._stop), name=name, daemon=False
        )
        self._thread.start()
        self._finalizer = weakref.finalize(self, _shutdown, self._stop, self._queue, self._thread)

    def __iter__(self) -> Prefetcher[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        while True:
            try:
                kind, payload = self._queue.get(timeout=_POLL_S)
                break
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    kind, payload = _DONE, None  # stopped by close() from another thread
                    break
        if kind == _ITEM:
            return payload
        self.close()
        if kind == _ERROR:
            raise payload
        raise StopIteration

    def close(self) -> None:
        """Stop the producer, drop queued items and join the thread (idempotent)."""
        self._done = True
        self._finalizer()

    def __enter__(self) -> Prefetcher[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
