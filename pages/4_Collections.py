"""Collections: list, describe, delete (with confirmation); delete one image with its faces."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from facelib import FaceLibError
from pages.ui.common import need_collection, setup

ws, collection = setup("Collections", ":material/folder:")
st.title("Collections")

if "collections_msg" in st.session_state:
    st.success(st.session_state.pop("collections_msg"))
names = ws.collections()
if names:
    st.dataframe(pd.DataFrame([{"collection": n, "engine": ws.catalog.collection_engine(n), **ws.catalog.counts(n)}
                               for n in names]), hide_index=True, width="stretch", key="collections_table")
collection = need_collection(collection)

st.subheader(f"{collection}")
if st.button("Describe (ask the engine)", key="describe"):
    try:
        info = ws.engine_for(collection).describe_collection(collection)
        st.success(f"The engine holds **{info.face_count}** face(s) · model {info.model_version} · "
                   f"created {info.created_at}")
    except FaceLibError as exc:
        st.error(str(exc))

n_images = ws.catalog.counts(collection)["images"]
with st.expander(f"Delete one image ({n_images} in the collection)"):
    find = st.text_input("Find by name", key="delete_image_find", placeholder="part of the file name")
    images = ws.catalog.find_images(collection, find.strip())
    if images:
        chosen = st.selectbox("Image", images, format_func=lambda i: i.original_name, key="delete_image_pick",
                              help="The 100 newest images whose name contains the text above.")
        if st.button("Delete this image and its faces", key="delete_image_go"):
            try:
                n = ws.delete_image(collection, chosen.sha256)
                st.session_state["collections_msg"] = (f"Deleted {chosen.original_name} and its {n} face(s), "
                                                       "thumbnails and stored copy.")
                st.session_state.pop("search_key", None)
                st.rerun()
            except FaceLibError as exc:
                st.error(str(exc))
    else:
        st.caption("No image yet.")

with st.expander("Delete the whole collection", expanded=False):
    st.warning(f"This deletes **{collection}** from the engine and the catalog, with every thumbnail and "
               "stored copy. It cannot be undone.")
    typed = st.text_input(f"Type {collection} to confirm", key="delete_confirm")
    if st.button("Delete collection", type="primary", disabled=typed != collection, key="delete_collection_go"):
        try:
            ws.delete_collection(collection)
        except FaceLibError as exc:
            st.error(str(exc))
        else:
            st.session_state.pop("search_key", None)
            st.session_state.pop("_keep_query", None)
            st.session_state["collections_msg"] = f"Deleted {collection}."
            st.rerun()
