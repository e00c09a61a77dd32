"""Person: every photo of one person, their faces, and the corrections (rename, split, move...)."""

from __future__ import annotations

import streamlit as st

from facelib import FaceLibError
from facelib.people_catalog import People
from pages.ui.common import keep, need_collection, put, setup
from pages.ui.tables import FACE_COLUMNS, faces_frame, stored_photo

ws, collection = setup("Person", ":material/person:")
collection = need_collection(collection)
engine_name = ws.catalog.collection_engine(collection)
people = People(ws, collection)
everyone = people.list(include_hidden=True)
st.title("Person")
if not everyone:
    st.info("No people yet: open the People page to group the faces.")
    st.page_link("pages/5_People.py", label="People", icon=":material/groups:")
    st.stop()
if "person_msg" in st.session_state:
    st.success(st.session_state.pop("person_msg"))

ids = [p.person_id for p in everyone]
current = keep("person", ids[0])
if current not in ids:
    current = ids[0]
labels = {p.person_id: f"{p.label} ({len(p.face_ids)} faces)" for p in everyone}
st.session_state["person_select"] = current
pid = st.selectbox("Person", ids, format_func=labels.get, key="person_select",
                   on_change=lambda: put("person", st.session_state["person_select"]))
person = people.get(pid)


def done(message: str) -> None:
    st.session_state["person_msg"] = message
    st.rerun()


c1, c2, c3 = st.columns([3, 1, 1])
new_name = c1.text_input("Name", value=person.name or "", key=f"name_{pid}", placeholder="Mom")
if c1.button("Save name", key="rename"):
    people.rename(pid, new_name)
    done(f"Renamed to {new_name or 'unnamed'}.")
if c2.button("Unhide" if person.hidden else "Hide", key="hide"):
    people.hide(pid, not person.hidden)
    done("Shown again." if person.hidden else "Hidden from the People page.")
if engine_name == "rekognition" and c3.button("Mirror as Rekognition User", key="mirror"):
    try:
        done(f"Rekognition User {people.mirror_to_rekognition(pid)} holds up to 100 of these faces.")
    except FaceLibError as exc:
        st.error(str(exc))

faces = [ws.catalog.face(f) for f in person.face_ids]
st.subheader(f"{person.label}: {person.photos} photo(s), {len(faces)} face(s)")
by_photo: dict[str, list] = {}
for f in faces:
    by_photo.setdefault(f.image_sha256, []).append(f)
cols = st.columns(4)
for i, fs in enumerate(list(by_photo.values())[:48]):
    photo = stored_photo(ws, fs[0].stored_path, [f.detail.box for f in fs], labels=[person.label] * len(fs),
                         max_side=800)
    if photo is not None:
        cols[i % 4].image(photo, caption=fs[0].image_name.rsplit("/", 1)[-1], width="stretch")

st.subheader("Faces")
event = st.dataframe(faces_frame(ws, faces), column_config=FACE_COLUMNS, hide_index=True, width="stretch",
                     row_height=64, key="person_faces", on_select="rerun", selection_mode="multi-row")
chosen = [faces[i].face_id for i in event.selection.rows]
st.caption(f"{len(chosen)} face(s) selected. Corrections are remembered by every later regroup.")
a, b, c, d = st.columns(4)
if a.button("Split into a new person", disabled=not chosen, key="split"):
    new = people.split(chosen)
    put("person", new)
    done(f"Split {len(chosen)} face(s) into a new person.")
others = [p for p in everyone if p.person_id != pid]
target = b.selectbox("Move to", [p.person_id for p in others], format_func=labels.get, key="move_target",
                     index=None, placeholder="Choose a person")
if b.button("Move", disabled=not chosen or target is None, key="move"):
    for f in chosen:
        people.move(f, target)
    done(f"Moved {len(chosen)} face(s) to {labels[target]}.")
if c.button("Not this person", disabled=not chosen, key="not_person"):
    for f in chosen:
        people.not_this_person(f)
    done(f"{len(chosen)} face(s) taken out of {person.label}.")
if d.button("Not a face", disabled=not chosen, key="not_face"):
    for f in chosen:
        people.not_a_face(f)
    done(f"{len(chosen)} face(s) marked as not a face.")

with st.expander(f"Erase {person.label}", expanded=False):
    st.warning("Removes this person's faces from the engine, the catalog and the disk (thumbnails, vectors, "
               "cached searches). It cannot be undone.")
    with_photos = st.checkbox("Also delete every photo they appear in", key="erase_photos")
    confirm = st.text_input("Type ERASE to confirm", key="erase_confirm")
    if st.button("Erase person", type="primary", disabled=confirm != "ERASE", key="erase_person"):
        n = people.delete_person(pid, with_photos=with_photos)
        st.session_state.pop("_keep_person", None)
        done(f"Erased {person.label}: {n} face(s).")
