"""Running an indexing batch in the page: progress bar with ETA, then a per-face outcome table."""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st

from facelib import BatchReport, Collection, FaceLibError, FileOutcome, FileStatus, Source

from .tables import COLUMNS
from .text import md, plural

OUTCOME_LABELS = {FileStatus.INDEXED: "indexed", FileStatus.NO_FACE: "no face found",
                  FileStatus.SKIPPED: "already indexed", FileStatus.ERROR: "error"}
#: Outcome words of the table, in the order rows are shown: new faces first, what was already there last.
ORDER = ("new face", "rejected face", "no face found", "error", "already indexed")
#: Python's names for unreadable files, as a person would say it.
READABLE = {"UnidentifiedImageError": "not a photo this app can read (damaged, or not an image)",
            "DecompressionBombError": "too many pixels to open safely", "OSError": "the file could not be read",
            "EOFError": "the file is cut short"}


def readable(message: str | None) -> str:
    """An outcome's message in words (no exception class names in brackets)."""
    text = message or ""
    for name, words in READABLE.items():
        if name in text:
            return words
    return text


def eta_words(done: int, total: int, elapsed: float) -> str:
    """Time left at the pace so far, only once two files are done (before that no honest figure)."""
    if done < 2 or elapsed <= 0 or done >= total:
        return "estimating the time left…" if done < total else "finishing…"
    left = elapsed / done * (total - done)
    return f"about {left / 60:.0f} min left" if left >= 90 else f"about {max(left, 1):.0f} s left"


def run_batch(coll: Collection, sources: list[Source], label: str = "Indexing", cluster: str | None = None) -> BatchReport:
    """Index with a live progress bar and ETA; free engines group the new faces at once.
    ``cluster``: a Dask scheduler's address, "" for this machine, None for the settings' choice."""
    total = len(sources)
    start = time.perf_counter()
    with st.status(f"{label} {plural(total, 'photo')} into **{md(coll.ws.display_name(coll.name))}**…", expanded=True) as status:
        bar = st.progress(0.0, text="Starting (loading the face models)…")

        def progress(done: int, total_: int, outcome: FileOutcome) -> None:
            elapsed = time.perf_counter() - start
            bar.progress(done / max(total_, 1),
                         text=f"{done}/{total_} · {md(outcome.name.rsplit('/', 1)[-1])}: "
                              f"{OUTCOME_LABELS.get(outcome.status, str(outcome.status))} · "
                              f"{elapsed:.0f} s elapsed, {eta_words(done, total_, elapsed)}")

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
        status.update(label=f"Indexed {plural(report.faces_indexed, 'face')} from {plural(len(report.outcomes), 'photo')}"
                            f" in {report.seconds:.1f} s" + (f" · {plural(errors, 'error')}" if errors else ""),
                      state="error" if errors and errors == len(report.outcomes) else "complete", expanded=False)
    return report


def outcome_frame(coll: Collection, report: BatchReport) -> pd.DataFrame:
    """One row per face (indexed or rejected), plus one row per file without faces or with an error."""
    rows = []

    def shown_name(name: str) -> str:  # a server path shows as its file name (no server layout on screen)
        return name.rsplit("/", 1)[-1] if name.startswith("/") else name

    for o in report.outcomes:
        with_faces = o.status in (FileStatus.INDEXED, FileStatus.SKIPPED) and o.sha256
        faces = coll.faces(status=None, image_sha256=o.sha256) if with_faces else []
        if not faces:
            rows.append({"face": "", "image": shown_name(o.name), "outcome": OUTCOME_LABELS.get(o.status, str(o.status)),
                         "details": readable(o.message), "face_id": ""})
        for f in faces:
            d = f.detail
            word = ("already indexed" if o.status == FileStatus.SKIPPED else
                    "new face" if f.status == "indexed" else "rejected face")
            rows.append({"face": coll.thumb_uri(f.thumb_path) if f.thumb_path else "", "image": shown_name(o.name),
                         "outcome": word,
                         "details": ", ".join(f.reasons) or (f"brightness {d.brightness:.0f}, sharpness "
                                                             f"{d.sharpness or 0:.0f}, {d.size_px} px"
                                                             if d.brightness is not None else ""),
                         "face_id": f.face_id})
    rows.sort(key=lambda r: ORDER.index(r["outcome"]) if r["outcome"] in ORDER else len(ORDER))  # stable
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
        st.error(f"**{md(o.name)}**: {md(readable(o.message))}")
    frame = outcome_frame(coll, report)
    present = [w for w in ORDER if w in set(frame["outcome"])]
    counts_of = frame["outcome"].value_counts().to_dict()
    key = f"outcome_filter_{abs(hash((report.collection, len(report.outcomes), report.seconds))) % 10**8}"
    wanted = st.pills("Show", present, selection_mode="multi", key=key,
                      default=[w for w in present if w != "already indexed"] or present,
                      format_func=lambda w: f"{w} ({counts_of.get(w, 0)})")
    shown = frame[frame["outcome"].isin(wanted or present)]
    st.dataframe(shown, hide_index=True, width="stretch", key=f"outcome_table_{key}",
                 row_height=64, height=min(64 * len(shown) + 40, 900),
                 column_config={**COLUMNS, "outcome": st.column_config.TextColumn("Outcome"),
                                "details": st.column_config.TextColumn("Details", width="large")})
