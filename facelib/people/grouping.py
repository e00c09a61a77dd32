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

import heapq
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

#: Distance standing in for "never together" (far above any similarity distance of 0-100).
FORBIDDEN = 1e12
#: Components up to this many groups are clustered by scikit-learn on a dense distance matrix
#: (n x n float64: 32 MB at 2,000); larger ones by :func:`sparse_average_linkage`, whose memory
#: grows with the edges, not with n squared (20,000 faces of one person stay far under 2 GB).
DENSE_MAX = 2000
#: The distance of a pair of faces with no edge between them (no match at the search floor).
NO_EDGE = 100.0


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
        if len(nodes) > DENSE_MAX and limit < NO_EDGE:
            labels = sparse_average_linkage(len(nodes), ((pos[x], pos[y], d) for x, y, d in inside[comp]),
                                            limit + 1e-9)
        else:
            dist = np.full((len(nodes), len(nodes)), NO_EDGE)
            np.fill_diagonal(dist, 0.0)
            for x, y, d in inside[comp]:
                dist[pos[x], pos[y]] = dist[pos[y], pos[x]] = d
            model = AgglomerativeClustering(n_clusters=None, metric="precomputed", linkage="average",
                                            distance_threshold=limit + 1e-9)
            labels = model.fit_predict(dist)
            del dist
        for node, lab in zip(nodes, labels, strict=False):
            cluster[node] = next_id + int(lab)
        next_id += int(labels.max()) + 1

    groups: dict[int, list[str]] = defaultdict(list)
    for f in ids:
        groups[int(cluster[label[index[f]]])].append(f)
    return sorted((sorted(g) for g in groups.values()), key=lambda g: (-len(g), g[0]))


def sparse_average_linkage(n: int, edges: Iterable[tuple[int, int, float]], threshold: float) -> np.ndarray:
    """Average-linkage clustering of ``n`` points cut at ``threshold``, from sparse distances.

    ``edges``: (i, j, distance) for the pairs that have one; every other pair is at
    :data:`NO_EDGE`. The same partition as scikit-learn's average linkage on the dense matrix
    with ``distance_threshold=threshold`` (for ``threshold < NO_EDGE``: two clusters with no edge
    between them are at exactly NO_EDGE and never merge), in memory proportional to the edges.
    Each cluster pair keeps (sum of its known distances, their count); their average linkage is
    ``(sum + NO_EDGE * (|A| |B| - count)) / (|A| |B|)``. The closest pair at or under the
    threshold is merged first (a heap with stale entries skipped), until none is left.
    Returns a label per point (0..k-1, in order of first appearance).
    """
    size = [1] * n
    nbr: list[dict[int, tuple[float, int]]] = [{} for _ in range(n)]
    for i, j, d in edges:
        if i == j:
            continue
        s, c = nbr[i].get(j, (0.0, 0))
        nbr[i][j] = nbr[j][i] = (s + float(d), c + 1)

    def distance(a: int, b: int, sc: tuple[float, int]) -> float:
        pairs = size[a] * size[b]
        return (sc[0] + NO_EDGE * (pairs - sc[1])) / pairs

    heap = [(distance(i, j, sc), i, j) for i in range(n) for j, sc in nbr[i].items() if i < j]
    heap = [h for h in heap if h[0] <= threshold]
    heapq.heapify(heap)
    owner = list(range(n))
    alive = [True] * n
    while heap:
        d, a, b = heapq.heappop(heap)
        if not (alive[a] and alive[b]) or b not in nbr[a] or distance(a, b, nbr[a][b]) != d:
            continue  # stale: one side merged since, or their distance changed
        if len(nbr[a]) < len(nbr[b]):
            a, b = b, a  # fold the cluster with fewer neighbours into the other
        del nbr[a][b], nbr[b][a]
        for k, (s, c) in nbr[b].items():
            s2, c2 = nbr[a].get(k, (0.0, 0))
            del nbr[k][b]
            nbr[a][k] = nbr[k][a] = (s + s2, c + c2)
        nbr[b] = {}
        size[a] += size[b]
        alive[b] = False
        owner[b] = a
        for k, sc in nbr[a].items():
            dk = distance(a, k, sc)
            if dk <= threshold:
                heapq.heappush(heap, (dk, min(a, k), max(a, k)))

    def root(i: int) -> int:
        while owner[i] != i:
            owner[i] = owner[owner[i]]
            i = owner[i]
        return i

    relabel: dict[int, int] = {}
    return np.array([relabel.setdefault(root(i), len(relabel)) for i in range(n)], dtype=np.int64)


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
