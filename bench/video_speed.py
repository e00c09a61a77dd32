"""Indexing speed of video on this machine: seconds of 640x480 video indexed per second (the
real-time factor), for the decoding alone, the sampled-frame detection and tracking, and the
whole batch (key frames analysed, faces committed).

    python -m bench.video_speed [--seconds 60] [--fps 4]

The clip is made here from the shipped photos (faces moving in and out, cuts), MPEG-4 at 25 fps.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--fps", type=float, default=4.0)
    args = ap.parse_args()
    from videos import Shot, make_video

    from facelib import Settings, Workspace, file_source
    from facelib.engines.local.models import analyser_for
    from facelib.video.analysis import follow
    from facelib.video.frames import Reading, sample_frames

    faces = ["obama.jpg", "biden.jpg", "obama3.jpg", None]
    colours = [(40, 60, 80), (200, 180, 120), (90, 30, 30), (20, 120, 60)]
    shots, t, i = [], 0.0, 0
    while t < args.seconds:
        shots.append(Shot(t, min(t + 4.0, args.seconds), colours[i % 4], faces[i % 4], 0.05 + 0.1 * (i % 3), 0.4))
        t += 4.0
        i += 1
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_video(Path(tmp) / "clip.mp4", shots)
        data = clip.read_bytes()
        analyser = analyser_for("sface")
        analyser.warm()
        rows = []
        start = time.perf_counter()
        n = sum(1 for _ in sample_frames(data, Reading(), fps=args.fps))
        rows.append(("decode + sample", time.perf_counter() - start, f"{n} frames sampled"))
        start = time.perf_counter()
        found = follow(data, analyser.detect_boxes, fps=args.fps)
        rows.append(("decode + detect + track", time.perf_counter() - start, f"{len(found.tracks)} appearances"))
        ws = Workspace(Settings(data_dir=Path(tmp) / "data"))
        coll = ws.create_collection("bench", "local")
        start = time.perf_counter()
        report = coll.index([file_source(clip)], workers=1)
        rows.append(("whole batch (index a video)", time.perf_counter() - start, f"{report.faces_indexed} faces"))
    print(f"{args.seconds:.0f} s of 640x480 video at 25 fps, sampled at {args.fps:g} fps")
    print(f"{'stage':<30}{'seconds':>9}{'x real time':>13}  note")
    for label, secs, note in rows:
        print(f"{label:<30}{secs:>9.2f}{args.seconds / secs:>13.1f}  {note}")


if __name__ == "__main__":
    main()
