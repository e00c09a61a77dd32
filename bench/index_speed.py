"""Indexing throughput and detection recall: facelib vs the face_recognition CLI, side by side.

Same photos (../shared/faces-dev/images), same 2 cores, one run. Both are timed as whole commands
(interpreter start and model loading included):

- facelib:           python -m facelib index UNKNOWN --collection bench --workers N --no-group
                     (like for like: the CLI does not group people; grouping is timed apart)
- face_recognition:  face_recognition --cpus N KNOWN UNKNOWN     (1.3.0, HOG, upsample 1, 1600 px)

Recall: of the faces AWS Rekognition found on the same photos
(../shared/rekognition-responses/datas/detect-faces/), how many each finds (a face counts when
the centre of Rekognition's box lies inside a detected box). face_recognition's detections are
taken with its own face_locations() at the CLI's settings.

    pip install --no-deps face_recognition==1.3.0 click   # next to dlib-bin
    python -m bench.index_speed [--workers 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from bench.devset import DEV

ROOT = Path(__file__).resolve().parent.parent

DETECT = DEV.parent / "rekognition-responses" / "datas" / "detect-faces"


def timed(cmd: list[str], env: dict | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=ROOT)
    return time.perf_counter() - t


def rekognition_faces() -> dict[str, list[dict]]:
    return {p.stem: json.loads(p.read_text())["FaceDetails"] for p in sorted(DETECT.glob("*.json"))}


def covered(rek: list[dict], boxes: list[tuple[float, float, float, float]]) -> int:
    """How many Rekognition boxes have their centre inside one of ``boxes`` (relative l, t, r, b)."""
    n = 0
    for d in rek:
        b = d["BoundingBox"]
        cx, cy = b["Left"] + b["Width"] / 2, b["Top"] + b["Height"] / 2
        n += any(left <= cx <= r and t <= cy <= bt for left, t, r, bt in boxes)
    return n


def facelib_boxes(data_dir: Path) -> dict[str, list]:
    from facelib.settings import Settings
    from facelib.workspace import Workspace

    ws = Workspace(Settings(data_dir=data_dir))
    out: dict[str, list] = {}
    for f in ws.catalog.faces("bench"):
        b = f.detail.box
        out.setdefault(Path(f.image_name).stem, []).append((b.left, b.top, b.left + b.width, b.top + b.height))
    return out


def face_recognition_boxes(names: list[str]) -> dict[str, list]:
    import face_recognition

    out = {}
    for name in names:
        img = face_recognition.load_image_file(str(DEV / "images" / f"{name}.jpg"))
        if max(img.shape) > 1600:  # exactly what face_recognition_cli does
            pil = Image.fromarray(img)
            pil.thumbnail((1600, 1600), Image.LANCZOS)
            img = np.array(pil)
        h, w = img.shape[:2]
        out[name] = [(left / w, t / h, r / w, b / h) for t, r, b, left in face_recognition.face_locations(img)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if not DEV.exists():
        sys.exit(f"{DEV} is absent")
    if not shutil.which("face_recognition"):
        sys.exit("pip install --no-deps face_recognition==1.3.0 click  (the baseline)")
    tmp = Path(tempfile.mkdtemp())
    unknown = DEV / "images"
    known = tmp / "known"
    known.mkdir()
    shutil.copy(unknown / "obama_k1.jpg", known / "obama.jpg")
    n_images = len(list(unknown.iterdir()))

    ours, theirs = [], []
    for i in range(args.repeat):
        data = tmp / f"data{i}"
        ours.append(timed([sys.executable, "-m", "facelib", "index", str(unknown), "--collection", "bench",
                           "--data-dir", str(data), "--workers", str(args.workers), "--quiet", "--no-group"]))
        theirs.append(timed(["face_recognition", "--cpus", str(args.workers), str(known), str(unknown)]))
    t_ours, t_theirs = statistics.median(ours), statistics.median(theirs)
    grouping = timed([sys.executable, "-m", "facelib", "people", "--collection", "bench", "--data-dir",
                      str(tmp / "data0")])

    rek = rekognition_faces()
    total = sum(len(v) for v in rek.values())
    ours_boxes = facelib_boxes(tmp / "data0")
    theirs_boxes = face_recognition_boxes(list(rek))
    found_ours = sum(covered(rek[n], ours_boxes.get(n, [])) for n in rek)
    found_theirs = sum(covered(rek[n], theirs_boxes.get(n, [])) for n in rek)
    faces_ours = sum(len(v) for v in ours_boxes.values())

    print(f"machine: {os.cpu_count()} cores; {n_images} photos; workers {args.workers}; median of {args.repeat}")
    print("| tool | seconds | images/s | Rekognition faces found |")
    print("|---|---|---|---|")
    print(f"| facelib index (HOG) | {t_ours:.2f} | {n_images / t_ours:.2f} | {found_ours} of {total} |")
    print(f"| face_recognition CLI 1.3.0 | {t_theirs:.2f} | {n_images / t_theirs:.2f} | {found_theirs} of {total} |")
    print(f"speed ratio facelib / face_recognition: {t_theirs / t_ours:.2f}x; facelib faces indexed: {faces_ours}")
    print(f"grouping those faces into people afterwards (python -m facelib people): {grouping:.2f} s")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
