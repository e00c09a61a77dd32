"""Server time of a threshold-slider change on the Search page with 500 matches in the table.

Builds a local collection of 640 synthetic faces (real thumbnail, vectors drawn around a query
vector so that about 500 fall above the threshold), opens Search by face in AppTest, then moves
the threshold slider back and forth. Reports the median and p95 script time per change and the
number of engine searches made during the changes (expected 0).

    python -m bench.app_render [--changes 21] [--faces 600]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
logging.getLogger("streamlit").setLevel(logging.ERROR)


def build(data_dir: Path, n: int, seed: int = 0) -> str:
    from facelib.catalog import INDEXED, StoredFace, StoredImage
    from facelib.engines.local import AnalyzedFace
    from facelib.images import decode
    from facelib.settings import Settings
    from facelib.workspace import Workspace

    ws = Workspace(Settings(data_dir=data_dir))
    ws.create_collection("bench", "local")
    engine = ws.engine("local")
    photo = decode((ROOT / "data" / "samples" / "obama.jpg").read_bytes(), "obama.jpg")
    real = engine.analyze(photo)[0]
    rng = np.random.default_rng(seed)
    query = real.vector
    thumb_dir = ws.settings.thumbs_dir / "bench"
    thumb_dir.mkdir(parents=True, exist_ok=True)
    from facelib.thumbnails import thumbnail_jpeg

    thumb = thumbnail_jpeg(photo.rgb, real.detail.box)
    query_face = None
    for i in range(n):
        sha = f"{i:064x}"
        # Distances spread from 0.05 to about 0.75 (similarity ~99.9 down to ~20).
        direction = rng.normal(size=128).astype(np.float32)
        direction /= np.linalg.norm(direction)
        vec = query + direction * (0.05 + 0.7 * i / n)
        res = engine.index_analyzed("bench", sha, sha, [AnalyzedFace(real.detail, vec)])
        face = res.faces[0]
        path = thumb_dir / f"{face.face_id}.jpg"
        path.write_bytes(thumb)
        ws.catalog.record_image(
            StoredImage("bench", sha, f"photo_{i:04d}.jpg", "bench", None, 910, 1137, 0, "JPEG", time.time(), {}),
            [StoredFace(face.face_id, "bench", sha, 0, INDEXED, (), real.detail, ws.relative(path))])
        query_face = query_face or face.face_id
    return query_face


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--changes", type=int, default=21)
    ap.add_argument("--faces", type=int, default=640)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    os.environ["FACESEARCH_DATA_DIR"] = str(tmp / "data")
    face_id = build(tmp / "data", args.faces)

    from streamlit.testing.v1 import AppTest

    from pages.ui.common import workspace

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300).run()
    at.session_state["search_query"] = {"kind": "face", "source": "face", "face_id": face_id}
    at.session_state["_keep_threshold"] = 58
    at.switch_page("pages/2_Search.py").run()
    assert not at.exception, at.exception
    ws = workspace()
    calls_before = ws.search_calls
    low, high = 58, 62
    times, rows = [], []
    for i in range(args.changes):
        value = high if i % 2 == 0 else low
        t = time.perf_counter()
        at.slider(key="search_threshold").set_value(value).run()
        times.append(time.perf_counter() - t)
        matches = next(m.value for m in at.metric if m.label == "Matches")
        rows.append((len(at.dataframe(key="results_table").value), int(matches)))
    assert not at.exception, at.exception
    ms = sorted(1000 * x for x in times)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    print(f"faces in collection: {args.faces}; matches {min(m for _, m in rows)}-{max(m for _, m in rows)}, "
          f"rows in the table {min(r for r, _ in rows)}-{max(r for r, _ in rows)}; changes: {len(ms)}")
    print(f"threshold change, server time per rerun: median {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms")
    print(f"engine searches during the changes: {ws.search_calls - calls_before}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
