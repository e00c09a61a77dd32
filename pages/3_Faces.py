"""Faces: a random sample of the collection's faces; click one to search it. Rejected faces and why."""

from __future__ import annotations

import streamlit as st

from facelib import FaceLibError
from pages.ui.common import page, search_face
from pages.ui.tables import FACE_COLUMNS, faces_frame, quality_controls
from pages.ui.text import md

coll = page("Faces", ":material/face:")
st.title("Faces")

view = st.segmented_control("View", ["Sample", "Rejected and filtered out"], default="Sample", key="faces_view",
                            persist_state="session")
quality = quality_controls("faces", with_age=coll.reports_age)

if view == "Rejected and filtered out":
    rejected = coll.faces(status="rejected")
    st.subheader(f"Rejected by the engine ({len(rejected)})")
    if rejected:
        event = st.dataframe(faces_frame(coll, rejected), column_config=FACE_COLUMNS, hide_index=True,
                             width="stretch", row_height=64, key="rejected_table", on_select="rerun",
                             selection_mode="multi-row")
        chosen = [rejected[i] for i in event.selection.rows if 0 <= i < len(rejected)]
        if st.button(f"Index anyway ({len(chosen)} selected)", disabled=not chosen, key="index_anyway"):
            for face in chosen:
                try:
                    coll.index_anyway(face.face_id)
                except FaceLibError as exc:
                    st.error(f"{md(face.image_name)}: {md(exc)}")
            st.rerun()
    else:
        st.caption("The engine indexed every face it found.")
    n_dropped, dropped = coll.failing(quality, limit=500)
    st.subheader(f"Hidden by the quality filters ({n_dropped})")
    if n_dropped > len(dropped):
        st.caption(f"Showing the first {len(dropped)}.")
    if dropped:
        frame = faces_frame(coll, dropped)
        frame["reasons"] = ["; ".join(quality.reasons(f.detail)) for f in dropped]
        st.dataframe(frame, column_config=FACE_COLUMNS, hide_index=True, width="stretch", row_height=64,
                     key="filtered_table")
        st.caption("These faces are indexed; the filters only hide them. Loosen the sliders to show them again.")
    else:
        st.caption("No indexed face fails the current filters.")
    st.stop()

n: int = st.select_slider("Faces to show", options=[25, 50, 100, 200], value=50, key="faces_n",
                          persist_state="session")
if st.button(":material/shuffle: Reshuffle", key="faces_reshuffle"):
    st.session_state["faces_seed"] = st.session_state.get("faces_seed", 0) + 1
seed = st.session_state.get("faces_seed", 0)
faces = [f for f in coll.sample(4 * n, seed=seed) if quality.passes(f.detail)][:n]
total = coll.counts()["faces"]
st.caption(f"{len(faces)} of {total} indexed faces, drawn at random. Click **Search** under a face to find "
           "its person.")
if not faces:
    st.info("The collection is empty: index photos first." if not total else
            f"The quality filters hide all {total} faces: loosen them to see faces again.")
    st.stop()
per_row = 8
for start in range(0, len(faces), per_row):
    cols = st.columns(per_row)
    for col, f in zip(cols, faces[start:start + per_row], strict=False):
        with col:
            st.image(coll.thumb_uri(f.thumb_path), width="stretch")
            st.caption(md(f.image_name.rsplit("/", 1)[-1]))
            if st.button("Search", key=f"face_{f.face_id}", width="stretch"):
                search_face(f.face_id)
