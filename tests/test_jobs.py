"""Long work as jobs, one writer per collection: two actors at once, a stop half-way, a kill -9,
a budget over a whole job, maintenance against a live batch, a cluster that cannot run facesearch.

Rekognition runs against the Rekognition-shaped endpoint on 127.0.0.1 (bench/rekognition_endpoint.py),
which keeps what it stored: after each scenario the catalog and the engine must agree exactly.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import FIXTURES, fixture_bytes
from PIL import Image

from bench.rekognition_endpoint import RekognitionEndpoint
from facelib import FileStatus, JobKind, JobRunner, JobState, Settings, Workspace, bytes_source
from facelib.doctor import check
from facelib.jobs.lease import LeaseBusy
from facelib.jobs.runner import adopt_orphans, run_here
from facelib.jobs.spool import Spool, paths_spec

ROOT = Path(__file__).resolve().parent.parent
ENV_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


def variants(n: int, name: str = "obama.jpg", prefix: str = "p") -> list[tuple[str, bytes]]:
    """n distinct JPEGs of one face photo (one pixel changed each)."""
    base = Image.open(io.BytesIO(fixture_bytes(name))).convert("RGB")
    out = []
    for i in range(n):
        im = base.copy()
        im.putpixel((i % im.width, i // im.width), (i % 256, 7, 0))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=85)
        out.append((f"{prefix}{i:03d}.jpg", buf.getvalue()))
    return out


def write(folder: Path, photos: list[tuple[str, bytes]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in photos:
        (folder / name).write_bytes(data)
    return folder


class CountingEndpoint(RekognitionEndpoint):
    """The endpoint, plus hooks on IndexFaces: ``on_index(n)`` is called with the running count
    before answering the n-th call; ``expire_after``: calls past it answer ExpiredTokenException."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.index_calls = 0
        self.expire_after: int | None = None
        self.on_index = None
        self._count_lock = threading.Lock()

    def _answer(self, operation, body):
        if operation == "IndexFaces":
            with self._count_lock:
                self.index_calls += 1
                n = self.index_calls
            if self.on_index is not None:
                self.on_index(n)
            if self.expire_after is not None and n > self.expire_after:
                return 400, {"__type": "ExpiredTokenException", "message": "The security token included in the "
                                                                           "request is expired"}
        return super()._answer(operation, body)

    def stored_faces(self) -> set[str]:
        with self._lock:
            return {f for c in self.collections.values() for f in c["faces"]}


@pytest.fixture
def endpoint(monkeypatch):
    for k, v in ENV_KEYS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with CountingEndpoint(latency=(0.05, 0.1)) as ep:
        yield ep


def rek_settings(tmp_path, ep, **kw) -> Settings:
    return Settings(data_dir=tmp_path / "data", engine="rekognition", aws_region="us-east-1", aws_endpoint_url=ep.url,
                    **kw)


def books_agree(ws: Workspace, ep: CountingEndpoint, collection: str) -> None:
    """Every face the engine holds is in the catalog and every catalog face is in the engine."""
    catalog = {f.face_id for f in ws.collection(collection).faces()}
    assert ep.stored_faces() == catalog, (len(ep.stored_faces()), len(catalog))


def cli_env(ep: CountingEndpoint | None = None, **extra: str) -> dict[str, str]:
    env = {**os.environ, **ENV_KEYS, "PYTHONPATH": str(ROOT), **extra}
    if ep is not None:
        env.update({"FACESEARCH_AWS_ENDPOINT_URL": ep.url, "AWS_DEFAULT_REGION": "us-east-1"})
    return env


def cli(*args: str, env: dict[str, str], **kw) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "facelib", *args], env=env, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)


