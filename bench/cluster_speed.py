"""Indexing on this machine's process pool against a local Dask cluster, in one run, on the same photos.

Photos: the dev set (../shared/faces-dev) plus a mirrored copy of each (new bytes, so nothing is
skipped), written to a temporary folder. Each run indexes them into a fresh workspace:

- ``pool``: the process pool, 2 workers (the default on this 2-core machine);
- ``cluster, workers read``: a ``LocalCluster`` of 2 worker processes x 1 thread; the files are on
  this machine, so the workers read them themselves;
- ``cluster, bytes sent``: the same cluster, the photos given as uploads (the coordinator sends them).

Rounds alternate the three (``--rounds``); the median is reported. Then the scheduler's per-task
overhead (a no-op mapped over ``--tasks`` tasks, and one task at a time), the coordinator's commit
time per image, and the projection for 1M photos on N machines of C cores.

    python -m bench.cluster_speed [--rounds 2] [--tasks 2000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageOps

from facelib import Settings, Workspace, bytes_source, expand_paths
from facelib.ingest.indexer import Indexer

ROOT = Path(__file__).resolve().parent.parent
DEV = ROOT.parent / "shared" / "faces-dev" / "images"


def _photos(folder: Path) -> list[Path]:
    """The dev photos and a mirrored copy of each, in ``folder``."""
    out = []
    for p in sorted(DEV.iterdir()):
        if p.suffix.lower() not in (".jpg", ".jpeg", ".png"):
            continue
        a, b = folder / p.name, folder / f"mirror-{p.stem}.jpg"
        a.write_bytes(p.read_bytes())
        with Image.open(p) as im:
            ImageOps.mirror(ImageOps.exif_transpose(im).convert("RGB")).save(b, "JPEG", quality=92)
        out += [a, b]
    return out


def _noop(x: int) -> int:
    return x


def _run(data: Path, sources: list, cluster: str | None) -> tuple[float, int, float]:
    """(seconds, faces indexed, seconds spent committing) of one batch into a fresh workspace."""
    ws = Workspace(Settings(data_dir=data))
    coll = ws.ensure_collection("bench")
    spent = [0.0]
    commit = Indexer.commit

    def timed(self, *args):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return commit(self, *args)
        finally:
            spent[0] += time.perf_counter() - t

    Indexer.commit = timed  # type: ignore[method-assign]
    try:
        start = time.perf_counter()
        report = coll.index(sources, workers=2, cluster=cluster if cluster is not None else "")
        seconds = time.perf_counter() - start
    finally:
        Indexer.commit = commit  # type: ignore[method-assign]
    assert not report.errors and not report.stopped, report.summary()
    return seconds, report.faces_indexed, spent[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--tasks", type=int, default=2000)
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "photos"
        folder.mkdir()
        paths = _photos(folder)
        n = len(paths)
        t = time.perf_counter()
        lc = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None)
        started = time.perf_counter() - t
        try:
            address = lc.scheduler_address
            _run(Path(tmp) / "warm", list(expand_paths(paths[:4])), address)  # models load once per worker
            runs: dict[str, list[tuple[float, int, float]]] = {"pool": [], "cluster, workers read": [],
                                                               "cluster, bytes sent": []}
            for r in range(args.rounds):
                runs["pool"].append(_run(Path(tmp) / f"p{r}", list(expand_paths(paths)), None))
                runs["cluster, workers read"].append(_run(Path(tmp) / f"c{r}", list(expand_paths(paths)), address))
                uploads = [bytes_source(p.name, p.read_bytes()) for p in paths]
                runs["cluster, bytes sent"].append(_run(Path(tmp) / f"b{r}", uploads, address))
            with Client(address, set_as_default=False) as client:
                client.gather(client.map(_noop, range(50), pure=False))  # warm the connections
                t = time.perf_counter()
                client.gather(client.map(_noop, range(args.tasks), pure=False))
                mapped_ms = (time.perf_counter() - t) / args.tasks * 1e3
                t = time.perf_counter()
                for i in range(200):
                    client.submit(_noop, i, pure=False).result()
                one_ms = (time.perf_counter() - t) / 200 * 1e3
                payload = (folder / paths[0].name).read_bytes()
                t = time.perf_counter()
                client.gather([client.submit(len, payload, pure=False) for _ in range(200)])
                payload_ms = (time.perf_counter() - t) / 200 * 1e3
        finally:
            lc.close()

    table = {}
    for name, rs in runs.items():
        sec = statistics.median(r[0] for r in rs)
        table[name] = {"seconds": round(sec, 2), "images_per_s": round(n / sec, 2), "faces": rs[0][1],
                       "commit_ms_per_image": round(statistics.median(r[2] for r in rs) / n * 1e3, 2)}
    pool = table["pool"]["images_per_s"]
    for name in table:
        table[name]["vs_pool"] = round(table[name]["images_per_s"] / pool, 3)
    per_core = pool / 2
    efficiency = table["cluster, workers read"]["vs_pool"]
    commit_ms = table["cluster, workers read"]["commit_ms_per_image"]
    coordinator_cap = 1e3 / commit_ms
    scheduler_cap = 1e3 / mapped_ms
    projection = []
    for machines, cores in ((1, 2), (4, 8), (10, 16), (50, 16), (100, 32)):
        workers_rate = machines * cores * per_core * efficiency
        rate = min(workers_rate, coordinator_cap, scheduler_cap)
        projection.append({"machines": machines, "cores": cores, "workers_img_s": round(workers_rate, 1),
                           "img_s": round(rate, 1), "hours_for_1M": round(1e6 / rate / 3600, 2),
                           "bound": "workers" if rate == workers_rate else
                           ("coordinator commits" if rate == coordinator_cap else "scheduler")})
    print(json.dumps({"photos": n, "cluster_start_s": round(started, 2), "runs": table,
                      "task_overhead_ms": {"mapped": round(mapped_ms, 3), "one_at_a_time": round(one_ms, 3),
                                           f"with_{len(payload) // 1024}_kB_sent": round(payload_ms, 3)},
                      "per_core_img_s": round(per_core, 2), "cluster_efficiency": efficiency,
                      "coordinator_cap_img_s": round(coordinator_cap, 1), "scheduler_cap_img_s": round(scheduler_cap, 1),
                      "projection": projection}, indent=2))


if __name__ == "__main__":
    main()
