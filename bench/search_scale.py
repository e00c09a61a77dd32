"""Exact search at scale: 10k, 100k and 1M synthetic 128-D faces loaded through the real catalog.

For each size: the time to insert the vectors into the catalog (batched), to load the collection
into memory (startup), resident memory per face, then per query: p50/p95 of the engine's exact
search (``LocalEngine.search_vector``: matrix product, filtering, top-k, joining face records) and,
in the same run, of the bare matrix-vector product it cannot beat (the memory-bandwidth floor).

    python -m bench.search_scale [--sizes 10000 100000 1000000] [--queries 50]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from facelib import Settings, Workspace
from facelib.store import Database

ROOT = Path(__file__).resolve().parent.parent


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def fill(catalog: Database, collection: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Insert n random unit-ish vectors (dlib's descriptors have norm ~1.4) in batches of 10k."""
    sample = None
    detail = json.dumps({"image_id": "x", "detail": {"box": {"left": 0.1, "top": 0.1, "width": 0.2, "height": 0.2}}})
    for start in range(0, n, 10_000):
        m = min(10_000, n - start)
        vecs = rng.normal(size=(m, 128)).astype(np.float32)
        vecs *= 1.4 / np.linalg.norm(vecs, axis=1, keepdims=True)
        if sample is None:
            sample = vecs[:100].copy()
        with catalog.transaction() as db:
            db.executemany("INSERT INTO local_faces(face_id, collection, external_image_id, detail, vector)"
                           " VALUES (?,?,?,?,?)",
                           [(str(uuid.UUID(int=int(rng.integers(1 << 62)) << 64 | start + i)), collection,
                             f"img{start + i}", detail, vecs[i].tobytes()) for i in range(m)])
    with catalog.transaction() as db:
        db.execute("UPDATE local_collections SET generation=generation+1 WHERE name=?", (collection,))
    return sample


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    ap.add_argument("--queries", type=int, default=50)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    print(f"machine: {os.cpu_count()} cores; numpy {np.__version__}; queries per size: {args.queries}")
    print("| faces | insert s | load s | resident bytes/face | search p50 ms | p95 ms | bare matvec p50 ms | ratio p50 |")
    print("|---|---|---|---|---|---|---|---|")
    for n in args.sizes:
        tmp = Path(tempfile.mkdtemp())
        ws = Workspace(Settings(data_dir=tmp))
        catalog = ws.db
        engine = ws.engine("local")
        engine.create_collection("scale")
        t = time.perf_counter()
        sample = fill(catalog, "scale", n, rng)
        insert_s = time.perf_counter() - t
        gc.collect()
        before = rss_bytes()
        t = time.perf_counter()
        matrix = engine._matrices.get("scale")
        load_s = time.perf_counter() - t
        gc.collect()
        per_face = (rss_bytes() - before) / n
        # Queries near stored faces (so each search returns real matches to join).
        queries = sample[: args.queries] + rng.normal(scale=0.02, size=(args.queries, 128)).astype(np.float32)
        ours, bare = [], []
        for q in queries:
            t = time.perf_counter()
            _ = matrix.vectors @ q
            bare.append(time.perf_counter() - t)
            t = time.perf_counter()
            hits = engine.search_vector("scale", q, threshold=50, max_faces=50)
            ours.append(time.perf_counter() - t)
            assert hits and hits[0].similarity > 90
        ms = lambda x: 1000 * x  # noqa: E731
        print(f"| {n:,} | {insert_s:.1f} | {load_s:.2f} | {per_face:.0f} | {ms(statistics.median(ours)):.2f} | "
              f"{ms(percentile(ours, 0.95)):.2f} | {ms(statistics.median(bare)):.2f} | "
              f"{statistics.median(ours) / statistics.median(bare):.2f}x |", flush=True)
        del matrix, engine
        catalog.close()
        gc.collect()


if __name__ == "__main__":
    main()
