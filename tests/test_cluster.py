"""The per-image analysis on a real Dask distributed cluster: a ``LocalCluster(processes=True)`` and a
``dask scheduler`` with two ``dask worker`` processes, all on 127.0.0.1 and all gone when a test ends.

The dev photos index to the same faces, boxes and vectors as the process pool; a worker killed
mid-batch leaves every face indexed once; a killed coordinator's rerun resumes; an unreachable
cluster is one clear error before anything is read."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import DEV, FIXTURES, ROOT, needs_dev
from PIL import Image

from facelib import ClusterUnreachable, FileStatus, Settings, Source, Workspace, bytes_source, expand_paths
from facelib.ingest import cluster as cluster_mod

distributed = pytest.importorskip("distributed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _photos() -> Path:
    """The dev photos when present (55 photos), else the four shipped ones."""
    return DEV / "images" if (DEV / "labels.csv").exists() else FIXTURES


def _faces(ws: Workspace, name: str) -> dict[tuple[str, int], tuple[tuple[float, ...], np.ndarray | None, str]]:
    """(image sha256, face index) -> (box, vector of an indexed face, status) of every face of ``name``."""
    coll = ws.collection(name)
    engine = coll.engine
    out = {}
    for f in coll.faces(status=None):
        b = f.detail.box
        vec = engine.vector(name, f.face_id) if f.status == FileStatus.INDEXED else None
        out[(f.image_sha256, f.face_index)] = ((b.left, b.top, b.width, b.height), vec, str(f.status))
    return out


@pytest.fixture(scope="module")
def pool_reference(tmp_path_factory):
    """The photos indexed by the process pool (2 workers): the reference."""
    ws = Workspace(Settings(data_dir=tmp_path_factory.mktemp("pool") / "data"))
    report = ws.ensure_collection("ref").index(expand_paths([_photos()]), workers=2)
    assert not report.errors, report.errors
    return ws, report


@pytest.fixture(scope="module")
def local_cluster():
    """A ``LocalCluster`` of 2 worker processes (1 thread each) on 127.0.0.1; its workers have
    (fake) AWS credentials, so they can read S3 from an endpoint on 127.0.0.1."""
    fake = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true"}
    saved = {k: os.environ.get(k) for k in fake}
    os.environ.update(fake)
    try:
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                      dashboard_address=None) as lc:
            yield lc
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert not [p for p in lc.workers.values() if getattr(p, "process", None) and p.process.is_alive()]


class CliCluster:
    """``dask scheduler`` and ``dask worker`` processes on 127.0.0.1 (workers without a nanny, so a
    killed worker stays dead)."""

    def __init__(self, tmp: Path, workers: int = 2) -> None:
        self.port = _free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        dask = str(Path(sys.executable).parent / "dask")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                           "--no-dashboard", "--no-show"], stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, env=env, cwd=tmp)
        self.workers = [subprocess.Popen([dask, "worker", self.address, "--nthreads", "1", "--no-nanny",
                                          "--host", "127.0.0.1", "--no-dashboard", "--local-directory", str(tmp / f"w{i}")],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=tmp)
                        for i in range(workers)]
        with distributed.Client(self.address, timeout=60) as client:
            client.wait_for_workers(workers, timeout=120)

    def close(self) -> None:
        for p in [*self.workers, self.scheduler]:
            if p.poll() is None:
                p.terminate()
        for p in [*self.workers, self.scheduler]:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


@pytest.fixture
def cli_cluster(tmp_path):
    c = CliCluster(tmp_path)
    try:
        yield c
    finally:
        c.close()
    assert all(p.poll() is not None for p in [*c.workers, c.scheduler])


@pytest.fixture(params=["LocalCluster", "dask-cli"])
def any_cluster(request, tmp_path):
    """(address, kill one worker) for each kind of cluster."""
    if request.param == "LocalCluster":
        lc = request.getfixturevalue("local_cluster")

        def kill() -> None:
            nanny = next(iter(lc.workers.values()))
            os.kill(nanny.process.process.pid, signal.SIGKILL)  # its nanny starts a new one
        yield lc.scheduler_address, kill
    else:
        c = request.getfixturevalue("cli_cluster")
        yield c.address, lambda: c.workers[0].kill()


def assert_same_as_pool(ws: Workspace, name: str, pool_ws: Workspace) -> None:
    got, want = _faces(ws, name), _faces(pool_ws, "ref")
    assert set(got) == set(want)
    for key, (box, vec, status) in want.items():
        gbox, gvec, gstatus = got[key]
        assert gstatus == status
        assert gbox == pytest.approx(box, abs=1e-6)
        if vec is not None:
            assert np.allclose(gvec, vec, atol=1e-5), key
    assert sorted(i.sha256 for i in ws.collection(name).images()) == sorted(i.sha256 for i in pool_ws.collection("ref").images())


def test_the_cluster_indexes_the_same_faces_boxes_and_vectors_as_the_pool(any_cluster, pool_reference, tmp_path):
    address, _ = any_cluster
    pool_ws, pool_report = pool_reference
    ws = Workspace(Settings(data_dir=tmp_path / "data"))
    seen = []
    report = ws.ensure_collection("c").index(expand_paths([_photos()]), lambda d, t, o: seen.append((d, t)),
                                             cluster=address)
    assert not report.stopped and not report.errors
    assert report.summary()["by_status"] == pool_report.summary()["by_status"]
    assert [d for d, _ in seen] == list(range(1, len(report.outcomes) + 1))  # a progress call per file
    assert_same_as_pool(ws, "c", pool_ws)
    # Again: every photo is known to the workers, nothing is analysed or committed twice.
    again = ws.collection("c").index(expand_paths([_photos()]), cluster=address)
    assert again.summary()["by_status"] == {"skipped": len(report.outcomes)}
    assert_same_as_pool(ws, "c", pool_ws)


def test_a_worker_killed_mid_batch_leaves_every_face_indexed_once(any_cluster, pool_reference, tmp_path):
    address, kill = any_cluster
    pool_ws, pool_report = pool_reference
    ws = Workspace(Settings(data_dir=tmp_path / "data"))
    killed = []

    def progress(done: int, total: int, outcome) -> None:
        if done == 3 and not killed:
            kill()
            killed.append(done)

    report = ws.ensure_collection("k").index(expand_paths([_photos()]), progress, cluster=address)
    assert killed and not report.stopped and not report.errors, report.summary()
    assert report.summary()["by_status"] == pool_report.summary()["by_status"]
    names = [o.name for o in report.outcomes]
    assert len(names) == len(set(names))  # each file reported once
    assert_same_as_pool(ws, "k", pool_ws)  # each face once: same keys, no extra rows
    counts = ws.collection("k").counts()
    assert counts["faces"] == pool_ws.collection("ref").counts()["faces"]


def test_a_killed_coordinator_resumes_on_rerun(local_cluster, pool_reference, tmp_path):
    pool_ws, _ = pool_reference
    ws = Workspace(Settings(data_dir=tmp_path / "data"))

    def die(done: int, total: int, outcome) -> None:
        if done == min(5, total - 1):  # before the last photo, however few there are (4 without ../shared)
            raise KeyboardInterrupt  # the coordinator stops here, tasks in flight and all

    with pytest.raises(KeyboardInterrupt):
        ws.ensure_collection("r").index(expand_paths([_photos()]), die, cluster=local_cluster.scheduler_address)
    partial = ws.collection("r").counts()["images"]
    assert 0 < partial
    report = ws.collection("r").index(expand_paths([_photos()]), cluster=local_cluster.scheduler_address)
    assert report.summary()["by_status"].get("skipped", 0) >= partial
    assert_same_as_pool(ws, "r", pool_ws)


def _jpeg(seed: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def test_uploads_are_sent_by_the_coordinator_with_bounded_tasks_in_flight(local_cluster, tmp_path):
    """Bytes the workers cannot reach travel with the task; reads stay a bounded step ahead of the
    outcomes (2 workers x 1 thread x 2 in flight), whatever the batch size."""
    ws = Workspace(Settings(data_dir=tmp_path / "data"))
    reads, reported, ahead = [0], [0], []

    def source(i: int):
        data = _jpeg(i)

        def read() -> bytes:
            reads[0] += 1
            ahead.append(reads[0] - reported[0])
            return data
        return Source(f"noise{i}.jpg", read, "upload")

    def progress(done: int, total: int, outcome) -> None:
        reported[0] = done

    sources = [source(i) for i in range(40)] + [bytes_source("obama.jpg", (FIXTURES / "obama.jpg").read_bytes())]
    report = ws.ensure_collection("u").index(sources, progress, cluster=local_cluster.scheduler_address)
    assert report.summary()["by_status"] == {"no_face": 40, "indexed": 1}
    limit = 2 * 2
    assert max(ahead) <= 2 * limit  # in flight, plus the finished ones not yet reported


def test_a_file_a_worker_cannot_read_is_sent_by_the_coordinator(local_cluster, tmp_path, monkeypatch):
    """A worker that cannot see a file hands it back; the coordinator reads and sends it."""
    ws = Workspace(Settings(data_dir=tmp_path / "data"))
    here = os.getpid()
    data = (FIXTURES / "obama.jpg").read_bytes()

    def read() -> bytes:  # pickled by value: on a worker it fails like a path that is not mounted there
        if os.getpid() != here:
            raise FileNotFoundError("not mounted on this worker")
        return data

    monkeypatch.setattr(cluster_mod.ClusterRunner, "remote", lambda self, src: True)
    report = ws.ensure_collection("n").index([Source("far/obama.jpg", read)], cluster=local_cluster.scheduler_address)
    assert [(o.status, o.faces_indexed) for o in report.outcomes] == [(FileStatus.INDEXED, 1)]


def test_workers_read_shared_files_and_the_coordinator_the_rest(local_cluster, tmp_path):
    """On loopback workers every local file is theirs to read; a cluster elsewhere reads only the
    shared folders it was told of, and S3 objects."""
    from facelib.ingest.s3 import S3Reader

    with distributed.Client(local_cluster.scheduler_address, set_as_default=False) as client:
        runner = cluster_mod.ClusterRunner(client, shared=(tmp_path / "shared",))
        files = list(expand_paths([FIXTURES / "obama.jpg"]))
        assert runner.info.on_this_machine and runner.remote(files[0])
        assert not runner.remote(bytes_source("x.jpg", b"x"))
        runner.info = cluster_mod.ClusterInfo(runner.info.address, 2, 2, ("10.0.0.7", "10.0.0.8"))
        assert not runner.remote(files[0])
        (tmp_path / "shared").mkdir()
        (tmp_path / "shared" / "a.jpg").write_bytes(b"x")
        assert runner.remote(next(iter(expand_paths([tmp_path / "shared" / "a.jpg"]))))
        s3 = Source("s3://b/k.jpg", S3Reader("b", "k.jpg", 10), "s3")
        assert runner.remote(s3)


def test_workers_read_s3_objects_themselves(local_cluster, tmp_path):
    """An S3 object is downloaded by a worker with its own client (the coordinator's is never used)."""
    from bench.rekognition_endpoint import RekognitionEndpoint
    from facelib.ingest.s3 import S3Reader

    class NotHere:
        def get_object(self, **kw):
            raise AssertionError("the coordinator downloaded it")

    ws = Workspace(Settings(data_dir=tmp_path / "data"))
    with RekognitionEndpoint() as endpoint:
        names = ["obama.jpg", "biden.jpg"]
        for n in names:
            endpoint.objects[f"photos/in/{n}"] = (FIXTURES / n).read_bytes()
        sources = [Source(f"s3://photos/in/{n}", S3Reader("photos", f"in/{n}", 10_000, "us-east-1", None, endpoint.url,
                                                           NotHere()), "s3") for n in names]
        sources.append(Source("s3://photos/in/gone.jpg", S3Reader("photos", "in/gone.jpg", 10, "us-east-1", None,
                                                                  endpoint.url), "s3"))
        report = ws.ensure_collection("s3").index(sources, cluster=local_cluster.scheduler_address)
    by_name = {o.name: o for o in report.outcomes}
    assert [by_name[f"s3://photos/in/{n}"].faces_indexed for n in names] == [1, 1]
    gone = by_name["s3://photos/in/gone.jpg"]  # the worker could not; neither could the coordinator
    assert gone.status == FileStatus.ERROR and "cannot be read (NoSuchKey)" in gone.message, gone.message
    assert endpoint.calls["GetObject"] == 4  # each photo once by a worker, the missing one by the coordinator too


def test_an_s3_reader_travels_without_its_client():
    import pickle

    from facelib.ingest.s3 import S3Reader

    reader = S3Reader("bucket", "k.jpg", 10, "eu-west-1", None, "http://127.0.0.1:9", client=object())
    back = pickle.loads(pickle.dumps(reader))
    assert back.client is None and (back.bucket, back.key, back.region, back.endpoint_url) == \
        ("bucket", "k.jpg", "eu-west-1", "http://127.0.0.1:9")


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:{port}", "nonsense"])
def test_an_unreachable_cluster_is_a_clear_error_before_anything_starts(address, tmp_path, monkeypatch):
    monkeypatch.setattr(cluster_mod, "CONNECT_TIMEOUT", 2.0)
    ws = Workspace(Settings(data_dir=tmp_path / "data"))
    coll = ws.ensure_collection("x")
    read = []
    src = Source("obama.jpg", lambda: read.append(1) or (FIXTURES / "obama.jpg").read_bytes())
    start = time.monotonic()
    with pytest.raises(ClusterUnreachable, match="Dask scheduler|not a Dask"):
        coll.index([src], cluster=address.format(port=_free_port()))
    assert time.monotonic() - start < 30
    assert not read and coll.counts()["images"] == 0


def test_the_cli_says_so_when_the_cluster_is_unreachable(tmp_path):
    out = subprocess.run([sys.executable, "-m", "facelib", "index", str(FIXTURES / "obama.jpg"), "--collection", "c",
                          "--data-dir", str(tmp_path / "data"), "--cluster", f"tcp://127.0.0.1:{_free_port()}"],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "FACESEARCH_CLUSTER": ""})
    assert out.returncode == 2
    assert "cannot reach the Dask scheduler" in out.stderr and "Traceback" not in out.stderr


