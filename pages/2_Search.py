"""Search: by uploaded photo, camera snapshot, face or person (of this or another collection);
threshold and quality sliders filter locally. A face of a video shows when it is on screen, and a
selected one plays from there."""

from __future__ import annotations

from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from facelib import (
    Collection,
    FaceLibError,
    MatchRow,
    PersonSearch,
    SearchResult,
    decode,
    false_match_note,
    filter_matches,
    matches_by_threshold,
    person_search_cost,
    search_person,
    sha256_hex,
    usd,
)
from pages.ui.common import SEARCH_QUERY, collection_label, page, set_face_query, set_person_query
from pages.ui.picker import face_picker, numbered
from pages.ui.tables import MATCH_COLUMNS, QUALITY_DEFAULTS, matches_frame, quality_controls, rows_key, to_csv
from pages.ui.text import md, plural
from pages.ui.video import is_video, player, time_range

PAGE_SIZE = 500  # rows per table page (thumbnails are data URIs of about 3.5 KiB each)
QUERY = SEARCH_QUERY

coll = page("Search", ":material/person_search:")
floor = coll.settings.search_floor
st.title("Search")


# -- the query -------------------------------------------------------------------------------------
def set_image_query(widget_key: str, source: str) -> None:
    f = st.session_state.get(widget_key)
    if f is not None:
        data = f.getvalue()
        st.session_state[QUERY] = {"kind": "image", "source": source, "name": getattr(f, "name", source),
                                   "data": data, "sha": sha256_hex(data)}


# A search started elsewhere (a result row, Faces, a link) replaces an upload: the uploader is emptied
# (a new key) so it never shows a photo that is not the one searched.
current: dict[str, Any] | None = st.session_state.get(QUERY)
gen = st.session_state.get("search_upload_gen", 0)
upload_key = f"search_upload_{gen}" if gen else "search_upload"
if current and current.get("source") != "upload" and st.session_state.get(upload_key) is not None:
    st.session_state["search_upload_gen"] = gen = gen + 1
    upload_key = f"search_upload_{gen}"
tab_upload, tab_camera, tab_face, tab_person = st.tabs([
    ":material/upload: Upload a photo", ":material/photo_camera: Camera snapshot", ":material/face: By face",
    ":material/group: By person"])
with tab_upload:
    st.file_uploader("A photo of the person to find", type=["jpg", "jpeg", "png", "webp", "bmp", "gif", "heic"],
                     key=upload_key, on_change=set_image_query, args=(upload_key, "upload"))
with tab_camera:
    st.camera_input("Take a snapshot", key="search_camera", on_change=set_image_query,
                    args=("search_camera", "camera"))
with tab_face:
    # ?face=ID: a link to this page searches that face (once per session and link).
    linked = st.query_params.get("face", "").strip()
    if linked and st.session_state.get("_face_linked") != linked:
        st.session_state["_face_linked"] = linked
        st.session_state["search_face_id"] = linked
        set_face_query(linked)
    typed = st.text_input("Face id", key="search_face_id", persist_state="session",
                          placeholder="pick one on the Faces page, or paste an id")
    if st.button("Search this face id", key="search_face_go") and typed.strip():
        set_face_query(typed)
    st.page_link("pages/3_Faces.py", label="Browse faces and click one", icon=":material/face:")