# -- one writer per collection ---------------------------------------------------------------------
def test_a_second_writer_waits_for_the_lease_and_recovery_never_touches_a_live_batch(tmp_path, endpoint):
    """Defect 1: each batch's crash recovery erased the faces of every pending image, including
    those another live batch had in flight. Two app sessions (two workspaces) and the CLI index
    one Rekognition collection at once: every face AWS holds is in the catalog, no photo lost."""
    endpoint.latency = (0.15, 0.25)
    settings = rek_settings(tmp_path, endpoint)
    ws_a, ws_b = Workspace(settings), Workspace(settings)
    ws_a.create_collection("team", "rekognition")
    a = [bytes_source(n, d) for n, d in variants(24, prefix="a")]
    b = [bytes_source(n, d) for n, d in variants(12, "biden.jpg", "b")]  # other bytes
    c_folder = write(tmp_path / "c", variants(30, prefix="c")[24:] + variants(24, prefix="a")[:6])  # overlaps A
    # A commits slowly, so some of its images are answered by AWS but not yet recorded when B
    # and the CLI start: exactly the images an unguarded crash recovery would erase.
    record = ws_a.catalog.record_image
    ws_a.catalog.record_image = lambda *args, **kw: (time.sleep(0.15), record(*args, **kw))[1]  # type: ignore[method-assign]
    started = threading.Event()
    endpoint.on_index = lambda n: started.set() if n >= 10 else None
    reports = {}

    def run(name, ws, sources):
        reports[name] = ws.collection("team").index(sources)

    ta = threading.Thread(target=run, args=("a", ws_a, a))
    ta.start()
    assert started.wait(20)  # A is calling IndexFaces: B and the CLI start now
    tb = threading.Thread(target=run, args=("b", ws_b, b))
    tb.start()
    proc = cli("index", str(c_folder), "--collection", "team", "--engine", "rekognition", "--data-dir",
               str(settings.data_dir), "--json", "--quiet", env=cli_env(endpoint))
    ta.join(120)
    tb.join(120)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert not reports["a"].stopped and not reports["b"].stopped
    ws = Workspace(settings)
    names = {i.original_name for i in ws.collection("team").images()}
    assert {n for n, _ in variants(24, prefix="a")} <= names and len(names) == 24 + 12 + 6
    books_agree(ws, endpoint, "team")
    assert endpoint.calls["IndexFaces"] == 24 + 12 + 6  # nothing indexed twice, nothing erased and redone


