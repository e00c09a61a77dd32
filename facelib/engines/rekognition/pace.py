"""How many calls a batch keeps in flight: found from the account's own quota (AIMD).

Rekognition's TPS quotas differ per account, region and operation. A batch starts at
``Settings.aws_concurrency`` calls in flight (16) and adds about two more per round trip while
no call was ever throttled, one more once one was (additive increase), up to a ceiling
(:func:`facelib.aws.ceiling`). A
throttled call (``ProvisionedThroughputExceededException``, ``ThrottlingException``) cuts the
limit once per round trip (multiplicative decrease) to what the service was seen to sustain
(successful calls per second times their latency, Little's law), never below 1. A throttled call
is sent again after a short jittered pause, outside its slot, as often as needed: throttling never
fails a photo.

The limiter is shared by every thread of a batch and is thread-safe.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: Error codes that mean "slow down" (retried here without limit, never a photo's error).
THROTTLE_CODES = frozenset({"ProvisionedThroughputExceededException", "ThrottlingException"})
#: Multiplicative decrease: at most this factor once the sustained rate is measured, and
#: ``FIRST_BACKOFF`` before (the first calls of a batch, far over a small quota).
BACKOFF = 0.85
FIRST_BACKOFF = 0.6
#: Calls added per round trip while nothing is throttled: faster until the first throttle (the
#: quota is somewhere above), slower afterwards (it is near: fewer calls go over it).
GROWTH_FIRST = 2.0
GROWTH = 1.0
#: Seconds of successful calls the sustained rate is measured over.
WINDOW = 2.0


class Throttled(Exception):
    """A call the service throttled (raised by the ``call`` given to :meth:`Pacer.run`)."""


class Pacer:
    """An AIMD limit on calls in flight. ``start``: the first limit; ``ceiling``: the most ever.

    ``calls``: calls sent; ``throttled``: of them, throttled; ``limit``: the current limit (float).
    """

    def __init__(self, start: int, ceiling: int, floor: int = 1, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep, seed: int | None = None) -> None:
        self.ceiling = max(1, int(ceiling))
        self.floor = max(1, min(int(floor), self.ceiling))
        self.limit = float(min(max(int(start), self.floor), self.ceiling))
        self.calls = 0
        self.throttled = 0
        self.peak = self.limit
        self._in_flight = 0
        self._cond = threading.Condition()
        self._clock = clock
        self._sleep = sleep
        self._rng = random.Random(seed)
        self._last_cut = -1e18
        self._latency = 0.0  # moving average of a successful call's seconds
        self._done: deque[float] = deque()  # when recent successful calls ended

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def _acquire(self) -> float:
        with self._cond:
            while self._in_flight >= int(self.limit):
                self._cond.wait()
            self._in_flight += 1
            self.calls += 1
            return self._clock()

    def _release(self, sent: float, throttled: bool | None) -> None:
        """``throttled``: True, False (answered), None (failed otherwise: says nothing of the quota)."""
        now = self._clock()
        with self._cond:
            self._in_flight -= 1
            if throttled:
                self.throttled += 1
                self._decrease(sent, now)
            elif throttled is not None:
                self._increase(sent, now)
            free = int(self.limit) - self._in_flight
            if free > 0:  # wake as many waiters as there are slots (not all of them: a herd costs the GIL)
                self._cond.notify(free)

    def _increase(self, sent: float, now: float) -> None:
        took = max(0.0, now - sent)
        self._latency = took if self._latency == 0 else 0.9 * self._latency + 0.1 * took
        self._done.append(now)
        while self._done and self._done[0] < now - WINDOW:
            self._done.popleft()
        if sent > self._last_cut:  # sent under the current limit: it says the limit is fine
            growth = GROWTH if self.throttled else GROWTH_FIRST
            self.limit = min(float(self.ceiling), self.limit + growth / self.limit)
            self.peak = max(self.peak, self.limit)

    def _decrease(self, sent: float, now: float) -> None:
        if sent <= self._last_cut:
            return  # sent before the last cut: that cut already answered it
        span = (now - self._done[0]) if len(self._done) > 1 else 0.0
        if span >= 0.5 and self._latency > 0:
            sustained = (len(self._done) - 1) / span * self._latency  # Little's law
            cut = min(self.limit * BACKOFF, max(sustained, self.limit * 0.5))
        else:  # nothing measured yet (the batch's first calls): a deeper cut
            cut = self.limit * FIRST_BACKOFF
        self.limit = max(float(self.floor), cut)
        self._last_cut = now

    def pause(self, attempt: int) -> float:
        """Seconds to wait before sending a throttled call again (jittered, growing, at most 5 s)."""
        base = max(self._latency, 0.05)
        return float(min(5.0, base * (2 ** min(attempt, 6))) * self._rng.uniform(0.5, 1.0))

    def run(self, call: Callable[[], T]) -> T:
        """``call()`` in a slot; sent again (after :meth:`pause`) each time it raises :class:`Throttled`.
        Any other error is released and raised."""
        attempt = 0
        while True:
            sent = self._acquire()
            try:
                result = call()
            except Throttled:
                self._release(sent, True)
                self._sleep(self.pause(attempt))
                attempt += 1
                continue
            except BaseException:
                self._release(sent, None)
                raise
            self._release(sent, False)
            return result

    def summary(self) -> dict[str, float]:
        return {"calls": self.calls, "throttled": self.throttled, "limit": round(self.limit, 1),
                "peak": round(self.peak, 1)}