with tab_person:
    # A person of this collection or of another one the user may read: all their faces search together.
    readable = [coll.name] + [n for n in coll.ws.collections(coll.user) if n != coll.name]
    source_name: str = st.selectbox("Person of the collection", readable, key="search_person_collection",
                                    format_func=lambda n: coll.ws.display_name(n) + (" (this one)" if n == coll.name else ""))
    source = coll if source_name == coll.name else coll.ws.collection(source_name, coll.user)
    someone = source.people.listing(include_hidden=True)
    person_labels = {p.person_id: f"{p.label} ({plural(len(p.face_ids), 'face')})" for p in someone}
    chosen_person = st.selectbox("Person", list(person_labels), key=f"search_person_pick_{source_name}", index=None,
                                 format_func=lambda i: person_labels.get(i, str(i)), placeholder="Choose a person")
    if not someone:
        st.caption("No people in that collection yet: group its faces on the People page.")
    elif chosen_person is not None and coll.paid:  # what it costs, before any call
        cost = person_search_cost(source, next(p for p in someone if p.person_id == chosen_person), coll)
        st.caption(f"This search makes {plural(cost, 'paid call')} (about {usd(cost * coll.settings.prices.per_image_call)}).")
    st.button("Search this person", key="search_person_go", disabled=chosen_person is None, on_click=set_person_query,
              args=(source_name, chosen_person if chosen_person is not None else -1),
              help="Every face of the person searches together; each face found keeps its best similarity.")

query: dict[str, Any] | None = st.session_state.get(QUERY)
# The URL names a face query (?face=ID), so a reload or a shared link searches it again; an uploaded
# photo or a snapshot is not put in a URL (it stays in this session).
if query and query["kind"] == "face":
    if st.query_params.get("face") != query["face_id"]:
        st.query_params["face"] = query["face_id"]
        st.session_state["_face_linked"] = query["face_id"]
elif "face" in st.query_params:
    del st.query_params["face"]
if not query:
    st.info("Upload a photo, take a camera snapshot, pick a face or a person to search the collection.")
    st.stop()


# -- run the engine once per query (at the floor), then filter locally ---------------------------------
def person_result(found: PersonSearch) -> SearchResult:
    """A search by person as a photo search's result (rows with the faces' quality figures, one query)."""
    stored = coll.faces_by_id(r.face_id for r in found.rows)
    rows = tuple(MatchRow(r.face_id, r.similarity, r.image_name, r.image_sha256, r.box, stored[r.face_id].detail,
                          r.thumb_path, stored[r.face_id].stored_path) for r in found.rows if r.face_id in stored)
    return SearchResult((), 0 if found.query_faces else None, rows, found.floor)


def run_search(query: dict[str, Any], face_index: int | None) -> SearchResult:
    st.session_state.pop("search_person_result", None)
    if query["kind"] == "person":
        source = coll if query["collection"] == coll.name else coll.ws.collection(query["collection"], coll.user)
        found = search_person(source, int(query["person_id"]), coll)
        coll.ws.search_calls += 1
        st.session_state["search_person_result"] = found
        return person_result(found)
    if query["kind"] == "face":
        return coll.search_face(query["face_id"])
    return coll.search_image(decode(query["data"], query["name"]), face_index=face_index)


query_id = str(query.get("sha") or query.get("face_id") or
               (f"person:{query['collection']}:{query['person_id']}:{query.get('asked', 0)}" if query["kind"] == "person"
                else ""))
pick_key = f"face_pick_{query_id[:12]}"
face_index = st.session_state.get(pick_key)
search_key = (coll.name, query_id, face_index)
if st.session_state.get("search_key") != search_key or "search_result" not in st.session_state:
    try:
        with st.spinner("Searching… (the first search also loads the face models)"):
            st.session_state["search_result"] = run_search(query, face_index)
        st.session_state["search_key"] = search_key
    except FaceLibError as exc:
        st.error(md(exc))
        st.session_state.pop("search_key", None)
        st.session_state.pop("search_result", None)
        st.stop()
result: SearchResult = st.session_state["search_result"]