def test_the_process_pool_stays_the_default_and_never_loads_dask(tmp_path):
    code = ("import sys; from facelib import Workspace, Settings, expand_paths; "
            f"ws = Workspace(Settings(data_dir={str(tmp_path / 'data')!r})); "
            f"r = ws.ensure_collection('p').index(expand_paths([{str(FIXTURES)!r}]), workers=2); "
            "assert r.faces_indexed == 4, r.summary(); "
            "assert 'distributed' not in sys.modules and 'dask' not in sys.modules, 'dask was imported'")
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACESEARCH_CLUSTER")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]


@needs_dev
def test_the_dev_photos_are_what_the_cluster_tests_use():
    assert _photos() == DEV / "images" and len(list(_photos().iterdir())) >= 50


def _after_jobs(at, timeout: float = 180.0):
    """Wait for the app's job runner to finish every job, then rerun the page (as its fragment does)."""
    ws = Workspace(Settings())
    deadline = time.monotonic() + timeout
    while ws.jobs.active() and time.monotonic() < deadline:
        time.sleep(0.2)
    return at.run()


def test_the_index_page_runs_a_batch_on_the_cluster_it_names(local_cluster, with_samples_at):
    """The app's choice (an administrator's): a Dask cluster's address, checked, then the batch runs
    there as a job; an unreachable one is one error and nothing is indexed."""
    at = with_samples_at
    at.switch_page("pages/1_Index.py").run()
    mirrored = io.BytesIO()
    Image.open(FIXTURES / "obama2.jpg").transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(mirrored, "JPEG")

    def upload():
        [u for u in at.file_uploader if (u.key or "").startswith("index_upload")][0].set_value(
            [("mirror.jpg", mirrored.getvalue(), "image/jpeg")]).run()
    upload()
    at.radio(key="index_where").set_value("A Dask cluster").run()
    assert at.button(key="index_go").disabled  # no address yet
    at.text_input(key="index_cluster").input(f"tcp://127.0.0.1:{_free_port()}").run()
    assert not at.button(key="index_go").disabled
    at.button(key="index_go").click().run()
    _after_jobs(at)
    assert not at.exception
    shown = " ".join(e.value for e in at.error).replace("\\", "").replace("\u2060", "")  # markdown escapes removed
    assert "cannot reach the Dask scheduler" in shown, shown
    assert {m.label: m.value for m in at.metric}.get("Faces indexed") in (None, "0")
    for b in at.button:
        if (b.key or "").startswith("dismiss_job_"):
            b.click().run()

    upload()
    at.text_input(key="index_cluster").input(local_cluster.scheduler_address).run()
    at.button(key="index_cluster_check").click().run()
    assert any("**2** worker(s)" in s.value and "this machine" in s.value for s in at.success), [s.value for s in at.success]
    at.button(key="index_go").click().run()
    _after_jobs(at)
    assert not at.exception, [e.value for e in at.exception]
    m = {m.label: m.value for m in at.metric}
    assert (m["Photos"], m["Faces indexed"], m["Errors"]) == ("1", "1", "0")


