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

**A cache is an optimisation, never a dependency.** An entry that cannot be read (an emptied or
truncated value file, a damaged pickle) is a miss, and is removed. A cache database SQLite cannot
read is moved aside (``cache.damaged-<time>/`` beside the cache directory) and started afresh;
erasure removes such copies (their answers cannot be erased one by one). :meth:`PaidCallCache.check`
finds both, for ``facesearch doctor``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar, cast

import diskcache
from filelock import FileLock, Timeout

log = logging.getLogger(__name__)

KEY_VERSION = "facesearch-paid-v2"
#: Seconds a call waits for another process's identical call before making its own.
LOCK_WAIT = 60.0
DB_NAME = "cache.db"
LOCKS = "locks"
#: Where a damaged cache is moved: ``<cache dir>.damaged-<unix time>`` beside the cache directory.
DAMAGED = ".damaged-"
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


def _about(key: object) -> tuple[str, set[str]]:
    """(operation, image sha256s) of a key :func:`make_key` made; ("", empty) for any other key.
    Linear in the key's length, so erasing a whole collection is one pass over the cache."""
    if not isinstance(key, str) or not key.startswith(f'["{KEY_VERSION}"'):
        return "", set()
    try:
        parts = json.loads(key)
    except ValueError:
        return "", set()
    images = parts[5]
    shas = {images} if isinstance(images, str) else {i for i in images or () if isinstance(i, str)}
    return str(parts[1]), shas


def _unreadable_database(exc: BaseException) -> bool:
    """SQLite says the file is not a database or is malformed (not a lock or a full disk)."""
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError)


