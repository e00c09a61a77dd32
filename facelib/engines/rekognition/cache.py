"""Memoizing paid calls with diskcache, under the data directory.

Keys are built from a fixed versioned name, the operation, the *scope* (region, account and
CollectionId: an answer never crosses regions or accounts), the collection's generation and face
count, the images' sha256 and the parameters. Every write this installation makes to a
collection bumps its generation and evicts its entries (tagged by scope); a write made elsewhere
changes the face count that every cached search is checked against. Entries expire after a time
to live as well. Failures are never cached.

Concurrent identical calls (threads or processes) pay once: each key has a lock *file* held with
``flock`` (the ``filelock`` library), which the kernel releases when its holder dies, and waits are
bounded (past :data:`LOCK_WAIT` seconds the call is simply made).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar, cast

import diskcache
from filelock import FileLock, Timeout

KEY_VERSION = "facesearch-paid-v2"
#: Seconds a call waits for another process's identical call before making its own.
LOCK_WAIT = 60.0
T = TypeVar("T")
_MISS = object()
Scope = tuple[str, str, str]  # (region, account, CollectionId or "")


def make_key(operation: str, scope: Scope, generation: int | None = None, face_count: int | None = None,
             image_sha256: str | tuple[str, ...] | None = None, **params: Any) -> str:
    """A stable text key (JSON with sorted parameters)."""
    return json.dumps([KEY_VERSION, operation, list(scope), generation, face_count, image_sha256, params],
                      sort_keys=True, separators=(",", ":"), default=str)


def scope_tag(scope: Scope) -> str:
    return "scope:" + "/".join(scope)


class PaidCallCache:
    """A diskcache.Cache with hit/miss reporting, per-collection generations and erasure by image."""

    def __init__(self, directory: str | Path, size_limit: int = 2 ** 30, lock_wait: float = LOCK_WAIT) -> None:
        self.directory = Path(directory)
        # diskcache applies ``sqlite_*`` settings as PRAGMAs: deleted answers are zeroed on disk.
        self.cache = diskcache.Cache(str(directory), size_limit=size_limit, tag_index=True, sqlite_secure_delete=1)
        self.locks = self.directory / "locks"
        self.locks.mkdir(parents=True, exist_ok=True)
        self.lock_wait = lock_wait

    def generation(self, scope: Scope) -> int:
        """Current generation of a collection (0 until its first write)."""
        return int(self.cache.get(("generation", *scope), 0))

    def invalidate(self, scope: Scope) -> None:
        """A write happened: bump the generation and drop the collection's cached reads."""
        self.cache.incr(("generation", *scope), 1, default=0)
        self.cache.evict(scope_tag(scope))

    def forget_images(self, sha256s: Iterable[str]) -> int:
        """Drop every cached answer about those images (their DetectFaces attributes, comparisons,
        searches by them), in one pass over the keys, then scrub: erasure leaves no cached
        biometric answer. Returns how many went."""
        wanted = set(sha256s)
        if not wanted:
            return 0
        gone = 0
        for key in list(self.cache.iterkeys()):
            if isinstance(key, str) and any(sha in key for sha in wanted) and self.cache.delete(key):
                gone += 1
        self.scrub()
        return gone

    def scrub(self) -> None:
        """Checkpoint the cache database's WAL into it and truncate the WAL (after an erasure)."""
        from .store import checkpoint

        checkpoint(self.directory / "cache.db")

    def _lock(self, key: str) -> FileLock:
        name = hashlib.sha256(key.encode()).hexdigest()[:32]
        return FileLock(str(self.locks / f"{name}.lock"), timeout=self.lock_wait)

    def get_or_call(self, key: str, call: Callable[[], T], tag: str | None = None, expire: float | None = None,
                    on_hit: Callable[[], None] | None = None, on_call: Callable[[], None] | None = None) -> T:
        """The cached value for ``key``, or ``call()`` made once (errors propagate, uncached);
        ``expire``: seconds the answer is kept."""
        value = self.cache.get(key, _MISS)
        if value is not _MISS:
            if on_hit:
                on_hit()
            return cast(T, value)
        lock = self._lock(key)
        try:
            lock.acquire()
        except Timeout:  # another caller is stuck: pay rather than hang
            return self._call(key, call, tag, expire, on_call)
        try:
            value = self.cache.get(key, _MISS)
            if value is not _MISS:
                if on_hit:
                    on_hit()
                return cast(T, value)
            return self._call(key, call, tag, expire, on_call)
        finally:
            lock.release()

    def _call(self, key: str, call: Callable[[], T], tag: str | None, expire: float | None,
              on_call: Callable[[], None] | None) -> T:
        value = call()
        if on_call:  # counted once the service answered
            on_call()
        self.cache.set(key, value, tag=tag, expire=expire)
        return value

    def close(self) -> None:
        self.cache.close()

    def __len__(self) -> int:
        return len(self.cache)
