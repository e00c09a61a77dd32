"""Compare: how alike a face of one photo (or an indexed face) is to each face of another, with a
face picker on both sides, every face boxed and numbered left to right, and a verdict band from the
calibrated threshold."""

from __future__ import annotations

import io

import pandas as pd
import streamlit as st

from facelib import BoundingBox, FaceLibError, FaceNotFound, LoadedImage, Match, decode
from pages.ui.common import page
from pages.ui.picker import face_picker, numbered, reading_order
from pages.ui.text import md, plural

coll = page("Compare", ":material/compare:")
floor = coll.settings.search_floor
st.title("Compare two photos")
st.caption("A face of the first photo against every face of the second"
           + (" (CompareFaces calls on Rekognition, each cached)." if coll.paid else " (offline, with the collection's model)."))

mode = st.segmented_control("Compare", ["Two photos", "A face and a photo"], default="Two photos",
                            key="compare_mode", persist_state="session")
left, right = st.columns(2)
source: LoadedImage | None = None
target: LoadedImage | None = None
face_id = ""
types = ["jpg", "jpeg", "png", "webp", "bmp", "gif", "heic"]


@st.cache_data(show_spinner=False, max_entries=16)
def _faces(collection: str, sha: str, _image: LoadedImage) -> list[BoundingBox]:
    """The faces of a photo (detector order), found once per photo."""
    return [m.face.detail.box for m in coll.compare(_image, _image, floor=0)]


def _crop(image: LoadedImage, box: BoundingBox) -> LoadedImage:
    """The face with a margin, as its own photo (so its largest face is the face chosen)."""
    w, h = image.rgb.size
    x0, y0, x1, y1 = box.to_pixels(w, h)
    side = int(max(x1 - x0, y1 - y0) * 1.8)
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    crop = image.rgb.crop((max(0, cx - side // 2), max(0, cy - side // 2), min(w, cx + side // 2),
                           min(h, cy + side // 2)))
    buf = io.BytesIO()
    crop.save(buf, "JPEG", quality=95)
    return decode(buf.getvalue(), f"{image.name}#face")


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
                st.image(source.rgb, caption=f"Indexed face {md(face_id[:36])}", width=160)
        else:
            first = st.file_uploader("First photo", type=types, key="compare_a")
            if first is not None:
                whole = decode(first.getvalue(), first.name)
                boxes = _faces(coll.name, whole.sha256, whole)
                pick_key = f"compare_pick_a_{whole.sha256[:12]}"
                if not boxes:
                    st.image(whole.rgb, width="stretch")
                    st.warning("No face found in the first photo.")
                elif len(boxes) == 1:
                    st.image(numbered(whole.rgb, boxes, 0), caption=md(whole.name), width="stretch")
                    source = whole
                else:
                    chosen = st.session_state.get(pick_key)
                    if chosen is None or chosen >= len(boxes):  # default: the largest face
                        chosen = max(range(len(boxes)), key=lambda i: boxes[i].area)
                    st.caption(f"{md(whole.name)}: the face compared is face "
                               f"{reading_order(boxes).index(chosen) + 1} (click another).")
                    face_picker(pick_key, whole.rgb, boxes, chosen, show_width=480)
                    source = _crop(whole, boxes[chosen])
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


def _compare(source: LoadedImage, target: LoadedImage) -> list[Match]:
    """Every face of ``target`` with its similarity to ``source``'s face (floor 0: all of them).
    For an indexed face against an indexed photo, the figure is the one Search shows (the stored
    vectors), so one pair has one similarity on every page."""
    matches = coll.compare(source, target, floor=0)
    if face_id and coll.has_image(target.sha256):
        stored = {r.face_id: r.similarity for r in coll.search_face(face_id, floor=0).rows
                  if r.image_sha256 == target.sha256}
        by_box = {f.detail.box: f.face_id for f in coll.faces(image_sha256=target.sha256)}
        matches = [Match(m.face, stored.get(_nearest(by_box, m.face.detail.box), m.similarity)) for m in matches]
    return sorted(matches, key=lambda m: -m.similarity)


def _nearest(by_box: dict[BoundingBox, str], box: BoundingBox) -> str:
    """The indexed face whose box is closest to ``box`` (the same photo analysed again)."""
    def dist(b: BoundingBox) -> float:
        return abs(b.left - box.left) + abs(b.top - box.top) + abs(b.width - box.width)
    return by_box[min(by_box, key=dist)] if by_box else ""


key = ("compare", source.sha256, target.sha256, coll.name, face_id)
if st.session_state.get("compare_key") != key:
    try:
        with st.spinner("Comparing…"):
            st.session_state["compare_result"] = _compare(source, target)
        st.session_state["compare_key"] = key
    except FaceLibError as exc:
        st.error(md(exc))
        st.stop()
matches: list[Match] = st.session_state["compare_result"]
default = int(coll.settings.default_threshold)
threshold: int = st.slider("Match threshold (similarity %)", int(floor), 100, default, key="compare_threshold",
                           persist_state="session",
                           help=f"{default}% is the calibrated threshold (the same precision on every model).")
boxes = [m.face.detail.box for m in matches]
captions = [f"{m.similarity:.1f}%" for m in matches]
pick_b = f"compare_pick_b_{target.sha256[:12]}_{source.sha256[:12]}"
chosen_b = st.session_state.get(pick_b)
if chosen_b is None or chosen_b >= len(matches):
    chosen_b = 0  # the most alike
with right:
    if len(matches) > 1:
        face_picker(pick_b, target.rgb, boxes, chosen_b, captions=captions, show_width=480)
    else:
        st.image(numbered(target.rgb, boxes, chosen_b if matches else None, captions), caption=md(target.name),
                 width="stretch")
if not matches:
    st.info("The second photo shows no face.")
    st.stop()

pair = matches[chosen_b]
number = reading_order(boxes).index(chosen_b) + 1
sim = pair.similarity
if sim >= threshold:
    st.success(f"**Same person**: face {number} of the second photo is {sim:.1f}% alike (threshold {threshold}%).")
elif sim >= max(floor, threshold - 10):
    st.warning(f"**Probably the same person**: face {number} is {sim:.1f}% alike, just under the threshold "
               f"({threshold}%): check by eye.")
else:
    st.error(f"**Different people**: face {number} is {sim:.1f}% alike (threshold {threshold}%).")
st.metric("Most alike face", f"{matches[0].similarity:.1f}%")
order = reading_order(boxes)
st.dataframe(pd.DataFrame({"face": [order.index(i) + 1 for i in range(len(matches))],
                           "similarity": [round(m.similarity, 1) for m in matches],
                           "verdict": ["same person" if m.similarity >= threshold else
                                       "probably" if m.similarity >= max(floor, threshold - 10) else "different"
                                       for m in matches]}),
             hide_index=True, key="compare_table",
             column_config={"similarity": st.column_config.ProgressColumn("Similarity", min_value=0, max_value=100,
                                                                          format="%.1f%%")})
st.caption(f"{plural(len(matches), 'face')} in the second photo, numbered left to right.")