def test_the_lease_is_released_when_its_holder_dies(tmp_path):
    data = tmp_path / "data"
    code = ("import sys, time; from facelib.jobs.lease import Leases; "
            f"l = Leases({str(data)!r}); cm = l.hold('team', 'index'); cm.__enter__(); print('held', flush=True); "
            "time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code], env=cli_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        from facelib.jobs.lease import Leases

        leases = Leases(data)
        holder = leases.holder("team")
        assert holder is not None and holder.pid == proc.pid and holder.kind == "index"
        with pytest.raises(LeaseBusy, match="busy"), leases.hold("team", "index", wait=False):
            pass
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        with leases.hold("team", "index", wait=False):  # the kernel released it with the process
            assert leases.held_here("team")
    finally:
        proc.kill()
        proc.wait()


# -- stopping keeps the books straight --------------------------------------------------------------
def test_an_expiring_token_half_way_keeps_every_face_aws_stored(tmp_path, endpoint):
    """Defect 3: the token expires after the 12th IndexFaces with 16 calls in flight. What AWS
    already stored (and billed) is committed, the rest is reported not indexed, and a rerun with
    fresh credentials pays only for the photos AWS does not hold."""
    endpoint.latency = (0.2, 0.3)
    endpoint.expire_after = 12
    ws = Workspace(rek_settings(tmp_path, endpoint))
    coll = ws.create_collection("t", "rekognition")
    sources = [bytes_source(n, d) for n, d in variants(40)]
    report = coll.index(sources)
    assert "expired" in report.stopped.lower() or "token" in report.stopped.lower()
    indexed = [o for o in report.outcomes if o.status == FileStatus.INDEXED]
    assert len(indexed) == 12 and len(report.outcomes) == 40
    books_agree(ws, endpoint, "t")  # nothing AWS stored was dropped
    assert not ws.catalog.pending("t")
    endpoint.expire_after = None
    calls_before = endpoint.calls["IndexFaces"]
    again = coll.index(sources)
    assert sum(o.status == FileStatus.SKIPPED for o in again.outcomes) == 12
    assert endpoint.calls["IndexFaces"] - calls_before == 28  # never paid twice for a photo AWS holds
    books_agree(ws, endpoint, "t")


def test_kill_minus_9_mid_batch_leaves_nothing_search_finds_and_erasure_cannot_reach(tmp_path, endpoint):
    """Defect 3 (kill -9): the CLI is killed after the 10th IndexFaces. `facesearch jobs` marks its
    job interrupted; the rerun erases what AWS holds for the unfinished photos first and indexes
    each photo once; `delete --all` of an imported collection leaves none of our faces in it."""
    endpoint.latency = (0.2, 0.3)
    settings = rek_settings(tmp_path, endpoint)
    ws = Workspace(settings)
    # An imported collection: deleting it here erases only the faces indexed from here.
    ws.engine("rekognition").client.create_collection(CollectionId="theirs")
    ws.import_collection("imported", "theirs")
    folder = write(tmp_path / "photos", variants(40))
    env = cli_env(endpoint)
    proc = cli("index", str(folder), "--collection", "imported", "--data-dir", str(settings.data_dir), "--quiet",
               env=env)
    killed = threading.Event()

    def kill(n):
        if n >= 10 and not killed.is_set():
            killed.set()
            os.kill(proc.pid, signal.SIGKILL)
    endpoint.on_index = kill
    proc.wait(120)
    assert killed.is_set() and proc.returncode == -signal.SIGKILL
    endpoint.on_index = None
    time.sleep(1.0)  # calls already sent land in the endpoint
    listing = subprocess.run([sys.executable, "-m", "facelib", "jobs", "--data-dir", str(settings.data_dir), "--json"],
                             env=env, text=True, capture_output=True, timeout=60)
    jobs = json.loads(listing.stdout)
    assert jobs[0]["state"] == "interrupted"
    rerun = subprocess.run([sys.executable, "-m", "facelib", "index", str(folder), "--collection", "imported",
                            "--data-dir", str(settings.data_dir), "--json", "--quiet"],
                           env=env, text=True, capture_output=True, timeout=180)
    assert rerun.returncode == 0, rerun.stderr
    ws = Workspace(settings)
    assert len(ws.collection("imported").images()) == 40
    books_agree(ws, endpoint, "imported")
    gone = subprocess.run([sys.executable, "-m", "facelib", "delete", "--collection", "imported", "--all",
                           "--data-dir", str(settings.data_dir)], env=env, text=True, capture_output=True, timeout=60)
    assert gone.returncode == 0, gone.stderr
    assert endpoint.stored_faces() == set() and "theirs" in endpoint.collections


def test_a_cancel_stops_the_job_and_keeps_what_was_done(tmp_path, endpoint):
    endpoint.latency = (0.2, 0.3)
    N = 400  # well beyond the calls a batch keeps in flight (up to 64 as it finds the quota)
    ws = Workspace(rek_settings(tmp_path, endpoint))
    coll = ws.create_collection("t", "rekognition")
    spool = Spool(ws.settings.data_dir)
    for name, data in variants(N):
        spool.add(name, data)
    job_id = coll.submit_index(spool.specs, spool.relative)
    runner = JobRunner(ws, threads=1).start()
    try:
        endpoint.on_index = lambda n: ws.cancel_job(job_id) if n == 8 else None
        deadline = time.monotonic() + 120
        while not ws.job(job_id).finished and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        runner.stop()
    job = ws.job(job_id)
    assert job.state == JobState.CANCELLED, job.message
    done = job.report["by_status"].get("indexed", 0)
    assert 8 <= done < N and endpoint.calls["IndexFaces"] == done  # no call after the cancel was seen, beyond those in flight
    books_agree(ws, endpoint, "t")
    assert not (ws.settings.data_dir / spool.relative).exists()  # the spool went with the job


# -- a budget bounds the whole job -----------------------------------------------------------------
def test_the_budget_bounds_indexing_and_grouping_together(tmp_path, endpoint):
    """Defect 4: `--group --budget-usd 0.01` spent $0.034: grouping searched every unsearched face
    of the collection after an estimate that counted only the new photos."""
    settings = rek_settings(tmp_path, endpoint)
    data = str(settings.data_dir)
    env = cli_env(endpoint)
    older = write(tmp_path / "older", variants(12, prefix="o"))
    first = subprocess.run([sys.executable, "-m", "facelib", "index", str(older), "--collection", "b", "--engine",
                            "rekognition", "--data-dir", data, "--no-group", "--quiet"], env=env, text=True,
                           capture_output=True, timeout=120)
    assert first.returncode == 0, first.stderr
    before = dict(endpoint.calls)
    new = write(tmp_path / "new", variants(3, prefix="n"))
    run = subprocess.run([sys.executable, "-m", "facelib", "index", str(new), "--collection", "b", "--group",
                          "--budget-usd", "0.01", "--data-dir", data, "--json", "--quiet"], env=env, text=True,
                         capture_output=True, timeout=120)
    prices = Settings().prices
    paid = sum((endpoint.calls[op] - before.get(op, 0)) * prices.of(op) for op in endpoint.calls)
    assert paid <= 0.01 + 1e-9, (paid, run.stderr)
    assert run.returncode == 2 and "budget" in run.stderr.lower()  # refused by the true estimate, or stopped


def test_a_job_stops_before_the_call_that_would_pass_its_budget(tmp_path, endpoint, monkeypatch):
    """Even when the estimate is wrong (here: told it costs nothing), no paid call passes the budget."""
    from facelib.collection import Collection
    from facelib.ingest.estimate import BatchEstimate

    monkeypatch.setattr(Collection, "check_budget", lambda self, *args, **kw: None)
    monkeypatch.setattr(Collection, "estimate", lambda self, sources: BatchEstimate())
    ws = Workspace(rek_settings(tmp_path, endpoint))
    coll = ws.create_collection("b", "rekognition")
    folder = write(tmp_path / "p", variants(20))
    job = run_here(ws, JobKind.INDEX, "b", {"sources": [paths_spec([folder])], "budget_usd": 0.005, "group": True})
    price = ws.settings.prices.of("IndexFaces")
    assert endpoint.calls["IndexFaces"] * price <= 0.005 + 1e-9
    assert job.state == JobState.FAILED and "limit" in job.report["stopped"]
    books_agree(ws, endpoint, "b")
    assert coll.counts()["images"] == endpoint.calls["IndexFaces"]


# -- maintenance against a live batch --------------------------------------------------------------
def test_doctor_repair_and_reindex_against_a_live_batch_lose_nothing(tmp_path):
    """Defect 5: `doctor --repair` during a batch deleted stored copies the catalog keeps, and photos
    indexed while a re-index analysed ended with no vector. Both now take the collection's lease."""
    settings = Settings(data_dir=tmp_path / "data")
    ws = Workspace(settings)
    ws.create_collection("live", "local")
    folder = write(tmp_path / "p", variants(16) + variants(8, "biden.jpg", "b"))
    env = cli_env()
    batch = cli("index", str(folder), "--collection", "live", "--data-dir", str(settings.data_dir), "--workers", "1",
                "--quiet", env=env)
    deadline = time.monotonic() + 60
    while not ws.catalog.pending("live") and time.monotonic() < deadline:  # the batch is in flight
        time.sleep(0.05)
    doctor = cli("doctor", "--repair", "--data-dir", str(settings.data_dir), "--json", env=env)
    reindex = cli("reindex", "--collection", "live", "--model", "dlib", "--data-dir", str(settings.data_dir),
                  "--quiet", "--no-group", env=env)
    for p in (batch, doctor, reindex):
        _, err = p.communicate(timeout=600)
        assert p.returncode in (0, 1), err  # doctor says 1 when something is left to report
    ws = Workspace(settings)
    coll = ws.collection("live")
    report = check(ws)
    assert not report.missing_copies and not report.missing_thumbnails and not report.orphan_files
    assert len(coll.images()) == 24 and coll.model == "dlib"
    with_faces = {f.image_sha256 for f in coll.faces()}
    assert len(with_faces) == 24  # every photo has its face, with a vector of the collection's model
    assert len(coll.engine.list_faces("live")) == len(coll.faces())


# -- a failure of the system is one error ----------------------------------------------------------
def test_a_scheduler_without_facesearch_is_one_clear_error_and_exit_status_2(tmp_path):
    """Defect 6: a plain `dask scheduler` (recent Dask unpickles graphs there) failed every photo
    with the same deserialization error and `facesearch index` exited 0 with 0 faces."""
    pytest.importorskip("distributed")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    plain = ("import sys; sys.modules['facelib'] = None\n"  # this interpreter cannot import facesearch
             "from distributed.cli.dask_scheduler import main\n"
             f"sys.argv = ['dask-scheduler', '--host', '127.0.0.1', '--port', '{port}', '--no-dashboard']\nmain()\n")
    env = cli_env()
    sched = subprocess.Popen([sys.executable, "-c", plain], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", f"tcp://127.0.0.1:{port}",
                               "--nthreads", "1", "--no-dashboard"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        out = subprocess.run([sys.executable, "-m", "facelib", "index", str(FIXTURES / "obama.jpg"),
                              str(FIXTURES / "biden.jpg"), str(FIXTURES / "obama2.jpg"), "--collection", "c",
                              "--cluster", f"tcp://127.0.0.1:{port}", "--data-dir", str(tmp_path / "d"), "--quiet"],
                             env=env, text=True, capture_output=True, timeout=180)
        assert out.returncode == 2
        lines = [ln for ln in out.stderr.splitlines() if ln.startswith("error")]
        assert len(lines) == 1 and "scheduler" in lines[0] and "facesearch" in lines[0], out.stderr
    finally:
        for p in (worker, sched):
            p.kill()
            p.wait()


def test_the_same_error_on_the_first_photos_stops_the_batch_once(tmp_path, monkeypatch):
    """A system failure (here: every analysis raises the same error) is one error, not N."""
    from facelib.engines.local import engine as local_engine

    ws = Workspace(Settings(data_dir=tmp_path / "d"))
    coll = ws.create_collection("c", "local")

    def broken(self, collection, *, max_faces):
        def prepare(image):
            raise RuntimeError("the model file is missing")
        return prepare
    monkeypatch.setattr(local_engine.LocalEngine, "preparer", broken)
    sources = [bytes_source(n, d) for n, d in variants(10)]
    report = coll.index(sources, workers=1)
    assert "system is at fault" in report.stopped and "model file is missing" in report.stopped
    assert len(report.outcomes) == 10 and coll.counts()["images"] == 0
    assert sum(o.message.startswith("RuntimeError") for o in report.outcomes) == 3  # the first three, then one stop


# -- the app's runner ------------------------------------------------------------------------------
def test_an_app_job_whose_process_died_is_resumed_by_the_next_runner(tmp_path):
    ws = Workspace(Settings(data_dir=tmp_path / "d"))
    ws.create_collection("c", "local")
    folder = write(tmp_path / "p", variants(3))
    job_id = ws.submit(JobKind.INDEX, "c", {"sources": [paths_spec([folder])]})
    ws.jobs.claim(job_id, "app:0123456789abcdef")  # a runner that is gone (no lock file)
    assert adopt_orphans(ws) == [job_id]
    runner = JobRunner(ws, threads=1).start()
    try:
        deadline = time.monotonic() + 120
        while not ws.job(job_id).finished and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        runner.stop()
    assert ws.job(job_id).state == JobState.DONE and ws.collection("c").counts()["images"] == 3
    assert not runner.alive


def test_jobs_of_one_collection_run_in_order_and_a_foreign_user_sees_no_job(tmp_path):
    ws = Workspace(Settings(data_dir=tmp_path / "d", admins=("admin@example.org",)))
    ws.create_collection("c", "local")
    folder = write(tmp_path / "p", variants(4))
    first = ws.submit(JobKind.INDEX, "c", {"sources": [paths_spec([folder])]})
    second = ws.submit(JobKind.REGROUP, "c", {})
    runner = JobRunner(ws, threads=2).start()
    try:
        deadline = time.monotonic() + 120
        while not ws.job(second).finished and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        runner.stop()
    a, b = ws.job(first), ws.job(second)
    assert a.state == b.state == JobState.DONE and a.finished_at is not None and b.started_at is not None
    assert b.started_at >= a.started_at + a.report["seconds"]  # the regroup waited for the batch's lease
    from facelib.jobs.store import JobNotFound

    with pytest.raises(JobNotFound, match=f"no job {first}"):
        ws.job(first, "someone-else")
    with pytest.raises(JobNotFound, match="no job 999"):
        ws.job(999, "someone-else")
