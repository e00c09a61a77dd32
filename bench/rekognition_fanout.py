"""Rekognition batch fan-out: photos per second against a Rekognition-shaped endpoint on 127.0.0.1.

The endpoint (bench/rekognition_endpoint.py, in a process of its own, as the service is not in
the app's process) answers IndexFaces with the recorded real responses in
../shared/rekognition-responses after a uniform 200-400 ms (a realistic service latency), so
the figure is what the app's own work (decode, thumbnails, catalog) plus botocore's client,
threads and connection pool make of a network-bound batch. Side by side, in one run:

- ``now``: the batch client as configured today (``Settings.aws_concurrency``, default 16, with a
  connection pool to match);
- ``before``: what the code did before: ``os.cpu_count()`` threads (2 here) and botocore's
  default pool of 10.

Photos: the faces-dev images (re-encoded copies when more are asked for than exist), else
generated ones.

    python -m bench.rekognition_fanout [--photos 100] [--concurrency 16] [--latency 0.2 0.4]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

from facelib import Settings, Workspace, bytes_source
from facelib.ingest.sources import Source

SHARED = Path(__file__).resolve().parent.parent.parent / "shared"
RECORDED = SHARED / "rekognition-responses" / "datas" / "index-faces"
IMAGES = SHARED / "faces-dev" / "images"


def batch(n: int) -> list[Source]:
    """n distinct photos: faces-dev re-encoded with a changed pixel each (distinct sha256)."""
    files = sorted(p for p in IMAGES.glob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png")) if IMAGES.is_dir() else []
    out = []
    for i in range(n):
        if files:
            im = Image.open(files[i % len(files)]).convert("RGB")
            im.thumbnail((1600, 1600))
        else:
            im = Image.new("RGB", (800, 600), (120 + i % 100, 90, 80))
        im.putpixel((i % im.width, 0), (i % 256, (i // 256) % 256, 7))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=88)
        out.append(bytes_source(f"photo{i:04d}.jpg", buf.getvalue()))
    return out


def run(url: str, sources: list[Source], concurrency: int, workers: int | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Settings(data_dir=Path(tmp), engine="rekognition", aws_region="us-east-1",
                                aws_endpoint_url=url, aws_concurrency=concurrency))
        coll = ws.create_collection(f"bench {time.time_ns()}")
        start = time.perf_counter()
        report = coll.index(sources, workers=workers)
        seconds = time.perf_counter() - start
        return {"photos": len(report.outcomes), "faces": report.faces_indexed, "errors": len(report.errors),
                "seconds": round(seconds, 2), "photos_per_s": round(len(sources) / seconds, 1)}


@contextlib.contextmanager
def endpoint_process(latency: tuple[float, float]) -> Iterator[str]:
    """The endpoint in a child process; yields its URL; the child is gone afterwards."""
    cmd = [sys.executable, "-m", "bench.rekognition_endpoint", "--latency", *map(str, latency)]
    if RECORDED.is_dir():
        cmd += ["--responses", str(RECORDED)]
    child = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                             cwd=Path(__file__).resolve().parent.parent)
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip()
    finally:
        child.kill()
        child.wait()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=100)
    ap.add_argument("--concurrency", type=int, default=Settings().aws_concurrency)
    ap.add_argument("--latency", type=float, nargs=2, default=(0.2, 0.4), metavar=("MIN", "MAX"))
    args = ap.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    sources = batch(args.photos)
    with endpoint_process(tuple(args.latency)) as url:
        now = run(url, sources, args.concurrency, None)
        # Before: cpu_count threads, each making one call at a time (concurrency = threads, no extras).
        before = run(url, sources, os.cpu_count() or 1, 1 if (os.cpu_count() or 1) == 1 else None)
    print(json.dumps({"latency_s": list(args.latency), "recorded_responses": len(list(RECORDED.glob("*.json"))),
                      "now": {"concurrency": args.concurrency, **now},
                      "before": {"threads": os.cpu_count() or 1, "pool": 10, **before},
                      "speedup": round(now["photos_per_s"] / before["photos_per_s"], 2)}, indent=2))


if __name__ == "__main__":
    main()
