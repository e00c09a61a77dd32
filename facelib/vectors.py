"""Exact nearest-neighbour search over an in-memory float32 matrix (one per collection).

Distances are Euclidean between 128-D descriptors; callers map them to similarity percentages.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable

import numpy as np

DIM = 128


@dataclass
class Matrix:
    """Face ids and their vectors (float32, N x DIM) with squared norms, for one collection."""

    ids: list[str]
    vectors: np.ndarray
    norms2: np.ndarray
    generation: int

    @classmethod
    def build(cls, ids: list[str], vectors: np.ndarray, generation: int) -> "Matrix":
        vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, DIM)
        return cls(ids, vectors, np.einsum("ij,ij->i", vectors, vectors), generation)

    def nearest(self, query: np.ndarray, k: int, max_distance: float) -> list[tuple[int, float]]:
        """Up to ``k`` (row, distance) pairs with distance <= ``max_distance``, nearest first."""
        if not self.ids:
            return []
        q = np.asarray(query, dtype=np.float32).reshape(DIM)
        d2 = self.norms2 - 2.0 * (self.vectors @ q) + float(q @ q)
        np.maximum(d2, 0.0, out=d2)
        limit = max_distance * max_distance
        if k < len(d2):
            part = np.argpartition(d2, k)[:k]
        else:
            part = np.arange(len(d2))
        part = part[d2[part] <= limit]
        order = part[np.argsort(d2[part], kind="stable")]
        return [(int(i), float(np.sqrt(d2[i]))) for i in order]


class MatrixCache:
    """Keeps one :class:`Matrix` per collection, reloaded when the collection's generation moves."""

    def __init__(self, loader: Callable[[str], tuple[list[str], np.ndarray]],
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
                ids, vecs = self._loader(collection)
                m = Matrix.build(ids, vecs, gen)
                self._cache[collection] = m
            return m

    def drop(self, collection: str) -> None:
        with self._lock:
            self._cache.pop(collection, None)
