"""Where indexing time goes, parallel efficiency, and the effect of the detection-scale policy.

1. One process over ../shared/faces-dev/images with each stage timed: decode, detect,
   align+describe, quality, thumbnails, catalog (+ files).
2. The same detection with "upsample every image once" (the usual recipe, as face_recognition
   does) against facelib's policy (upsample only images up to 0.64 MP), same run.
3. Whole CLI runs with 1 and 2 workers: images/s and parallel efficiency.

    python -m bench.index_profile
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import facelib.engines.local as local
import facelib.pipeline as pipeline
import facelib.quality as quality
from bench.devset import DEV
from facelib.settings import Settings
from facelib.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent

SPENT: dict[str, float] = defaultdict(float)


def timed(name: str, fn):
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            SPENT[name] += time.perf_counter() - t
    return wrapper


def profile_stages(images: list[Path]) -> None:
    pipeline.decode = timed("decode", pipeline.decode)
    local.LocalEngine._detect = timed("detect", local.LocalEngine._detect)
    local.LocalEngine.analyze = timed("analyze (all)", local.LocalEngine.analyze)
    for name in ("face_crop_gray", "brightness", "sharpness", "pose_from_five_points"):
        setattr(local, name, timed("quality", getattr(quality, name)))
    pipeline._thumbs = timed("thumbnails", pipeline._thumbs)
    pipeline.Indexer._commit = timed("catalog + files", pipeline.Indexer._commit)
    ws = Workspace(Settings(data_dir=Path(tempfile.mkdtemp()) / "data"))
    ws.engine("local").warm()
    t = time.perf_counter()
    report = pipeline.index_paths(ws, "p", images, workers=1)
    total = time.perf_counter() - t
    SPENT["align + describe"] = SPENT.pop("analyze (all)") - SPENT["detect"] - SPENT["quality"]
    print(f"one process, {len(report.outcomes)} photos, {report.faces_indexed} faces, {total:.2f} s in all")
    print("| stage | seconds | share |")
    print("|---|---|---|")
    for name in ("decode", "detect", "align + describe", "quality", "thumbnails", "catalog + files"):
        print(f"| {name} | {SPENT[name]:.2f} | {SPENT[name] / total:.0%} |")
    other = total - sum(SPENT[n] for n in ("decode", "detect", "align + describe", "quality", "thumbnails",
                                           "catalog + files"))
    print(f"| other (reading, hashing, bookkeeping) | {other:.2f} | {other / total:.0%} |")


def detection_policy(images: list[Path]) -> None:
    from facelib.images import load_file

    decoded = [load_file(str(p)) for p in images]
    engine = local.LocalEngine(None)  # type: ignore[arg-type]
    engine.warm()
    rows = []
    for label, limit in (("upsample every image once", float("inf")), ("facelib: only up to 0.64 MP", None)):
        local.UPSAMPLE_MAX_PIXELS = limit if limit is not None else 640_000
        t = time.perf_counter()
        faces = sum(len(engine._detect(im.array)) for im in decoded)
        rows.append((label, time.perf_counter() - t, faces))
    print("| detection | seconds | faces found |")
    print("|---|---|---|")
    for label, s, n in rows:
        print(f"| {label} | {s:.2f} | {n} |")
    print(f"detection speed-up: {rows[0][1] / rows[1][1]:.2f}x")


def workers_scaling(folder: Path, n_images: int) -> None:
    times = {}
    for workers in (1, 2):
        data = Path(tempfile.mkdtemp()) / "data"
        t = time.perf_counter()
        subprocess.run([sys.executable, "-m", "facelib", "index", str(folder), "--collection", "w", "--data-dir",
                        str(data), "--workers", str(workers), "--quiet", "--no-group"], check=True, cwd=ROOT)
        times[workers] = time.perf_counter() - t
    print("| workers | seconds | images/s |")
    print("|---|---|---|")
    for w, s in times.items():
        print(f"| {w} | {s:.2f} | {n_images / s:.2f} |")
    print(f"parallel efficiency with 2 workers: {times[1] / times[2] / 2:.0%}")


def main() -> None:
    if not DEV.exists():
        sys.exit(f"{DEV} is absent")
    images = sorted((DEV / "images").iterdir())
    print(f"machine: {os.cpu_count()} cores")
    profile_stages(images)
    detection_policy(images)
    workers_scaling(DEV / "images", len(images))


if __name__ == "__main__":
    main()
