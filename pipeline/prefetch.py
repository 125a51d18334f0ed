"""Run a producer or a consumer in a background thread, joined to the caller by a bounded queue.

The queues are bounded so memory stays flat however long the stream is; both helpers re-raise, in the
caller's thread, any exception raised in the background thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")
_END = object()


def prefetch(items: Iterable[T], maxsize: int) -> Iterator[T]:
    """Iterate ``items`` in a background thread, at most ``maxsize`` items ahead of the consumer."""
    q: queue.Queue = queue.Queue(maxsize=maxsize)
    stop = threading.Event()
    failure: list[BaseException] = []

    def put(item) -> bool:
        """Queue ``item`` unless the consumer stopped; False when it did."""
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
        except BaseException as err:  # handed to the consumer below
            failure.append(err)
        put(_END)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while (item := q.get()) is not _END:
            yield item
        if failure:
            raise failure[0]
    finally:
        stop.set()
        thread.join()
        close = getattr(items, "close", None)
        if close is not None:
            close()


class BackgroundConsumer(Generic[T]):
    """Feed items to ``consume`` in a background thread; :meth:`finish` waits and re-raises its error."""

    def __init__(self, consume: Callable[[T], None], maxsize: int):
        self._consume = consume
        self._queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not _END:
            if not self._failure:
                try:
                    self._consume(item)
                except BaseException as err:  # re-raised by put/finish in the caller's thread
                    self._failure.append(err)

    def put(self, item: T) -> None:
        if self._failure:
            raise self._failure[0]
        self._queue.put(item)

    def finish(self, reraise: bool = True) -> None:
        """Wait until every queued item is consumed; re-raise the consumer's error unless ``reraise`` is off
        (when the caller is already failing)."""
        self._queue.put(_END)
        self._thread.join()
        if self._failure and reraise:
            raise self._failure[0]
