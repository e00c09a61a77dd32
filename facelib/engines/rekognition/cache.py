"""Memoizing paid calls with diskcache, under the data directory.

Keys are built from a fixed versioned name, the operation, the collection and its generation,
the image's sha256 and the parameters. Every write to a collection (index, delete) bumps its
generation, so earlier searches are never served again, and evicts their entries (tagged by
collection). Failures are never cached. A per-key ``diskcache.Lock`` makes concurrent identical
calls (threads or processes) pay once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import diskcache

KEY_VERSION = "facesearch-paid-v1"
T = TypeVar("T")
_MISS = object()


def make_key(operation: str, collection: str | None = None, generation: int | None = None,
             image_sha256: str | tuple[str, ...] | None = None, **params: Any) -> str:
    """A stable text key (JSON with sorted parameters)."""
    return json.dumps([KEY_VERSION, operation, collection, generation, image_sha256, params], sort_keys=True,
                      separators=(",", ":"), default=str)


class PaidCallCache:
    """A diskcache.Cache with hit/miss reporting and per-collection generations."""

    def __init__(self, directory: str | Path, size_limit: int = 2 ** 30) -> None:
        self.cache = diskcache.Cache(str(directory), size_limit=size_limit, tag_index=True)

    def generation(self, collection: str) -> int:
        """Current generation of a collection (0 until its first write)."""
        return int(self.cache.get(("generation", collection), 0))

    def invalidate(self, collection: str) -> None:
        """A write happened: bump the generation and drop the collection's cached reads."""
        self.cache.incr(("generation", collection), 1, default=0)
        self.cache.evict(collection)

    def get_or_call(self, key: str, call: Callable[[], T], tag: str | None = None,
                    on_hit: Callable[[], None] | None = None, on_call: Callable[[], None] | None = None) -> T:
        """Return the cached value for ``key`` or make ``call`` once (errors propagate, uncached)."""
        value = self.cache.get(key, _MISS)
        if value is not _MISS:
            if on_hit:
                on_hit()
            return cast(T, value)
        with diskcache.Lock(self.cache, "lock:" + key, expire=600):
            value = self.cache.get(key, _MISS)
            if value is not _MISS:
                if on_hit:
                    on_hit()
                return cast(T, value)
            value = call()
            if on_call:  # counted once the service answered
                on_call()
            self.cache.set(key, value, tag=tag)
            return value

    def close(self) -> None:
        self.cache.close()

    def __len__(self) -> int:
        return len(self.cache)
