"""Photos: every photo and video of the collection, its faces boxed and named (a video: the frame of
its first appearance, and when each face is on screen); filter by people and date."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from facelib import photo_date
from pages.ui.common import page, search_face
from pages.ui.text import md
from pages.ui.video import is_video, time_range

PER_PAGE = 24

coll = page("Photos", ":material/photo_library:")
st.title("Photos")
people = coll.people.listing(include_hidden=True)
labels = {p.person_id: p.label for p in people}
c1, c2, c3 = st.columns([2, 2, 2])
with_people = c1.multiselect("With all of", list(labels), format_func=lambda i: labels[i], key="photos_with",
                             persist_state="session")
without_people = c2.multiselect("But none of", list(labels), format_func=lambda i: labels[i], key="photos_without",
                                persist_state="session")
dates = c3.date_input("Dated between (Instagram post date, else when indexed)", value=[], key="photos_dates",
                      persist_state="session")
since = until = None
if isinstance(dates, tuple) and len(dates) == 2:
    since, until = (d.isoformat() for d in dates)
elif isinstance(dates, dt.date):
    since = until = dates.isoformat()
photos = coll.photos(with_people, without_people, since, until)
total = coll.counts()["images"]
if not total:
    st.info("The collection is empty: index photos first.")
    st.stop()
if not photos:
    st.info(f"None of the {total} photos matches these filters.")
    st.stop()
pages = max(1, -(-len(photos) // PER_PAGE))
page_no = int(st.number_input(f"Page (of {pages})", 1, pages, 1, key="photos_page")) if pages > 1 else 1
shown = photos[(page_no - 1) * PER_PAGE: page_no * PER_PAGE]
st.caption(f"{len(photos)} of {total} photos")
faces = coll.faces_of(shown)
names = coll.people.names(f.face_id for fs in faces.values() for f in fs)
times = coll.appearances(f.face_id for fs in faces.values() for f in fs)  # faces of videos: one query
cols = st.columns(4)
for i, image in enumerate(shown):
    fs = [f for f in faces.get(image.sha256, []) if f.status == "indexed"]
    picture = coll.photo(image.stored_path, [f.detail.box for f in fs],
                         labels=[names.get(f.face_id, "?") for f in fs], max_side=800, text_scale=2.5)
    with cols[i % 4]:
        if picture is not None:
            st.image(picture, width="stretch")
        when = "; ".join(f"{names.get(f.face_id, '?')} {time_range(times[f.face_id])}"
                         for f in sorted((f for f in fs if f.face_id in times), key=lambda f: times[f.face_id].start_s))
        video = is_video(image.stored_path) or bool(when)
        st.caption(f"{md(image.original_name.rsplit('/', 1)[-1])} · " + ("video · " if video else "")
                   + f"{photo_date(image)} · {len(fs)} " + ("appearance(s)" if video else "face(s)")
                   + (f" · {md(when)}" if when else ""))
        if fs and st.button("Search its first face", key=f"photo_search_{image.sha256[:12]}", width="stretch"):
            search_face(fs[0].face_id)