def test_a_photo_that_kills_every_worker_it_meets_is_that_files_error(local_cluster, tmp_path, monkeypatch):
    """A photo whose analysis kills the worker process (as a crash in a decoder would) is re-run by
    Dask on another worker up to ``allowed-failures`` times, then reported; the batch goes on."""
    ws = Workspace(Settings(data_dir=tmp_path / "data"))
    here = os.getpid()

    def crash() -> bytes:  # pickled by value: kills the worker it runs on
        if os.getpid() != here:
            os._exit(139)
        return b"never read here"

    monkeypatch.setattr(cluster_mod.ClusterRunner, "remote", lambda self, src: src.name.startswith("poison"))
    sources = [Source("poison.jpg", crash), bytes_source("obama.jpg", (FIXTURES / "obama.jpg").read_bytes())]
    report = ws.ensure_collection("p").index(sources, cluster=local_cluster.scheduler_address)
    by_name = {o.name: o for o in report.outcomes}
    assert by_name["obama.jpg"].faces_indexed == 1 and not report.stopped
    assert by_name["poison.jpg"].status == FileStatus.ERROR
    assert "crashed the workers" in by_name["poison.jpg"].message


def test_a_cluster_that_loses_every_worker_stops_the_batch_with_the_whole_report(cli_cluster, tmp_path, monkeypatch):
    """No worker left (both killed, no nanny to restart them): after the grace period the batch stops
    with every file reported; what was committed stays, and a rerun on this machine finishes it."""
    monkeypatch.setattr(cluster_mod, "NO_WORKER_GRACE", 1.0)
    ws = Workspace(Settings(data_dir=tmp_path / "data"))

    def progress(done: int, total: int, outcome) -> None:
        if done == 2:
            for w in cli_cluster.workers:
                w.kill()

    sources = list(expand_paths([FIXTURES]))
    sources += [bytes_source(f"noise{i}.jpg", _jpeg(i)) for i in range(8)]
    report = ws.ensure_collection("l").index(sources, progress, cluster=cli_cluster.address)
    assert "no worker" in report.stopped
    assert len(report.outcomes) == len(sources) and len({o.name for o in report.outcomes}) == len(sources)
    done = [o for o in report.outcomes if o.status != FileStatus.ERROR]
    assert len(done) >= 2 and ws.collection("l").counts()["images"] == len(done)
    rerun = ws.collection("l").index(list(expand_paths([FIXTURES])) + [bytes_source(f"noise{i}.jpg", _jpeg(i))
                                                                        for i in range(8)], cluster="")
    assert not rerun.errors and ws.collection("l").counts()["images"] == len(sources)
