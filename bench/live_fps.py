"""Live page frame processing on this machine: frames per second and the latency each frame gains.

640x480 frames showing one face (obama2.jpg) and two faces (obama + biden side by side), through
``LiveRecognizer.process`` (downscaled detection, tracking, drawing; searches in the background,
once a second per face) against the same frames through the PyAV conversions alone, for each
local model's detector (YuNet for sface, HOG for dlib) in one run.

    python -m bench.live_fps [--frames 150]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image

from facelib import MODELS, Settings, Workspace, expand_paths

ROOT = Path(__file__).resolve().parent.parent

SAMPLES = ROOT / "data" / "samples"


def frame(photos: list[str]) -> np.ndarray:
    out = Image.new("RGB", (640, 480), (230, 230, 230))
    w = 640 // len(photos)
    for i, name in enumerate(photos):
        im = Image.open(SAMPLES / name).convert("RGB")
        im.thumbnail((w, 480))
        out.paste(im, (i * w + (w - im.width) // 2, (480 - im.height) // 2))
    return np.asarray(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=150)
    args = ap.parse_args()
    print("| model (detector) | frames showing | bare PyAV round trip ms | with recognition ms (median) | p95 ms "
          "| added ms | frames/s |")
    print("|---|---|---|---|---|---|---|")
    cases = [(model, label, photos) for model in MODELS
             for label, photos in (("one face", ["obama2.jpg"]), ("two faces", ["obama.jpg", "biden.jpg"]))]
    for model, label, photos in cases:
        ws = Workspace(Settings(data_dir=Path(tempfile.mkdtemp()) / "data", model=model))
        ws.ensure_collection("live", "local").index(expand_paths(sorted(SAMPLES.glob("*.jpg"))), workers=1)
        rgb = frame(photos)
        rec = ws.collection("live").live()
        bare, ours = [], []
        for _ in range(args.frames):
            vf = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            t = time.perf_counter()
            av.VideoFrame.from_ndarray(vf.to_ndarray(format="rgb24"), format="rgb24")
            bare.append(time.perf_counter() - t)
            t = time.perf_counter()
            av.VideoFrame.from_ndarray(rec.process(vf.to_ndarray(format="rgb24")), format="rgb24")
            ours.append(time.perf_counter() - t)
            time.sleep(0.01)  # let the search thread run, as between camera frames
        rec.close()
        snap = rec.snapshot()
        assert snap["faces"] and all(f["label"] for f in snap["faces"])
        ms = sorted(1000 * x for x in ours)
        med, p95, b = statistics.median(ms), ms[int(0.95 * (len(ms) - 1))], 1000 * statistics.median(bare)
        detector = "YuNet" if model == "sface" else "HOG"
        print(f"| {model} ({detector}) | {label} | {b:.1f} | {med:.1f} | {p95:.1f} | {med - b:.1f} | {1000 / med:.1f} |")


if __name__ == "__main__":
    main()
