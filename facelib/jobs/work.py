"""What each kind of job does, under its collection's lease, reporting progress and honouring a cancel.

:func:`execute` runs one recorded job to its end in the calling thread and returns its final state,
report and message. Index: the batch, then grouping its faces (free engines; paid ones with
``group``), all under one :class:`~facelib.engines.base.SpendLimit` when a budget is set, so
grouping's searches and every retry count against it too. Re-index, regroup, delete (a whole
collection) and repair (``doctor --repair``, holding every collection's lease) likewise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..engines.base import SpendLimit
from ..errors import BudgetExceeded, Cancelled, FaceLibError
from ..ingest.inflight import StopFlag
from ..ingest.report import FileOutcome
from .lease import Holder, WaitCancelled
from .spool import sources_of
from .store import Job, JobKind, JobState

if TYPE_CHECKING:
    from ..collection import Collection
    from ..workspace import Workspace

log = logging.getLogger(__name__)

#: Seconds between two progress writes to the jobs table (the last one is always written).
PROGRESS_EVERY = 0.4
STATUS_WORDS = {"indexed": "indexed", "no_face": "no face found", "skipped": "already indexed", "error": "error"}


@dataclass
class Context:
    """What a running job can tell and ask: ``progress(done, total, message)``, ``should_stop()``."""

    progress: Callable[[int, int, str], None]
    should_stop: Callable[[], bool]
    started: Callable[[], None] = lambda: None  # the lease is held: the work starts now

    def waiting(self, holder: Holder | None) -> None:
        self.progress(0, 0, f"waiting for {holder.describe() if holder else 'another writer'} to finish "
                            "with this collection")


def execute(ws: Workspace, job: Job, ctx: Context) -> tuple[JobState, dict[str, Any], str]:
    """Run ``job`` here; (final state, report, one-line message)."""
    try:
        if job.kind == JobKind.REPAIR:
            return _repair(ws, job, ctx)
        with ws.leases.hold(job.collection, str(job.kind), job.job_id, on_wait=ctx.waiting, should_stop=ctx.should_stop):
            ctx.started()
            created = job.inputs.get("collection_created")
            if created is not None and ws.catalog.collection_created(job.collection) != created:
                return JobState.FAILED, {"error": "collection gone"}, \
                    f"collection {job.collection!r} was deleted since this job was submitted: nothing was done"
            if job.kind == JobKind.INDEX:
                return _index(ws, job, ctx)
            if job.kind == JobKind.REINDEX:
                return _reindex(ws, job, ctx)
            if job.kind == JobKind.REGROUP:
                coll = ws.collection(job.collection, job.owner)
                ctx.progress(0, 1, "regrouping everyone")
                limit = _limit(ws, coll, job)
                try:
                    with coll.engine.spending(coll.name, limit):  # its SearchFaces count against the budget
                        coll.people.regroup()
                except BudgetExceeded as exc:
                    return JobState.FAILED, {"error": str(exc)}, str(exc)
                report: dict[str, Any] = {"people": len(coll.people.listing(include_hidden=True))}
                if limit is not None:
                    report.update(paid_calls=limit.calls, spent_usd=round(limit.spent, 6))
                return JobState.DONE, report, "regrouped"
            if job.kind == JobKind.DELETE:
                ctx.progress(0, 1, "erasing the collection")
                ws.delete_collection(job.collection, job.owner)
                ws.jobs.forget_collection(job.collection, keep=job.job_id)
                return JobState.DONE, {"deleted": job.collection}, f"erased {job.collection}"
    except WaitCancelled:
        return JobState.CANCELLED, {}, "cancelled while it waited for the collection"
    except Cancelled as exc:
        return JobState.CANCELLED, {}, str(exc)
    except FaceLibError as exc:
        return JobState.FAILED, {"error": str(exc)}, str(exc)
    raise FaceLibError(f"unknown job kind {job.kind!r}")


def _index(ws: Workspace, job: Job, ctx: Context) -> tuple[JobState, dict[str, Any], str]:
    inputs = job.inputs
    coll = ws.collection(job.collection, job.owner)
    ctx.progress(0, 0, "listing the photos")
    sources = sources_of(ws, inputs.get("sources", []))
    stop = StopFlag(ctx.should_stop)
    start = time.monotonic()

    def progress(done: int, total: int, outcome: FileOutcome) -> None:
        ctx.progress(done, total, f"{outcome.name.rsplit('/', 1)[-1]}: {STATUS_WORDS.get(str(outcome.status), '')}")

    limit = _limit(ws, coll, job)
    grouped: int | None = None
    group = inputs.get("group")
    if group is None:
        group = not coll.paid
    if limit is not None:  # the pre-flight: what this job will do (grouping's searches only if it groups)
        coll.check_budget(sources, grouping=bool(group), budget=limit.dollars)
    with coll.engine.spending(coll.name, limit):
        report = coll.index(sources, progress, workers=inputs.get("workers"), max_faces=int(inputs.get("max_faces", 100)),
                            cluster=inputs.get("cluster"), stop=stop, job_id=job.job_id)
        if report.faces_indexed and group and not report.stopped:
            ctx.progress(len(report.outcomes), len(report.outcomes), "grouping the new faces into people")
            def grouping(done: int, total: int) -> None:
                ctx.progress(done, total, "grouping the new faces into people")
                if stop.is_set():
                    raise stop.reason or Cancelled("cancelled by the analyst")
            try:
                coll.people.update(grouping)
                grouped = len(coll.people.listing(include_hidden=True))
            except (BudgetExceeded, Cancelled) as exc:  # the faces stay indexed; a later job groups the rest
                report.stopped = f"grouping stopped: {exc}"
        alerts: list[dict[str, Any]] = []
        if report.faces_indexed and not report.stopped:
            from ..people.watchlists import Watchlists

            try:  # watchlists (issue 27): the new faces against every watched person, after grouping
                alerts = [a.to_json() for a in Watchlists(coll).check(job.job_id, limit)]
            except FaceLibError as exc:  # a budget, a permission: unchecked faces are checked by the next job
                report.stopped = f"watchlists stopped: {exc}"
    summary = report.summary()
    summary["people"] = grouped
    summary["alerts"] = alerts
    if limit is not None:
        summary["paid_calls"], summary["spent_usd"] = limit.calls, round(limit.spent, 6)
    if not report.stopped:
        state = JobState.DONE
    elif stop.reason is not None and isinstance(stop.reason, Cancelled):
        state = JobState.CANCELLED
    else:
        state = JobState.FAILED
    message = (f"{summary['faces_indexed']} face(s) from {summary['images']} file(s) in {time.monotonic() - start:.0f} s"
               + (f"; stopped: {report.stopped}" if report.stopped else ""))
    return state, summary, message


def _limit(ws: Workspace, coll: Collection, job: Job) -> SpendLimit | None:
    """The job's spending limit on a paid engine: its own ``budget_usd``, else the settings'."""
    budget = job.inputs.get("budget_usd", ws.settings.budget_usd) if coll.paid else None
    return SpendLimit(float(budget), ws.settings.prices) if budget is not None else None


def _reindex(ws: Workspace, job: Job, ctx: Context) -> tuple[JobState, dict[str, Any], str]:
    coll = ws.collection(job.collection, job.owner)
    model = str(job.inputs["model"])
    report = coll.reindex(model, lambda done, total, name: ctx.progress(done, total, name.rsplit("/", 1)[-1]),
                          workers=job.inputs.get("workers"))
    if job.inputs.get("group", True):
        ctx.progress(report.images, report.images, "grouping the faces into people")
        coll.people.update()
    return JobState.DONE, report.summary(), f"{report.images} image(s) re-indexed with {model}"


def _repair(ws: Workspace, job: Job, ctx: Context) -> tuple[JobState, dict[str, Any], str]:
    from ..doctor import check

    ctx.progress(0, 1, "checking files and catalog")
    report = check(ws, repair=True, on_wait=ctx.waiting, should_stop=ctx.should_stop)
    return JobState.DONE, report.to_json(), (f"{report.files_removed} file(s) removed, {report.thumbnails_recut} "
                                             f"thumbnail(s) cut again")
