"""Search: by uploaded photo, camera snapshot or face; threshold and quality sliders filter locally."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from facelib import FaceLibError
from facelib.images import decode, sha256_hex
from facelib.people_catalog import People
from facelib.search import SearchResult, filter_matches, matches_by_threshold, search_by_face, search_by_image
from facelib.thumbnails import draw_boxes
from pages.ui.common import durable, keep, need_collection, put, setup
from pages.ui.tables import MATCH_COLUMNS, matches_frame, quality_controls, stored_photo, thumb

PAGE_SIZE = 500  # rows per table page (thumbnails are data URIs of about 3.5 KiB each)

ws, collection = setup("Search", ":material/person_search:")
collection = need_collection(collection)
engine_name = ws.catalog.collection_engine(collection)
floor = ws.settings.search_floor
st.title("Search")


# -- the query -------------------------------------------------------------------------------------
def set_image_query(widget_key: str, source: str) -> None:
    f = st.session_state.get(widget_key)
    if f is not None:
        data = f.getvalue()
        put("query", {"kind": "image", "source": source, "name": getattr(f, "name", source), "data": data,
                      "sha": sha256_hex(data)})


def set_face_query(face_id: str) -> None:
    put("query", {"kind": "face", "source": "face", "face_id": face_id.strip()})


tab_upload, tab_camera, tab_face = st.tabs([":material/upload: Upload a photo", ":material/photo_camera: Camera snapshot",
                                                 ":material/face: By face"])
with tab_upload:
    st.file_uploader("A photo of the person to find", type=["jpg", "jpeg", "png", "webp", "bmp", "gif", "heic"],
                     key="search_upload", on_change=set_image_query, args=("search_upload", "upload"))
with tab_camera:
    st.camera_input("Take a snapshot", key="search_camera", on_change=set_image_query,
                    args=("search_camera", "camera"))
with tab_face:
    typed = st.text_input("Face id", key="search_face_id", placeholder="pick one on the Faces page, or paste an id")
    if st.button("Search this face id", key="search_face_go") and typed.strip():
        set_face_query(typed)
    st.page_link("pages/3_Faces.py", label="Browse faces and click one", icon=":material/face:")

query = keep("query", None)
if not query:
    st.info("Upload a photo, take a camera snapshot, or pick a face to search the collection.")
    st.stop()


# -- run the engine once per query (at the floor), then filter locally ---------------------------------
def run_search(query: dict, face_index: int | None) -> SearchResult:
    if query["kind"] == "face":
        return search_by_face(ws, collection, query["face_id"])
    return search_by_image(ws, collection, decode(query["data"], query["name"]), face_index=face_index)


pick_key = f"face_pick_{query.get('sha', query.get('face_id', ''))[:12]}"
face_index = st.session_state.get(pick_key)
search_key = (collection, query.get("sha") or query.get("face_id"), face_index)
if st.session_state.get("search_key") != search_key:
    try:
        with st.spinner("Searching…"):
            st.session_state["search_result"] = run_search(query, face_index)
        st.session_state["search_key"] = search_key
    except FaceLibError as exc:
        st.error(str(exc))
        st.session_state.pop("search_key", None)
        st.stop()
result: SearchResult = st.session_state["search_result"]

left, right = st.columns([2, 3], gap="large")
with left:
    if query["kind"] == "image":
        image = decode(query["data"], query["name"])
        boxes = [d.box for d in result.query_faces]
        st.image(draw_boxes(image.rgb, boxes, highlight=result.searched_face), width="stretch",
                 caption=f"{query['name']} · {len(boxes)} face(s) found")
        if len(boxes) > 1:
            st.radio("Face to search", list(range(len(boxes))), index=result.searched_face, horizontal=True,
                     format_func=lambda i: f"Face {i + 1}", key=pick_key,
                     help="The largest face is searched first; pick another one here.")
        elif not boxes:
            st.warning("No face found in this photo. Try another one, closer and better lit.")
    else:
        try:
            face = ws.catalog.face(query["face_id"])
        except FaceLibError as exc:
            st.error(str(exc))
            st.stop()
        photo = stored_photo(ws, face.stored_path, [face.detail.box], highlight=0)
        if photo is not None:
            st.image(photo, width="stretch", caption=f"Searching the face in {face.image_name.rsplit('/', 1)[-1]}")
        st.image(thumb(ws, face.thumb_path) or "", width=96)

with right:
    threshold = durable(st.slider, "Match threshold (similarity %)", "threshold", 80, min_value=int(floor),
                        max_value=100, step=1, help="Higher is stricter. 80 is Rekognition's default.")
    quality = quality_controls("search", with_age=engine_name == "rekognition")
    rows = filter_matches(result.rows, threshold, quality)
    m = st.columns(3)
    m[0].metric("Matches", len(rows))
    m[1].metric(f"Fetched at ≥{floor:.0f}%", len(result.rows),
                help="The engine was asked once at this floor; sliders filter these locally.")
    m[2].metric("Engine searches", ws.search_calls, help="Searches sent to the engine by this app so far.")
    counts = matches_by_threshold(result.rows, floor, quality)
    chart_data = pd.DataFrame({"threshold": counts.thresholds, "matches": counts.counts})
    line = alt.Chart(chart_data).mark_area(line=True, opacity=0.25).encode(
        x=alt.X("threshold:Q", title="Threshold (%)", scale=alt.Scale(domain=[floor, 100])),
        y=alt.Y("matches:Q", title="Matches"))
    rule = alt.Chart(pd.DataFrame({"threshold": [threshold]})).mark_rule(color="#E8590C", strokeWidth=2).encode(
        x="threshold:Q")
    st.altair_chart(line + rule, height=160)

st.subheader(f"{len(rows)} match(es) at ≥{threshold}%")
if not rows:
    st.info("No face above this threshold. Lower the threshold or loosen the quality filters.")
    st.stop()
pages = max(1, -(-len(rows) // PAGE_SIZE))
page = st.number_input("Page", 1, pages, 1, key="results_page") if pages > 1 else 1
shown = rows[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
frame = matches_frame(ws, shown, People(ws, collection).names(r.face_id for r in shown))
event = st.dataframe(frame, column_config=MATCH_COLUMNS, hide_index=True, width="stretch", key="results_table",
                     on_select="rerun", selection_mode="single-row", row_height=64)
st.download_button("Download CSV", frame.drop(columns=["face"]).to_csv(index=False).encode(),
                   file_name=f"matches-{collection}.csv", mime="text/csv", key="results_csv")

selected = event.selection.rows if event is not None else []
if selected:
    row = shown[selected[0]]
    st.subheader(f"{row.image_name.rsplit('/', 1)[-1]} · {row.similarity:.1f}%")
    c1, c2 = st.columns([3, 1])
    with c1:
        photo = stored_photo(ws, row.stored_path, [row.box], highlight=0)
        if photo is not None:
            st.image(photo, width="stretch")
        else:
            st.caption("No stored copy of this photo in the catalog.")
    with c2:
        st.caption(f"Face id `{row.face_id}`")
        if st.button("Search this face", type="primary", key="search_selected"):
            set_face_query(row.face_id)
            st.rerun()