def show_query(coll: Collection, query: dict[str, Any], result: SearchResult) -> None:
    if query["kind"] == "person":
        found: PersonSearch | None = st.session_state.get("search_person_result")
        if found is None:
            return
        where = "" if found.collection == coll.name else f" of {collection_label(found.collection)}"
        st.markdown(f"**Person:** {md(found.person.label)}{where} · {plural(len(found.query_faces), 'face')} "
                    "searched together (each face found keeps its best similarity)")
        source = coll if found.collection == coll.name else coll.ws.collection(found.collection, coll.user)
        thumbs = source.faces_by_id(found.query_faces[:12])
        st.image([source.thumb_uri(thumbs[f].thumb_path) for f in found.query_faces[:12] if f in thumbs], width=64)
        for note in found.notes:
            st.caption(md(note))
        return
    if query["kind"] == "image":
        image = decode(query["data"], query["name"])
        boxes = [d.box for d in result.query_faces]
        what = {"camera": "Camera snapshot", "live": "Frame from the live camera"}.get(query.get("source", ""),
                                                                                      "Uploaded photo")
        st.markdown(f"**{what}:** {md(query['name'])} · {plural(len(boxes), 'face')} found")
        if len(boxes) > 1:
            st.caption("The largest clear face is searched first: pick another one on the photo.")
            face_picker(pick_key, image.rgb, boxes, result.searched_face, show_width=560)
        else:
            st.image(numbered(image.rgb, boxes, result.searched_face), width="stretch")
        return
    try:
        face = coll.face(query["face_id"])
    except FaceLibError:  # one answer for another collection's face and a made-up id
        st.error(f"No face {md(str(query['face_id'])[:64])} in this collection.")
        st.stop()
    person = coll.people.names([face.face_id]).get(face.face_id)
    st.markdown(f"**Indexed face** of {md(face.image_name.rsplit('/', 1)[-1])}"
                + (f" ({md(person)})" if person else "") + f" · id `{md(face.face_id[:36])}`")
    st.image(coll.thumb_uri(face.thumb_path), width=96)
    photo = coll.photo(face.stored_path, [face.detail.box], highlight=0)
    if photo is not None:
        st.image(photo, width="stretch")


def chart(result: SearchResult, quality: Any, threshold: int) -> None:
    counts = matches_by_threshold(result.rows, floor, quality)
    data = pd.DataFrame({"threshold": counts.thresholds, "matches": counts.counts})
    line = alt.Chart(data).mark_area(line=True, opacity=0.25).encode(
        x=alt.X("threshold:Q", title="Threshold (%)", scale=alt.Scale(domain=[floor, 100])),
        y=alt.Y("matches:Q", title="Matches", axis=alt.Axis(format="d", tickMinStep=1)))
    rule = alt.Chart(pd.DataFrame({"threshold": [threshold]})).mark_rule(color="#E8590C", strokeWidth=2).encode(
        x="threshold:Q")
    st.altair_chart(line + rule, height=160)


def selected_row(shown: list[MatchRow], event: Any) -> MatchRow | None:
    """The chosen row, or None (the table's key names its rows, so a selection never outlives them)."""
    rows = list(event.selection.rows) if event is not None else []
    return shown[rows[0]] if rows and 0 <= rows[0] < len(shown) else None


def reset_quality() -> None:
    """Every quality filter back to its default (nothing hidden)."""
    for name, value in QUALITY_DEFAULTS.items():
        st.session_state[f"search_{name}"] = value


