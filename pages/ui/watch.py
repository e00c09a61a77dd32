"""Watchlists on the pages: the editor (People page) and the alerts view (Home, the Index report).

Every button carries the list and the person it was drawn for (``args=``), so a rerun that changed
a picker's options never makes it act on another list or person.
"""

from __future__ import annotations

import time
from functools import partial

import pandas as pd
import streamlit as st

from facelib import Alert, Collection, FaceLibError, Timecode, Watchlists

from .tables import COLUMNS
from .text import md, plural
from .video import time_range

MESSAGE = "watch_msg"


def _say(text: str) -> None:
    st.session_state[MESSAGE] = text


def _create(coll: Collection, name_key: str, threshold_key: str) -> None:
    name = str(st.session_state.get(name_key, "")).strip()
    try:
        Watchlists(coll).create(name, float(st.session_state.get(threshold_key, coll.settings.default_threshold)))
    except FaceLibError as exc:
        _say(f"Not created: {md(exc)}")
        return
    st.session_state[name_key] = ""
    _say(f"Watchlist {md(name)} created: faces indexed from now on are checked against it.")


def _add(coll: Collection, listname: str, source_key: str, person_key: str) -> None:
    source_name, person_id = st.session_state.get(source_key), st.session_state.get(person_key)
    if not source_name or person_id is None:
        return
    try:
        source = coll if source_name == coll.name else coll.ws.collection(source_name, coll.user)
        watched = Watchlists(coll).add(listname, int(person_id), source=source)
    except FaceLibError as exc:
        _say(f"Not added: {md(exc)}")
        return
    _say(f"{md(watched.label)} is watched on {md(listname)}.")


def _remove(coll: Collection, listname: str, person_id: int, source: str, label: str) -> None:
    try:
        Watchlists(coll).remove(listname, person_id, source)
    except FaceLibError as exc:
        _say(f"Not removed: {md(exc)}")
        return
    _say(f"{md(label)} is no longer watched on {md(listname)}.")


def _delete(coll: Collection, listname: str) -> None:
    try:
        Watchlists(coll).delete(listname)
    except FaceLibError as exc:
        _say(f"Not deleted: {md(exc)}")
        return
    _say(f"Watchlist {md(listname)} deleted (its alerts too).")


def _label(names: dict[int, str], person_id: int) -> str:
    return names.get(person_id, str(person_id))


