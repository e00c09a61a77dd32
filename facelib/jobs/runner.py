"""Running jobs outside any page's script run.

- The app's :class:`JobRunner` (one per server process) runs queued jobs in its own threads: a page
  only submits and then reads the jobs table, so a rerun, a page change or a closed browser never
  stops a job. Jobs into different collections run side by side; jobs into one collection run one
  after the other (the collection's lease), and a job in line says who it waits for.
- The CLI runs its own job in its own process (:func:`run_here`), recorded in the same table and
  under the same leases, so ``facesearch jobs`` and the app see it.

Every runner thread holds a lock of its own (``locks/runner-<token>.lock``) for as long as it
lives, and writes that token in the jobs it runs: a job recorded as running whose runner's lock
is free lost its process (``kill -9``, a restart). Runners find such jobs: one the app ran is
queued again and resumes (the images it committed are skipped, what the engine held for the rest
is erased by recovery under the lease); a CLI job is marked interrupted (run the command again).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock, Timeout

from .spool import discard_spool
from .store import Job, JobKind, JobState
from .work import PROGRESS_EVERY, Context, execute

if TYPE_CHECKING:
    from ..workspace import Workspace

log = logging.getLogger(__name__)

#: How often an idle runner looks for queued jobs (seconds).
POLL_SECONDS = 0.5
#: An app job resumed this many times after losing its process is given up (marked interrupted).
MAX_ATTEMPTS = 3


class Token:
    """A runner's identity and its lock, held while it lives (``app:<hex>`` or ``cli:<hex>``)."""

    def __init__(self, locks: Path, role: str) -> None:
        self.name = f"{role}:{uuid.uuid4().hex[:16]}"
        self.path = locks / f"runner-{self.name.split(':')[1]}.lock"
        self._lock = FileLock(str(self.path), thread_local=False)
        self._lock.acquire()

    def release(self) -> None:
        self._lock.release()
        self.path.unlink(missing_ok=True)


def runner_alive(locks: Path, runner: str | None) -> bool:
    """Whether the runner that recorded itself as ``runner`` still holds its lock."""
    if not runner or ":" not in runner:
        return False
    path = locks / f"runner-{runner.split(':', 1)[1]}.lock"
    if not path.exists():
        return False
    probe = FileLock(str(path), thread_local=False)
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return True
    probe.release()
    return False


def adopt_orphans(ws: Workspace) -> list[int]:
    """Jobs recorded as running whose process is gone: the app's are queued again (up to
    :data:`MAX_ATTEMPTS` runs), the CLI's marked interrupted. Each change is made only if the job
    is still as it was read (two adopters at once change it once). Returns the ids requeued."""
    requeued = []
    for job in ws.jobs.active():
        if job.state != JobState.RUNNING or runner_alive(ws.leases.root, job.runner):
            continue
        if (job.runner or "").startswith("app:") and job.attempts < MAX_ATTEMPTS and not job.cancel_requested:
            if ws.jobs.requeue(job.job_id, "resumed: the process that ran it stopped (photos already indexed are "
                                           "skipped)", job.runner):
                log.info("job %d (%s into %r) lost its process: queued again", job.job_id, job.kind, job.collection)
                requeued.append(job.job_id)
        elif ws.jobs.interrupt(job.job_id, "interrupted: its process stopped; run it again (photos already indexed "
                                           "are skipped)", job.runner):
            _discard(ws, job)
            log.warning("job %d (%s into %r) lost its process: marked interrupted", job.job_id, job.kind, job.collection)
    return requeued


def _discard(ws: Workspace, job: Job) -> None:
    """A finished job's spooled uploads go; a bad spool path is logged, never raised (it must not
    stop the runner nor `facesearch jobs`)."""
    try:
        discard_spool(ws, job.inputs)
    except Exception as exc:  # noqa: BLE001
        log.warning("job %d: its spool could not be removed (%s)", job.job_id, exc)