@st.fragment
def results(coll: Collection, result: SearchResult) -> None:
    """Sliders, metrics, chart and table: moving a slider reruns only this part, with no engine call."""
    controls, figures = st.columns([2, 3], gap="large")
    with controls:
        default = int(coll.settings.default_threshold)
        threshold: int = st.slider("Match threshold (similarity %)", int(floor), 100, default, step=1,
                                   key="search_threshold", persist_state="session",
                                   help=f"Higher is stricter. {default} is Rekognition's default.")
        found: PersonSearch | None = st.session_state.get("search_person_result")
        queries = len(found.query_faces) if found is not None else 1
        st.caption(f"At {threshold}%: {md(false_match_note(coll, threshold, queries))}.")
        quality = quality_controls("search", with_age=coll.reports_age)
    rows = filter_matches(result.rows, threshold, quality)
    if result.searched_face is None:  # nothing was searched: one message, no empty chart
        st.info("No face was found in the query, so nothing was searched. Try another photo, closer and better lit.")
        return
    by_quality = len(filter_matches(result.rows, threshold)) - len(rows)
    with figures:
        m = st.columns(3)
        m[0].metric("Matches", len(rows))
        m[1].metric(f"Fetched at ≥{floor:.0f}%", len(result.rows),
                    help="The engine was asked once at this floor; sliders filter these locally.")
        m[2].metric("Engine searches", coll.ws.search_calls, help="Searches sent to the engine by this app so far.")
        chart(result, quality, threshold)

    st.subheader(f"{plural(len(rows), 'match', 'matches')} at ≥{threshold}%")
    if by_quality:
        note, reset = st.columns([3, 1])
        note.warning(f"{plural(by_quality, 'more match', 'more matches')} at ≥{threshold}% "
                     f"{'is' if by_quality == 1 else 'are'} hidden by the quality filters.")
        reset.button("Show them (reset the filters)", key="search_reset_filters", on_click=reset_quality)
    if not rows:
        if not coll.counts()["faces"]:
            st.info("The collection is empty: index photos first.")
        elif result.rows:
            hidden = len(filter_matches(result.rows, floor)) - len(rows) - by_quality
            if hidden:
                st.info(f"The threshold hides {plural(hidden, 'match', 'matches')} between {floor:.0f}% and "
                        f"{threshold}%: lower it to see them.")
        elif found is not None:
            st.info(f"No face beyond {md(found.person.label)}'s own {plural(len(found.query_faces), 'face')} is at "
                    f"least {found.floor:.0f}% alike: every face like them here is theirs already.")
        else:
            st.info(f"No face in the collection is at least {floor:.0f}% alike.")
        return
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page_no = st.number_input("Page", 1, pages, 1, key="results_page") if pages > 1 else 1
    shown = rows[(int(page_no) - 1) * PAGE_SIZE: int(page_no) * PAGE_SIZE]
    table_key = rows_key("results_table", (r.face_id for r in shown))
    times = coll.appearances(r.face_id for r in shown)
    theirs = {r.face_id for r in found.rows if r.theirs} if found is not None else None
    frame = matches_frame(coll, shown, coll.people.names(r.face_id for r in shown), times, theirs)
    event = st.dataframe(frame, column_config=MATCH_COLUMNS, hide_index=True, width="stretch", key=table_key,
                         on_select="rerun", selection_mode="single-row", row_height=64)
    st.download_button("Download CSV", to_csv(frame.drop(columns=["face"])),
                       file_name="matches.csv", mime="text/csv", key="results_csv")

    row = selected_row(shown, event)
    if row is None:
        return
    tc = times.get(row.face_id)
    st.subheader(f"{md(row.image_name.rsplit('/', 1)[-1])}" + (f" · {md(time_range(tc))}" if tc else "")
                 + f" · {row.similarity:.1f}%")
    c1, c2 = st.columns([3, 1])
    with c1:
        frame_col, play_col = st.columns(2) if tc is not None else (st.container(), None)
        with frame_col:
            photo = coll.photo(row.stored_path, [row.box], highlight=0, at_s=tc.frame_s if tc else None)
            if photo is not None:  # never enlarged past its own size
                st.image(photo, width=min(photo.width, 700))
            else:
                st.caption("No stored copy of this " + ("video" if is_video(row.stored_path) else "photo")
                           + " in the catalog.")
        if play_col is not None and tc is not None:
            with play_col:
                player(coll, row.stored_path, tc)
    with c2:
        st.caption(f"Face id `{row.face_id}`")
        if st.button("Search this face", type="primary", key="search_selected"):
            set_face_query(row.face_id)
            st.rerun(scope="app")


with st.columns([2, 3])[0]:
    show_query(coll, query, result)
results(coll, result)
