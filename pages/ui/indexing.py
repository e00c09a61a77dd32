"""Running an indexing batch in the page: progress bar with ETA, then a per-face outcome table."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from facelib import BatchReport, Collection, FaceLibError, FileOutcome, FileStatus, Source

from .tables import COLUMNS
from .text import md

OUTCOME_LABELS = {FileStatus.NO_FACE: "no face found", FileStatus.SKIPPED: "already indexed",
                  FileStatus.ERROR: "error"}


def run_batch(coll: Collection, sources: list[Source], label: str = "Indexing", cluster: str | None = None) -> BatchReport:
    """Index with a live progress bar and ETA; free engines group the new faces at once.
    ``cluster``: a Dask scheduler's address, "" for this machine, None for the settings' choice."""
    total = len(sources)
    start = time.perf_counter()
    with st.status(f"{label} {total} photo(s) into **{md(coll.ws.display_name(coll.name))}**…", expanded=True) as status:
        bar = st.progress(0.0, text="Starting (loading the face models)…")

        def progress(done: int, total_: int, outcome: FileOutcome) -> None:
            elapsed = time.perf_counter() - start
            eta = elapsed / done * (total_ - done) if done else 0
            bar.progress(done / max(total_, 1),
                         text=f"{done}/{total_} · {md(outcome.name.rsplit('/', 1)[-1])}: "
                              f"{OUTCOME_LABELS.get(outcome.status, str(outcome.status))} · "
                              f"{elapsed:.0f}s elapsed, about {eta:.0f}s left")

        try:
            report = coll.index(sources, progress, cluster=cluster)
        except FaceLibError as exc:  # refused before it started: the budget, the account, the region
            status.update(label=f"Not indexed: {md(exc)}", state="error", expanded=True)
            st.error(md(exc))
            return BatchReport(coll.name, stopped=str(exc))
        if report.stopped:
            st.error(f"The batch stopped early: {md(report.stopped)}")
        if report.faces_indexed and not coll.paid:
            bar.progress(1.0, text="Grouping the new faces into people…")
            coll.people.update()
        errors = len(report.errors)
        status.update(label=f"Indexed {report.faces_indexed} face(s) from {len(report.outcomes)} photo(s) in "
                            f"{report.seconds:.1f}s" + (f" · {errors} error(s)" if errors else ""),
                      state="error" if errors and errors == len(report.outcomes) else "complete", expanded=False)
    return report


def outcome_frame(coll: Collection, report: BatchReport) -> pd.DataFrame:
    """One row per face (indexed or rejected), plus one row per file without faces or with an error."""
    rows = []
    for o in report.outcomes:
        faces = coll.faces(status=None, image_sha256=o.sha256) if o.status == FileStatus.INDEXED else []
        if not faces:
            rows.append({"face": None, "image": o.name, "outcome": OUTCOME_LABELS.get(o.status, str(o.status)),
                         "details": o.message, "face_id": ""})
        for f in faces:
            d = f.detail
            rows.append({"face": coll.thumb_uri(f.thumb_path), "image": o.name, "outcome": str(f.status),
                         "details": ", ".join(f.reasons) or (f"brightness {d.brightness:.0f}, sharpness "
                                                             f"{d.sharpness or 0:.0f}, {d.size_px} px"
                                                             if d.brightness is not None else ""),
                         "face_id": f.face_id})
    return pd.DataFrame(rows, columns=["face", "image", "outcome", "details", "face_id"])


def show_report(coll: Collection, report: BatchReport) -> None:
    """The batch's counts, its errors, and the outcome table (only for the collection it went into)."""
    if report.collection != coll.name:
        return
    if report.stopped:  # shown after the page reruns too (the status box of the run is gone by then)
        st.error(("The batch stopped early: " if report.outcomes else "Not indexed: ") + md(report.stopped))
        if not report.outcomes:
            return
    counts = report.summary()["by_status"]
    c = st.columns(5)
    c[0].metric("Photos", len(report.outcomes))
    c[1].metric("Faces indexed", report.faces_indexed)
    c[2].metric("Faces rejected", report.faces_rejected)
    c[3].metric("Already indexed", counts.get("skipped", 0))
    c[4].metric("Errors", counts.get("error", 0))
    for o in report.errors:
        st.error(f"**{md(o.name)}**: {md(o.message)}")
    st.dataframe(outcome_frame(coll, report), hide_index=True, width="stretch", key="outcome_table",
                 row_height=64,
                 column_config={**COLUMNS, "outcome": st.column_config.TextColumn("Outcome"),
                                "details": st.column_config.TextColumn("Details", width="large")})