class PaidCallCache:
    """A diskcache.Cache with hit/miss reporting, per-collection generations, erasure by image, and
    recovery from damage (see the module's notes)."""

    def __init__(self, directory: str | Path, size_limit: int = 2 ** 30, lock_wait: float = LOCK_WAIT) -> None:
        self.directory = Path(directory)
        self.size_limit = size_limit
        self.locks = self.directory / LOCKS
        self.lock_wait = lock_wait
        self._reset_lock = threading.Lock()
        self.cache = self._open()

    # -- opening, and starting afresh ----------------------------------------------------------
    def _open(self) -> diskcache.Cache:
        self.locks.mkdir(parents=True, exist_ok=True)
        try:
            return self._diskcache()
        except sqlite3.DatabaseError as exc:
            if not _unreadable_database(exc):
                raise
            self._move_aside(exc)
            return self._diskcache()

    def _diskcache(self) -> diskcache.Cache:
        # diskcache applies ``sqlite_*`` settings as PRAGMAs: deleted answers are zeroed on disk.
        cache = diskcache.Cache(str(self.directory), size_limit=self.size_limit, tag_index=True,
                                sqlite_secure_delete=1)
        cache.get(("generation", "", "", ""))  # reads the database now, so damage shows here
        return cache

    def _move_aside(self, exc: BaseException) -> Path:
        """Move everything but the lock files to ``<dir>.damaged-<time>`` and leave an empty directory."""
        aside = self.directory.with_name(f"{self.directory.name}{DAMAGED}{time.time_ns()}")
        aside.mkdir(parents=True)
        for p in self.directory.iterdir():
            if p.name != LOCKS:
                shutil.move(str(p), str(aside / p.name))
        log.warning("paid-call cache %s could not be read (%s): moved aside to %s and started afresh",
                    self.directory, exc.__class__.__name__, aside)
        return aside

    def _reset(self, exc: BaseException) -> None:
        """The open cache became unreadable: close it, move it aside, open a fresh one."""
        with self._reset_lock:
            try:
                self.cache.close()
            except Exception:  # noqa: BLE001 - it is being thrown away
                pass
            self._move_aside(exc)
            self.cache = self._diskcache()

    def _guard(self, what: Callable[[], T], default: T) -> T:
        """``what()``; an unreadable database is moved aside and ``default`` returned."""
        try:
            return what()
        except sqlite3.DatabaseError as exc:
            if not _unreadable_database(exc):
                raise
            self._reset(exc)
            return default

    def damaged_copies(self) -> list[Path]:
        """Caches moved aside because they could not be read."""
        return sorted(self.directory.parent.glob(f"{self.directory.name}{DAMAGED}*"))

    # -- generations and eviction --------------------------------------------------------------
    def generation(self, scope: Scope) -> int:
        """Current generation of a collection (0 until its first write)."""
        return int(self._guard(lambda: self.cache.get(("generation", *scope), 0), 0))

    def invalidate(self, scope: Scope) -> None:
        """A write happened: bump the generation and drop the collection's cached reads."""
        def bump() -> None:
            self.cache.incr(("generation", *scope), 1, default=0)
            self.cache.evict(scope_tag(scope))
        self._guard(bump, None)

    def forget_images(self, sha256s: Iterable[str], operations: Iterable[str] = ()) -> int:
        """Drop every cached answer about those images (their DetectFaces attributes, comparisons,
        searches by them) and every answer of ``operations``, in one pass over the keys, then scrub:
        erasure leaves no cached biometric answer. Copies moved aside as damaged go too. Never
        raises for the cache's own sake (erasure does not depend on it). Returns how many went."""
        wanted = set(sha256s)
        ops = set(operations)
        for aside in self.damaged_copies():
            shutil.rmtree(aside, ignore_errors=True)
        if not wanted and not ops:
            return 0

        def sweep() -> int:
            gone = 0
            for key in list(self.cache.iterkeys()):
                operation, images = _about(key)
                if (operation in ops or not wanted.isdisjoint(images)) and self.cache.delete(key):
                    gone += 1
            return gone
        try:
            gone = self._guard(sweep, 0)
            self.scrub()
        except Exception as exc:  # noqa: BLE001 - whatever the cache's state, the erasure goes on
            log.warning("paid-call cache: eviction failed (%s); starting the cache afresh", exc.__class__.__name__)
            self._reset(exc)
            for aside in self.damaged_copies():
                shutil.rmtree(aside, ignore_errors=True)
            return 0
        return gone

    def scrub(self) -> None:
        """Checkpoint the cache database's WAL into it and truncate the WAL (after an erasure)."""
        from .store import checkpoint

        self._guard(lambda: checkpoint(self.directory / DB_NAME), None)

    # -- reading and calling -------------------------------------------------------------------
    def _lock(self, key: str) -> FileLock:
        name = hashlib.sha256(key.encode()).hexdigest()[:32]
        return FileLock(str(self.locks / f"{name}.lock"), timeout=self.lock_wait)

    def _get(self, key: str) -> Any:
        """The cached value, or ``_MISS``; an entry that cannot be read is removed and is a miss."""
        try:
            return self.cache.get(key, _MISS)
        except sqlite3.DatabaseError as exc:
            if not _unreadable_database(exc):
                raise
            self._reset(exc)
            return _MISS
        except Exception as exc:  # noqa: BLE001 - a damaged value file or pickle: a miss
            log.warning("paid-call cache: an unreadable entry was removed (%s)", exc.__class__.__name__)
            try:
                self.cache.delete(key)
            except Exception:  # noqa: BLE001 - then it is simply overwritten by the next answer
                pass
            return _MISS

    def get_or_call(self, key: str, call: Callable[[], T], tag: str | None = None, expire: float | None = None,
                    on_hit: Callable[[], None] | None = None, on_call: Callable[[], None] | None = None) -> T:
        """The cached value for ``key``, or ``call()`` made once (errors propagate, uncached);
        ``expire``: seconds the answer is kept."""
        value = self._get(key)
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
            value = self._get(key)
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
        try:
            self._guard(lambda: self.cache.set(key, value, tag=tag, expire=expire), False)
        except OSError as exc:  # a full disk: the answer is simply not kept
            log.warning("paid-call cache: an answer could not be kept (%s)", exc)
        return value

    # -- checking (facesearch doctor) ----------------------------------------------------------
    def check(self, repair: bool = False) -> list[str]:
        """Problems found: an unreadable database, entries that cannot be read, copies moved aside.
        With ``repair`` the database is moved aside and started afresh, unreadable entries are
        removed, and copies moved aside earlier are deleted."""
        from .store import integrity

        problems: list[str] = []
        db_problems = integrity(self.directory / DB_NAME)
        if db_problems:
            problems.append(f"the cache database cannot be read: {'; '.join(db_problems[:3])}")
            if repair:
                self._reset(sqlite3.DatabaseError(db_problems[0]))
        else:
            bad = []
            for key in list(self.cache.iterkeys()):
                try:
                    self.cache.get(key)
                except Exception:  # noqa: BLE001 - any failure to read makes it unreadable
                    bad.append(key)
            if bad:
                problems.append(f"{len(bad)} cached answers cannot be read")
                if repair:
                    for key in bad:
                        self.cache.delete(key)
        for aside in self.damaged_copies():
            problems.append(f"a damaged cache was moved aside: {aside.name}")
            if repair:
                shutil.rmtree(aside, ignore_errors=True)
        return problems

    def close(self) -> None:
        self.cache.close()

    def __len__(self) -> int:
        return int(self._guard(lambda: len(self.cache), 0))
