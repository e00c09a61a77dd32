"""Compare: how alike the face of one photo (or an indexed face) is to the faces of another."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from facelib import FaceLibError, FaceNotFound, LoadedImage, decode, draw_boxes
from pages.ui.common import page
from pages.ui.text import md

coll = page("Compare", ":material/compare:")
floor = coll.settings.search_floor
st.title("Compare two photos")
st.caption("The largest clear face of the first photo against every face of the second"
           + (" (one paid CompareFaces call, cached)." if coll.paid else " (offline, with the default model)."))

mode = st.segmented_control("Compare", ["Two photos", "A face and a photo"], default="Two photos",
                            key="compare_mode", persist_state="session")
left, right = st.columns(2)
source: LoadedImage | None = None
target: LoadedImage | None = None
types = ["jpg", "jpeg", "png", "webp", "bmp", "gif", "heic"]
try:
    with left:
        if mode == "A face and a photo":
            face_id = st.text_input("Face id", key="compare_face", persist_state="session",
                                    placeholder="a face id from Search or Faces").strip()
            if face_id:
                try:
                    source = coll.face_picture(face_id)
                except FaceNotFound:  # one answer for another collection's face and a made-up id
                    st.error(f"No face {md(face_id[:64])} in this collection.")
                    st.stop()
        else:
            first = st.file_uploader("First photo", type=types, key="compare_a")
            if first is not None:
                source = decode(first.getvalue(), first.name)
        if source is not None:
            st.image(source.rgb, caption=md(source.name), width="stretch")
    with right:
        second = st.file_uploader("Second photo", type=types, key="compare_b")
        if second is not None:
            target = decode(second.getvalue(), second.name)
except FaceLibError as exc:
    st.error(md(exc))
    st.stop()

if source is None or target is None:
    st.info("Choose both sides to compare them.")
    st.stop()

key = ("compare", source.sha256, target.sha256, coll.name)
if st.session_state.get("compare_key") != key:
    try:
        with st.spinner("Comparing…"):
            st.session_state["compare_result"] = coll.compare(source, target)
        st.session_state["compare_key"] = key
    except FaceLibError as exc:
        st.error(md(exc))
        st.stop()
matches = st.session_state["compare_result"]
threshold: int = st.slider("Match threshold (similarity %)", int(floor), 100, int(coll.settings.default_threshold),
                           key="compare_threshold", persist_state="session")
shown = [m for m in matches if m.similarity >= threshold]
with right:
    st.image(draw_boxes(target.rgb, [m.face.detail.box for m in shown],
                        labels=[f"{m.similarity:.0f}%" for m in shown]), caption=md(target.name), width="stretch")
if not matches:
    st.info(f"No face of the second photo is at least {floor:.0f}% alike (or a photo shows no face).")
elif not shown:
    st.info(f"The threshold hides {len(matches)} face(s) between {floor:.0f}% and {threshold}%.")
else:
    best = shown[0]
    st.metric("Most alike face", f"{best.similarity:.1f}%")
    st.dataframe(pd.DataFrame({"face": [i + 1 for i in range(len(shown))],
                               "similarity": [round(m.similarity, 1) for m in shown]}),
                 hide_index=True, key="compare_table",
                 column_config={"similarity": st.column_config.ProgressColumn("Similarity", min_value=0,
                                                                              max_value=100, format="%.1f%%")})
