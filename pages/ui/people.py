"""People helpers shared by pages: grouping new faces after indexing, card labels."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from facelib import Collection, Person

from .text import md, plural


def faces_label(n: int) -> str:
    return plural(n, "face")


def person_card_label(p: Person) -> str:
    return f"{faces_label(len(p.face_ids))} · {plural(p.photos, 'photo')}"


def group_new_faces(coll: Collection, auto: bool = True) -> None:
    """Place faces that have no person yet. A free engine does it at once; on a paid engine each
    face not searched before is a paid SearchFaces call, so the analyst confirms the cost first."""
    people = coll.people
    ungrouped = people.ungrouped()
    if not ungrouped:
        return
    if not coll.paid and auto:
        with st.spinner(f"Grouping {ungrouped} new face(s)…"):
            people.update()
        return
    pending = people.pending_searches()
    price = coll.settings.prices.per_image_call
    st.info(f"{ungrouped} face(s) are not in a person yet; grouping them needs {pending} SearchFaces call(s), "
            f"about ${pending * price:.3f} (each face is searched once, ever).")
    if st.button("Group the new faces", type="primary", key="group_new"):
        bar = st.progress(0.0, text="Searching faces…")

        def progress(done: int, total: int) -> None:
            bar.progress(done / max(total, 1), text=f"{done}/{total} faces searched")

        people.update(progress)
        st.rerun()


def undo_last_correction(coll: Collection, message_key: str, after: Callable[[], None] | None = None) -> None:
    """A button that takes back the last correction (rename, hide, merge, split, move, not this
    person, not a face), when there is one. It acts in a callback, before the next run draws
    anything; ``after`` then chooses what the page shows (the person worked on)."""
    label = coll.people.last_correction()  # names the person: user text

    def undo(expected: str) -> None:
        if coll.people.last_correction() != expected:  # another tab or user changed it meanwhile
            st.session_state[message_key] = "Nothing undone: the last correction changed meanwhile."
            return
        coll.people.undo()
        st.session_state[message_key] = f"Undone: {md(expected)}."
        if after is not None:
            after()

    if label:
        st.button(f":material/undo: Undo {md(label)}", key="undo_correction", on_click=undo, args=(label,))
