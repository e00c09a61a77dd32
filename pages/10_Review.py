"""Review: the questions about grouping whose answers change it most, one at a time, two faces side
by side, answered "same" / "not the same" / "skip" with buttons or the keyboard (S, N, K: Streamlit's
own button shortcuts). Every answer updates the people at once and is remembered by every regroup;
a skipped question never comes back."""

from __future__ import annotations

import streamlit as st

from facelib import Collection, FaceLibError, Question, Review, StoredFace, Timecode
from pages.ui.common import page
from pages.ui.people import faces_label, group_new_faces, undo_last_correction
from pages.ui.text import md, plural
from pages.ui.video import time_range

coll = page("Review", ":material/rule:")
st.title("Review")
st.caption("The questions whose answers change the grouping most come first. Answer with the buttons or the "
           "keyboard: **S** same person, **N** not the same, **K** skip. Every answer is remembered by every regroup.")

if "review_msg" in st.session_state:
    st.success(st.session_state.pop("review_msg"))
undo_last_correction(coll, "review_msg")
group_new_faces(coll)  # new faces are grouped before they are asked about

WORDS = {"same": "Same person", "different": "Not the same", "skip": "Skipped"}


def answer(question_id: str, what: str, label_a: str, label_b: str) -> None:
    """Record one answer for the question this button was drawn for (by id), before the next run draws."""
    try:
        done = Review(coll).answer(question_id, what)  # type: ignore[arg-type]
    except FaceLibError as exc:
        st.session_state["review_msg"] = f"Not recorded: {md(exc)}"
        return
    if what == "skip":
        st.session_state["review_msg"] = "Skipped: that question will not be asked again."
    elif what == "same":
        st.session_state["review_msg"] = f"Noted: {md(label_a)} and {md(label_b)} are the same person" + \
            (" (merged)." if "person" in done else ".")
    else:
        st.session_state["review_msg"] = f"Noted: {md(label_a)} and {md(label_b)} are not the same person."


def side(coll: Collection, face: StoredFace | None, title: str, times: dict[str, Timecode]) -> None:
    st.markdown(f"**{title}**")
    if face is None:
        st.caption("This face is gone.")
        return
    st.image(coll.thumb_uri(face.thumb_path), width=160)
    tc = times.get(face.face_id)
    photo = coll.photo(face.stored_path, [face.detail.box], highlight=0, max_side=480, at_s=tc.frame_s if tc else None)
    if photo is not None:
        st.image(photo, width=min(photo.width, 480))
    st.caption(md(face.image_name.rsplit("/", 1)[-1]) + (f" · {md(time_range(tc))}" if tc else ""))


review = Review(coll)
questions: list[Question] = review.questions(limit=None)
if not questions:
    st.info("No open question: the grouping has nothing it is unsure about (or every question was answered).")
    st.page_link("pages/5_People.py", label="See the people", icon=":material/groups:")
    st.stop()

people = {p.person_id: p for p in coll.people.listing(include_hidden=True)}
q = questions[0]
faces = coll.faces_by_id([q.face_a, q.face_b])
times = coll.appearances([q.face_a, q.face_b])
pa, pb = people.get(q.person_a), people.get(q.person_b)
label_a = pa.label if pa else f"Person {q.person_a}"
label_b = pb.label if pb else f"Person {q.person_b}"
st.caption(f"{plural(len(questions), 'open question')} · {faces_label(sum(len(p.face_ids) for p in people.values()))}"
           f" in {plural(len(people), 'person', 'people')}")
if q.kind == "merge":
    st.subheader(f"Are {md(label_a)} and {md(label_b)} the same person?")
    st.caption(f"Their closest faces are {q.similarity:.1f}% alike. Same: they are merged. Not the same: no regroup "
               "joins them.")
    titles = (f"{md(label_a)} ({faces_label(len(pa.face_ids) if pa else 0)})",
              f"{md(label_b)} ({faces_label(len(pb.face_ids) if pb else 0)})")
else:
    st.subheader(f"Is this face {md(label_a)}?")
    st.caption(f"It is {q.similarity:.1f}% alike to {md(label_a)}'s other faces on average, the least of them. "
               "Not the same: it is taken out of the person.")
    titles = ("This face", f"{md(label_a)} (their cover face)")
b1, b2, b3 = st.columns(3)  # above the faces, so they are in view without scrolling
b1.button("Same person", key="review_same", type="primary", shortcut="S", width="stretch", on_click=answer,
          args=(q.question_id, "same", label_a, label_b), help="Keyboard: S")
b2.button("Not the same", key="review_different", shortcut="N", width="stretch", on_click=answer,
          args=(q.question_id, "different", label_a, label_b), help="Keyboard: N")
b3.button("Skip", key="review_skip", shortcut="K", width="stretch", on_click=answer,
          args=(q.question_id, "skip", label_a, label_b), help="Keyboard: K. The question is not asked again.")
left, right = st.columns(2, gap="large")
with left:
    side(coll, faces.get(q.face_a), titles[0], times)
with right:
    side(coll, faces.get(q.face_b), titles[1], times)

if len(questions) > 1:
    with st.expander(f"The next {min(len(questions) - 1, 10)} questions"):
        st.dataframe({"question": [("merge " if n.kind == "merge" else "edge of ")
                                   + (f"{people[n.person_a].label} + {people[n.person_b].label}" if n.kind == "merge"
                                      else people[n.person_a].label)
                                   if n.person_a in people and n.person_b in people else n.kind
                                   for n in questions[1:11]],
                      "similarity": [round(n.similarity, 1) for n in questions[1:11]],
                      "worth": [round(n.worth, 2) for n in questions[1:11]]},
                     hide_index=True, column_config={"worth": st.column_config.NumberColumn(
                         "Worth", help="Face pairs one answer is expected to change")})
