"""Grouping faces into people: pure functions over match graphs and analyst decisions.

Inputs are face ids, similarity edges (percentages 0-100, higher is more alike), the photo each
face comes from, and decisions: must-link pairs (same person), cannot-link pairs (different
people) and faces that are not faces. Output: groups of face ids. Rules:

- must-links are merged first (connected components, SciPy);
- two faces of one photo, or a cannot-linked pair, never end in one group;
- the rest is clustered with scikit-learn's agglomerative clustering (average linkage) on
  ``100 - similarity``; a forbidden pair gets an effectively infinite distance, so average linkage
  never merges two groups that hold one;
- faces are processed in sorted id order, so the result does not depend on upload order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

#: Distance standing in for "never together" (far above any similarity distance of 0-100).
FORBIDDEN = 1e12


@dataclass(frozen=True)
class Decisions:
    """What analysts said: pairs of face ids, and faces that are not faces."""

    must_link: frozenset[tuple[str, str]] = frozenset()
    cannot_link: frozenset[tuple[str, str]] = frozenset()
    not_faces: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Edge:
    a: str
    b: str
    similarity: float


def pair(a: str, b: str) -> tuple[str, str]:
    """A pair in canonical (sorted) order."""
    return (a, b) if a <= b else (b, a)


def group_faces(faces: Iterable[str], edges: Iterable[Edge], photo_of: Mapping[str, str],
                threshold: float, decisions: Decisions = Decisions()) -> list[list[str]]:
    """Group faces into people.

    ``threshold``: similarity (0-100) a group's faces must reach on average to be joined.
    Returns groups as sorted lists of face ids, largest group first (ties by first id).
    """
    # SciPy and scikit-learn load only when grouping runs (they cost seconds at first import).
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from sklearn.cluster import AgglomerativeClustering

    ids = sorted(set(faces) - decisions.not_faces)
    if not ids:
        return []
    index = {f: i for i, f in enumerate(ids)}
    n = len(ids)

    # 1. Must-links: connected components become super-nodes.
    rows = [index[a] for a, b in decisions.must_link if a in index and b in index]
    cols = [index[b] for a, b in decisions.must_link if a in index and b in index]
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(n, n))
    n_super, label = connected_components(graph, directed=False)

    # 2. Forbidden super-node pairs: same photo, or an analyst's cannot-link.
    forbidden: set[tuple[int, int]] = set()
    by_photo: dict[str, list[int]] = defaultdict(list)
    for f in ids:
        by_photo[photo_of.get(f, f)].append(label[index[f]])
    for nodes_in_photo in by_photo.values():
        for i in range(len(nodes_in_photo)):
            for j in range(i + 1, len(nodes_in_photo)):
                x, y = nodes_in_photo[i], nodes_in_photo[j]
                forbidden.add((min(x, y), max(x, y)))
    for a, b in decisions.cannot_link:
        if a in index and b in index:
            la, lb = label[index[a]], label[index[b]]
            forbidden.add((min(la, lb), max(la, lb)))
    # A must-linked component holding a forbidden pair cannot be honoured whole: the analyst's
    # must-links win, the same-photo rule for that component is dropped.
    forbidden = {(x, y) for x, y in forbidden if x != y}

    if n_super == 1:
        return [ids]

    # 3. Distances between super-nodes: the best similarity of any pair of their faces (sparse).
    best: dict[tuple[int, int], float] = {}
    for e in edges:
        if e.a in index and e.b in index:
            x, y = label[index[e.a]], label[index[e.b]]
            if x != y:
                key = (min(x, y), max(x, y))
                d = 100.0 - float(e.similarity)
                if d < best.get(key, 100.0):
                    best[key] = d
    for key in forbidden:
        best[key] = FORBIDDEN

    # 4. Average linkage can only join two groups that have a pair at or above the threshold, so
    #    groups in different components of the "close enough" graph never meet: cluster each
    #    component on its own (exactly the same result, with memory per component, not per collection).
    limit = 100.0 - threshold
    close = [(x, y) for (x, y), d in best.items() if d <= limit]
    comp_graph = coo_matrix((np.ones(len(close)), ([x for x, _ in close], [y for _, y in close])),
                            shape=(n_super, n_super))
    _, component = connected_components(comp_graph, directed=False)
    members: dict[int, list[int]] = defaultdict(list)
    for node in range(n_super):
        members[int(component[node])].append(node)
    inside: dict[int, list[tuple[int, int, float]]] = defaultdict(list)
    for (x, y), d in best.items():
        if component[x] == component[y]:
            inside[int(component[x])].append((x, y, d))
    cluster = np.zeros(n_super, dtype=np.int64)
    next_id = 0
    for comp, nodes in members.items():
        if len(nodes) == 1:
            cluster[nodes[0]] = next_id
            next_id += 1
            continue
        pos = {node: i for i, node in enumerate(nodes)}
        dist = np.full((len(nodes), len(nodes)), 100.0)
        np.fill_diagonal(dist, 0.0)
        for x, y, d in inside[comp]:
            dist[pos[x], pos[y]] = dist[pos[y], pos[x]] = d
        model = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                        distance_threshold=limit + 1e-9)
        labels = model.fit_predict(dist)
        for node, lab in zip(nodes, labels, strict=False):
            cluster[node] = next_id + int(lab)
        next_id += int(labels.max()) + 1

    groups: dict[int, list[str]] = defaultdict(list)
    for f in ids:
        groups[int(cluster[label[index[f]]])].append(f)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: (-len(g), g[0]))


def inherit(old: Mapping[int, set[str]], groups: list[list[str]]) -> dict[int, int | None]:
    """Map each new group (by position) to the old person it overlaps most, each old person used once.

    Greedy on overlap size, largest first (ties by person id then group position), so names
    survive a regroup. Groups with no overlap map to None (a new person).
    """
    candidates = []
    for gi, g in enumerate(groups):
        members = set(g)
        for pid, faces in old.items():
            shared = len(members & faces)
            if shared:
                candidates.append((-shared, pid, gi))
    result: dict[int, int | None] = {gi: None for gi in range(len(groups))}
    used: set[int] = set()
    for _, pid, gi in sorted(candidates):
        if result[gi] is None and pid not in used:
            result[gi] = pid
            used.add(pid)
    return result


def choose_person(matches: Iterable[tuple[str, float]], person_of: Mapping[str, int],
                  person_size: Mapping[int, int], blocked: set[int], threshold: float,
                  min_share: float = 0.5, min_votes: int = 3) -> int | None:
    """The incremental rule: the person a new face joins, or None for a new person.

    ``matches``: (face id, similarity 0-100) of the new face's matches. A person qualifies when
    the face matches, at or above ``threshold``, at least ``min_share`` of its faces or at least
    ``min_votes`` of them; the one with most such matches wins (then best mean similarity).
    ``blocked``: people the face may not join (a face of its photo is there, or a cannot-link).
    """
    votes: dict[int, list[float]] = defaultdict(list)
    for face_id, sim in matches:
        pid = person_of.get(face_id)
        if pid is not None and sim >= threshold and pid not in blocked:
            votes[pid].append(sim)
    best = None
    for pid, sims in votes.items():
        size = max(person_size.get(pid, 1), 1)
        if len(sims) >= min_votes or len(sims) / size >= min_share:
            key = (len(sims), sum(sims) / len(sims), -pid)
            if best is None or key > best[0]:
                best = (key, pid)
    return None if best is None else best[1]
