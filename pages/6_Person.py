"""Person: every photo of one person, their faces, and the corrections (rename, split, move...).

Every action carries the ids it was drawn for (``on_click=..., args=(person_id, ...)``) and runs
before the next script run, so it never reads a picker whose options changed in between (a
browser rebuilds a selectbox whose labels changed and falls back to its default). The person
worked on is kept under the plain key ``person`` and the picker is keyed by it and by its labels:
whenever either changes it is a new widget whose default is that person.
"""

from __future__ import annotations

import hashlib

import streamlit as st

from facelib import FaceLibError, StoredFace
from pages.ui.common import forget_results, page, search_person_page
from pages.ui.people import faces_label, undo_last_correction
from pages.ui.tables import FACE_COLUMNS, faces_frame, rows_key
from pages.ui.text import md
from pages.ui.video import player, time_range

CURRENT = "person"   # the person worked on (durable; People and ?person= set it too)
coll = page("Person", ":material/person:")
people = coll.people
everyone = people.listing(include_hidden=True)
st.title("Person")
if not everyone:
    st.info("No people yet: open the People page to group the faces.")
    st.page_link("pages/5_People.py", label="People", icon=":material/groups:")
    st.stop()

ids = [p.person_id for p in everyone]
# ?person=ID opens that person (kept in sync by hand: the picker's labels are names, not ids).
linked = st.query_params.get("person", "")
if CURRENT not in st.session_state and linked.isdigit():
    st.session_state[CURRENT] = int(linked)
if st.session_state.get(CURRENT) not in ids:
    st.session_state[CURRENT] = ids[0]
pid: int = st.session_state[CURRENT]
labels = {p.person_id: f"{p.label} ({faces_label(len(p.face_ids))})" for p in everyone}


def say(message: str, show: int | None = None) -> None:
    """The message shown above the page after an action, and the person to show (default: as is)."""
    st.session_state["person_msg"] = message
    if show is not None:
        st.session_state[CURRENT] = show


def follow(face_ids: tuple[str, ...], fallback: int | None = None) -> None:
    """Show the person who now holds the first of ``face_ids`` that still has one (else ``fallback``)."""
    holder = people.person_of()
    for f in face_ids:
        if f in holder:
            st.session_state[CURRENT] = holder[f]
            return
    if fallback is not None:
        st.session_state[CURRENT] = fallback


if "person_msg" in st.session_state:
    st.success(st.session_state.pop("person_msg"))
current = people.get(pid)
undo_last_correction(coll, "person_msg", after=lambda: follow(current.face_ids, pid))


def pick(widget_key: str) -> None:
    st.session_state[CURRENT] = st.session_state[widget_key]
    st.session_state["_person_picked"] = True


# Keyed by the person shown and the labels: a rename or a correction makes a new picker showing `pid`.
digest = hashlib.sha1("|".join(f"{i}:{labels[i]}" for i in ids).encode()).hexdigest()[:8]
picker_key = f"person_pick_{pid}_{digest}"
st.selectbox("Person", ids, index=ids.index(pid), format_func=lambda i: labels.get(i, str(i)), key=picker_key,
             on_change=pick, args=(picker_key,))
# The URL names the person once chosen here or linked (the sidebar and People's links carry it, so a
# visit adds no history entry of its own; a change of person is one).
if st.query_params.get("person", str(pid)) != str(pid) or st.session_state.pop("_person_picked", False):
    st.query_params["person"] = str(pid)
person = current


def rename(person_id: int, name_key: str) -> None:
    name = str(st.session_state.get(name_key, "")).strip()
    try:
        people.rename(person_id, name)
    except FaceLibError as exc:
        say(f"Not renamed: {md(exc)}")
        return
    say(f"Renamed to {md(name) or 'unnamed'}.", show=person_id)


def hide(person_id: int, hidden: bool) -> None:
    people.hide(person_id, hidden)
    say("Hidden from the People page." if hidden else "Shown again.", show=person_id)


c1, c2 = st.columns([3, 1])
# Keyed by the person and the stored name: an undo or a rename elsewhere shows the name as it is now.
name_key = f"name_{pid}_{hashlib.sha1((person.name or '').encode()).hexdigest()[:8]}"
c1.text_input("Name", value=person.name or "", key=name_key, placeholder="Mom")
c1.button("Save name", key="rename", on_click=rename, args=(pid, name_key))
c2.button("Unhide" if person.hidden else "Hide", key="hide", on_click=hide, args=(pid, not person.hidden))
if c2.button("Search this person", key="search_this_person", type="primary",
             help="Every face of this person searches together: finds their faces not yet theirs, here or elsewhere"):
    search_person_page(coll.name, pid)

stored = coll.faces_by_id(person.face_ids)
faces = [stored[f] for f in person.face_ids if f in stored]
st.subheader(f"{md(person.label)}: {person.photos} photo{'s' if person.photos != 1 else ''}, "
             f"{faces_label(len(faces))}")
by_photo: dict[str, list[StoredFace]] = {}
for f in faces:
    by_photo.setdefault(f.image_sha256, []).append(f)
times = coll.appearances(person.face_ids)  # the faces that come from videos: when they are on screen
cols = st.columns(4)
for i, fs in enumerate(list(by_photo.values())[:48]):
    photo = coll.photo(fs[0].stored_path, [f.detail.box for f in fs], labels=[person.label] * len(fs),
                       max_side=800, text_scale=2.5)
    when = ", ".join(time_range(times[f.face_id]) for f in fs if f.face_id in times)
    if photo is not None:
        cols[i % 4].image(photo, caption=md(fs[0].image_name.rsplit("/", 1)[-1]) + (f" · {md(when)}" if when else ""),
                          width="stretch")

