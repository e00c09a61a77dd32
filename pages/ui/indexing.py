"""Running an indexing batch in the page: progress bar with ETA, then a per-face outcome table."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from facelib.people_catalog import People
from facelib.pipeline import BatchReport, FileOutcome, Indexer, Source
from facelib.workspace import Workspace

from .tables import COLUMNS, thumb


def run_batch(ws: Workspace, collection: str, sources: list[Source], label: str = "Indexing") -> BatchReport:
    """Index with a live progress bar and ETA; returns the report."""
    total = len(sources)
    start = time.perf_counter()
    with st.status(f"{label} {total} photo(s) into **{collection}**…", expanded=True) as status:
        bar = st.progress(0.0, text="Starting (loading the face models)…")

        def progress(done: int, total_: int, outcome: FileOutcome) -> None:
            elapsed = time.perf_counter() - start
            eta = elapsed / done * (total_ - done) if done else 0
            bar.progress(done / max(total_, 1),
                         text=f"{done}/{total_} · {outcome.name.rsplit('/', 1)[-1]}: {outcome.status} · "
                              f"{elapsed:.0f}s elapsed, about {eta:.0f}s left")

        report = Indexer(ws, collection).run(sources, progress)
        if report.faces_indexed and ws.catalog.collection_engine(collection) == "local":
            bar.progress(1.0, text="Grouping the new faces into people…")
            People(ws, collection).update()
        errors = len(report.errors)
        status.update(label=f"Indexed {report.faces_indexed} face(s) from {len(report.outcomes)} photo(s) in "
                            f"{report.seconds:.1f}s" + (f" · {errors} error(s)" if errors else ""),
                      state="error" if errors and errors == len(report.outcomes) else "complete", expanded=False)
    return report


def outcome_frame(ws: Workspace, collection: str, report: BatchReport) -> pd.DataFrame:
    """One row per face (indexed or rejected), plus one row per file without faces or with an error."""
    rows = []
    for o in report.outcomes:
        faces = ws.catalog.faces(collection, status=None, image_sha256=o.sha256) if o.status == "indexed" else []
        if not faces:
            rows.append({"face": None, "image": o.name, "outcome": {"no_face": "no face found",
                                                                    "skipped": "already indexed",
                                                                    "error": "error"}.get(o.status, o.status),
                         "details": o.message, "face_id": None})
        for f in faces:
            rows.append({"face": thumb(ws, f.thumb_path), "image": o.name,
                         "outcome": "indexed" if f.status == "indexed" else "rejected",
                         "details": ", ".join(f.reasons) or (f"brightness {f.detail.brightness:.0f}, sharpness "
                                                             f"{f.detail.sharpness:.0f}, {f.detail.size_px} px"
                                                             if f.detail.brightness is not None else ""),
                         "face_id": f.face_id})
    return pd.DataFrame(rows, columns=["face", "image", "outcome", "details", "face_id"])


def show_report(ws: Workspace, collection: str, report: BatchReport) -> None:
    counts = report.summary()["by_status"]
    c = st.columns(5)
    c[0].metric("Photos", len(report.outcomes))
    c[1].metric("Faces indexed", report.faces_indexed)
    c[2].metric("Faces rejected", report.faces_rejected)
    c[3].metric("Already indexed", counts.get("skipped", 0))
    c[4].metric("Errors", counts.get("error", 0))
    for o in report.errors:
        st.error(f"**{o.name}**: {o.message}")
    st.dataframe(outcome_frame(ws, collection, report), hide_index=True, width="stretch", key="outcome_table",
                 row_height=64,
                 column_config={**COLUMNS, "outcome": st.column_config.TextColumn("Outcome"),
                                "details": st.column_config.TextColumn("Details", width="large")})
