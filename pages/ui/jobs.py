"""Jobs in the pages: the app's one job runner, and a panel that shows the collection's jobs.

Pages only submit jobs and read them: the runner's threads belong to the server process (one per
process, :func:`runner`), so a rerun, a page change or a closed tab never stops a job. The panel is
a fragment that reruns itself every second while a job of the collection is queued or running,
and reruns the page once when one finishes (so counts and tables include its faces).
"""

from __future__ import annotations

import time

import streamlit as st

from facelib import Collection, Job, JobRunner, JobState, Settings

from .common import workspace
from .text import md

STATE_WORDS = {JobState.QUEUED: "in line", JobState.RUNNING: "running", JobState.DONE: "finished",
               JobState.FAILED: "stopped", JobState.CANCELLED: "cancelled", JobState.INTERRUPTED: "interrupted"}
KIND_WORDS = {"index": "Indexing", "reindex": "Re-indexing", "regroup": "Regrouping", "delete": "Erasing",
              "repair": "Repairing"}


@st.cache_resource(show_spinner=False)
def _runner(data_dir: str) -> JobRunner:
    return JobRunner(workspace(), threads=2).start()


def runner() -> JobRunner:
    """The server process's job runner (started on first use; it resumes jobs a restart interrupted)."""
    return _runner(str(Settings().data_dir))


def eta_text(job: Job) -> str:
    eta = job.eta_seconds
    if eta is None:
        return ""
    return f" · about {eta / 60:.0f} min left" if eta >= 90 else f" · about {max(eta, 1):.0f} s left"


def describe(job: Job) -> str:
    what = KIND_WORDS.get(str(job.kind), str(job.kind))
    count = f" {job.done}/{job.total}" if job.total else ""
    return f"{what} (job {job.job_id}): {STATE_WORDS[job.state]}{count}{eta_text(job)}"


def _cancel(coll: Collection, job_id: int) -> None:
    coll.ws.cancel_job(job_id, coll.user)


def _active(coll: Collection) -> list[Job]:
    return [j for j in coll.jobs(limit=20) if not j.finished]


def jobs_panel(coll: Collection, where: str = "main") -> None:
    """The collection's queued and running jobs with progress, ETA and Cancel, refreshed every second
    while there are any."""
    runner()
    active = _active(coll)
    _panel(coll, where, bool(active), [j.job_id for j in active])


def _panel(coll: Collection, where: str, live: bool, ids: list[int]) -> None:
    @st.fragment(run_every=1.0 if live else None)
    def panel() -> None:
        active = _active(coll)
        if live and {j.job_id for j in active} != set(ids):  # one finished (or a new one came): the whole page
            st.rerun(scope="app")
        for job in active:
            with st.container(border=True):
                st.markdown(f"**{md(describe(job))}**")
                if job.total:
                    st.progress(min(job.done / job.total, 1.0), text=md(job.message) or None)
                elif job.message:
                    st.caption(md(job.message))
                st.button("Cancel", key=f"cancel_job_{where}_{job.job_id}", on_click=_cancel, args=(coll, job.job_id),
                          disabled=job.cancel_requested, help="Stop after the photos in flight; what is done is kept.")
    panel()


def wait_for(coll: Collection, job_id: int, timeout: float = 600.0) -> Job:
    """Block until a job ends (for tests and scripts; pages never wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = coll.ws.job(job_id, coll.user)
        if job.finished:
            return job
        time.sleep(0.2)
    return coll.ws.job(job_id, coll.user)
