"""Tables and filters shared by pages: quality sliders, face tables with thumbnail columns."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterable

import pandas as pd
import streamlit as st

from facelib import Collection, MatchRow, QualityFilter, StoredFace, Timecode

from .video import time_range

#: The quality sliders' defaults (nothing filtered), by the name in their key ``{prefix}_{name}``.
QUALITY_DEFAULTS = {"min_brightness": 0, "min_sharpness": 0, "min_size": 0, "min_conf": 0, "max_yaw": 90,
                    "max_pitch": 90, "min_age": 0}


def quality_controls(prefix: str, with_age: bool = False) -> QualityFilter:
    """Sliders for the view-time quality filters (values survive page switches)."""
    def slider(label: str, name: str, default: int, lo: int, hi: int, step: int = 1, help: str | None = None) -> int:
        value: int = st.slider(label, lo, hi, default, step=step, key=f"{prefix}_{name}", persist_state="session",
                               help=help)
        return value

    with st.expander("Quality filters", expanded=False):
        c1, c2, c3 = st.columns(3)
        with c1:
            b = slider("Min brightness", "min_brightness", 0, 0, 100, help="Mean brightness of the face crop, 0-100.")
            s = slider("Min sharpness", "min_sharpness", 0, 0, 100, help="Sharpness of the face crop, 0-100.")
        with c2:
            size = slider("Min face size (px)", "min_size", 0, 0, 400, step=10,
                          help="Shorter side of the face box in the original photo.")
            conf = slider("Min detector confidence", "min_conf", 0, 0, 100)
        with c3:
            yaw = slider("Max head turn (yaw °)", "max_yaw", 90, 0, 90)
            pitch = slider("Max head tilt (pitch °)", "max_pitch", 90, 0, 90)
            age = slider("Min age", "min_age", 0, 0, 80) if with_age else 0
    return QualityFilter(min_brightness=b or None, min_sharpness=s or None, min_confidence=conf or None,
                         min_size_px=size or None, max_yaw=yaw if yaw < 90 else None,
                         max_pitch=pitch if pitch < 90 else None, min_age=age or None)


#: What a spreadsheet reads as a formula at the start of a cell (OWASP's CSV injection list).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """A text cell a spreadsheet shows as text: one starting with = + - @ tab or CR gets a leading
    quote (OWASP); numbers and other values are left as they are."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_START) else value


def to_csv(frame: pd.DataFrame) -> bytes:
    """The frame as CSV bytes with every text cell neutralised (:func:`csv_cell`), headers included."""
    safe = frame.rename(columns=lambda c: csv_cell(str(c)))
    for col in safe.columns:
        if safe[col].dtype == object or pd.api.types.is_string_dtype(safe[col].dtype):
            safe[col] = safe[col].map(csv_cell).astype(object)
    return safe.to_csv(index=False, quoting=csv.QUOTE_NONNUMERIC).encode()  # text quoted: a CR stays in its cell


def rows_key(prefix: str, ids: Iterable[str]) -> str:
    """A widget key named by the rows a table shows: a selection made on other rows never applies."""
    return f"{prefix}_{hashlib.sha1('|'.join(ids).encode()).hexdigest()[:10]}"


def matches_frame(coll: Collection, rows: list[MatchRow], names: dict[str, str] | None = None,
                  times: dict[str, Timecode] | None = None, theirs: set[str] | None = None) -> pd.DataFrame:
    """One row per match: thumbnail (data URI), similarity, image (a video's name), when (a video's
    time range), person (and whether the face is already the searched person's), quality figures, face id."""
    times = times or {}
    frame = pd.DataFrame({
        "face": [coll.thumb_uri(r.thumb_path) for r in rows],
        "similarity": [round(r.similarity, 1) for r in rows],
        "image": [r.image_name.rsplit("/", 1)[-1] for r in rows],
        "when": [time_range(times.get(r.face_id)) for r in rows],
        "person": [(names or {}).get(r.face_id, "") for r in rows],
        "theirs": [r.face_id in (theirs or set()) for r in rows],
        "brightness": [r.detail.brightness for r in rows],
        "sharpness": [r.detail.sharpness for r in rows],
        "size_px": [r.detail.size_px for r in rows],
        "yaw": [r.detail.pose.yaw for r in rows],
        "confidence": [r.detail.confidence for r in rows],
        "path": [r.image_name for r in rows],
        "face_id": [r.face_id for r in rows],
    })
    drop = ([] if names else ["person"]) + ([] if theirs is not None else ["theirs"]) + \
        ([] if any(r.face_id in times for r in rows) else ["when"])
    return frame.drop(columns=drop)


#: Column settings shared by every table of faces (a DataFrame's own column order decides the layout).
COLUMNS = {
    "face": st.column_config.ImageColumn("Face", width="small"),
    "image": st.column_config.TextColumn("Image"),
    "brightness": st.column_config.NumberColumn("Brightness", format="%.0f"),
    "sharpness": st.column_config.NumberColumn("Sharpness", format="%.0f"),
    "size_px": st.column_config.NumberColumn("Size px", format="%d"),
    "yaw": st.column_config.NumberColumn("Yaw °", format="%.0f"),
    "confidence": st.column_config.NumberColumn("Confidence", format="%.0f"),
    "face_id": st.column_config.TextColumn("Face id", width="small"),
}
MATCH_COLUMNS = {
    **COLUMNS,
    "similarity": st.column_config.ProgressColumn("Similarity", min_value=0, max_value=100, format="%.1f%%"),
    "person": st.column_config.TextColumn("Person"),
    "when": st.column_config.TextColumn("When (video)", help="When the face is on screen in the video."),
    "theirs": st.column_config.CheckboxColumn("Already theirs", help="Already one of the searched person's faces."),
    "path": None,
}


def faces_frame(coll: Collection, faces: list[StoredFace]) -> pd.DataFrame:
    return pd.DataFrame({
        "face": [coll.thumb_uri(f.thumb_path) for f in faces],
        "image": [f.image_name.rsplit("/", 1)[-1] for f in faces],
        "status": [str(f.status) for f in faces],
        "reasons": [", ".join(f.reasons) for f in faces],
        "brightness": [f.detail.brightness for f in faces],
        "sharpness": [f.detail.sharpness for f in faces],
        "size_px": [f.detail.size_px for f in faces],
        "face_id": [f.face_id for f in faces],
    })


FACE_COLUMNS = {
    **COLUMNS,
    "status": st.column_config.TextColumn("Outcome"),
    "reasons": st.column_config.TextColumn("Reasons"),
}
