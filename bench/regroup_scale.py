"""Regrouping 100k faces: 5,000 people of 20 faces (same-person similarities 75-99%) plus 100k
cross-person edges at 50-70%, through facelib.people.group_faces.

    python -m bench.regroup_scale
"""
import random
import time

from facelib.people.grouping import Edge, group_faces

rng = random.Random(0)
n, per = 100_000, 20
ids = [f"f{i:06d}" for i in range(n)]
edges = []
for p in range(n // per):
    members = ids[p * per:(p + 1) * per]
    for i, a in enumerate(members):
        for b in members[i + 1:]:
            edges.append(Edge(a, b, rng.uniform(75, 99)))
for _ in range(n):  # cross-person noise above the floor
    a, b = rng.sample(ids, 2)
    edges.append(Edge(a, b, rng.uniform(50, 70)))
photo = {f: f for f in ids}
t = time.perf_counter()
groups = group_faces(ids, edges, photo, 80)
print(f"{n} faces, {len(edges)} edges: {len(groups)} groups in {time.perf_counter() - t:.1f} s")
