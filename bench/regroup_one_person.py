"""Regrouping one very large person: peak memory, each run in a fresh process (peak RSS, MB).

N faces of one person, each with 50 matches to others of them (similarity 75-99%, as searches at
the floor return them), through facelib.people.group_faces at the default threshold:

- ``sparse``: as facelib does it (components over DENSE_MAX groups: sparse average linkage);
- ``dense``: scikit-learn on the dense distance matrix (what every component used before).

    python -m bench.regroup_one_person [--faces 20000] [--dense-faces 12000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

RUN = """
import random, resource, time
from facelib.people import grouping
from facelib.people.grouping import Edge, group_faces
if {dense}:
    grouping.DENSE_MAX = 10 ** 9
rng = random.Random(0)
ids = [f"f{{i:06d}}" for i in range({n})]
edges = [Edge(a, b, rng.uniform(75, 99)) for a in ids for b in rng.sample(ids, 50) if a != b]
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
groups = group_faces(ids, edges, {{f: f for f in ids}}, 80)
print(len(groups), len(edges), round(time.perf_counter() - t, 1), base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def run(n: int, dense: bool) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", RUN.format(n=n, dense=dense)], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent).stdout.split()
    groups, edges, seconds, base, peak = out
    return {"faces": n, "edges": int(edges), "groups": int(groups), "seconds": float(seconds),
            "peak_mb": round(int(peak) / 1024), "peak_mb_before_grouping": round(int(base) / 1024)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--faces", type=int, default=20_000)
    ap.add_argument("--dense-faces", type=int, default=12_000)
    args = ap.parse_args()
    print(json.dumps({"sparse": run(args.faces, False), "sparse_at_dense_size": run(args.dense_faces, False),
                      "dense": run(args.dense_faces, True)}, indent=2))


if __name__ == "__main__":
    main()
