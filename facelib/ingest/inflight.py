"""Keep N pieces of work in flight: the one bounded-submission loop of the process pool, the
thread pool and the Dask cluster.

``InFlight`` submits items while fewer than ``limit()`` are in flight, hands back finished ones,
and on :meth:`stop` cancels what has not started yet (a running call, e.g. a paid IndexFaces whose
answer the engine already gave, is waited for so its result can be committed).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, Protocol, TypeVar

X = TypeVar("X")


class FutureLike(Protocol):
    def cancel(self) -> bool: ...

    def done(self) -> bool: ...


F = TypeVar("F", bound=FutureLike)


class StopFlag:
    """A thread-safe "stop admitting new work" flag with its reason (a cancel, a fatal error, a budget)."""

    def __init__(self, should_stop: Callable[[], bool] | None = None) -> None:
        self._event = threading.Event()
        self.reason: BaseException | None = None
        self._should_stop = should_stop

    def stop(self, reason: BaseException) -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def is_set(self) -> bool:
        """Whether the work must stop; asks the outside (``should_stop``, e.g. a job's cancel) too."""
        if not self._event.is_set() and self._should_stop is not None and self._should_stop():
            from ..errors import Cancelled

            self.stop(Cancelled("cancelled by the analyst"))
        return self._event.is_set()


class InFlight(Generic[X, F]):
    """Items submitted and not yet handed back. ``submit(item)`` returns a future; at most
    ``limit()`` are kept in flight (``limit`` is asked again on every fill: a cluster grows and shrinks)."""

    def __init__(self, submit: Callable[[X], F], limit: Callable[[], int], stop: StopFlag | None = None) -> None:
        self._submit = submit
        self._limit = limit
        self.stop = stop or StopFlag()
        self.pending: dict[F, X] = {}
        #: Items whose future was cancelled before it started (after a stop): never analysed.
        self.dropped: list[X] = []

    def __len__(self) -> int:
        return len(self.pending)

    def add(self, item: X) -> None:
        """Submit one item now (e.g. a re-submission), whatever the limit."""
        self.pending[self._submit(item)] = item

    def fill(self, items: Iterator[X]) -> None:
        """Submit from ``items`` up to the limit; nothing once stopped."""
        while len(self.pending) < self._limit() and not self.stop.is_set():
            try:
                item = next(items)
            except StopIteration:
                return
            self.add(item)

    def take(self, finished: Iterable[F]) -> list[tuple[X, F]]:
        """The items of finished futures, removed from the flight."""
        return [(self.pending.pop(f), f) for f in finished if f in self.pending]

    def cancel_queued(self) -> None:
        """Cancel every future that has not started; running ones stay in flight to be waited for."""
        for fut in list(self.pending):
            if not fut.done() and fut.cancel():
                self.dropped.append(self.pending.pop(fut))

    def cancel_all(self) -> None:
        """The caller is gone: cancel everything still in flight (queued work is not started)."""
        for fut in list(self.pending):
            fut.cancel()