def watchlist_editor(coll: Collection) -> None:
    """Create, fill and delete the collection's watchlists: people of this or any readable collection
    (same engine and model) whose new faces in this collection raise alerts."""
    lists = Watchlists(coll).lists()
    with st.expander(f":material/visibility: Watchlists ({len(lists)})", expanded=MESSAGE in st.session_state):
        if MESSAGE in st.session_state:
            st.info(st.session_state.pop(MESSAGE))
        st.caption("A watchlist names people (of this collection or another one you may read) to look out for: every "
                   "batch indexed into this collection checks its new faces against them and records an alert for "
                   "each match (Home and the Index report show them). Faces already here never alert.")
        c1, c2, c3 = st.columns([3, 2, 1], vertical_alignment="bottom")
        c1.text_input("New watchlist", key="watch_new_name", placeholder="suspects", max_chars=100)
        c2.slider("Alert at (similarity %)", 50, 100, int(coll.settings.default_threshold), key="watch_new_threshold")
        c3.button("Create", key="watch_create", on_click=_create, args=(coll, "watch_new_name", "watch_new_threshold"))
        engines = coll.ws.engines_by_collection(coll.user)
        readable = [coll.name] + sorted(n for n, e in engines.items() if n != coll.name and e == engines.get(coll.name))
        people_of: dict[str, dict[int, str]] = {}
        for lst in lists:
            with st.container(border=True):
                head, drop = st.columns([5, 1])
                head.markdown(f"**{md(lst.name)}** · alerts at ≥{lst.threshold:.0f}% · "
                              f"{plural(len(lst.people), 'person', 'people')}")
                drop.button("Delete", key=f"watch_delete_{lst.watchlist_id}", on_click=_delete, args=(coll, lst.name))
                for w in lst.people:
                    left, right = st.columns([5, 1])
                    where = "" if w.source == coll.name else f" (of {md(coll.ws.display_name(w.source))})"
                    left.write(f"{md(w.label)}{where}")
                    right.button("Remove", key=f"watch_remove_{lst.watchlist_id}_{w.watched_id}", on_click=_remove,
                                 args=(coll, lst.name, w.person_id, w.source, w.label))
                a, b, c = st.columns([2, 3, 1], vertical_alignment="bottom")
                source_key = f"watch_source_{lst.watchlist_id}"
                source_name = a.selectbox("From the collection", readable, key=source_key,
                                          format_func=lambda n: coll.ws.display_name(n) + (" (this one)" if n == coll.name
                                                                                           else ""))
                if source_name not in people_of:  # one listing per collection, however many lists
                    source = coll if source_name == coll.name else coll.ws.collection(source_name, coll.user)
                    people_of[source_name] = {p.person_id: p.label for p in source.people.listing(include_hidden=True)}
                candidates = people_of[source_name]
                person_key = f"watch_person_{lst.watchlist_id}_{source_name}"
                b.selectbox("Person", list(candidates), key=person_key, index=None, placeholder="Choose a person",
                            format_func=partial(_label, candidates))
                c.button("Watch", key=f"watch_add_{lst.watchlist_id}", on_click=_add,
                         args=(coll, lst.name, source_key, person_key))


def alerts_frame(coll: Collection, alerts: list[Alert]) -> pd.DataFrame:
    """One row per alert: the new face's thumbnail, who was seen, where (photo or video time), how alike, when."""
    faces = coll.faces_by_id(a.face_id for a in alerts)  # one query
    return pd.DataFrame({
        "face": [coll.thumb_uri(faces[a.face_id].thumb_path) if a.face_id in faces else "" for a in alerts],
        "person": [a.person + ("" if a.source == coll.name else f" ({coll.ws.display_name(a.source)})") for a in alerts],
        "watchlist": [a.watchlist for a in alerts],
        "image": [a.image_name.rsplit("/", 1)[-1] for a in alerts],
        "when": [time_range(_tc(a)) for a in alerts],
        "similarity": [round(a.similarity, 1) for a in alerts],
        "at": [time.strftime("%Y-%m-%d %H:%M", time.localtime(a.created_at)) for a in alerts],
        "face_id": [a.face_id for a in alerts],
    })


def _tc(a: Alert) -> Timecode | None:
    return Timecode(a.start_s, a.end_s or a.start_s, a.start_s) if a.start_s is not None else None


ALERT_COLUMNS = {**COLUMNS, "person": st.column_config.TextColumn("Person seen"),
                 "watchlist": st.column_config.TextColumn("Watchlist"),
                 "when": st.column_config.TextColumn("When (video)"),
                 "similarity": st.column_config.ProgressColumn("Similarity", min_value=0, max_value=100,
                                                               format="%.1f%%"),
                 "at": st.column_config.TextColumn("Alerted")}


def alerts_view(coll: Collection, alerts: list[Alert], key: str, title: str | None = "Alerts") -> None:
    """The alerts as a table (newest first), with a heading that counts them; nothing when there are none."""
    if not alerts:
        return
    if title:
        st.subheader(f":material/notifications_active: {title} ({len(alerts)})")
    frame = alerts_frame(coll, alerts)
    if not frame["when"].astype(bool).any():
        frame = frame.drop(columns=["when"])
    st.dataframe(frame, column_config=ALERT_COLUMNS, hide_index=True, width="stretch", row_height=64, key=key,
                 height=min(64 * len(frame) + 40, 600))
