"""The jobs table: every piece of long work, recorded when it is submitted.

A job has a kind (index, reindex, regroup, delete, repair), the collection it writes to (fixed at
submission), who submitted it, its inputs (JSON: spooled uploads, paths, options), a state, its
progress (done of total, a one-line message), and when finished its report (JSON). ``runner``
names the process that runs it ("app" for the app's runner, "cli" for a command in its own
process); that process holds the job's own lock (see :mod:`.runner`) while it runs, so a job
whose process died is found by anyone: its state says running and its lock is free.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ..errors import FaceLibError
from ..store.db import Database, Migration, script


class JobKind(StrEnum):
    INDEX = "index"
    REINDEX = "reindex"
    REGROUP = "regroup"
    DELETE = "delete"  # erase a whole collection
    REPAIR = "repair"  # doctor --repair (every collection)


class JobState(StrEnum):
    QUEUED = "queued"  # waiting for a runner (or for its collection's lease)
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # stopped by an error (its report says what was done)
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # its process died; an app job is queued again, a CLI one is rerun by hand


FINISHED = (JobState.DONE, JobState.FAILED, JobState.CANCELLED, JobState.INTERRUPTED)


class JobNotFound(FaceLibError):
    """No such job (or not one the asker may see)."""


@dataclass
class Job:
    """One job as recorded. ``done``/``total``: files (or steps) of its progress; ``report``: the
    finished job's report (for an index job, :meth:`BatchReport.summary`)."""

    job_id: int
    kind: JobKind
    collection: str
    owner: str | None
    inputs: dict[str, Any]
    state: JobState
    runner: str | None
    done: int = 0
    total: int = 0
    message: str = ""
    report: dict[str, Any] = field(default_factory=dict)
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    cancel_requested: bool = False
    dismissed: bool = False
    attempts: int = 0

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at the pace so far (None before two files are done: no honest figure yet)."""
        if self.started_at is None or self.done < 2 or not self.total or self.finished:
            return None
        elapsed = time.time() - self.started_at
        return elapsed / self.done * (self.total - self.done)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.job_id, "kind": str(self.kind), "collection": self.collection, "owner": self.owner,
                "state": str(self.state), "done": self.done, "total": self.total, "message": self.message,
                "created_at": self.created_at, "started_at": self.started_at, "finished_at": self.finished_at,
                "cancel_requested": self.cancel_requested, "runner": self.runner, "report": self.report}


MIGRATIONS = (
    Migration(60, "jobs: long work recorded when submitted (kind, collection, owner, inputs, state, progress, report)",
              script("""
CREATE TABLE IF NOT EXISTS jobs(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    collection TEXT NOT NULL,
    owner TEXT,
    inputs TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL,
    runner TEXT,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    report TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    dismissed INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state, id);
