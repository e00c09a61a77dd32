"""Regrouping a very large person (issue 14, item 9): the sparse average linkage used for large
components gives the dense scikit-learn result, and memory grows with the edges, not n squared."""

from __future__ import annotations

import random

import numpy as np
import pytest

from facelib.people import grouping
from facelib.people.grouping import Edge, group_faces, sparse_average_linkage


def partition(labels) -> set[frozenset[int]]:
    out: dict[int, set[int]] = {}
    for i, lab in enumerate(labels):
        out.setdefault(int(lab), set()).add(i)
    return {frozenset(v) for v in out.values()}


@pytest.mark.parametrize("seed", range(12))
def test_sparse_average_linkage_is_scikit_learns_on_random_graphs(seed):
    from sklearn.cluster import AgglomerativeClustering

    rng = random.Random(seed)
    n = rng.randint(5, 60)
    edges = {}
    for _ in range(rng.randint(n, n * 6)):
        i, j = rng.sample(range(n), 2)
        edges[(min(i, j), max(i, j))] = rng.uniform(0, 60) if rng.random() < 0.7 else rng.uniform(0, 100)
    if rng.random() < 0.5:  # forbidden pairs too
        for _ in range(3):
            i, j = rng.sample(range(n), 2)
            edges[(min(i, j), max(i, j))] = grouping.FORBIDDEN
    threshold = rng.uniform(10, 45)
    dense = np.full((n, n), grouping.NO_EDGE)
    np.fill_diagonal(dense, 0.0)
    for (i, j), d in edges.items():
        dense[i, j] = dense[j, i] = d
    expected = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                       distance_threshold=threshold).fit_predict(dense)
    got = sparse_average_linkage(n, ((i, j, d) for (i, j), d in edges.items()), threshold)
    assert partition(got) == partition(expected)


def test_group_faces_takes_the_sparse_path_for_a_large_person_with_the_same_groups(monkeypatch):
    rng = random.Random(7)
    ids = [f"f{i:04d}" for i in range(300)]
    edges = [Edge(a, b, rng.uniform(70, 99)) for a in ids for b in rng.sample(ids, 8) if a != b]
    photo = {f: f for f in ids}
    dense = group_faces(ids, edges, photo, 80)
    monkeypatch.setattr(grouping, "DENSE_MAX", 50)
    assert group_faces(ids, edges, photo, 80) == dense
