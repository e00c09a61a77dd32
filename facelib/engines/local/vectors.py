"""Exact nearest-neighbour search over an in-memory float32 matrix (one per collection).

Distances are Euclidean between 128-D descriptors; callers map them to similarity percentages.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ...errors import EngineUnavailable

DIM = 128
#: Memory a face costs in a loaded collection, bytes: its float32 vector, id (36) and squared norm.
BYTES_PER_FACE = DIM * 4 + 36 + 4
#: Share of the memory available that one collection's vectors may take.
MEMORY_SHARE = 0.8


def available_memory() -> int:
    """Bytes of memory available to this process now (Linux's MemAvailable; free pages elsewhere)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def check_fits(collection: str, faces: int) -> None:
    """Raise :class:`EngineUnavailable` when ``faces`` vectors would not fit in
    :data:`MEMORY_SHARE` of the memory available (exact search holds them all)."""
    need, free = faces * BYTES_PER_FACE, available_memory()
    if need > MEMORY_SHARE * free:
        raise EngineUnavailable(
            f"collection {collection!r}: {faces:,} faces need {need / 1e9:.2f} GB for exact search and this machine "
            f"has {free / 1e9:.2f} GB available: split the collection, use the rekognition engine (20M faces a "
            "collection), or a machine with more memory")


@dataclass
class Matrix:
    """Face ids and their vectors (float32, N x DIM) with squared norms, for one collection.

    Ids are kept as one fixed-width byte array (36 bytes for a UUID) rather than N Python strings,
    so a face costs about 512 + 36 + 4 bytes in memory.
    """

    ids: np.ndarray
    vectors: np.ndarray
    norms2: np.ndarray
    generation: int

    @classmethod
    def build(cls, ids: list[str] | np.ndarray, vectors: np.ndarray, generation: int) -> Matrix:
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, DIM)
        id_array = np.asarray(ids, dtype=np.bytes_) if len(ids) else np.zeros(0, dtype="S36")
        return cls(id_array, vectors, np.einsum("ij,ij->i", vectors, vectors), generation)

    def __len__(self) -> int:
        return len(self.ids)

    def face_id(self, row: int) -> str:
        return str(self.ids[row].decode("ascii"))

    def nearest(self, query: np.ndarray, k: int, max_distance: float) -> list[tuple[int, float]]:
        """Up to ``k`` (row, distance) pairs with distance <= ``max_distance``, nearest first.

        One matrix-vector product (the memory-bound floor), then work only on the rows within
        ``max_distance``.
        """
        if not len(self.ids):
            return []
        q = np.asarray(query, dtype=np.float32).reshape(DIM)
        dots = self.vectors @ q
        limit = max_distance * max_distance
        # d^2 = |v|^2 - 2 v.q + |q|^2 <= limit  <=>  |v|^2 - 2 v.q <= limit - |q|^2
        dots *= -2.0
        dots += self.norms2
        rows = np.flatnonzero(dots <= limit - float(q @ q))
        d2 = np.maximum(dots[rows] + float(q @ q), 0.0)
        if k < len(rows):
            keep = np.argpartition(d2, k)[:k]
            rows, d2 = rows[keep], d2[keep]
        order = np.argsort(d2, kind="stable")
        return [(int(rows[i]), float(np.sqrt(d2[i]))) for i in order]


class MatrixCache:
    """Keeps one :class:`Matrix` per collection, reloaded when the collection's generation moves."""

    def __init__(self, loader: Callable[[str], tuple[np.ndarray, np.ndarray]],
                 generation: Callable[[str], int]) -> None:
        self._loader = loader
        self._generation = generation
        self._cache: dict[str, Matrix] = {}
        self._lock = threading.Lock()

    def get(self, collection: str) -> Matrix:
        gen = self._generation(collection)
        with self._lock:
            m = self._cache.get(collection)
            if m is None or m.generation != gen:
                self._cache.pop(collection, None)  # the old copy goes first: a reload never holds two
                ids, vecs = self._loader(collection)
                m = Matrix.build(ids, vecs, gen)
                self._cache[collection] = m
            return m

    def drop(self, collection: str) -> None:
        with self._lock:
            self._cache.pop(collection, None)

    def forget(self, collection: str, face_ids: list[str]) -> int:
        """After an erasure: the cached matrix loses these faces' rows now (a new, smaller matrix;
        the old arrays are released), not at the next search. Returns how many rows went."""
        gone = np.asarray(list(face_ids), dtype=np.bytes_)
        with self._lock:
            m = self._cache.get(collection)
            if m is None or not len(m) or not len(gone):
                return 0
            keep = ~np.isin(m.ids, gone)
            dropped = int(len(m) - keep.sum())
            if dropped:
                self._cache[collection] = Matrix(m.ids[keep], np.ascontiguousarray(m.vectors[keep]),
                                                 m.norms2[keep], m.generation)
            return dropped
