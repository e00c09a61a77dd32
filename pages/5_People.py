"""People: one card per person, merge suggestions, and photos where chosen people appear together."""

from __future__ import annotations

import streamlit as st

from facelib import FaceLibError, JobKind
from pages.ui.common import page
from pages.ui.people import group_new_faces, person_card_label, undo_last_correction
from pages.ui.text import md

coll = page("People", ":material/groups:")
people = coll.people
st.title("People")

if "people_msg" in st.session_state:
    st.success(st.session_state.pop("people_msg"))
undo_last_correction(coll, "people_msg")

group_new_faces(coll)

c1, c2, c3 = st.columns([2, 1, 1])
name_filter = c1.text_input("Filter by name", key="people_filter", placeholder="Mom")
show_hidden = c2.toggle("Show hidden people", key="people_hidden")
if c3.button("Regroup everyone", key="people_regroup", help="Cluster the whole collection again. Names and your "
                                                           "corrections are kept."):
    try:  # a job (the sidebar shows it); the page reruns when it ends
        job_id = coll.submit(JobKind.REGROUP)
    except FaceLibError as exc:
        st.error(md(exc))
    else:
        st.session_state["people_msg"] = f"Regrouping everyone (job {job_id}). Names and corrections are kept."
        st.rerun()

everyone_all = people.listing(include_hidden=True)
wanted = name_filter.strip().lower()
everyone = [p for p in everyone_all if (show_hidden or not p.hidden) and wanted in p.label.lower()]
st.caption(f"{len(everyone)} people · {sum(len(p.face_ids) for p in everyone)} faces")
if not everyone:
    st.info("No people yet: index photos, then group the faces above." if not everyone_all else
            "No person matches the filter.")
    st.stop()

PAGE = 48
pages = max(1, -(-len(everyone) // PAGE))
page_no = int(st.number_input(f"Page (of {pages})", 1, pages, 1, key="people_page")) if pages > 1 else 1
shown = everyone[(page_no - 1) * PAGE: page_no * PAGE]
covers = people.cover_thumbs(shown)
selected: list[int] = []
per_row = 6
for start in range(0, len(shown), per_row):
    cols = st.columns(per_row)
    for col, p in zip(cols, shown[start:start + per_row], strict=False):
        with col.container(border=True):
            st.image(coll.thumb_uri(covers[p.person_id]), width="stretch")
            st.markdown(f"**{md(p.label)}**" + (" · _hidden_" if p.hidden else ""))
            st.caption(person_card_label(p))
            if st.checkbox("Select", key=f"pick_{p.person_id}_{st.session_state.get('people_gen', 0)}"):
                selected.append(p.person_id)
            if st.button("Open", key=f"open_{p.person_id}", width="stretch"):
                st.session_state["person"] = p.person_id
                st.switch_page("pages/6_Person.py")

if len(selected) >= 2 and st.button(f"Merge the {len(selected)} selected people", type="primary", key="merge_selected"):
    st.session_state["merge_pending"] = sorted(selected)


def confirm_merge() -> None:
    """A merge waits for a second click that names who is merged (it can be undone afterwards)."""
    pending = st.session_state.get("merge_pending")
    known = {p.person_id: p for p in everyone_all}
    if not pending or not all(pid in known for pid in pending):
        st.session_state.pop("merge_pending", None)
        return
    st.warning("Merge " + ", ".join(f"**{md(known[pid].label)}** ({len(known[pid].face_ids)} faces)" for pid in pending)
               + " into one person?")
    yes, no = st.columns([1, 4])
    if yes.button("Yes, merge", type="primary", key="merge_confirm"):
        st.session_state.pop("merge_pending")
        try:
            pid = people.merge(pending)
        except FaceLibError as exc:
            st.error(md(exc))
            return
        st.session_state["people_gen"] = st.session_state.get("people_gen", 0) + 1  # fresh, unticked boxes
        st.session_state["people_msg"] = f"Merged into {md(people.get(pid).label)}."
        st.rerun()
    if no.button("Cancel", key="merge_cancel"):
        st.session_state.pop("merge_pending")
        st.rerun()


confirm_merge()

suggestions = people.merge_suggestions(at_least=coll.settings.suggest_threshold)
suggested_covers = people.cover_thumbs([p for pair_ in suggestions for p in pair_[:2]])
if suggestions:
    st.subheader("Maybe the same person?")
    for a, b, sim in suggestions:
        cols = st.columns([1, 1, 3, 1])
        cols[0].image(coll.thumb_uri(suggested_covers[a.person_id]), width=72, caption=md(a.label))
        cols[1].image(coll.thumb_uri(suggested_covers[b.person_id]), width=72, caption=md(b.label))
        cols[2].write(f"Closest faces {sim:.1f}% alike")
        if cols[3].button("Merge", key=f"suggest_{a.person_id}_{b.person_id}"):
            st.session_state["merge_pending"] = sorted([a.person_id, b.person_id])
            st.rerun()
            st.session_state["people_msg"] = f"Merged {md(a.label)} and {md(b.label)}."
            st.rerun()

st.subheader("Photos where people appear together")
labels = {p.person_id: p.label for p in everyone_all}
c1, c2 = st.columns(2)
together = c1.multiselect("With all of", list(labels), format_func=lambda i: labels[i], key="together_all")
without = c2.multiselect("But none of", list(labels), format_func=lambda i: labels[i], key="together_none")
if together:
    shas = people.photos_with(together, without)
    st.caption(f"{len(shas)} photo(s)")
    person_of = people.person_of()
    grid = st.columns(4)
    for i, sha in enumerate(shas[:40]):
        image = coll.image(sha)
        faces = [f for f in coll.faces(image_sha256=sha) if person_of.get(f.face_id) in together]
        photo = coll.photo(image.stored_path if image else None, [f.detail.box for f in faces],
                           labels=[labels[person_of[f.face_id]] for f in faces], max_side=800, text_scale=2.5)
        if photo is not None and image is not None:
            grid[i % 4].image(photo, caption=md(image.original_name.rsplit("/", 1)[-1]), width="stretch")