CREATE INDEX IF NOT EXISTS jobs_by_collection ON jobs(collection, id)""")),
)

_COLUMNS = ("id, kind, collection, owner, inputs, state, runner, done, total, message, report, created_at, started_at, "
            "finished_at, cancel_requested, dismissed, attempts")


def _job(row: sqlite3.Row) -> Job:
    return Job(int(row["id"]), JobKind(row["kind"]), row["collection"], row["owner"], json.loads(row["inputs"]),
               JobState(row["state"]), row["runner"], int(row["done"]), int(row["total"]), row["message"],
               json.loads(row["report"]), float(row["created_at"]), row["started_at"], row["finished_at"],
               bool(row["cancel_requested"]), bool(row["dismissed"]), int(row["attempts"]))


class JobStore:
    """The jobs table of one catalog database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def submit(self, kind: JobKind, collection: str, owner: str | None, inputs: dict[str, Any],
               runner: str | None = None) -> int:
        """Record a job; ``runner`` set: claimed at once by that process (the CLI runs its own)."""
        state = JobState.RUNNING if runner else JobState.QUEUED
        with self.db.transaction() as db:
            cur = db.execute("INSERT INTO jobs(kind, collection, owner, inputs, state, runner, created_at, started_at,"
                             " attempts) VALUES (?,?,?,?,?,?,?,?,?)",
                             (str(kind), collection, owner, json.dumps(inputs), str(state), runner, time.time(),
                              time.time() if runner else None, 1 if runner else 0))
            return int(cur.lastrowid or 0)

    def get(self, job_id: int) -> Job:
        row = self.db.connect().execute(f"SELECT {_COLUMNS} FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(f"no job {job_id}")
        return _job(row)

    def recent(self, collection: str | None = None, limit: int = 50, include_dismissed: bool = True) -> list[Job]:
        """Newest first; of one collection when given."""
        where, args = [], []
        if collection is not None:
            where.append("collection=?")
            args.append(collection)
        if not include_dismissed:
            where.append("dismissed=0")
        sql = f"SELECT {_COLUMNS} FROM jobs" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id DESC LIMIT ?"
        return [_job(r) for r in self.db.connect().execute(sql, (*args, limit))]

    def active(self) -> list[Job]:
        """Queued and running jobs, oldest first."""
        rows = self.db.connect().execute(f"SELECT {_COLUMNS} FROM jobs WHERE state IN (?,?) ORDER BY id",
                                         (str(JobState.QUEUED), str(JobState.RUNNING)))
        return [_job(r) for r in rows]

    def claim(self, job_id: int, runner: str) -> bool:
        """Take a queued job for ``runner`` (True), unless another runner took it first."""
        with self.db.transaction() as db:
            cur = db.execute("UPDATE jobs SET state=?, runner=?, started_at=COALESCE(started_at, ?), "
                             "attempts=attempts+1 WHERE id=? AND state=?",
                             (str(JobState.RUNNING), runner, time.time(), job_id, str(JobState.QUEUED)))
            return cur.rowcount == 1

    def started(self, job_id: int) -> None:
        """The job holds its lease now: its work (and its ETA's clock) starts."""
        with self.db.transaction() as db:
            db.execute("UPDATE jobs SET started_at=?, message='' WHERE id=?", (time.time(), job_id))

    def progress(self, job_id: int, done: int, total: int, message: str) -> None:
        with self.db.transaction() as db:
            db.execute("UPDATE jobs SET done=?, total=?, message=? WHERE id=?", (done, total, message[:500], job_id))

    def finish(self, job_id: int, state: JobState, report: dict[str, Any], message: str = "") -> None:
        with self.db.transaction() as db:
            db.execute("UPDATE jobs SET state=?, report=?, message=?, finished_at=? WHERE id=?",
                       (str(state), json.dumps(report, default=str), message[:2000], time.time(), job_id))

    def requeue(self, job_id: int, message: str, runner: str | None) -> bool:
        """A job whose process died goes back in line (it resumes: what was committed is skipped).
        Only if it is still running under ``runner`` (the dead one that was read): another adopter
        may have requeued and a live runner claimed it meanwhile. True when this call did it."""
        with self.db.transaction() as db:
            cur = db.execute("UPDATE jobs SET state=?, runner=NULL, message=? WHERE id=? AND state=? AND runner IS ?",
                             (str(JobState.QUEUED), message, job_id, str(JobState.RUNNING), runner))
            return cur.rowcount == 1

    def interrupt(self, job_id: int, message: str, runner: str | None) -> bool:
        """A dead job that will not resume is marked interrupted (if still running under ``runner``)."""
        with self.db.transaction() as db:
            cur = db.execute("UPDATE jobs SET state=?, message=?, finished_at=? WHERE id=? AND state=? AND runner IS ?",
                             (str(JobState.INTERRUPTED), message, time.time(), job_id, str(JobState.RUNNING), runner))
            return cur.rowcount == 1

    def request_cancel(self, job_id: int) -> None:
        """Ask the job to stop (a queued one is cancelled at once)."""
        with self.db.transaction() as db:
            db.execute("UPDATE jobs SET cancel_requested=1 WHERE id=?", (job_id,))
            db.execute("UPDATE jobs SET state=?, finished_at=?, message=? WHERE id=? AND state=?",
                       (str(JobState.CANCELLED), time.time(), "cancelled before it started", job_id,
                        str(JobState.QUEUED)))

    def cancel_requested(self, job_id: int) -> bool:
        row = self.db.connect().execute("SELECT cancel_requested FROM jobs WHERE id=?", (job_id,)).fetchone()
        return bool(row and row[0])

    def dismiss(self, job_id: int) -> None:
        with self.db.transaction() as db:
            db.execute("UPDATE jobs SET dismissed=1 WHERE id=?", (job_id,))

    def forget_collection(self, collection: str, keep: int | None = None) -> None:
        """A deleted collection's finished jobs go (their reports name its photos); ``keep``: the
        deleting job itself."""
        with self.db.transaction() as db:
            db.execute(f"DELETE FROM jobs WHERE collection=? AND state IN ({','.join('?' * len(FINISHED))}) "
                       "AND id IS NOT ?", (collection, *map(str, FINISHED), keep))

    def rows(self) -> Iterator[Job]:
        for r in self.db.connect().execute(f"SELECT {_COLUMNS} FROM jobs ORDER BY id"):
            yield _job(r)
