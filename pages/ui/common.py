"""Set-up every page runs: the workspace, the sidebar (collection, engine), durable widget values.

Pages are Streamlit's plain multipage mode (auto-discovered from pages/), so every page calls
:func:`setup` itself instead of relying on app.py having run first.
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Callable
from typing import Any

import streamlit as st

from facelib import FaceLibError, Settings, Workspace
from facelib.settings import ENV_DATA_DIR, default_data_dir
from facelib.workspace import ENGINES

COLLECTION = "collection"          # durable: the collection being worked on
NEW_ENGINE = "new_engine"          # durable: engine for new collections
NAV = [("app.py", "Home", ":material/home:"), ("pages/1_Index.py", "Index photos", ":material/upload:"),
       ("pages/2_Search.py", "Search", ":material/person_search:"),
       ("pages/7_Live.py", "Live camera", ":material/videocam:"), ("pages/3_Faces.py", "Faces", ":material/face:"),
       ("pages/5_People.py", "People", ":material/groups:"),
       ("pages/6_Person.py", "Person", ":material/person:"), ("pages/4_Collections.py", "Collections", ":material/folder:")]
ENGINE_LABELS = {"local": "Local (offline, free)", "rekognition": "AWS Rekognition (paid)"}


@st.cache_resource(show_spinner="Opening the catalog…")
def _workspace(data_dir: str) -> Workspace:
    return Workspace(Settings(data_dir=Path(data_dir)))


def workspace() -> Workspace:
    """The workspace of ``$FACESEARCH_DATA_DIR`` (or data/), built once per process."""
    return _workspace(str(os.environ.get(ENV_DATA_DIR) or default_data_dir()))


def keep(key: str, default: Any) -> Any:
    """A durable session value (plain key, survives pages that lack the widget)."""
    return st.session_state.setdefault("_keep_" + key, default)


def put(key: str, value: Any) -> None:
    st.session_state["_keep_" + key] = value


def durable(widget: Callable[..., Any], label: str, key: str, default: Any, **kwargs: Any) -> Any:
    """A widget whose value lives under a plain session key, copied in and out of the widget.

    Streamlit drops a keyed widget's value when a page without it runs; this keeps it.
    """
    store = "_keep_" + key
    st.session_state.setdefault(store, default)
    if key not in st.session_state:
        st.session_state[key] = st.session_state[store]

    def sync() -> None:
        st.session_state[store] = st.session_state[key]

    return widget(label, key=key, on_change=sync, **kwargs)


def setup(title: str, icon: str = ":material/person_search:") -> tuple[Workspace, str | None]:
    """Page config, then the sidebar: returns the workspace and the chosen collection (or None)."""
    st.set_page_config(page_title=f"{title} · facesearch", page_icon=icon, layout="wide")
    ws = workspace()
    with st.sidebar:
        st.markdown("### :material/face_retouching_natural: facesearch")
        for path, label, page_icon in NAV:
            st.page_link(path, label=label, icon=page_icon)
        st.divider()
        collection = _collection_picker(ws)
        _new_collection_form(ws)
        if collection:
            c = ws.catalog.counts(collection)
            st.caption(f"{collection} · {ws.catalog.collection_engine(collection)} engine · "
                       f"{c['images']} images · {c['faces']} faces")
    return ws, collection


def _collection_picker(ws: Workspace) -> str | None:
    names = ws.collections()
    if not names:
        st.info("No collection yet: create one below, or index the sample photos on the Home page.")
        return None
    current = keep(COLLECTION, names[0])
    if current not in names:
        current = names[0]
        put(COLLECTION, current)
    st.session_state["collection_select"] = current

    def sync() -> None:
        put(COLLECTION, st.session_state["collection_select"])
        for k in ("search_result", "search_query"):
            st.session_state.pop(k, None)

    return st.selectbox("Collection", names, key="collection_select", on_change=sync,
                        format_func=lambda n: f"{n} ({ws.catalog.collection_engine(n)})")


def _new_collection_form(ws: Workspace) -> None:
    with st.expander("New collection", expanded=not ws.collections()):
        with st.form("new_collection", clear_on_submit=True, border=False):
            name = st.text_input("Name", placeholder="family-2024", key="new_collection_name",
                                 help="Letters, digits, '_', '.' and '-' (Rekognition's rule).")
            engine = st.radio("Engine", ENGINES, format_func=ENGINE_LABELS.get, key="new_collection_engine",
                              horizontal=False)
            if st.form_submit_button("Create", type="primary"):
                try:
                    ws.create_collection(name.strip(), engine)
                except FaceLibError as exc:
                    st.error(str(exc))
                else:
                    put(COLLECTION, name.strip())
                    st.rerun()


def need_collection(collection: str | None) -> str:
    """Stop the page with a hint when no collection exists yet."""
    if not collection:
        st.warning("Create a collection in the sidebar first (or index the sample photos on the Home page).")
        st.page_link("app.py", label="Go to Home", icon=":material/home:")
        st.stop()
    return collection  # type: ignore[return-value]
