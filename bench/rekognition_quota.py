"""Rekognition batch against an account's TPS quota: does the batch find it, and stay under it?

The endpoint (bench/rekognition_endpoint.py, in a process of its own) enforces a token-bucket TPS
quota on IndexFaces (one second of burst; a call over it answers
ProvisionedThroughputExceededException at once, as the service does) and answers the others
after a fixed latency (300 ms by default). The app indexes ``--photos`` distinct small photos into
a fresh collection with its default settings (16 calls in flight to start with, growing to the
ceiling, :func:`facelib.aws.ceiling`), once per quota. Reported per quota: photos/s over the
whole batch, failed photos, calls made, throttled calls and their share, and the calls in flight
the pacer ended at.

    python -m bench.rekognition_quota [--photos 1000] [--tps 50 100] [--latency 0.3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

from facelib import Settings, Workspace, bytes_source
from facelib.ingest.sources import Source

ROOT = Path(__file__).resolve().parent.parent


def photos(n: int) -> list[Source]:
    """n distinct small JPEGs (a shipped face photo at 256 px with its number in blocks along the top): the
    figure is about the calls, not about decoding."""
    base = Image.open(ROOT / "tests" / "fixtures" / "obama.jpg").convert("RGB")
    base.thumbnail((256, 256))
    out = []
    for i in range(n):
        im = base.copy()
        for bit in range(17):  # the photo's number in black and white 8 px blocks: JPEG keeps them distinct
            im.paste((255, 255, 255) if i >> bit & 1 else (0, 0, 0), (8 * bit, 0, 8 * bit + 8, 8))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=85)
        out.append(bytes_source(f"p{i:05d}.jpg", buf.getvalue()))
    return out


@contextlib.contextmanager
def endpoint_process(latency: float, tps: float) -> Iterator[str]:
    """The endpoint with the quota, in a child process; yields its URL; the child is gone afterwards."""
    cmd = [sys.executable, "-m", "bench.rekognition_endpoint", "--latency", str(latency), str(latency),
           "--quota", "IndexFaces", str(tps)]
    child = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip()
    finally:
        child.kill()
        child.wait()


def stats(url: str) -> dict[str, dict[str, int]]:
    with urllib.request.urlopen(f"{url}/_stats", timeout=10) as r:  # noqa: S310 - 127.0.0.1
        result: dict[str, dict[str, int]] = json.loads(r.read())
        return result


class _Pacer(logging.Handler):
    """Keeps the batch's INFO line (the calls in flight the pacer ended at)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def run(tps: float, latency: float, sources: list[Source]) -> dict[str, object]:
    with endpoint_process(latency, tps) as url, tempfile.TemporaryDirectory() as tmp:
        ws = Workspace(Settings(data_dir=Path(tmp), engine="rekognition", aws_region="us-east-1",
                                aws_endpoint_url=url))
        coll = ws.create_collection(f"quota {tps:g}")
        time.sleep(1.0)  # the quota's bucket is full again (creating the collection took none of it)
        handler = _Pacer()
        log = logging.getLogger("facelib.engines.rekognition.engine")
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        start = time.perf_counter()
        report = coll.index(sources)
        seconds = time.perf_counter() - start
        log.removeHandler(handler)
        s = stats(url)
    calls = s["calls"].get("IndexFaces", 0)
    throttled = s["throttled"].get("IndexFaces", 0)
    return {"quota_tps": tps, "photos": len(sources), "seconds": round(seconds, 2),
            "photos_per_s": round(len(sources) / seconds, 1), "failed_photos": len(report.errors),
            "outcomes": dict(Counter(str(o.status) for o in report.outcomes)),
            "indexfaces_calls": calls, "throttled": throttled,
            "throttled_share": round(throttled / calls, 4) if calls else 0.0,
            "batch_log": next((line for line in handler.lines if "IndexFaces calls" in line), "")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=1000)
    ap.add_argument("--tps", type=float, nargs="+", default=[50.0, 100.0])
    ap.add_argument("--latency", type=float, default=0.3)
    args = ap.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.pop("AWS_PROFILE", None)
    sources = photos(args.photos)
    rows = [run(tps, args.latency, sources) for tps in args.tps]
    print(json.dumps({"latency_s": args.latency, "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
