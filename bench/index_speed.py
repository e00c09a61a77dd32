"""Indexing throughput and detection recall: facelib vs the face_recognition CLI, side by side.

Same photos (../shared/faces-dev/images), same 2 cores, one run. Both are timed as whole commands
(interpreter start and model loading included):

- facelib sface:     python -m facelib index UNKNOWN --collection bench --workers N --no-group
                     (the default model: YuNet + SFace)
- facelib dlib:      the same with --model dlib (HOG)
                     (like for like: the CLI does not group people; grouping is timed apart)
- face_recognition:  face_recognition --cpus N KNOWN UNKNOWN     (1.3.0, HOG, upsample 1, 1600 px)

Recall: of the faces AWS Rekognition found on the same photos
(../shared/rekognition-responses/datas/detect-faces/), how many each finds (a face counts when
the centre of Rekognition's box lies inside a detected box), and how many boxes hold no
Rekognition face (false boxes, on the photos Rekognition saw). face_recognition's detections are
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


def false_boxes(rek: list[dict], boxes: list[tuple[float, float, float, float]]) -> int:
    """How many of ``boxes`` hold no Rekognition face centre."""
    centres = [(d["BoundingBox"]["Left"] + d["BoundingBox"]["Width"] / 2,
                d["BoundingBox"]["Top"] + d["BoundingBox"]["Height"] / 2) for d in rek]
    return sum(1 for left, t, r, bt in boxes if not any(left <= cx <= r and t <= cy <= bt for cx, cy in centres))


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

    times: dict[str, list[float]] = {"sface": [], "dlib": [], "cli": []}
    for i in range(args.repeat):
        for model in ("sface", "dlib"):
            data = tmp / f"{model}{i}"
            times[model].append(timed([sys.executable, "-m", "facelib", "index", str(unknown), "--collection",
                                       "bench", "--data-dir", str(data), "--workers", str(args.workers), "--quiet",
                                       "--no-group", "--model", model]))
        times["cli"].append(timed(["face_recognition", "--cpus", str(args.workers), str(known), str(unknown)]))
    median = {k: statistics.median(v) for k, v in times.items()}
    grouping = timed([sys.executable, "-m", "facelib", "people", "--collection", "bench", "--data-dir",
                      str(tmp / "sface0")])

    rek = rekognition_faces()
    total = sum(len(v) for v in rek.values())
    boxes = {"sface": facelib_boxes(tmp / "sface0"), "dlib": facelib_boxes(tmp / "dlib0"),
             "cli": face_recognition_boxes(list(rek))}
    found = {k: sum(covered(rek[n], b.get(n, [])) for n in rek) for k, b in boxes.items()}
    false = {k: sum(false_boxes(rek[n], b.get(n, [])) for n in rek) for k, b in boxes.items()}
    faces = {k: sum(len(v) for v in b.values()) for k, b in boxes.items() if k != "cli"}

    print(f"machine: {os.cpu_count()} cores; {n_images} photos; workers {args.workers}; median of {args.repeat}")
    print("| tool | seconds | images/s | vs CLI | Rekognition faces found | false boxes |")
    print("|---|---|---|---|---|---|")
    for key, label in (("sface", "facelib index, sface (YuNet + SFace)"), ("dlib", "facelib index, dlib (HOG)"),
                       ("cli", "face_recognition CLI 1.3.0")):
        print(f"| {label} | {median[key]:.2f} | {n_images / median[key]:.2f} | {median['cli'] / median[key]:.2f}x | "
              f"{found[key]} of {total} | {false[key]} |")
    print(f"faces indexed: sface {faces['sface']}, dlib {faces['dlib']} (all photos)")
    print(f"grouping the sface faces into people afterwards (python -m facelib people): {grouping:.2f} s")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
