"""Regroup everyone, and open one person, at 1,000 faces (issue 24, item 10).

A real catalog and people store in a fresh data directory: ``--faces`` faces in as many photos
(stored copies are real 640x480 JPEGs, thumbnails real 96 px ones), ``--people`` people whose
faces are 80-99% alike among themselves and 50-70% alike across people (one edge per face to 8
others), every face already searched (the graph is kept, so a regroup never searches again on the
local engine). Timed, each the median of ``--repeat`` runs:

* ``regroup``: ``coll.people.regroup()``, what the "Regroup everyone" job runs;
* ``person page``: the Person page script under Streamlit's AppTest (no browser), opened on the
  largest person, warm (the second and later runs of the page), everything it draws included:
  the people picker, up to 48 photos with boxes, the faces table with thumbnails.

    python -m bench.people_open [--faces 1000] [--people 50] [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from PIL import Image

from facelib import BoundingBox, FaceDetail, FaceStatus, Settings, StoredFace, StoredImage, Workspace

ROOT = Path(__file__).resolve().parent.parent


def jpeg(size: tuple[int, int], shade: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (shade, 120, 200 - shade // 2)).save(buf, "JPEG", quality=85)
    return buf.getvalue()


def build(data: Path, n: int, people: int) -> None:
    ws = Workspace(Settings(data_dir=data))
    coll = ws.ensure_collection("bench")
    rng = random.Random(0)
    photos = data / "bench-photos"
    photos.mkdir(parents=True, exist_ok=True)
    thumbs = data / "bench-thumbs"
    thumbs.mkdir(parents=True, exist_ok=True)
    photo_bytes, thumb_bytes = jpeg((640, 480), 90), jpeg((96, 96), 140)
    owner = {}
    for i in range(n):
        sha = f"{i:064x}"
        (photos / f"{i}.jpg").write_bytes(photo_bytes)
        (thumbs / f"{i}.jpg").write_bytes(thumb_bytes)
        face_id = str(uuid.UUID(int=rng.getrandbits(128)))
        owner[face_id] = i % people
        image = StoredImage("bench", sha, f"photo-{i:04d}.jpg", None, str(photos / f"{i}.jpg"), 640, 480,
                            len(photo_bytes), "JPEG", time.time(), {})
        detail = FaceDetail(BoundingBox(0.3, 0.2, 0.3, 0.4), confidence=99, brightness=55, sharpness=60, size_px=190)
        ws.catalog.record_image(image, [StoredFace(face_id, "bench", sha, 0, FaceStatus.INDEXED, (), detail,
                                                   str(thumbs / f"{i}.jpg"))])
    ids = list(owner)
    by_person: dict[int, list[str]] = {}
    for f, p in owner.items():
        by_person.setdefault(p, []).append(f)
    store = coll.people.store
    for f in ids:
        mates = [m for m in by_person[owner[f]] if m > f]  # SearchFaces at 50% finds every face of the person
        others = rng.sample(ids, 2)
        store.add_edges(f, [(m, rng.uniform(80, 99)) for m in mates]
                        + [(o, rng.uniform(50, 70)) for o in others if owner[o] != owner[f]])
    coll.people.update()  # everyone placed once, as after indexing


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--faces", type=int, default=1000)
    ap.add_argument("--people", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    data = Path(tempfile.mkdtemp()) / "data"
    t = time.perf_counter()
    build(data, args.faces, args.people)
    print(f"machine: {os.cpu_count()} cores; built {args.faces} faces in {time.perf_counter() - t:.1f} s")
    ws = Workspace(Settings(data_dir=data))
    coll = ws.collection("bench")
    regroup = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        coll.people.regroup()
        regroup.append(time.perf_counter() - t)
    listing = coll.people.listing()
    print(f"regroup: median {statistics.median(regroup):.3f} s (min {min(regroup):.3f}, max {max(regroup):.3f}); "
          f"{len(listing)} people, the largest of {len(listing[0].face_ids)} faces")

    os.environ["FACESEARCH_DATA_DIR"] = str(data)
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.query_params["collection"] = "bench"
    at.run()
    at.session_state["person"] = listing[0].person_id
    at.switch_page("pages/6_Person.py").run()  # cold: caches, imports
    assert not at.exception, at.exception
    runs = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        at.run()
        runs.append(time.perf_counter() - t)
    assert not at.exception, at.exception
    def images(node) -> int:
        return int(type(node).__name__ == "Image") + sum(images(c) for c in getattr(node, "children", {}).values())

    photos = images(at._tree)
    print(f"person page (AppTest, warm, {photos} image elements): median {statistics.median(runs):.3f} s "
          f"(min {min(runs):.3f}, max {max(runs):.3f})")


if __name__ == "__main__":
    main()
