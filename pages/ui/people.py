"""People helpers shared by pages: grouping new faces after indexing, card labels."""

from __future__ import annotations

import streamlit as st

from facelib.people_catalog import People, Person
from facelib.workspace import Workspace


def person_card_label(p: Person) -> str:
    return f"{len(p.face_ids)} face(s) · {p.photos} photo(s)"


def group_new_faces(ws: Workspace, people: People, engine_name: str, auto: bool = True) -> None:
    """Place faces that have no person yet. The local engine does it at once; with Rekognition each
    face not searched before is a paid SearchFaces call, so the analyst confirms the cost first."""
    pending = people.pending_searches()
    person_of = people.person_of()
    ungrouped = sum(1 for f in ws.catalog.face_briefs(people.collection) if f not in person_of)
    if not ungrouped:
        return
    if engine_name == "local" and auto:
        with st.spinner(f"Grouping {ungrouped} new face(s)…"):
            people.update()
        return
    price = ws.settings.prices.per_image_call
    st.info(f"{ungrouped} face(s) are not in a person yet; grouping them needs {pending} SearchFaces call(s), "
            f"about ${pending * price:.3f} (each face is searched once, ever).")
    if st.button("Group the new faces", type="primary", key="group_new"):
        bar = st.progress(0.0, text="Searching faces…")
        people.update(lambda done, total: bar.progress(done / max(total, 1), text=f"{done}/{total} faces searched"))
        st.rerun()