in_videos = sorted((f for f in faces if f.face_id in times), key=lambda f: (f.image_name, times[f.face_id].start_s))
if in_videos:
    st.subheader(f"In videos: {len(in_videos)} appearance{'s' if len(in_videos) != 1 else ''}")
    st.dataframe({"video": [f.image_name.rsplit("/", 1)[-1] for f in in_videos],
                  "when": [time_range(times[f.face_id]) for f in in_videos],
                  "seconds": [f"{times[f.face_id].start_s:.1f}-{times[f.face_id].end_s:.1f}" for f in in_videos]},
                 hide_index=True, column_config={"video": "Video", "when": "On screen", "seconds": "Seconds"})
    shown_apps = {f.face_id: f for f in in_videos}
    play_key = rows_key(f"person_play_{pid}", shown_apps)
    play = st.selectbox("Play an appearance", list(shown_apps), key=play_key,
                        format_func=lambda f: f"{shown_apps[f].image_name.rsplit('/', 1)[-1]} · {time_range(times[f])}")
    if play is not None:
        face = shown_apps[play]
        frame_col, play_col = st.columns(2)
        frame = coll.photo(face.stored_path, [face.detail.box], labels=[person.label], highlight=0,
                           at_s=times[play].frame_s)
        if frame is not None:
            frame_col.image(frame, caption=md(f"The frame at {time_range(times[play]).split('–')[0]}"), width="stretch")
        with play_col:
            player(coll, face.stored_path, times[play])

st.subheader("Faces")
# The table's key names the person and their faces, so a selection never outlives the rows it indexes.
face_ids = tuple(f.face_id for f in faces)
table_key = rows_key(f"person_faces_{pid}", face_ids)
event = st.dataframe(faces_frame(coll, faces), column_config=FACE_COLUMNS, hide_index=True, width="stretch",
                     row_height=64, key=table_key, on_select="rerun", selection_mode="multi-row")
chosen = [faces[i].face_id for i in event.selection.rows if 0 <= i < len(faces)]


def ticked(table: str, drawn: tuple[str, ...]) -> list[str]:
    """The faces ticked in ``table`` (which showed ``drawn``), read when the button is pressed."""
    state = st.session_state.get(table)
    rows = list(state["selection"]["rows"]) if state else []
    return [drawn[i] for i in rows if 0 <= i < len(drawn)]


def split(person_id: int, table: str, drawn: tuple[str, ...]) -> None:
    picked = ticked(table, drawn)
    if picked:
        new = people.split(picked)
        say(f"Split {faces_label(len(picked))} into {md(people.get(new).label)}.")
        follow(tuple(f for f in drawn if f not in picked), new)


def move(person_id: int, table: str, drawn: tuple[str, ...], target_key: str) -> None:
    picked, target = ticked(table, drawn), st.session_state.get(target_key)
    if picked and target is not None:
        people.move_faces(picked, int(target))
        now = people.get(int(target))  # counted after the move
        say(f"Moved {faces_label(len(picked))} to {md(now.label)} (now {faces_label(len(now.face_ids))}).")
        follow(tuple(f for f in drawn if f not in picked), int(target))


def not_person(person_id: int, table: str, drawn: tuple[str, ...]) -> None:
    picked = ticked(table, drawn)
    if picked:
        label = people.get(person_id).label
        people.not_these_faces(picked)
        say(f"{faces_label(len(picked))} taken out of {md(label)}.")
        follow(tuple(f for f in drawn if f not in picked) or drawn)


def not_face(person_id: int, table: str, drawn: tuple[str, ...]) -> None:
    picked = ticked(table, drawn)
    if picked:
        people.not_faces(picked)
        say(f"{faces_label(len(picked))} marked as not a face.")
        follow(tuple(f for f in drawn if f not in picked), person_id)


st.caption(f"{faces_label(len(chosen))} selected. Corrections are remembered by every later regroup.")
a, b, c, d = st.columns(4)
a.button("Split into a new person", disabled=not chosen, key="split", on_click=split,
         args=(pid, table_key, face_ids))
others = [p for p in everyone if p.person_id != pid]
target_key = f"move_target_{pid}_{digest}"
target = b.selectbox("Move to", [p.person_id for p in others], format_func=lambda i: labels.get(i, str(i)),
                     key=target_key, index=None, placeholder="Choose a person")
b.button("Move", disabled=not chosen or target is None, key="move", on_click=move,
         args=(pid, table_key, face_ids, target_key))
c.button("Not this person", disabled=not chosen, key="not_person", on_click=not_person,
         args=(pid, table_key, face_ids))
d.button("Not a face", disabled=not chosen, key="not_face", on_click=not_face, args=(pid, table_key, face_ids))


def erase(person_id: int, label: str) -> None:
    n = coll.delete_person(person_id, with_photos=bool(st.session_state.get("erase_photos")))
    forget_results()  # a kept search result or live recogniser may name the erased faces
    st.session_state.pop(CURRENT, None)
    st.session_state["erase_confirm"] = ""
    say(f"Erased {md(label)}: {faces_label(n)}.")


with st.expander(f"Erase {md(person.label)}", expanded=False):
    st.warning("Removes this person's faces from the engine, the catalog and the disk (thumbnails, vectors, "
               "cached searches). It cannot be undone.")
    st.checkbox("Also delete every photo they appear in", key="erase_photos")
    confirm = st.text_input("Type ERASE to confirm", key="erase_confirm")
    st.button("Erase person", type="primary", disabled=confirm != "ERASE", key="erase_person", on_click=erase,
              args=(pid, person.label))
