"""The adversarial review of the jobs capability, kept as tests: each failed on the code it reviewed.

Two adopters of one dead job, a budget shared with an analyst's searches, an answer lost on the
wire, a regroup under a budget, a pre-flight for grouping not asked for, a queued job whose
collection was replaced, a repair against a collection created meanwhile, erasing a collection
while another commits the same photo, the order of one collection's jobs, kill -9 of the app
process mid-job, hostile job inputs."""

import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from test_jobs import ENV_KEYS, CountingEndpoint, books_agree, cli_env, rek_settings, variants, write

from facelib import JobKind, JobRunner, JobState, Settings, Workspace, bytes_source
from facelib.doctor import check
from facelib.errors import BudgetExceeded
from facelib.images import load_file
from facelib.jobs import runner as runner_mod
from facelib.jobs.runner import adopt_orphans, run_here
from facelib.jobs.spool import Spool, paths_spec


def wait_until(pred, timeout=120, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return False


# -- test_adopt_race.py: Two adopters of one dead job (two app runners, or an app runner and `facesearch jobs`): the second
# acts on a stale read and requeues a job the first already resumed -> it is run twice.
def test_a_stale_adopter_requeues_a_job_another_runner_is_running(tmp_path, monkeypatch):
    settings = Settings(data_dir=tmp_path / "d")
    ws_a, ws_c = Workspace(settings), Workspace(settings)
    ws_a.create_collection("c", "local")
    folder = write(tmp_path / "p", variants(4))
    job_id = ws_a.submit(JobKind.INDEX, "c", {"sources": [paths_spec([folder])], "workers": 1})
    ws_a.jobs.claim(job_id, "app:0123456789abcdef")  # its runner died (no lock)
    # Adopter C (e.g. `facesearch jobs` in another process) reads the jobs table now...
    stale = ws_c.jobs.active()
    # ...meanwhile app runner A adopts the job, claims it and runs it.
    runs = []
    orig = runner_mod.execute

    def counting(ws, job, ctx):
        runs.append((job.job_id, job.runner, time.monotonic()))
        if len(runs) == 1:
            time.sleep(3)  # runner A is slow to reach the lease (forced interleaving)
        return orig(ws, job, ctx)
    monkeypatch.setattr(runner_mod, "execute", counting)
    runner_a = JobRunner(ws_a, threads=1).start()
    try:
        assert wait_until(lambda: ws_a.jobs.get(job_id).state == JobState.RUNNING
                          and ws_a.jobs.get(job_id).runner.startswith("app:")
                          and ws_a.jobs.get(job_id).runner != "app:0123456789abcdef", 30)
        # C now acts on what it read (the job's old runner is dead): no check that the row is unchanged.
        monkeypatch.setattr(ws_c.jobs, "active", lambda: stale)
        requeued = adopt_orphans(ws_c)
        row = ws_c.jobs.get(job_id)
        print("C requeued:", requeued, "state now:", row.state, "runner:", row.runner)
        # A second runner B (another app process) picks it up while A still runs it.
        runner_b = JobRunner(Workspace(settings), threads=1).start()
        try:
            wait_until(lambda: ws_a.jobs.get(job_id).finished and len(runs) >= 2, 8)
            time.sleep(1.0)
        finally:
            runner_b.stop()
    finally:
        runner_a.stop()
    print("executions:", runs)
    # Expected: the job is run once (it was already running in A).
    assert requeued == [], "a job already resumed by a live runner was put back in line"
    assert len(runs) == 1, f"job {job_id} was executed {len(runs)} times"


# -- test_budget_crosstalk.py: A budgeted job's spending limit is installed per collection on the shared engine: the
# analyst's own searches of that collection in the same app process are charged to (and refused by) the job's budget.
@pytest.fixture
def ep_crosstalk(monkeypatch):
    for k, v in ENV_KEYS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with CountingEndpoint(latency=(0.02, 0.05)) as e:
        yield e


def test_searches_during_a_budgeted_job(tmp_path, ep_crosstalk):
    ep = ep_crosstalk
    ws = Workspace(rek_settings(tmp_path, ep, aws_concurrency=1))  # the app: one Workspace for pages and runner
    coll = ws.create_collection("t", "rekognition")
    coll.index([bytes_source(n, d) for n, d in variants(2, prefix="o")])
    spool = Spool(ws.settings.data_dir)
    for n, d in variants(6, "biden.jpg", "b"):
        spool.add(n, d)
    job_id = coll.submit_index(spool.specs, spool.relative, budget_usd=0.006)  # exactly 6 IndexFaces
    go = threading.Event()
    ep.on_index = lambda n: (go.set(), time.sleep(0.4)) if n >= 3 else None  # the job is running
    runner = JobRunner(ws, threads=1).start()
    errors = []
    try:
        assert go.wait(60)
        for i in range(3):  # the analyst searches on the Search page meanwhile (distinct queries, no cache)
            q = variants(10, "obama2.jpg", "q")[i][1]
            try:
                p = tmp_path / f"q{i}.jpg"
                p.write_bytes(q)
                ws.collection("t").search_image(load_file(str(p)))
            except BudgetExceeded as exc:
                errors.append(str(exc))
        assert wait_until(lambda: ws.job(job_id).finished, 120)
    finally:
        runner.stop()
    job = ws.job(job_id)
    print(job.state, job.message, job.report.get("paid_calls"), "search errors:", errors)
    assert not errors, "the analyst's searches were refused by the job's budget"
    assert job.state == JobState.DONE and job.report["by_status"].get("indexed") == 6, job.message


# -- test_rek_money.py: Rekognition through the endpoint on 127.0.0.1: budgets and answers lost on the wire.
class DroppingEndpoint(CountingEndpoint):
    """The n-th IndexFaces is processed (faces stored, billed) but the connection drops before the answer."""
    drop_at = None
    _tl = __import__("threading").local()

    def __init__(self, **kw):
        super().__init__(**kw)
        self.on_index = lambda n: setattr(self._tl, "n", n)

    def _answer(self, operation, body):
        self._tl.n = None
        status, payload = super()._answer(operation, body)
        if operation == "IndexFaces" and self.drop_at is not None and self._tl.n == self.drop_at:
            raise ConnectionResetError("dropped after storing the faces")
        return status, payload


@pytest.fixture
def ep_dropping(monkeypatch):
    for k, v in ENV_KEYS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with DroppingEndpoint(latency=(0.01, 0.02)) as e:
        yield e


def test_an_answer_lost_on_the_wire_leaves_a_face_in_aws_and_passes_the_budget(tmp_path, ep_dropping):
    ep = ep_dropping
    ws = Workspace(rek_settings(tmp_path, ep))
    ws.create_collection("t", "rekognition")
    ep.drop_at = 3
    folder = write(tmp_path / "p", variants(5))
    job = run_here(ws, JobKind.INDEX, "t", {"sources": [paths_spec([folder])], "budget_usd": 0.005})
    price = ws.settings.prices.of("IndexFaces")
    print(job.state, job.message, "charged:", job.report.get("paid_calls"), "IndexFaces seen:", ep.calls["IndexFaces"],
          "engine faces:", len(ep.stored_faces()), "catalog faces:", len(ws.collection("t").faces()))
    assert ep.calls["IndexFaces"] * price <= 0.005 + 1e-9, "a billed call went past the budget"
    books_agree(ws, ep, "t")  # no face in AWS the catalog does not name


def test_a_regroup_job_ignores_the_budget(tmp_path, ep_dropping):
    ep = ep_dropping
    ws = Workspace(rek_settings(tmp_path, ep))
    coll = ws.create_collection("t", "rekognition")
    coll.index([bytes_source(n, d) for n, d in variants(12)])  # no grouping on a paid engine by default
    before = ep.calls["SearchFaces"]
    wsb = Workspace(rek_settings(tmp_path, ep, budget_usd=0.002))  # FACESEARCH_BUDGET_USD=0.002
    job_id = wsb.submit(JobKind.REGROUP, "t", {})
    runner = JobRunner(wsb, threads=1).start()
    try:
        assert wait_until(lambda: wsb.job(job_id).finished, 120)
    finally:
        runner.stop()
    spent = (ep.calls["SearchFaces"] - before) * wsb.settings.prices.of("SearchFaces")
    print(wsb.job(job_id).state, wsb.job(job_id).message, "SearchFaces:", ep.calls["SearchFaces"] - before, spent)
    assert spent <= 0.002 + 1e-9, f"a regroup job spent ${spent:.4f} with a budget of $0.002"


def test_the_pre_flight_refuses_a_batch_that_will_not_group(tmp_path, ep_dropping):
    ep = ep_dropping
    settings = rek_settings(tmp_path, ep)
    data = str(settings.data_dir)
    env = cli_env(ep)
    older = write(tmp_path / "older", variants(12, prefix="o"))
    first = subprocess.run([sys.executable, "-m", "facelib", "index", str(older), "--collection", "b", "--engine",
                            "rekognition", "--data-dir", data, "--no-group", "--quiet"], env=env, text=True,
                           capture_output=True, timeout=120)
    assert first.returncode == 0, first.stderr
    new = write(tmp_path / "new", variants(2, "biden.jpg", prefix="n"))
    run = subprocess.run([sys.executable, "-m", "facelib", "index", str(new), "--collection", "b",
                          "--budget-usd", "0.005", "--data-dir", data, "--json", "--quiet"], env=env, text=True,
                         capture_output=True, timeout=120)
    print(run.returncode, run.stderr[-600:])
    # 2 IndexFaces = $0.002 <= $0.005, and a Rekognition batch does not group unless --group
    assert run.returncode == 0, run.stderr


# -- test_maintenance_races.py: Maintenance and erasure against a live batch, with forced interleavings (threads + events).
def test_doctor_repair_deletes_thumbnails_of_a_batch_into_a_collection_created_after_it_started(tmp_path):
    settings = Settings(data_dir=tmp_path / "d")
    ws_d, ws_b = Workspace(settings), Workspace(settings)
    ws_d.create_collection("old", "local")
    listed, thumbs_written, doctor_done = threading.Event(), threading.Event(), threading.Event()
    refs = ws_d.catalog.file_references

    def slow_refs():
        out = refs()
        listed.set()
        thumbs_written.wait(60)
        return out
    ws_d.catalog.file_references = slow_refs
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", check(ws_d, repair=True)))
    t.start()
    assert listed.wait(60)
    coll = ws_b.create_collection("new", "local")  # e.g. `facesearch index --collection new` now
    write_thumb = ws_b.files.write_thumb

    def thumb(*a, **kw):
        out = write_thumb(*a, **kw)
        thumbs_written.set()
        doctor_done.wait(30)
        return out
    ws_b.files.write_thumb = thumb
    bt = threading.Thread(target=lambda: result.setdefault("b", coll.index([bytes_source(n, d) for n, d in variants(1)],
                                                                          workers=1)))
    bt.start()
    t.join(60)
    doctor_done.set()
    bt.join(60)
    print("doctor removed:", result["r"].orphan_files, "batch:", result["b"].summary()["by_status"])
    after = check(Workspace(settings))
    assert not after.missing_thumbnails and not after.missing_copies, after.to_json()


def test_erasing_collection_a_deletes_the_stored_copy_a_batch_into_b_is_committing(tmp_path):
    settings = Settings(data_dir=tmp_path / "d")
    ws_a, ws_b = Workspace(settings), Workspace(settings)
    photo = variants(1)
    ws_a.create_collection("A", "local").index([bytes_source(n, d) for n, d in photo], workers=1)
    coll_b = ws_b.create_collection("B", "local")
    thumbs_written, erased = threading.Event(), threading.Event()
    write_thumb = ws_b.files.write_thumb

    def thumb(*a, **kw):
        out = write_thumb(*a, **kw)
        thumbs_written.set()
        erased.wait(60)
        return out
    ws_b.files.write_thumb = thumb
    res = {}
    bt = threading.Thread(target=lambda: res.setdefault("b", coll_b.index([bytes_source(n, d) for n, d in photo],
                                                                          workers=1)))
    bt.start()
    assert thumbs_written.wait(60)  # B's batch stored the (shared) copy and is about to record it
    gone = subprocess.run([sys.executable, "-m", "facelib", "delete", "--collection", "A", "--all", "--data-dir",
                           str(settings.data_dir)], env=cli_env(), text=True, capture_output=True, timeout=120)
    erased.set()
    bt.join(60)
    assert gone.returncode == 0, gone.stderr
    print("B:", res["b"].summary()["by_status"])
    after = check(Workspace(settings))
    assert not after.missing_copies, after.to_json()


@pytest.fixture
def ep_fast(monkeypatch):
    for k, v in ENV_KEYS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with CountingEndpoint(latency=(0.01, 0.02)) as e:
        yield e


def test_a_queued_job_goes_into_a_namesake_created_after_its_collection_was_erased(tmp_path, ep_fast):
    ep = ep_fast
    settings = rek_settings(tmp_path, ep)
    ws = Workspace(settings)
    ws.create_collection("c", "local")
    job_id = ws.submit(JobKind.INDEX, "c", {"sources": [paths_spec([write(tmp_path / "p", variants(6))])]})
    ws.delete_collection("c")  # e.g. `facesearch collections delete c` while the job waits in line
    ws.create_collection("c", "rekognition")  # a new collection, another engine, that happens to share the name
    runner = JobRunner(ws, threads=1).start()
    try:
        assert wait_until(lambda: ws.job(job_id).finished, 120)
    finally:
        runner.stop()
    job = ws.job(job_id)
    print(job.state, job.message, "IndexFaces:", ep.calls["IndexFaces"])
    assert ep.calls["IndexFaces"] == 0 and job.state != JobState.DONE, \
        "a job submitted for the erased 'c' (local) indexed into the new 'c' (paid Rekognition)"


# -- test_runner_order.py: Two runner threads: the second claims the next job of the same collection while the first has
# claimed but not yet taken the lease; then whichever thread gets the lease first runs first.
def test_jobs_of_one_collection_run_in_submission_order(tmp_path, monkeypatch):
    results = []
    for rep in range(6):
        settings = Settings(data_dir=tmp_path / f"d{rep}")
        ws = Workspace(settings)
        ws.create_collection("c", "local")
        first = ws.submit(JobKind.INDEX, "c", {"sources": [paths_spec([write(tmp_path / f"a{rep}", variants(2))])],
                                              "workers": 1})
        second = ws.submit(JobKind.REGROUP, "c", {})
        runner = JobRunner(ws, threads=2).start()
        try:
            assert wait_until(lambda ws=ws, first=first, second=second: ws.job(first).finished and ws.job(second).finished,
                              120)
        finally:
            runner.stop()
        a, b = ws.job(first), ws.job(second)
        # started_at is rewritten when the lease is taken (JobStore.started)
        results.append((a.started_at < b.started_at, round(b.started_at - a.started_at, 3), a.runner != b.runner))
    print(results)
    assert all(r[0] for r in results), f"the second job of a collection took its lease first: {results}"


# -- test_kill_app_runner.py: kill -9 of an app process while its runner indexes a spooled batch into Rekognition, then the
# next app process's runner resumes it: books agree, every photo once, spool gone.
@pytest.fixture
def ep_slow(monkeypatch):
    for k, v in ENV_KEYS.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with CountingEndpoint(latency=(0.2, 0.3)) as e:
        yield e


@pytest.mark.parametrize("kill_at", [3, 12])
def test_resume_after_kill(tmp_path, ep_slow, kill_at):
    ep = ep_slow
    settings = rek_settings(tmp_path, ep)
    ws = Workspace(settings)
    coll = ws.create_collection("t", "rekognition")
    spool = Spool(settings.data_dir)
    for n, d in variants(30):
        spool.add(n, d)
    job_id = coll.submit_index(spool.specs, spool.relative)
    code = ("import time; from facelib import Workspace, Settings, JobRunner; "
            f"ws = Workspace(Settings(data_dir={str(settings.data_dir)!r}, engine='rekognition', aws_region='us-east-1', "
            f"aws_endpoint_url={ep.url!r})); JobRunner(ws, threads=2).start(); time.sleep(300)")
    proc = subprocess.Popen([sys.executable, "-c", code], env=cli_env(ep), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    killed = threading.Event()

    def kill(n):
        if n >= kill_at and not killed.is_set():
            killed.set()
            os.kill(proc.pid, signal.SIGKILL)
    ep.on_index = kill
    try:
        proc.wait(120)
    finally:
        proc.kill()
        proc.wait()
    ep.on_index = None
    time.sleep(1.0)
    ws2 = Workspace(settings)
    runner = JobRunner(ws2, threads=2).start()
    try:
        assert wait_until(lambda: ws2.job(job_id).finished, 180)
    finally:
        runner.stop()
    job = ws2.job(job_id)
    print(kill_at, job.state, job.attempts, job.message, "IndexFaces:", ep.calls["IndexFaces"],
          "images:", len(ws2.collection("t").images()))
    assert job.state == JobState.DONE, job.message
    assert len(ws2.collection("t").images()) == 30
    books_agree(ws2, ep, "t")
    assert not (settings.data_dir / spool.relative).exists()
    assert not ws2.catalog.pending("t")


# -- hostile job inputs through the Workspace API of a signed-in (non-admin) user ----------------
def _alice(ws):
    uid = ws.sign_in("https://issuer", "alice", "alice@example.org", True)
    return uid, ws.create_collection("Fam", "local", owner=uid)


def test_a_spool_outside_the_spool_is_refused_and_a_bad_row_never_stops_the_runner(tmp_path):
    import pytest

    from facelib import InvalidParameter

    ws = Workspace(Settings(data_dir=tmp_path / "d"))
    uid, coll = _alice(ws)
    with pytest.raises(InvalidParameter, match="spool"):
        coll.submit_index([], "spool/x/../..")
    with pytest.raises(InvalidParameter, match="own spool"):
        coll.submit_index([{"kind": "upload", "path": "spool/" + "0" * 32 + "/../../catalog.sqlite3", "name": "x"}],
                          "spool/" + "0" * 32)
    # A row written by older code (or by hand) with such a spool: the runner and `facesearch jobs` go on.
    bad = ws.jobs.submit(JobKind.INDEX, coll.name, uid, {"sources": [], "spool": "spool/x/../.."})
    runner = JobRunner(ws, threads=1).start()
    try:
        assert wait_until(lambda: ws.job(bad, uid).finished, 60)
        good = coll.submit_index([], None)
        assert wait_until(lambda: ws.job(good, uid).finished, 60) and runner.alive
    finally:
        runner.stop()
    assert (tmp_path / "d").is_dir() and any((tmp_path / "d").iterdir())  # nothing of the data directory went
    dead = ws.jobs.submit(JobKind.INDEX, coll.name, uid, {"sources": [], "spool": "spool/x/../.."},
                          runner="cli:0123456789abcdef")  # its process died
    out = subprocess.run([sys.executable, "-m", "facelib", "jobs", "--data-dir", str(tmp_path / "d")],
                         env=cli_env(), text=True, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert ws.job(dead).state == JobState.INTERRUPTED


def test_a_user_cannot_index_server_files_outside_the_allowed_folders(tmp_path):
    import pytest

    from facelib import InvalidParameter
    from facelib.jobs.spool import folder_spec

    secret = write(tmp_path / "secret", variants(1, prefix="secret"))
    ws = Workspace(Settings(data_dir=tmp_path / "d", allowed_roots=((tmp_path / "allowed").resolve(),)))
    uid, coll = _alice(ws)
    with pytest.raises(InvalidParameter, match="administrator"):
        coll.submit_index([paths_spec([secret])])
    job = coll.submit_index([folder_spec(secret, [tmp_path])])  # roots claimed by the input are not trusted
    runner = JobRunner(ws, threads=1).start()
    try:
        assert wait_until(lambda: ws.job(job, uid).finished, 60)
    finally:
        runner.stop()
    assert not ws.collection(coll.name, uid).images()