def _run(ws: Workspace, job: Job, on_progress: Callable[[int, int, str], None] | None = None) -> Job:
    """Run a claimed job to its end and record how it ended."""
    store = ws.jobs
    last = [0.0]
    asked = [0.0, False]

    def progress(done: int, total: int, message: str) -> None:
        if on_progress is not None:
            on_progress(done, total, message)
        now = time.monotonic()
        if now - last[0] >= PROGRESS_EVERY or (total and done >= total):
            last[0] = now
            store.progress(job.job_id, done, total, message)

    def should_stop() -> bool:
        now = time.monotonic()
        if now - float(asked[0]) >= PROGRESS_EVERY:
            asked[0], asked[1] = now, store.cancel_requested(job.job_id)
        return bool(asked[1])

    log.info("job %d started: %s into %r by %s", job.job_id, job.kind, job.collection, job.owner or "admin")
    started = time.monotonic()
    try:
        state, report, message = execute(ws, job, Context(progress, should_stop, lambda: store.started(job.job_id)))
    except Exception as exc:  # noqa: BLE001 - a bug must end the job visibly, not leave it "running"
        log.exception("job %d failed", job.job_id)
        state, report, message = JobState.FAILED, {"error": f"{exc.__class__.__name__}: {exc}"}, \
            f"failed: {exc.__class__.__name__}: {exc}"
    store.finish(job.job_id, state, report, message)
    _discard(ws, job)
    log.info("job %d %s: %s into %r in %.1f s: %s", job.job_id, state, job.kind, job.collection,
             time.monotonic() - started, message)
    return store.get(job.job_id)


def run_here(ws: Workspace, kind: JobKind, collection: str, inputs: dict[str, Any], owner: str | None = None,
             on_progress: Callable[[int, int, str], None] | None = None) -> Job:
    """Record a job and run it in this process (the CLI), under the same leases as the app's runner."""
    token = Token(ws.leases.root, "cli")
    try:
        job_id = ws.jobs.submit(kind, collection, owner, inputs, runner=token.name)
        return _run(ws, ws.jobs.get(job_id), on_progress)
    finally:
        token.release()


#: Every runner started in this process (tests stop them all).
_RUNNERS: weakref.WeakSet[JobRunner] = weakref.WeakSet()


def stop_runners(timeout: float = 30.0) -> None:
    """Stop every runner of this process (each finishes the job it is running first)."""
    for r in list(_RUNNERS):
        r.stop(timeout)


class JobRunner:
    """Runs the queued jobs of a workspace in ``threads`` background threads until :meth:`stop`."""

    def __init__(self, ws: Workspace, threads: int = 2) -> None:
        self.ws = ws
        self.threads = max(1, threads)
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self._claim = threading.Lock()

    def start(self) -> JobRunner:
        if not self._workers:
            for i in range(self.threads):
                t = threading.Thread(target=self._loop, name=f"facesearch-jobs-{i}", daemon=True)
                t.start()
                self._workers.append(t)
            _RUNNERS.add(self)
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Stop taking jobs and wait for the threads (a running job is asked to stop first)."""
        self._stop.set()
        for t in self._workers:
            t.join(timeout)
        self._workers = []

    @property
    def alive(self) -> bool:
        return any(t.is_alive() for t in self._workers)

    def _next(self, token: Token) -> Job | None:
        """The oldest queued job whose collection is free now (one in line behind a busy
        collection waits, and says so; jobs into other collections go ahead)."""
        with self._claim:
            adopt_orphans(self.ws)
            active = self.ws.jobs.active()  # oldest first
            for i, job in enumerate(active):
                if job.state != JobState.QUEUED or (job.runner and job.runner != token.name):
                    continue
                ahead = active[:i]  # jobs of one collection run in the order they were submitted
                if any(a.collection == job.collection or a.kind == JobKind.REPAIR for a in ahead) or (
                        job.kind == JobKind.REPAIR and ahead):
                    continue
                if job.kind != JobKind.REPAIR:
                    holder = self.ws.leases.holder(job.collection)
                    if holder is not None:
                        if not job.message.startswith("waiting"):
                            self.ws.jobs.progress(job.job_id, 0, 0, f"waiting for {holder.describe()} to finish "
                                                                     "with this collection")
                        continue
                if self.ws.jobs.claim(job.job_id, token.name):
                    return self.ws.jobs.get(job.job_id)
        return None

    def _loop(self) -> None:
        token = Token(self.ws.leases.root, "app")
        try:
            while not self._stop.is_set():
                try:
                    job = self._next(token)
                except Exception:  # noqa: BLE001 - a database hiccup must not kill the runner
                    log.exception("the job runner could not read the jobs table")
                    job = None
                if job is None:
                    self._stop.wait(POLL_SECONDS)
                    continue
                try:
                    _run(self.ws, job)
                except Exception:  # noqa: BLE001 - recording the end failed (a database hiccup): the runner goes on
                    log.exception("job %d: its end could not be recorded", job.job_id)
        finally:
            token.release()
