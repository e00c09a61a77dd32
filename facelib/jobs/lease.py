"""One writer per collection: a lease is an OS file lock under the data directory.

Long work (an index batch, a re-index, a regroup, a repair, a collection's erasure) holds its
collection's lease for as long as it writes. The lock is ``flock`` through :mod:`filelock`: the
kernel releases it when the holder's process dies (``kill -9`` included), so there is no heartbeat
and no stale lease to clean up. A second writer waits in line and can say who holds the lease (a
small ``.holder`` file written by the holder: job id, kind, process).

Within one thread a lease is re-entrant (a job that holds it may call code that asks for it again);
two threads of one process exclude each other like two processes do (each opens its own file
description). Crash recovery of a collection runs only under its lease, so it can never touch the
images another live batch has in flight.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from ..errors import FaceLibError

log = logging.getLogger(__name__)

#: Seconds between two tries while waiting for a lease (and between two ``should_stop`` checks).
POLL_SECONDS = 0.25


class LeaseBusy(FaceLibError):
    """The collection's lease is held by another writer (and the caller chose not to wait)."""


class WaitCancelled(FaceLibError):
    """Waiting for a lease was given up (the job was cancelled while it waited)."""


@dataclass(frozen=True)
class Holder:
    """Who holds a lease: a job id (None for work outside the jobs queue), its kind, its process."""

    kind: str
    job_id: int | None
    pid: int
    since: float

    def describe(self) -> str:
        what = f"job {self.job_id} ({self.kind})" if self.job_id is not None else self.kind
        return f"{what}, process {self.pid}"


_held = threading.local()  # collection key -> (FileLock, depth), per thread


def _key(collection: str) -> str:
    """A file name for a collection name (any script, any length): its SHA-256, never the name."""
    return hashlib.sha256(collection.encode("utf-8")).hexdigest()[:32]


class Leases:
    """The leases of one data directory (``<data>/locks/``)."""

    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir) / "locks"
        self.root.mkdir(parents=True, exist_ok=True)

    def _paths(self, collection: str) -> tuple[Path, Path]:
        k = _key(collection)
        return self.root / f"{k}.lock", self.root / f"{k}.holder"

    def holder(self, collection: str) -> Holder | None:
        """Who holds the collection's lease now (None when nobody does)."""
        lock_path, holder_path = self._paths(collection)
        probe = FileLock(str(lock_path), thread_local=False)
        try:
            probe.acquire(timeout=0)
        except Timeout:
            try:
                raw = json.loads(holder_path.read_text())
                return Holder(str(raw["kind"]), raw.get("job_id"), int(raw["pid"]), float(raw["since"]))
            except (OSError, ValueError, KeyError, TypeError):
                return Holder("another writer", None, 0, 0.0)
        probe.release()
        return None

    def held_here(self, collection: str) -> bool:
        """Whether this thread holds the collection's lease."""
        return _key(collection) in _table()

    @contextmanager
    def hold(self, collection: str, kind: str, job_id: int | None = None, *, wait: bool = True,
             on_wait: Callable[[Holder | None], None] | None = None,
             should_stop: Callable[[], bool] | None = None) -> Iterator[None]:
        """Hold the collection's lease for the ``with`` block. Busy: with ``wait`` wait in line
        (``on_wait(holder)`` is told once who is ahead; ``should_stop()`` polled, and True gives
        up with :class:`WaitCancelled`), else :class:`LeaseBusy` at once."""
        key = _key(collection)
        table = _table()
        if key in table:  # re-entrant within this thread
            lock, depth = table[key]
            table[key] = (lock, depth + 1)
            try:
                yield
            finally:
                lock, depth = table[key]
                table[key] = (lock, depth - 1)
            return
        lock_path, holder_path = self._paths(collection)
        lock = FileLock(str(lock_path), thread_local=False)
        told = False
        while True:
            try:
                lock.acquire(timeout=0 if not wait else POLL_SECONDS)
                break
            except Timeout:
                if not wait:
                    held_by = self.holder(collection)
                    raise LeaseBusy(f"collection {collection!r} is busy: "
                                    f"{held_by.describe() if held_by else 'another writer'} is writing to it") from None
                if not told:
                    told = True
                    held_by = self.holder(collection)
                    log.info("waiting for the lease of a collection held by %s",
                             held_by.describe() if held_by else "another writer")
                    if on_wait is not None:
                        on_wait(held_by)
                if should_stop is not None and should_stop():
                    raise WaitCancelled("cancelled while waiting for the collection") from None
        try:
            holder_path.write_text(json.dumps({"kind": kind, "job_id": job_id, "pid": os.getpid(), "since": time.time()}))
        except OSError:  # the holder file is only a label: a full disk must not stop the work
            pass
        table[key] = (lock, 1)
        try:
            yield
        finally:
            del table[key]
            lock.release()

    @contextmanager
    def hold_all(self, collections: Iterable[str], kind: str, job_id: int | None = None,
                 on_wait: Callable[[Holder | None], None] | None = None,
                 should_stop: Callable[[], bool] | None = None) -> Iterator[None]:
        """Hold several leases at once, taken in one global order (no two holders can deadlock)."""
        with ExitStack() as stack:
            for name in sorted(set(collections), key=_key):
                stack.enter_context(self.hold(name, kind, job_id, on_wait=on_wait, should_stop=should_stop))
            yield


def _table() -> dict[str, tuple[FileLock, int]]:
    table: dict[str, tuple[FileLock, int]] | None = getattr(_held, "table", None)
    if table is None:
        table = {}
        _held.table = table
    return table
