"""The catalog and the app with a 100k-face collection.

Builds a local collection of N synthetic faces (one per photo, 20 faces per person, real
thumbnail file, vectors clustered per person) through the real catalog in batched transactions,
then times: inserting; counting; sampling 50 faces (the Faces page); the quality-filter listing;
listing people; and, in AppTest, the first render of every page (Search with a face query).

    python -m bench.catalog_scale [--faces 100000]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from facelib import FaceStatus, QualityFilter, Settings, StoredFace, StoredImage, Workspace, decode
from facelib.engines.local.analysis import AnalyzedFace
from facelib.thumbnails import thumbnail_jpeg

ROOT = Path(__file__).resolve().parent.parent
logging.getLogger("streamlit").setLevel(logging.ERROR)

PER_PERSON = 20


def timed(fn, repeat: int = 5) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times), out


def build(ws: Workspace, n: int) -> tuple[float, str]:
    rng = np.random.default_rng(0)
    ws.create_collection("big", "local")
    engine = ws.engine("local")
    photo = decode((ROOT / "data" / "samples" / "obama.jpg").read_bytes())
    real = engine.analyze(photo)[0]
    thumb = ws.settings.thumbs_dir / "big" / "shared.jpg"
    thumb.parent.mkdir(parents=True, exist_ok=True)
    thumb.write_bytes(thumbnail_jpeg(photo.rgb, real.detail.box))
    rel = ws.files.relative(thumb)
    centres = rng.normal(size=(n // PER_PERSON + 1, 128)).astype(np.float32)
    centres *= 1.4 / np.linalg.norm(centres, axis=1, keepdims=True)
    t0 = time.perf_counter()
    first_face = None
    for start in range(0, n, 10_000):
        with ws.db.transaction() as db:
            people_rows, link_rows = [], []
            for i in range(start, min(n, start + 10_000)):
                sha = f"{i:064x}"
                vec = centres[i // PER_PERSON] + rng.normal(scale=0.02, size=128).astype(np.float32)
                res = engine.index_analyzed("big", sha, sha, [AnalyzedFace(real.detail, vec)])
                f = res.faces[0]
                first_face = first_face or f.face_id
                ws.catalog.record_image(StoredImage("big", sha, f"photos/{i:06d}.jpg", "bench", None, 910, 1137,
                                                    0, "JPEG", float(i), {}),
                                        [StoredFace(f.face_id, "big", sha, 0, FaceStatus.INDEXED, (), real.detail, rel)])
                if i % PER_PERSON == 0:
                    people_rows.append((i // PER_PERSON + 1, "big", None, 0, 0.0))
                link_rows.append((f.face_id, i // PER_PERSON + 1, "big"))
            db.executemany("INSERT INTO people(person_id, collection, name, hidden, created_at) VALUES (?,?,?,?,?)",
                           people_rows)
            db.executemany("INSERT INTO face_person(face_id, person_id, collection) VALUES (?,?,?)", link_rows)
            db.executemany("INSERT INTO edges_done(face_id, collection) VALUES (?,?)",
                           [(r[0], "big") for r in link_rows])
    return time.perf_counter() - t0, first_face


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--faces", type=int, default=100_000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    os.environ["FACESEARCH_DATA_DIR"] = str(tmp / "data")
    ws = Workspace(Settings(data_dir=tmp / "data"))
    insert_s, face_id = build(ws, args.faces)
    print(f"machine: {os.cpu_count()} cores; {args.faces:,} faces, {args.faces // PER_PERSON:,} people")
    print(f"insert (catalog + local vectors, 10k per transaction): {insert_s:.1f} s "
          f"({args.faces / insert_s:,.0f} faces/s)")
    q = QualityFilter(min_sharpness=90)
    for label, fn in [("counts", lambda: ws.catalog.counts("big")),
                      ("sample 50 faces (Faces page)", lambda: ws.catalog.sample_faces("big", 50, seed=3)),
                      ("quality-filter listing, first 500", lambda: ws.catalog.faces_failing("big", q)),
                      ("list people", lambda: ws.collection("big").people.listing()),
                      ("search by face (engine + join)", lambda: ws.engine("local").search_faces("big", face_id, 50, 1000))]:
        ms, _ = timed(fn)
        print(f"  {label}: {ms:.1f} ms (median of 5)")

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
    t = time.perf_counter()
    at.run()
    print(f"first render, Home: {1000 * (time.perf_counter() - t):.0f} ms")
    at.session_state["search_query"] = {"kind": "face", "source": "face", "face_id": face_id}
    for page in ("pages/1_Index.py", "pages/2_Search.py", "pages/3_Faces.py", "pages/5_People.py",
                 "pages/6_Person.py", "pages/4_Collections.py"):
        t = time.perf_counter()
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        print(f"first render, {page.split('_', 1)[1][:-3]}: {1000 * (time.perf_counter() - t):.0f} ms")


if __name__ == "__main__":
    main()
