"""The cluster as a trust boundary: an administrator's setting, mutual TLS off loopback, and a
worker's answer is data (checked for shape and size; paths come from the coordinator's own hash).
Real `dask scheduler` and `dask worker` processes on 127.0.0.1, all gone when a test ends."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT

from facelib import ClusterUnreachable, InvalidParameter, JobKind, Settings, Workspace
from facelib.engines.base import Prepared
from facelib.images import sha256_hex
from facelib.ingest.cluster import BadAnswer, check_answer, security

distributed = pytest.importorskip("distributed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def forging_cluster(tmp_path):
    """A scheduler and one worker whose answers name a path outside the data directory."""
    port = _free_port()
    dask = str(Path(sys.executable).parent / "dask")
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests' / 'helpers'}"}
    sched = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard",
                              "--no-show"], env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([dask, "worker", f"tcp://127.0.0.1:{port}", "--nthreads", "1", "--no-nanny", "--host",
                               "127.0.0.1", "--no-dashboard", "--preload", "forged_worker",
                               "--local-directory", str(tmp_path / "w")], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with distributed.Client(f"tcp://127.0.0.1:{port}", timeout=60) as c:
            c.wait_for_workers(1, timeout=120)
        yield f"tcp://127.0.0.1:{port}"
    finally:
        for p in (worker, sched):
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_a_forged_sha256_from_a_worker_never_becomes_a_path(forging_cluster, tmp_path):
    """Finding 1 (second route): a worker's `../` sha256 made `index x.zip --cluster` delete every
    file of a folder outside the data directory. The coordinator hashes the bytes itself."""
    victim = tmp_path / "victim"
    victim.mkdir()
    for i in range(3):
        (victim / f"keep{i}.txt").write_text("precious")
    data = tmp_path / "a" / "b" / "data"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in ("obama.jpg", "biden.jpg", "obama3.jpg"):
            zf.writestr(name, (FIXTURES / name).read_bytes())
    archive = tmp_path / "x.zip"
    archive.write_bytes(buf.getvalue())
    out = subprocess.run([sys.executable, "-m", "facelib", "index", str(archive), "--collection", "c", "--cluster",
                          forging_cluster, "--data-dir", str(data), "--json", "--quiet"],
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True, capture_output=True, timeout=300)
    assert sorted(p.name for p in victim.iterdir()) == ["keep0.txt", "keep1.txt", "keep2.txt"]
    assert "refused" in out.stdout + out.stderr, out.stderr
    assert not any((tmp_path / "a").rglob("victim"))
    assert Workspace(Settings(data_dir=data)).collection("c").counts()["images"] == 0


def test_an_answer_is_checked_for_shape_and_size():
    data = (FIXTURES / "obama.jpg").read_bytes()
    sha = sha256_hex(data)
    good = Prepared(sha, (640, 480), "JPEG", [])
    assert check_answer(good, sha) is good
    for bad in (Prepared("../x", (1, 1), "JPEG", []), Prepared(sha, (0, 5), "JPEG", []),
                Prepared(sha, (5, 5), "../jpg", []), Prepared(sha, (5, 5), "JPEG", ["not a face"]),  # type: ignore[list-item]
                "a string", None):
        with pytest.raises(BadAnswer):
            check_answer(bad, sha)


@pytest.mark.parametrize("address", ["tcp://10.1.2.3:8786", "tcp://scheduler.example.org:8786", "tls://10.1.2.3:8786"])
def test_a_cluster_off_loopback_needs_mutual_tls(address):
    with pytest.raises(ClusterUnreachable, match="TLS"):
        security(address)
    assert security("tcp://127.0.0.1:8786") is not None


def test_only_an_administrator_chooses_a_cluster(tmp_path):
    ws = Workspace(Settings(data_dir=tmp_path / "d", admins=()))
    ws.create_collection("mine", "local", owner="iss#alice")
    with pytest.raises(InvalidParameter, match="administrator"):
        ws.submit(JobKind.INDEX, "mine", {"sources": [], "cluster": "tcp://127.0.0.1:9"}, "iss#alice")
    with pytest.raises(InvalidParameter, match="administrator"):
        ws.cluster_status("tcp://127.0.0.1:9", "iss#alice")
