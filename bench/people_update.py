"""Placing new faces into people (the incremental rule) in a 100k-face collection.

Builds the collection of ``bench.catalog_scale`` (N faces, 20 per person, all grouped), indexes
K new faces of existing people, then times ``coll.people.update()``: the K searches plus the
placement. The placement's "who may this face not join" sets are computed both ways in the same
run: by the indexes ``People.update`` builds (faces by photo, cannot-links by face) and by the
previous scan over every grouped face for each new face; the two must agree.

    python -m bench.people_update [--faces 100000] [--new 200]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from bench.catalog_scale import PER_PERSON, build
from facelib import FaceStatus, Settings, StoredFace, StoredImage, Workspace
from facelib.engines.local.analysis import AnalyzedFace
from facelib.people.grouping import pair


def add_new_faces(ws: Workspace, n_old: int, k: int) -> None:
    engine = ws.engine("local")
    template = ws.collection("big").faces_by_id([ws.catalog.sample_faces("big", 1)[0].face_id])
    detail = next(iter(template.values())).detail
    rng = np.random.default_rng(1)
    for i in range(k):
        sha = f"{n_old + i:064x}"
        vec = engine.vector("big", ws.catalog.sample_faces("big", 1, seed=i)[0].face_id) + \
            rng.normal(scale=0.02, size=128).astype(np.float32)
        with ws.db.transaction():
            res = engine.index_analyzed("big", sha, sha, [AnalyzedFace(detail, vec)])
            f = res.faces[0]
            ws.catalog.record_image(StoredImage("big", sha, f"new/{i}.jpg", "bench", None, 910, 1137, 0, "JPEG",
                                                float(n_old + i), {}),
                                    [StoredFace(f.face_id, "big", sha, 0, FaceStatus.INDEXED, (), detail, None)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--faces", type=int, default=100_000)
    ap.add_argument("--new", type=int, default=200)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    ws = Workspace(Settings(data_dir=tmp / "data"))
    build(ws, args.faces)
    add_new_faces(ws, args.faces, args.new)
    people = ws.collection("big").people
    faces = ws.catalog.face_briefs("big")
    person_of = people.person_of()
    decisions = people.store.decisions()
    todo = sorted(f for f in faces if f not in person_of)
    assert len(todo) == args.new

    t = time.perf_counter()
    in_photo: dict[str, list[str]] = defaultdict(list)
    for f, (sha, _) in faces.items():
        in_photo[sha].append(f)
    cannot: dict[str, list[str]] = defaultdict(list)
    for a, b in decisions.cannot_link:
        cannot[a].append(b)
        cannot[b].append(a)
    indexed = [{person_of[o] for o in in_photo[faces[f][0]] + cannot[f] if o in person_of} for f in todo]
    t_indexed = time.perf_counter() - t

    t = time.perf_counter()
    photo = {f: sha for f, (sha, _) in faces.items()}
    scanned = [{pid for other, pid in person_of.items()
                if other in faces and photo.get(other) == photo[face_id] or pair(face_id, other) in decisions.cannot_link}
               for face_id in todo]
    t_scanned = time.perf_counter() - t
    assert indexed == scanned

    t = time.perf_counter()
    placed = people.update()
    t_update = time.perf_counter() - t
    assert placed == args.new
    print(f"machine: {os.cpu_count()} cores; {args.faces:,} grouped faces ({args.faces // PER_PERSON:,} people), "
          f"{args.new} new faces")
    print(f"blocked sets, indexed: {1000 * t_indexed / args.new:.3f} ms per new face (indexes included); "
          f"scan of every grouped face: {1000 * t_scanned / args.new:.1f} ms per new face; "
          f"ratio {t_scanned / t_indexed:.0f}x")
    print(f"people.update() for the {args.new} new faces (one search each + placement): {t_update:.2f} s, "
          f"{1000 * t_update / args.new:.1f} ms per new face")


if __name__ == "__main__":
    main()
