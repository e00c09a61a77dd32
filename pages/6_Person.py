"""Person: every photo of one person, their faces, and the corrections (rename, split, move...)."""

from __future__ import annotations

import streamlit as st

from facelib import StoredFace
from pages.ui.common import forget_results, page
from pages.ui.people import undo_last_correction
from pages.ui.tables import FACE_COLUMNS, faces_frame, rows_key
from pages.ui.text import md

coll = page("Person", ":material/person:")
people = coll.people
everyone = people.listing(include_hidden=True)
st.title("Person")
if not everyone:
    st.info("No people yet: open the People page to group the faces.")
    st.page_link("pages/5_People.py", label="People", icon=":material/groups:")
    st.stop()
if "person_msg" in st.session_state:
    st.success(st.session_state.pop("person_msg"))
undo_last_correction(coll, "person_msg")

ids = [p.person_id for p in everyone]
if "_person_next" in st.session_state:  # chosen by the last action (a split, an erasure)
    st.session_state["person"] = st.session_state.pop("_person_next")
# ?person=ID opens that person (kept in sync by hand: Streamlit binds a selectbox to the URL by its
# labels, and these are names, not ids).
linked = st.query_params.get("person", "")
if "person" not in st.session_state and linked.isdigit():
    st.session_state["person"] = int(linked)
if st.session_state.get("person") not in ids:
    st.session_state["person"] = ids[0]
labels = {p.person_id: f"{p.label} ({len(p.face_ids)} faces)" for p in everyone}
pid: int = st.selectbox("Person", ids, format_func=lambda i: labels.get(i, str(i)), key="person",
                        persist_state="session")
st.query_params["person"] = str(pid)
person = people.get(pid)


def done(message: str, show: int | None = None) -> None:
    st.session_state["person_msg"] = message
    if show is not None:
        st.session_state["_person_next"] = show
    st.rerun()


c1, c2 = st.columns([3, 1])
# Keyed by the stored name too: an undo or a rename elsewhere shows the name as it is now.
new_name = c1.text_input("Name", value=person.name or "", key=f"name_{pid}_{person.name}", placeholder="Mom")
if c1.button("Save name", key="rename"):
    people.rename(pid, new_name)
    done(f"Renamed to {md(new_name) or 'unnamed'}.")
if c2.button("Unhide" if person.hidden else "Hide", key="hide"):
    people.hide(pid, not person.hidden)
    done("Shown again." if person.hidden else "Hidden from the People page.")

stored = coll.faces_by_id(person.face_ids)
faces = [stored[f] for f in person.face_ids if f in stored]
st.subheader(f"{md(person.label)}: {person.photos} photo(s), {len(faces)} face(s)")
by_photo: dict[str, list[StoredFace]] = {}
for f in faces:
    by_photo.setdefault(f.image_sha256, []).append(f)
cols = st.columns(4)
for i, fs in enumerate(list(by_photo.values())[:48]):
    photo = coll.photo(fs[0].stored_path, [f.detail.box for f in fs], labels=[person.label] * len(fs),
                       max_side=800, text_scale=2.5)
    if photo is not None:
        cols[i % 4].image(photo, caption=md(fs[0].image_name.rsplit("/", 1)[-1]), width="stretch")

st.subheader("Faces")
# The table's key names the person and their faces, so a selection never outlives the rows it indexes.
table_key = rows_key(f"person_faces_{pid}", [f.face_id for f in faces])
event = st.dataframe(faces_frame(coll, faces), column_config=FACE_COLUMNS, hide_index=True, width="stretch",
                     row_height=64, key=table_key, on_select="rerun", selection_mode="multi-row")
chosen = [faces[i].face_id for i in event.selection.rows if 0 <= i < len(faces)]
st.caption(f"{len(chosen)} face(s) selected. Corrections are remembered by every later regroup.")
a, b, c, d = st.columns(4)
if a.button("Split into a new person", disabled=not chosen, key="split"):
    new = people.split(chosen)
    done(f"Split {len(chosen)} face(s) into a new person.", show=new)
others = [p for p in everyone if p.person_id != pid]
target = b.selectbox("Move to", [p.person_id for p in others], format_func=lambda i: labels.get(i, str(i)),
                     key="move_target", index=None, placeholder="Choose a person")
if b.button("Move", disabled=not chosen or target is None, key="move") and target is not None:
    people.move_faces(chosen, target)
    done(f"Moved {len(chosen)} face(s) to {md(labels[target])}.")
if c.button("Not this person", disabled=not chosen, key="not_person"):
    people.not_these_faces(chosen)
    done(f"{len(chosen)} face(s) taken out of {md(person.label)}.")
if d.button("Not a face", disabled=not chosen, key="not_face"):
    people.not_faces(chosen)
    done(f"{len(chosen)} face(s) marked as not a face.")

with st.expander(f"Erase {md(person.label)}", expanded=False):
    st.warning("Removes this person's faces from the engine, the catalog and the disk (thumbnails, vectors, "
               "cached searches). It cannot be undone.")
    with_photos = st.checkbox("Also delete every photo they appear in", key="erase_photos")
    confirm = st.text_input("Type ERASE to confirm", key="erase_confirm")
    if st.button("Erase person", type="primary", disabled=confirm != "ERASE", key="erase_person"):
        n = coll.delete_person(pid, with_photos=with_photos)
        forget_results()  # a kept search result or live recogniser may name the erased faces
        done(f"Erased {md(person.label)}: {n} face(s).", show=-1)
