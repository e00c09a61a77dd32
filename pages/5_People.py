"""People: one card per person, merge suggestions, and photos where chosen people appear together."""

from __future__ import annotations

import streamlit as st

from facelib import FaceLibError, JobKind
from pages.ui.common import page, search_person_page
from pages.ui.people import faces_label, group_new_faces, person_card_label, undo_last_correction
from pages.ui.text import md, plural
from pages.ui.watch import watchlist_editor

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

watchlist_editor(coll)  # people to look out for in every new batch (of this or another collection)

everyone_all = people.listing(include_hidden=True)
wanted = name_filter.strip().lower()
everyone = [p for p in everyone_all if (show_hidden or not p.hidden) and wanted in p.label.lower()]
st.caption(f"{plural(len(everyone), 'person', 'people')} · {faces_label(sum(len(p.face_ids) for p in everyone))}")
if not everyone:
    st.info("No people yet: index photos, then group the faces above." if not everyone_all else
            "No person matches the filter.")
    st.stop()

SELECTED = "people_selected"  # ticked person ids: kept across pages of cards, filters and reruns
selected: set[int] = {i for i in st.session_state.get(SELECTED, set()) if i in {p.person_id for p in everyone_all}}
st.session_state[SELECTED] = selected
known = {p.person_id: p for p in everyone_all}


def tick(person_id: int, widget_key: str) -> None:
    chosen = set(st.session_state.get(SELECTED, set()))
    if st.session_state.get(widget_key):
        chosen.add(person_id)
    else:
        chosen.discard(person_id)
    st.session_state[SELECTED] = chosen


def clear_ticks() -> None:
    st.session_state[SELECTED] = set()
    st.session_state["people_gen"] = st.session_state.get("people_gen", 0) + 1  # fresh, unticked boxes


def ask_merge(person_ids: list[int]) -> None:
    st.session_state["merge_pending"] = sorted(person_ids)


# The merge action sits above the cards, with the count and who is ticked (on any page or filter).
if selected:
    bar = st.container(border=True)
    left, mid, right = bar.columns([3, 1, 1])
    left.markdown(f"**{plural(len(selected), 'person', 'people')} selected:** "
                  + ", ".join(md(known[i].label) for i in sorted(selected, key=lambda i: known[i].label)))
    mid.button(f"Merge the {len(selected)} selected people", type="primary", key="merge_selected",
               disabled=len(selected) < 2, on_click=ask_merge, args=(sorted(selected),))
    right.button("Clear the selection", key="people_clear", on_click=clear_ticks)


def confirm_merge() -> None:
    """A merge waits for a second click that names who is merged (it can be undone afterwards)."""
    pending = st.session_state.get("merge_pending")
    if not pending or not all(pid in known for pid in pending):
        st.session_state.pop("merge_pending", None)
        return
    st.warning("Merge " + ", ".join(f"**{md(known[pid].label)}** ({faces_label(len(known[pid].face_ids))})"
                                    for pid in pending) + " into one person?")
    yes, no = st.columns([1, 4])
    if yes.button("Yes, merge", type="primary", key="merge_confirm"):
        st.session_state.pop("merge_pending")
        try:
            pid = people.merge(pending)
        except FaceLibError as exc:
            st.error(md(exc))
            return
        clear_ticks()
        st.session_state["people_msg"] = f"Merged into {md(people.get(pid).label)}."
        st.rerun()
    if no.button("Cancel", key="merge_cancel"):
        st.session_state.pop("merge_pending")
        st.rerun()


confirm_merge()

per_page = int(st.session_state.get("people_per_page", 48))
pages = max(1, -(-len(everyone) // per_page))
page_no = int(st.number_input(f"Page (of {pages})", 1, pages, 1, key="people_page")) if pages > 1 else 1
shown = everyone[(page_no - 1) * per_page: page_no * per_page]
covers = people.cover_thumbs(shown)
gen = st.session_state.get("people_gen", 0)
per_row = 6
for start in range(0, len(shown), per_row):
    cols = st.columns(per_row)
    for col, p in zip(cols, shown[start:start + per_row], strict=False):
        with col.container(border=True):
            st.image(coll.thumb_uri(covers[p.person_id]), width="stretch")
            st.markdown(f"**{md(p.label)}**" + (" · _hidden_" if p.hidden else ""))
            st.caption(person_card_label(p))
            box_key = f"pick_{p.person_id}_{gen}"
            st.checkbox(f"Select {md(p.label)}", value=p.person_id in selected, key=box_key, on_change=tick,
                        args=(p.person_id, box_key))
            if st.button("Open", key=f"open_{p.person_id}", width="stretch", help=f"Open {md(p.label)}"):
                st.session_state["person"] = p.person_id
                st.switch_page("pages/6_Person.py", query_params={"collection": coll.name, "person": str(p.person_id)})
            if st.button("Search this person", key=f"search_person_{p.person_id}", width="stretch",
                         help=f"Search with every face of {md(p.label)}: finds their faces not yet theirs"):
                search_person_page(coll.name, p.person_id)
st.selectbox("Cards per page", [24, 48, 96], index=[24, 48, 96].index(per_page) if per_page in (24, 48, 96) else 1,
             key="people_per_page")

def not_same(a: int, b: int) -> None:
    try:
        people.not_same(a, b)
    except FaceLibError as exc:
        st.session_state["people_msg"] = f"Not recorded: {md(exc)}"
        return
    st.session_state["people_msg"] = f"Noted: {md(known[a].label)} and {md(known[b].label)} are not the same person."


suggestions = people.merge_suggestions(at_least=coll.settings.suggest_threshold)
suggested_covers = people.cover_thumbs([p for pair_ in suggestions for p in pair_[:2]])
if suggestions:
    st.subheader("Maybe the same person?")
    for a, b, sim in suggestions:
        cols = st.columns([1, 1, 3, 1])
        cols[0].image(coll.thumb_uri(suggested_covers[a.person_id]), width=72, caption=md(a.label))
        cols[1].image(coll.thumb_uri(suggested_covers[b.person_id]), width=72, caption=md(b.label))
        cols[2].write(f"Closest faces {sim:.1f}% alike")
        cols[3].button("Merge", key=f"suggest_{a.person_id}_{b.person_id}", on_click=ask_merge,
                       args=([a.person_id, b.person_id],), help=f"Merge {md(a.label)} and {md(b.label)}")
        cols[3].button("Not the same person", key=f"different_{a.person_id}_{b.person_id}", on_click=not_same,
                       args=(a.person_id, b.person_id), help="Remembered: they are never suggested again, "
                                                            "and no regroup joins them.")

st.subheader("Photos where people appear together")
labels = {p.person_id: p.label for p in everyone_all}
c1, c2 = st.columns(2)
together = c1.multiselect("With all of", list(labels), format_func=lambda i: labels[i], key="together_all")
without = c2.multiselect("But none of", list(labels), format_func=lambda i: labels[i], key="together_none")
if together:
    shas = people.photos_with(together, without)
    st.caption(plural(len(shas), "photo"))
    person_of = people.person_of()
    grid = st.columns(4)
    for i, sha in enumerate(shas[:40]):
        image = coll.image(sha)
        faces = [f for f in coll.faces(image_sha256=sha) if person_of.get(f.face_id) in together]
        photo = coll.photo(image.stored_path if image else None, [f.detail.box for f in faces],
                           labels=[labels[person_of[f.face_id]] for f in faces], max_side=800, text_scale=2.5)
        if photo is not None and image is not None:
            grid[i % 4].image(photo, caption=md(image.original_name.rsplit("/", 1)[-1]), width="stretch")
